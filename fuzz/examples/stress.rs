//! The fuzz targets without libFuzzer: a mutational fuzzer on the stable toolchain, for machines
//! where cargo-fuzz's instrumented build (every crate, the AWS SDK included, with
//! `-Ccodegen-units=1`, sanitizer coverage and ASan) is too slow to build.
//!
//! ```text
//! cargo run --release --manifest-path fuzz/Cargo.toml --example stress -- \
//!     TARGET SECONDS SEEDS_DIR DICT OUT_DIR [RNG_SEED]
//! ```
//!
//! No coverage feedback: the corpus grows by *outcome*: an input joins it when it produces an
//! outcome not seen before (a new error message with its numbers and quoted names blanked, or a
//! first success of a kind). Mutations: bit flips, random bytes, insertions and deletions,
//! duplicated ranges, dictionary words, splices of two corpus inputs, boundary numbers. Every
//! panic is caught, its input written to OUT_DIR (`crash-<hash>`) and counted; inputs slower than
//! a second are written as `slow-<hash>`. Exit code 1 when anything crashed.
#![allow(clippy::print_stdout, clippy::print_stderr, missing_docs)]

use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The most inputs kept.
const MAX_CORPUS: usize = 20_000;
/// The most outcomes remembered (as hashes) before the set starts over.
const MAX_OUTCOMES: usize = 4_000_000;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn hash(data: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    data.hash(&mut h);
    h.finish()
}

/// The outcome of one input, with the parts that vary per input blanked: what makes an input
/// "new" for the corpus.
fn signature(text: &str) -> String {
    // Blank quoted names and numbers: the message's shape, not its values.
    let mut out = String::new();
    let mut quote: Option<char> = None;
    for c in text.chars() {
        match c {
            '`' | '"' if quote.is_none() => {
                quote = Some(c);
                out.push(c);
            }
            _ if quote == Some(c) => {
                quote = None;
                out.push(c);
            }
            _ if quote.is_some() => {}
            '0'..='9' => {
                if !out.ends_with('#') {
                    out.push('#');
                }
            }
            _ => out.push(c),
        }
    }
    out
}

fn mutate(rng: &mut Rng, input: &mut Vec<u8>, corpus: &[Vec<u8>], dict: &[Vec<u8>]) {
    const NUMBERS: &[&[u8]] = &[
        b"0",
        b"-1",
        b"1",
        b"4294967295",
        b"4294967296",
        b"9223372036854775807",
        b"-9223372036854775808",
        b"1e309",
        b"nan",
        b"inf",
        b"65536",
        b"\"\"",
    ];
    let rounds = 1 + rng.below(6);
    for _ in 0..rounds {
        let len = input.len();
        match rng.below(10) {
            0 if len > 0 => {
                let i = rng.below(len);
                input[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                input[i] = rng.next() as u8;
            }
            2 => {
                let i = rng.below(len + 1);
                let n = 1 + rng.below(8);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                input.splice(i..i, bytes);
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(64));
                input.drain(i..i + n);
            }
            4 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(128));
                let copy = input[i..i + n].to_vec();
                let at = rng.below(len + 1);
                input.splice(at..at, copy);
            }
            5 | 6 if !dict.is_empty() => {
                let word = &dict[rng.below(dict.len())];
                let i = rng.below(len + 1);
                if rng.below(2) == 0 || len == 0 {
                    input.splice(i..i, word.iter().copied());
                } else {
                    let n = 1 + rng.below((len - i.min(len - 1)).min(16));
                    let end = (i + n).min(len);
                    input.splice(i..end, word.iter().copied());
                }
            }
            7 if !corpus.is_empty() => {
                let other = &corpus[rng.below(corpus.len())];
                if !other.is_empty() {
                    let i = rng.below(len + 1);
                    let j = rng.below(other.len());
                    let n = 1 + rng.below(other.len() - j);
                    input.truncate(i);
                    input.extend_from_slice(&other[j..j + n]);
                }
            }
            8 => {
                // Replace a run of digits with a boundary number.
                if let Some(start) = (0..len)
                    .map(|_| rng.below(len))
                    .find(|&i| input[i].is_ascii_digit())
                {
                    let mut end = start;
                    while end < input.len() && input[end].is_ascii_digit() {
                        end += 1;
                    }
                    let n = NUMBERS[rng.below(NUMBERS.len())];
                    input.splice(start..end, n.iter().copied());
                }
            }
            _ if len > 1 => {
                input.truncate(rng.below(len));
            }
            _ => input.push(rng.next() as u8),
        }
    }
    if input.len() > 64 * 1024 {
        input.truncate(64 * 1024);
    }
}

