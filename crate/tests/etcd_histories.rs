//! The checker against published verdicts: the 102 Jepsen etcd histories (reads, writes and
//! compare-and-set on one register) that the crate `todc-utils` ships with its tests, with the
//! verdicts of A. Horn's linearizability checker (23 linearizable, 79 not; etcd_095 has none). They are read from
//! the package's source directory, which cargo fetched as a dev-dependency; nothing is copied.

use caplab::check::linearizability::{CheckOptions, check};
use caplab::sim::ids::ClientId;
use caplab::workload::history::{HistoryEntry, HistoryOp, Outcome};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The source directory of the `todc-utils` package, from `cargo metadata`.
fn todc_utils_dir() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let mut cmd = Command::new(&cargo);
    cmd.args(["metadata", "--format-version", "1", "--manifest-path"]).arg(&manifest);
    // Only the host's packages: the others (Windows, wasm) may never have been downloaded.
    if let Some(host) = host_triple() {
        cmd.args(["--filter-platform", &host]);
    }
    let out = cmd.output().unwrap_or_else(|e| panic!("running {cargo} metadata: {e}"));
    assert!(out.status.success(), "cargo metadata failed: {}", String::from_utf8_lossy(&out.stderr));
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON");
    let packages = meta["packages"].as_array().expect("cargo metadata lists packages");
    let todc = packages.iter().find(|p| p["name"] == "todc-utils").expect("todc-utils is a dev-dependency");
    let manifest_path = todc["manifest_path"].as_str().expect("a package has a manifest_path");
    Path::new(manifest_path).parent().expect("a manifest lives in a directory").to_path_buf()
}

fn host_triple() -> Option<String> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let out = Command::new(rustc).arg("-vV").output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    text.lines().find_map(|l| l.strip_prefix("host: ")).map(str::to_string)
}

/// The `("NNN", true|false)` pairs of todc-utils' tests/linearizability/etcd.rs, except those
/// commented out (095, during which etcd failed to boot).
fn expected_verdicts(source: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    for line in source.lines().filter(|l| !l.trim_start().starts_with("//")) {
        let Some(rest) = line.split("(\"").nth(1) else { continue };
        let Some((number, verdict)) = rest.split_once("\",") else { continue };
        let verdict = verdict.trim().trim_end_matches(',').trim_end_matches(')').trim();
        if number.len() == 3 && number.bytes().all(|b| b.is_ascii_digit()) {
            let verdict = match verdict {
                "true" => true,
                "false" => false,
                other => panic!("etcd.rs: unexpected verdict `{other}` for {number}"),
            };
            out.push((number.to_string(), verdict));
        }
    }
    out
}

fn value(word: &str) -> Option<String> {
    (word != "nil").then(|| word.to_string())
}

/// A Jepsen log as a history of one register `x`. Each line of `jepsen.util` is one event of a
/// process (`<process>\t<:invoke|:ok|:fail|:info>\t<:read|:write|:cas>\t<value>`), and a process
/// has at most one operation in flight. Time is the line number. `:fail` means the operation
/// certainly did not take effect (for a cas: it compared and found another value); `:info` that
/// it may or may not have, and it stays `unknown` like an operation still in flight at the end.
fn history_from_log(log: &str) -> Vec<HistoryEntry> {
    let mut history: Vec<HistoryEntry> = Vec::new();
    let mut open: HashMap<u64, usize> = HashMap::new();
    for (line_no, line) in log.lines().enumerate() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.len() < 7 || words[1] != "jepsen.util" || words[3] == ":nemesis" {
            continue;
        }
        let process: u64 = words[3].parse().unwrap_or_else(|_| panic!("line {}: process `{}`", line_no + 1, words[3]));
        let at = line_no as u64;
        let (status, op, args) = (words[4], words[5], &words[6..]);
        if status == ":invoke" {
            let (op, expected, value) = match op {
                ":read" => (HistoryOp::Get, None, None),
                ":write" => (HistoryOp::Put, None, value(args[0])),
                ":cas" => {
                    let pair = args.join(" ");
                    let inner = pair.trim_start_matches('[').trim_end_matches(']');
                    let (from, to) =
                        inner.split_once(' ').unwrap_or_else(|| panic!("line {}: cas {pair}", line_no + 1));
                    (HistoryOp::Cas, value(from), value(to))
                }
                other => panic!("line {}: unknown operation {other}", line_no + 1),
            };
            let previous = open.insert(process, history.len());
            assert!(previous.is_none(), "line {}: process {process} invoked twice", line_no + 1);
            history.push(HistoryEntry {
                client: ClientId((process % 65_536) as u16),
                op,
                key: "x".to_string(),
                value,
                expected,
                writes: Vec::new(),
                invoke_us: at,
                return_us: None,
                outcome: Outcome::Unknown,
            });
        } else {
            let i = open.remove(&process).unwrap_or_else(|| panic!("line {}: nothing in flight", line_no + 1));
            let e = &mut history[i];
            match status {
                ":ok" => {
                    (e.outcome, e.return_us) = (Outcome::Ok, Some(at));
                    if e.op == HistoryOp::Get {
                        e.value = value(args[0]);
                    }
                }
                ":fail" => (e.outcome, e.return_us) = (Outcome::Fail, Some(at)),
                ":info" => {}
                other => panic!("line {}: unknown status {other}", line_no + 1),
            }
        }
    }
    history
}

#[test]
fn etcd_histories_get_their_published_verdicts() {
    let dir = todc_utils_dir().join("tests/linearizability");
    let source = std::fs::read_to_string(dir.join("etcd.rs")).expect("todc-utils ships tests/linearizability/etcd.rs");
    let expected = expected_verdicts(&source);
    assert_eq!(expected.len(), 102, "{expected:?}");
    assert_eq!(expected.iter().filter(|(_, v)| *v).count(), 23);

    let start = Instant::now();
    let mut slowest = (String::new(), Duration::ZERO);
    let mut disagree = Vec::new();
    for (number, want) in &expected {
        let name = format!("etcd_{number}");
        let log = std::fs::read_to_string(dir.join(format!("etcd/{name}.log"))).expect("the log exists");
        let history = history_from_log(&log);
        assert!(history.len() > 50, "{name}: only {} operations", history.len());
        let t = Instant::now();
        let verdict = check(&history, &CheckOptions::default());
        let took = t.elapsed();
        if took > slowest.1 {
            slowest = (name.clone(), took);
        }
        if verdict.linearizable != Some(*want) {
            disagree.push(format!("{name}: expected {want}, got {:?} ({took:?})", verdict.linearizable));
        }
    }
    println!(
        "etcd histories: {} of {} agree with the published verdicts in {:.2?}; slowest {} ({:.2?})",
        expected.len() - disagree.len(),
        expected.len(),
        start.elapsed(),
        slowest.0,
        slowest.1,
    );
    assert!(disagree.is_empty(), "{} disagree:\n{}", disagree.len(), disagree.join("\n"));
}
