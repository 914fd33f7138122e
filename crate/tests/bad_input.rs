//! Bad input gets a clear message that names the field and the problem, never a panic.

use caplab::scenario::{Scenario, ScenarioError};
use std::process::Command;

const GOOD: &str = r#"{
  "format": 1, "name": "t", "title": "t", "protocol": "raft", "nodes": 3, "clients": 1,
  "seed": 1, "duration_ms": 1000,
  "timeline": [ { "at_ms": 100, "action": "crash", "node": "n1" } ]
}"#;

fn edit(from: &str, to: &str) -> String {
    assert!(GOOD.contains(from), "{from}");
    GOOD.replacen(from, to, 1)
}

fn error(text: &str) -> String {
    let e = Scenario::from_json(text).and_then(|s| caplab::protocols::build(&s, None).map(|_| s));
    match e {
        Ok(_) => panic!("accepted: {text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn the_good_file_is_good() {
    Scenario::from_json(GOOD).expect("valid");
}

#[test]
fn errors_name_the_field_and_the_problem() {
    let cases = [
        (edit("\"nodes\": 3", "\"nodes\": \"three\""), "nodes: invalid type: string \"three\""),
        (edit("\"seed\": 1,", "\"seed\": 1, \"colour\": 2,"), "unknown field `colour`"),
        (edit("\"seed\": 1,", "\"seed\": 1152921504606846976,"), "seed: must be at most 9007199254740991"),
        (
            edit("\"node\": \"n1\"", "\"node\": \"n7\""),
            "timeline[0] (crash): node n7 does not exist (nodes are n1..n3)",
        ),
        (edit("\"node\": \"n1\"", "\"node\": \"server1\""), "timeline[0]: `server1` is not a node"),
        (edit("\"action\": \"crash\"", "\"action\": \"explode\""), "timeline[0]: unknown variant `explode`"),
        (edit("\"at_ms\": 100", "\"at_ms\": 5000"), "timeline[0].at_ms: 5000 is after the end of the run"),
        (edit("\"at_ms\": 100", "\"at_ms\": -5"), "timeline[0].at_ms: must be a time of 0 or more"),
        (edit("\"format\": 1", "\"format\": 2"), "format: this build reads format 1, not 2"),
        (edit("\"protocol\": \"raft\"", "\"protocol\": \"rafty\""), "unknown protocol `rafty`; known protocols: raft"),
        (edit("\"nodes\": 3", "\"nodes\": 0"), "nodes: must be between 1 and 64 for raft, not 0"),
        (
            edit("\"seed\": 1,", "\"seed\": 1, \"params\": {\"election_timeout_ms\": [300, 100]},"),
            "params: election_timeout_ms [300, 100] must be a range",
        ),
        (
            edit("\"seed\": 1,", "\"seed\": 1, \"params\": {\"heartbeat\": 10},"),
            "params.heartbeat: unknown field `heartbeat`, expected one of",
        ),
        (edit("\"clients\": 1", "\"clients\": 1, \"network\": {\"drop\": 1.5}"), "network.drop: must be a probability"),
        ("{\"format\": 1,".to_string(), "EOF while parsing"),
        ("".to_string(), "EOF while parsing"),
        ("[]".to_string(), "a scenario is a JSON object {...}, not an array"),
    ];
    for (text, wanted) in cases {
        let got = error(&text);
        assert!(got.contains(wanted), "wanted «{wanted}», got «{got}»");
    }
}

#[test]
fn a_timeline_out_of_order_is_refused() {
    let text = edit(
        "[ { \"at_ms\": 100, \"action\": \"crash\", \"node\": \"n1\" } ]",
        "[ { \"at_ms\": 500, \"action\": \"heal\" }, { \"at_ms\": 100, \"action\": \"heal\" } ]",
    );
    assert!(error(&text).contains("timeline[1].at_ms: 100 is before the previous action (500)"));
}

#[test]
fn an_action_in_the_past_is_refused_and_the_run_goes_on() {
    let s = Scenario::from_json(GOOD).expect("valid");
    let mut sim = caplab::protocols::build(&s, None).expect("builds");
    sim.run_until(caplab::sim::time::Time::from_ms(500));
    let before = sim.trace_hash();
    let mut concrete = match caplab::protocols::build(&s, None) {
        Ok(_) => caplab::sim::engine::Sim::<caplab::protocols::raft::Raft>::new(caplab::sim::engine::SimConfig {
            nodes: 3,
            clients: 1,
            seed: 1,
            params: Default::default(),
            network: Default::default(),
            workload: caplab::workload::Workload::new(&Default::default(), 1_000_000),
            timeline: Vec::new(),
        }),
        Err(e) => panic!("{e}"),
    };
    concrete.run_until(caplab::sim::time::Time::from_ms(500));
    let err = concrete.schedule(caplab::sim::time::Time::from_ms(100), caplab::sim::action::Action::Heal).unwrap_err();
    assert!(err.contains("is in the past"), "{err}");
    // A bad live action changes nothing.
    let err = sim
        .apply_now(caplab::sim::action::Action::Crash {
            node: caplab::sim::action::Target::Node(caplab::sim::ids::NodeId(9)),
        })
        .unwrap_err();
    assert!(err.contains("n10 does not exist"), "{err}");
    assert_eq!(sim.trace_hash(), before);
}

#[test]
fn unknown_scenario_names_are_reported() {
    assert_eq!(
        caplab::scenario::library::get("raft-nope").unwrap_err(),
        ScenarioError::UnknownName("raft-nope".into())
    );
}

fn caplab(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_caplab")).args(args).output().expect("the binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn the_cli_exits_1_with_a_message_on_bad_input() {
    let dir = std::env::temp_dir().join(format!("caplab-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let bad = dir.join("bad.json");
    std::fs::write(&bad, edit("\"node\": \"n1\"", "\"node\": \"n9\"")).expect("write");
    let (code, _, err) = caplab(&["run", bad.to_str().expect("utf-8 path")]);
    assert_eq!(code, 1);
    assert!(err.contains("node n9 does not exist"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let (code, _, err) = caplab(&["run", "no-such-scenario"]);
    assert_eq!(code, 1);
    assert!(err.contains("no scenario is named `no-such-scenario`"), "{err}");
    let (code, _, err) = caplab(&["run", "/no/such/file.json"]);
    assert_eq!(code, 1);
    assert!(err.contains("cannot read /no/such/file.json"), "{err}");
    let (code, _, err) = caplab(&["fuzz", "nothing", "--seeds", "1"]);
    assert_eq!(code, 1);
    assert!(err.contains("unknown protocol `nothing`"), "{err}");
    let backwards = edit(
        "[ { \"at_ms\": 100, \"action\": \"crash\", \"node\": \"n1\" } ]",
        "[ { \"at_ms\": 500, \"action\": \"heal\" }, { \"at_ms\": 100, \"action\": \"heal\" } ]",
    );
    std::fs::write(&bad, backwards).expect("write");
    let (code, _, err) = caplab(&["run", bad.to_str().expect("utf-8 path")]);
    assert_eq!(code, 1);
    assert!(err.contains("timeline[1].at_ms: 100 is before the previous action"), "{err}");
    std::fs::write(&bad, "{ not json").expect("write");
    let (code, _, err) = caplab(&["check", bad.to_str().expect("utf-8 path")]);
    assert_eq!(code, 1);
    assert!(err.contains("failed"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_cli_runs_and_prints_the_summary() {
    let (code, out, err) = caplab(&["run", "raft-election", "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("one JSON object");
    for field in [
        "scenario",
        "seed",
        "end_ms",
        "events",
        "messages",
        "operations",
        "invariants",
        "stale_reads",
        "availability",
        "latency_ms",
        "expect",
        "trace_hash",
    ] {
        assert!(v.get(field).is_some(), "summary has {field}");
    }
    assert!(v["stale_reads"].is_u64());
    assert!(v["availability"].is_f64() || v["availability"].is_null());
    assert!(v["latency_ms"].is_null() || ["p50", "p90", "p99", "max"].iter().all(|p| v["latency_ms"][p].is_f64()));
    for field in ["sent", "delivered", "dropped"] {
        assert!(v["messages"][field].is_u64(), "messages.{field}");
    }
    assert_eq!(v["invariants"], "ok");
    let (code, again, _) = caplab(&["run", "raft-election", "--json"]);
    assert_eq!(code, 0);
    let w: serde_json::Value = serde_json::from_str(&again).expect("JSON");
    assert_eq!(v["trace_hash"], w["trace_hash"]);
    let (code, list, _) = caplab(&["list"]);
    assert_eq!(code, 0);
    assert!(list.contains("raft-figure8"));
}

/// Transactions: asked of a protocol that runs none, malformed, or named wrongly in an
/// expectation, each gets a message that says so.
#[test]
fn bad_transactions_are_named() {
    let txn = r#"{ "at_ms": 100, "action": "request", "client": "c1", "op": "txn", "keys": ["x", "y"] }"#;
    let with = |action: &str| edit(r#"{ "at_ms": 100, "action": "crash", "node": "n1" }"#, action);
    let cases = [
        (with(txn), "timeline[0]: raft runs no transactions (those that do: twopc, threepc, saga)"),
        (
            edit("\"seed\": 1,", "\"seed\": 1, \"workload\": { \"rate\": 1, \"txn_keys\": 2 },"),
            "workload.txn_keys: raft runs no transactions",
        ),
        (
            edit("\"seed\": 1,", "\"seed\": 1, \"workload\": { \"rate\": 1, \"keys\": 3, \"txn_keys\": 5 },"),
            "txn_keys must be 0 (no transactions) or from 2 to 16 and at most keys (3), not 5",
        ),
        (
            with(r#"{ "at_ms": 100, "action": "request", "client": "c1", "op": "txn", "key": "x" }"#),
            "a txn request needs `keys`, a list of the keys it writes",
        ),
        (
            with(r#"{ "at_ms": 100, "action": "request", "client": "c1", "op": "txn", "keys": ["x", "x"] }"#),
            "txn key `x` is named twice",
        ),
        (
            with(r#"{ "at_ms": 100, "action": "request", "client": "c1", "op": "put", "key": "x", "keys": ["y"] }"#),
            "only a txn request takes `keys`",
        ),
        (
            edit("\"protocol\": \"raft\"", "\"protocol\": \"twopc\"").replace(
                "\"seed\": 1,",
                "\"seed\": 1, \"expect\": [{ \"expect\": \"transaction\", \"txn\": \"c9.1\" }],",
            ),
            "transaction `c9.1` is not a client's request",
        ),
        (
            edit("\"protocol\": \"raft\"", "\"protocol\": \"twopc\"")
                .replace("\"seed\": 1,", "\"seed\": 1, \"params\": { \"vote_no\": [\"n1\"] },"),
            "params: vote_no names n1, the coordinator, which does not vote",
        ),
        (
            edit("\"protocol\": \"raft\"", "\"protocol\": \"threepc\"").replace(
                "\"seed\": 1,",
                "\"seed\": 1, \"network\": { \"latency_ms\": [40, 45] }, \"params\": { \"ack_timeout_ms\": 10 },",
            ),
            "ack_timeout_ms (10) and election_ms (60) must each exceed a round trip of the network (90 ms",
        ),
    ];
    for (text, want) in cases {
        let got = error(&text);
        assert!(got.contains(want), "expected `{want}` in `{got}`");
    }
}