fn read_dict(path: &Path) -> Vec<Vec<u8>> {
    std::fs::read_to_string(path)
        .map(|text| {
            text.lines()
                .filter_map(|l| serde_json::from_str::<String>(l.trim()).ok())
                .map(String::into_bytes)
                .collect()
        })
        .unwrap_or_default()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [target, seconds, seeds, dict, out, rest @ ..] = args.as_slice() else {
        eprintln!("usage: stress TARGET SECONDS SEEDS_DIR DICT OUT_DIR [RNG_SEED]");
        return ExitCode::from(2);
    };
    let run: fn(&[u8]) -> String = match target.as_str() {
        "runbook_parse" => drkit_fuzz::runbook_parse,
        "action_params" => drkit_fuzz::action_params,
        other => {
            eprintln!("unknown target {other}");
            return ExitCode::from(2);
        }
    };
    let seconds: u64 = seconds.parse().unwrap_or(600);
    let rng_seed: u64 = rest
        .first()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_d1c7);
    let out = PathBuf::from(out);
    let _ = std::fs::create_dir_all(&out);
    let dict = read_dict(Path::new(dict));

    // Panics are caught and counted; the hook keeps the message for the report.
    let last_panic = Arc::new(Mutex::new(String::new()));
    {
        let last_panic = Arc::clone(&last_panic);
        panic::set_hook(Box::new(move |info| {
            if let Ok(mut m) = last_panic.lock() {
                *m = info.to_string();
            }
        }));
    }

    let mut corpus: Vec<Vec<u8>> = Vec::new();
    let mut seen: HashSet<u64> = HashSet::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(seeds)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    entries.sort();
    for path in entries {
        if let Ok(data) = std::fs::read(&path) {
            corpus.push(data);
        }
    }
    let seeds_count = corpus.len();
    let mut crashes: HashMap<String, usize> = HashMap::new();
    let mut crash_files = 0;
    let mut slow = 0;
    let mut execs: u64 = 0;
    let mut rng = Rng(rng_seed | 1);
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    let mut next_report = start + Duration::from_secs(60);

    let mut try_input = |data: &[u8],
                         corpus: &mut Vec<Vec<u8>>,
                         crashes: &mut HashMap<String, usize>,
                         execs: &mut u64| {
        *execs += 1;
        let t = Instant::now();
        let result = panic::catch_unwind(AssertUnwindSafe(|| signature(&run(data))));
        let took = t.elapsed();
        match result {
            Ok(sig) => {
                if seen.len() >= MAX_OUTCOMES {
                    // Memory stays bounded; outcomes seen long ago may count as new again.
                    seen.clear();
                }
                if seen.insert(hash(sig.as_bytes())) {
                    if corpus.len() < MAX_CORPUS {
                        corpus.push(data.to_vec());
                    } else {
                        // Full: the new input takes a random place.
                        let i = (hash(data) as usize) % corpus.len();
                        corpus[i] = data.to_vec();
                    }
                }
            }
            Err(_) => {
                let message = last_panic.lock().map(|m| m.clone()).unwrap_or_default();
                let first = message.lines().next().unwrap_or_default().to_owned();
                let count = crashes.entry(first.clone()).or_insert(0);
                *count += 1;
                if *count <= 3 {
                    let name = out.join(format!("crash-{:016x}", hash(data)));
                    let _ = std::fs::write(&name, data);
                    eprintln!("CRASH {}: {first}", name.display());
                    crash_files += 1;
                }
            }
        }
        if took > Duration::from_secs(1) {
            slow += 1;
            let name = out.join(format!("slow-{:016x}", hash(data)));
            let _ = std::fs::write(&name, data);
            eprintln!("SLOW {:?} {}", took, name.display());
        }
    };

    // The seeds first, as they are.
    for i in 0..seeds_count {
        let data = corpus[i].clone();
        try_input(&data, &mut corpus, &mut crashes, &mut execs);
    }
    while Instant::now() < deadline {
        for _ in 0..64 {
            let mut input = corpus[rng.below(corpus.len())].clone();
            mutate(&mut rng, &mut input, &corpus, &dict);
            try_input(&input, &mut corpus, &mut crashes, &mut execs);
        }
        if Instant::now() >= next_report {
            eprintln!(
                "#{execs} {:.0}s corpus {} crashes {}",
                start.elapsed().as_secs_f64(),
                corpus.len(),
                crashes.values().sum::<usize>()
            );
            next_report += Duration::from_secs(60);
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{target}: {execs} executions in {secs:.0} s ({:.0}/s), corpus {} ({} seeds + {} by outcome; {} outcomes remembered), \
         crashes {} ({} distinct), slow inputs {slow}",
        execs as f64 / secs,
        corpus.len(),
        seeds_count,
        corpus.len() - seeds_count,
        seen.len(),
        crashes.values().sum::<usize>(),
        crashes.len()
    );
    for (message, n) in &crashes {
        println!("  {n} x {message}");
    }
    let _ = crash_files;
    if crashes.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
