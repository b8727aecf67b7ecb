#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora and dictionaries from the project's own runbooks.

    python3 fuzz/make_seeds.py ACTIONS_JSON

ACTIONS_JSON: the output of `drkit actions --output json` (the registered kinds, sorted, with
their parameters). Writes, under fuzz/seeds/:

- runbook_parse/: every examples/runbooks/*.toml, benches/aws-cli/equivalent.toml, and every
  ```toml block of README.md and docs/ (the docs' examples);
- action_params/: for each step of those runbooks, its parameters as the target reads them
  (byte 0: the kind's index among the sorted kinds, byte 1: 0 = TOML, then the [steps.params]
  table as TOML text), and the same as JSON (byte 1: 1); one empty table per kind;
- runbook.dict / params.dict: libFuzzer dictionaries (field names, kinds, parameter names,
  `${env.`, `${steps.`, secret prefixes).

The seeds are committed; rerun after adding actions or runbooks, or changing them (a stale kind
index only makes a seed exercise another kind; a stale runbook copy tests yesterday's runbook).
runbook_parse/ and action_params/ are emptied first.
"""

import glob
import json
import os
import re
import sys
import tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEEDS = os.path.join(ROOT, "fuzz", "seeds")


def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {toml_value(x)}" for k, x in v.items()) + " }"
    return json.dumps(str(v))


def main():
    actions = json.load(open(sys.argv[1]))
    kinds = sorted(a["kind"] for a in actions)
    runbooks = {}
    for path in sorted(glob.glob(os.path.join(ROOT, "examples", "runbooks", "*.toml"))):
        runbooks[os.path.basename(path)] = open(path).read()
    runbooks["aws-cli-equivalent.toml"] = open(
        os.path.join(ROOT, "benches", "aws-cli", "equivalent.toml")).read()
    for path in [os.path.join(ROOT, "README.md")] + sorted(
            glob.glob(os.path.join(ROOT, "docs", "**", "*.md"), recursive=True)):
        text = open(path).read()
        for i, block in enumerate(re.findall(r"```toml\n(.*?)```", text, re.S)):
            name = os.path.relpath(path, ROOT).replace("/", "_").replace(".md", "")
            runbooks[f"{name}_{i}.toml"] = block

    for corpus in ("runbook_parse", "action_params"):
        folder = os.path.join(SEEDS, corpus)
        os.makedirs(folder, exist_ok=True)
        # Rewritten whole: no seed of a runbook, block or kind that is gone, or numbered the
        # old way, stays behind.
        for old in os.listdir(folder):
            os.remove(os.path.join(folder, old))
    for name, text in runbooks.items():
        with open(os.path.join(SEEDS, "runbook_parse", name), "w") as f:
            f.write(text)

    n = 0
    for i, kind in enumerate(kinds):
        with open(os.path.join(SEEDS, "action_params", f"{kind}.empty"), "wb") as f:
            f.write(bytes([i % 256, 0]))
    for name, text in runbooks.items():
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError:
            continue
        for step in doc.get("steps", []):
            kind, params = step.get("action"), step.get("params", {})
            if kind not in kinds or not isinstance(params, dict):
                continue
            i = kinds.index(kind)
            as_toml = "\n".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in params.items())
            for mode, body in ((0, as_toml), (1, json.dumps(params))):
                n += 1
                with open(os.path.join(SEEDS, "action_params", f"{kind}.{n}"), "wb") as f:
                    f.write(bytes([i % 256, mode]) + body.encode())

    words = set()
    for a in actions:
        words.add(a["kind"])
        words.update(p["name"] for p in a["params"])
    words.update([
        "version", "name", "description", "defaults", "objectives", "rto", "rpo", "steps",
        "[[steps]]", "[steps.params]", "[defaults]", "[objectives.rto]", "[objectives.rpo]", "id",
        "action", "tier", "region", "depends_on", "on_failure", "approval", "timeout",
        "attempt_timeout", "retry", "params", "max_attempts", "initial_backoff", "max_backoff",
        "jitter", "critical", "non-critical", "non_critical", "full", "abort", "continue",
        "rollback", "database", "files", "cache", "configuration", "secret", "env:", "file:",
        "prompt:", "${env.", "${steps.", ".outputs.", "}", "30m", "1h 30m", "2026-11-28T08:00:00Z",
    ])
    for dict_name in ("runbook.dict", "params.dict"):
        with open(os.path.join(SEEDS, dict_name), "w") as f:
            for w in sorted(words):
                f.write(json.dumps(w) + "\n")
    print(f"{len(runbooks)} runbook seeds, {n + len(kinds)} params seeds, {len(words)} words, "
          f"{len(kinds)} kinds")


if __name__ == "__main__":
    main()
