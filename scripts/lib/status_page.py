"""A local status-page API for the Mint drill: the seed's communication plan ("status page
update") needs a server the `http.request` steps can call and the drill can question.

    python3 status_page.py --port PORT --token-env NAME --log FILE

- POST /api/v1/incidents            {status, message, ...} -> 201 {"data": {"id": "inc-N", ...}}
  With an Idempotency-Key already seen, the first answer again (no second incident), as
  payment and status-page APIs do.
- PATCH /api/v1/incidents/<id>      {status, message}      -> 200, the incident updated
- GET /api/v1/incidents/current                            -> 200 the newest incident, or 404
- GET /__received                                          -> every request received, as JSON

Every call but GET /__received needs `Authorization: Bearer <token>` (the token is read from the
environment variable named by --token-env), else 401. Each request is appended to --log as one
JSON line (method, path, idempotency_key, body; never the Authorization header).
"""

import argparse
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--token-env", required=True)
parser.add_argument("--log", required=True)
args = parser.parse_args()
TOKEN = os.environ[args.token_env]
LOCK = threading.Lock()
INCIDENTS = []  # newest last
BY_KEY = {}  # Idempotency-Key -> incident
RECEIVED = []


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *_):
        pass

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def record(self, body):
        entry = {
            "method": self.command,
            "path": self.path,
            "idempotency_key": self.headers.get("Idempotency-Key"),
            "authorized": self.headers.get("Authorization") == f"Bearer {TOKEN}",
            "body": body,
        }
        RECEIVED.append(entry)
        with open(args.log, "a") as log:
            log.write(json.dumps(entry) + "\n")
        return entry["authorized"]

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return raw.decode(errors="replace")

    def do_GET(self):
        with LOCK:
            if self.path == "/__received":
                return self.answer(200, RECEIVED)
            if not self.record(None):
                return self.answer(401, {"error": "unauthorized"})
            if self.path == "/api/v1/incidents/current":
                if INCIDENTS:
                    return self.answer(200, {"data": INCIDENTS[-1]})
                return self.answer(404, {"error": "no incident"})
            return self.answer(404, {"error": "not found"})

    def do_POST(self):
        body = self.body()
        with LOCK:
            if not self.record(body):
                return self.answer(401, {"error": "unauthorized"})
            if self.path != "/api/v1/incidents" or not isinstance(body, dict):
                return self.answer(400, {"error": "POST a JSON object to /api/v1/incidents"})
            key = self.headers.get("Idempotency-Key")
            if key and key in BY_KEY:
                return self.answer(201, {"data": BY_KEY[key]})
            incident = dict(body, id=f"inc-{len(INCIDENTS) + 1}")
            INCIDENTS.append(incident)
            if key:
                BY_KEY[key] = incident
            return self.answer(201, {"data": incident})

    def do_PATCH(self):
        body = self.body()
        with LOCK:
            if not self.record(body):
                return self.answer(401, {"error": "unauthorized"})
            prefix = "/api/v1/incidents/"
            found = [i for i in INCIDENTS if self.path == prefix + i["id"]]
            if not found or not isinstance(body, dict):
                return self.answer(404, {"error": "no such incident"})
            found[0].update(body)
            return self.answer(200, {"data": found[0]})


ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()
