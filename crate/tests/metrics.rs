//! Client-side metrics (crate/src/check/metrics.rs) on small hand-made histories, the summary
//! fields and expectations built on them, and the Raft scenarios read nothing stale; the
//! convergence time after a heal, siblings, and the live measures a page asks for.

mod common;

use caplab::check::metrics::{self, Latency, MetricsOptions};
use caplab::protocols;
use caplab::scenario::run::{RunOptions, run};
use caplab::scenario::{Scenario, library};
use caplab::sim::ids::ClientId;
use caplab::sim::time::Time;
use caplab::workload::history::{HistoryEntry, HistoryOp, Outcome};

/// `(client, op, key, value, invoke_ms, return_ms, outcome)`; a `None` return means unknown.
fn e(client: u16, op: &str, key: &str, value: Option<&str>, invoke_ms: u64, return_ms: Option<u64>) -> HistoryEntry {
    let outcome = if return_ms.is_some() { Outcome::Ok } else { Outcome::Unknown };
    HistoryEntry {
        client: ClientId(client),
        op: match op {
            "put" => HistoryOp::Put,
            "get" => HistoryOp::Get,
            _ => HistoryOp::Cas,
        },
        key: key.into(),
        value: value.map(String::from),
        expected: None,
        writes: Vec::new(),
        invoke_us: invoke_ms * 1000,
        return_us: return_ms.map(|r| r * 1000),
        outcome,
    }
}

fn with(mut entry: HistoryEntry, outcome: Outcome) -> HistoryEntry {
    entry.outcome = outcome;
    if outcome == Outcome::Unknown {
        entry.return_us = None;
    }
    entry
}

#[test]
fn a_read_of_an_overwritten_value_is_stale_and_a_fresh_one_is_not() {
    let h = vec![
        e(0, "put", "x", Some("1"), 0, Some(10)),
        e(0, "put", "x", Some("2"), 20, Some(30)),
        // Stale: 2 had been written before this read began, and 1 is older than 2.
        e(1, "get", "x", Some("1"), 40, Some(50)),
        // Fresh.
        e(1, "get", "x", Some("2"), 60, Some(70)),
        // Another key is judged alone.
        e(2, "get", "y", None, 60, Some(70)),
    ];
    let stale = metrics::stale_reads(&h);
    assert_eq!(stale.len(), 1, "{stale:?}");
    let s = &stale[0];
    assert_eq!((s.index, s.client, s.key.as_str(), s.invoke_us), (2, ClientId(1), "x", 40_000));
    assert_eq!((s.read.as_deref(), s.newer.as_deref()), (Some("1"), Some("2")));
    let json = serde_json::to_value(s).unwrap();
    assert_eq!(json["client"], "c2");
    assert_eq!(json["newer"], "2");
}

#[test]
fn reads_concurrent_with_a_write_are_not_stale() {
    let h = vec![
        e(0, "put", "x", Some("1"), 0, Some(10)),
        e(0, "put", "x", Some("2"), 20, Some(60)),
        // Overlaps the write of 2: may read 1 or 2.
        e(1, "get", "x", Some("1"), 30, Some(40)),
        e(2, "get", "x", Some("2"), 30, Some(40)),
        // Begins exactly when the write of 2 returns: equal times are concurrent.
        e(1, "get", "x", Some("1"), 60, Some(70)),
        // Two writes concurrent with each other: after both, either may be the last.
        e(0, "put", "y", Some("a"), 0, Some(50)),
        e(1, "put", "y", Some("b"), 10, Some(20)),
        e(2, "get", "y", Some("a"), 100, Some(110)),
        e(2, "get", "y", Some("b"), 120, Some(130)),
        // A read "from the future" (its value's write began after it returned) is not
        // linearizable, but it is not stale: the checker judges it, not this count.
        e(0, "put", "z", Some("p"), 0, Some(10)),
        e(1, "get", "z", Some("q"), 20, Some(30)),
        e(0, "put", "z", Some("q"), 40, Some(50)),
    ];
    assert_eq!(metrics::stale_reads(&h), vec![]);
}

#[test]
fn absent_unwritten_and_unknown_values() {
    let h = vec![
        e(0, "put", "x", Some("1"), 0, Some(10)),
        // Absent after a write completed: stale.
        e(1, "get", "x", None, 20, Some(30)),
        // A value nothing wrote: counted.
        e(1, "get", "x", Some("9"), 40, Some(50)),
        // A failed put wrote nothing: reading its value counts as well.
        with(e(0, "put", "x", Some("3"), 60, Some(70)), Outcome::Fail),
        e(1, "get", "x", Some("3"), 80, Some(90)),
        // An unknown put may take effect at any time after its invocation: never stale.
        e(0, "put", "x", Some("4"), 100, None),
        e(0, "put", "x", Some("5"), 200, Some(210)),
        e(1, "get", "x", Some("4"), 300, Some(310)),
        // Absent before any write completed, and a failed read: neither counts.
        e(2, "get", "z", None, 0, Some(5)),
        with(e(2, "get", "x", None, 400, Some(410)), Outcome::Fail),
        // A value nobody wrote, with nothing completed on the key.
        e(2, "get", "w", Some("7"), 0, Some(5)),
    ];
    let stale = metrics::stale_reads(&h);
    let got: Vec<(usize, Option<&str>, Option<&str>)> =
        stale.iter().map(|s| (s.index, s.read.as_deref(), s.newer.as_deref())).collect();
    assert_eq!(
        got,
        vec![(1, None, Some("1")), (2, Some("9"), Some("1")), (4, Some("3"), Some("1")), (10, Some("7"), None)]
    );
}

#[test]
fn a_successful_cas_overwrites_and_its_value_can_be_read() {
    let mut cas = e(0, "cas", "x", Some("2"), 20, Some(30));
    cas.expected = Some("1".into());
    let h = vec![
        e(0, "put", "x", Some("1"), 0, Some(10)),
        cas,
        e(1, "get", "x", Some("2"), 40, Some(50)),
        e(1, "get", "x", Some("1"), 60, Some(70)),
    ];
    let stale = metrics::stale_reads(&h);
    assert_eq!(stale.iter().map(|s| s.index).collect::<Vec<_>>(), vec![3]);
    assert_eq!(stale[0].newer.as_deref(), Some("2"));
}

#[test]
fn availability_counts_unknown_as_a_failure_and_in_flight_not_at_all() {
    let h = vec![
        e(0, "put", "x", Some("1"), 0, Some(10)),
        e(0, "get", "x", Some("1"), 20, Some(30)),
        e(0, "put", "x", Some("2"), 40, None),
        with(e(1, "put", "x", Some("3"), 50, Some(60)), Outcome::Fail),
        e(1, "get", "x", None, 150, Some(170)),
        // Still in flight when the history was taken.
        e(1, "put", "x", Some("4"), 350, None),
    ];
    let m = metrics::measure_with(&h, &MetricsOptions { in_flight: vec![5], ..Default::default() });
    assert_eq!((m.availability.ok, m.availability.fail, m.availability.unknown), (3, 1, 1));
    assert_eq!(m.availability.availability, Some(0.6));
    assert_eq!(m.per_client["c1"].availability, Some(2.0 / 3.0));
    assert_eq!(m.per_client["c2"].availability, Some(0.5));
    // 100 ms buckets by invocation: [0, 100) has 4, [100, 200) has 1, nothing after.
    assert_eq!(m.bucket_ms, 100.0);
    let buckets: Vec<(f64, usize, Option<f64>)> = m
        .over_time
        .iter()
        .map(|b| (b.start_ms, b.counts.ok + b.counts.fail + b.counts.unknown, b.counts.availability))
        .collect();
    assert_eq!(buckets, vec![(0.0, 4, Some(0.5)), (100.0, 1, Some(1.0))]);
    // Without the in-flight list it is one more unknown, and the gap is an empty bucket.
    let all = metrics::measure(&h);
    assert_eq!(all.availability.unknown, 2);
    assert_eq!(all.over_time.len(), 4);
    assert_eq!(all.over_time[2].counts.availability, None);
    let json = serde_json::to_value(&all.over_time[0]).unwrap();
    assert_eq!(json["start_ms"], 0.0);
    assert_eq!(json["ok"], 2);
    // No operation: no availability, no latency.
    let none = metrics::measure(&[]);
    assert_eq!(none.availability.availability, None);
    assert_eq!(none.latency_ms, None);
    assert!(none.over_time.is_empty());
}

#[test]
fn latency_percentiles_are_nearest_rank_of_successful_operations() {
    // Latencies 1..=100 ms: nearest rank gives exactly p ms.
    let mut h: Vec<HistoryEntry> =
        (1..=100).map(|ms| e(0, "get", "x", None, 1000 * ms, Some(1000 * ms + ms))).collect();
    // Failed and unknown operations do not count.
    h.push(with(e(1, "get", "x", None, 0, Some(5000)), Outcome::Fail));
    h.push(e(1, "get", "x", None, 0, None));
    let l = metrics::measure(&h).latency_ms.expect("latencies");
    assert_eq!(l, Latency { p50: 50.0, p90: 90.0, p99: 99.0, max: 100.0 });
    // Few values: the rank rounds up, and one value is every percentile.
    assert_eq!(metrics::latency(vec![1000, 2000, 3000]), Some(Latency { p50: 2.0, p90: 3.0, p99: 3.0, max: 3.0 }));
    assert_eq!(metrics::latency(vec![1500]), Some(Latency { p50: 1.5, p90: 1.5, p99: 1.5, max: 1.5 }));
    assert_eq!(metrics::latency(vec![4000, 1000, 3000, 2000]).map(|l| l.p50), Some(2.0));
    assert_eq!(metrics::latency(vec![]), None);
}

#[test]
fn the_raft_scenarios_read_nothing_stale() {
    let mut seen = 0;
    // raft-lease-stale breaks the leader lease's clock bound on purpose and reads stale
    // (crate/tests/raft_lease.rs checks that it does).
    for s in library::all().into_iter().flatten().filter(|s| s.protocol == "raft" && s.name != "raft-lease-stale") {
        let r = run(&s, &RunOptions::default()).unwrap_or_else(|e| panic!("{}: {e}", s.name));
        let stale = metrics::stale_reads(r.sim.history().entries());
        assert!(stale.is_empty(), "{}: {stale:?}", s.name);
        assert_eq!(r.summary.stale_reads, 0, "{}", s.name);
        if r.summary.operations.ok > 0 {
            assert!(r.summary.latency_ms.is_some(), "{}", s.name);
            assert!(r.summary.availability.is_some_and(|a| a > 0.0 && a <= 1.0), "{}", s.name);
        }
        seen += 1;
    }
    assert!(seen >= 7, "only {seen} Raft scenarios");
}

fn with_expect(expect: serde_json::Value) -> Result<Scenario, String> {
    let mut v: serde_json::Value = serde_json::from_str(&common::scenario("raft-leader-isolated").to_json()).unwrap();
    v["expect"] = serde_json::json!([expect]);
    Scenario::from_json(&v.to_string()).map_err(|e| e.to_string())
}

#[test]
fn stale_read_and_availability_expectations_are_validated() {
    for (bad, why) in [
        (serde_json::json!({"expect": "stale_reads"}), "give min, max or both"),
        (serde_json::json!({"expect": "stale_reads", "min": 3, "max": 1}), "min 3 is above max 1"),
        (serde_json::json!({"expect": "stale_reads", "max": -1}), "expect"),
        (serde_json::json!({"expect": "availability"}), "give min, max or both"),
        (serde_json::json!({"expect": "availability", "min": 1.5}), "min 1.5 is not a share from 0 to 1"),
        (serde_json::json!({"expect": "availability", "max": -0.1}), "max -0.1 is not a share from 0 to 1"),
        (serde_json::json!({"expect": "availability", "min": 0.9, "max": 0.5}), "min 0.9 is above max 0.5"),
        (serde_json::json!({"expect": "availability", "min": 0.9, "extra": 1}), "unknown field"),
    ] {
        let err = with_expect(bad.clone()).expect_err(&bad.to_string());
        assert!(err.contains(why), "{bad}: {err}");
    }
}

#[test]
fn stale_read_and_availability_expectations_are_judged() {
    // raft-leader-isolated: 4 operations, 3 ok and 1 unknown, nothing stale.
    let judge = |expect: serde_json::Value| {
        let s = with_expect(expect.clone()).unwrap_or_else(|e| panic!("{expect}: {e}"));
        let r = run(&s, &RunOptions::default()).unwrap();
        let e = r.summary.expect[0].clone();
        (e.ok, e.detail)
    };
    let (ok, detail) = judge(serde_json::json!({"expect": "stale_reads", "max": 0}));
    assert!(ok, "{detail}");
    assert_eq!(detail, "0 stale reads");
    assert!(!judge(serde_json::json!({"expect": "stale_reads", "min": 1})).0);
    let (ok, detail) = judge(serde_json::json!({"expect": "availability", "min": 0.7, "max": 0.8}));
    assert!(ok, "{detail}");
    assert_eq!(detail, "availability 0.7500: 3 ok, 0 fail, 1 unknown");
    let (ok, _) = judge(serde_json::json!({"expect": "availability", "min": 0.9}));
    assert!(!ok);
}

/// A built-in scenario with its JSON changed by `edit`.
fn edited(name: &str, edit: impl FnOnce(&mut serde_json::Value)) -> Scenario {
    let mut v: serde_json::Value = serde_json::from_str(&common::scenario(name).to_json()).unwrap();
    edit(&mut v);
    Scenario::from_json(&v.to_string()).unwrap_or_else(|e| panic!("{name} edited: {e}"))
}

/// nwr-partition-ap without its heal: the run ends split.
fn never_healed() -> Scenario {
    edited("nwr-partition-ap", |v| {
        let t = v["timeline"].as_array_mut().unwrap();
        t.retain(|e| e["action"] != "heal");
    })
}

#[test]
fn converged_ms_is_the_time_from_the_last_heal_until_the_replicas_agree() {
    let s = common::scenario("nwr-partition-ap");
    let c = run(&s, &RunOptions::default()).unwrap().summary.converged_ms.expect("settles after the heal");
    assert!(c > 0.0 && c < 3000.0, "converged_ms {c}");
    // Measured on the 10 ms grid from the heal at 4000 ms: the replicas agree at 4000 + c and
    // did not at the probe before.
    assert_eq!(c % 10.0, 0.0, "{c}");
    let settled = protocols::info("nwr").unwrap().settled;
    let mut sim = protocols::build(&s, None).unwrap();
    sim.run_until(Time(4_000_000 + (c as u64 - 10) * 1000));
    assert!(settled(sim.as_ref()).is_err(), "already settled {} ms after the heal", c - 10.0);
    sim.run_until(Time(4_000_000 + c as u64 * 1000));
    assert_eq!(settled(sim.as_ref()), Ok(()));
    // In the JSON summary, as a number of milliseconds.
    let json = serde_json::to_value(run(&s, &RunOptions::default()).unwrap().summary).unwrap();
    assert_eq!(json["converged_ms"], c);
}

#[test]
fn converged_ms_is_null_without_a_heal_or_when_the_run_ends_first() {
    let r = run(&never_healed(), &RunOptions::default()).unwrap();
    assert_eq!(r.summary.converged_ms, None);
    assert_eq!(serde_json::to_value(&r.summary).unwrap()["converged_ms"], serde_json::Value::Null);
    assert_eq!(run(&common::scenario("nwr-happy"), &RunOptions::default()).unwrap().summary.converged_ms, None);
    // Stopped 5 ms after the heal, before any anti-entropy could run.
    let cut = RunOptions { until_ms: Some(4005.0), ..RunOptions::default() };
    assert_eq!(run(&common::scenario("nwr-partition-ap"), &cut).unwrap().summary.converged_ms, None);
    // Probing does not change the run.
    let plain = run(&common::scenario("nwr-partition-ap"), &RunOptions::default()).unwrap();
    let mut sim = protocols::build(&common::scenario("nwr-partition-ap"), None).unwrap();
    sim.run_until(Time(7_000_000));
    assert_eq!(plain.summary.trace_hash, sim.trace_hash());
}

#[test]
fn converged_ms_expectations_are_validated() {
    for (bad, why) in [
        (serde_json::json!({"expect": "converged_ms"}), "give min, max or both"),
        (serde_json::json!({"expect": "converged_ms", "min": 500, "max": 100}), "min 500 is above max 100"),
        (serde_json::json!({"expect": "converged_ms", "max": -1}), "max -1 is not a number of milliseconds"),
        (serde_json::json!({"expect": "converged_ms", "min": "soon"}), "expect"),
        (serde_json::json!({"expect": "converged_ms", "max": 10, "at_ms": 5}), "unknown field"),
    ] {
        let err = with_expect(bad.clone()).expect_err(&bad.to_string());
        assert!(err.contains(why), "{bad}: {err}");
    }
    assert!(with_expect(serde_json::json!({"expect": "converged_ms", "min": 0, "max": 0})).is_ok());
}

#[test]
fn converged_ms_expectations_are_judged() {
    let judge = |s: &Scenario, expect: serde_json::Value| {
        let mut v: serde_json::Value = serde_json::from_str(&s.to_json()).unwrap();
        v["expect"] = serde_json::json!([expect]);
        let s = Scenario::from_json(&v.to_string()).unwrap();
        let e = run(&s, &RunOptions::default()).unwrap().summary.expect[0].clone();
        (e.ok, e.detail)
    };
    let ap = common::scenario("nwr-partition-ap");
    let c = run(&ap, &RunOptions::default()).unwrap().summary.converged_ms.unwrap();
    let (ok, detail) = judge(&ap, serde_json::json!({"expect": "converged_ms", "max": c}));
    assert!(ok, "{detail}");
    assert_eq!(detail, format!("converged {c} ms after the last heal"));
    assert!(judge(&ap, serde_json::json!({"expect": "converged_ms", "min": c, "max": c})).0);
    assert!(!judge(&ap, serde_json::json!({"expect": "converged_ms", "max": c - 10.0})).0);
    assert!(!judge(&ap, serde_json::json!({"expect": "converged_ms", "min": c + 10.0})).0);
    let (ok, detail) = judge(&common::scenario("nwr-happy"), serde_json::json!({"expect": "converged_ms", "min": 0}));
    assert!(!ok);
    assert_eq!(detail, "there was no heal");
    let (ok, detail) = judge(
        &edited("nwr-partition-ap", |v| {
            v["duration_ms"] = 4005.into();
            v["workload"]["stop_ms"] = 4000.into();
        }),
        serde_json::json!({"expect": "converged_ms", "min": 0}),
    );
    assert!(!ok);
    assert_eq!(detail, "the run ended before the protocol settled after the last heal");
}

#[test]
fn vector_clocks_keep_siblings_and_last_writer_wins_does_not() {
    let vector = run(&common::scenario("nwr-siblings"), &RunOptions::default()).unwrap();
    assert_eq!(vector.summary.siblings, 2, "x = 2 and x = 3 kept side by side");
    assert_eq!(metrics::siblings(vector.sim.as_ref()), metrics::Siblings { max: 2, keys: vec!["x".into()] });
    let lww = edited("nwr-siblings", |v| {
        v["params"]["versioning"] = "lww".into();
        // These expectations describe the vector clocks' run.
        v["expect"] = serde_json::json!([]);
    });
    let lww = run(&lww, &RunOptions::default()).unwrap();
    assert_eq!(lww.summary.operations.ok, vector.summary.operations.ok, "the same operations succeed");
    assert_eq!(lww.summary.siblings, 0);
    assert_eq!(metrics::siblings(lww.sim.as_ref()), metrics::Siblings::default());
    // Before the split, nobody holds siblings even with vector clocks; Raft never does.
    let mut sim = protocols::build(&common::scenario("nwr-siblings"), None).unwrap();
    sim.run_until(Time(1_000_000));
    assert_eq!(metrics::siblings(sim.as_ref()).max, 0);
    assert_eq!(run(&common::scenario("raft-leader-isolated"), &RunOptions::default()).unwrap().summary.siblings, 0);
}

#[test]
fn the_live_measures_agree_with_the_summary_and_name_the_witness() {
    let r = run(&common::scenario("nwr-partition-ap"), &RunOptions::default()).unwrap();
    let live = metrics::live(r.sim.as_ref(), 500.0).expect("measures");
    assert_eq!(live.now_ms, 7000.0);
    assert_eq!(live.linearizable, Some(false));
    assert_eq!(live.measures.stale_reads.len(), r.summary.stale_reads);
    assert_eq!(live.measures.availability.availability, r.summary.availability);
    assert_eq!(live.measures.latency_ms, r.summary.latency_ms);
    assert_eq!((live.measures.bucket_ms, live.measures.over_time[1].start_ms), (500.0, 500.0));
    assert_eq!(live.siblings, 0);
    // The witness: a few history indices, ascending, all on the one key, including a read.
    let h = r.sim.history().entries();
    assert!(!live.witness.is_empty() && live.witness.len() < h.len(), "{:?}", live.witness);
    assert!(live.witness.windows(2).all(|w| w[0] < w[1]));
    assert!(live.witness.iter().all(|&i| i < h.len() && h[i].key == "x"));
    assert!(live.witness.iter().any(|&i| h[i].op == HistoryOp::Get));
    let json = serde_json::to_value(&live).unwrap();
    for field in [
        "now_ms",
        "linearizable",
        "witness",
        "stale_reads",
        "availability",
        "per_client",
        "over_time",
        "bucket_ms",
        "latency_ms",
        "siblings",
        "sibling_keys",
    ] {
        assert!(json.get(field).is_some(), "{field} missing from {json}");
    }
    assert_eq!(json["stale_reads"][0]["index"], live.measures.stale_reads[0].index);
    // Siblings, live, on the vector-clock run; nothing at all before the first operation.
    let v = run(&common::scenario("nwr-siblings"), &RunOptions::default()).unwrap();
    let live = metrics::live(v.sim.as_ref(), 100.0).unwrap();
    assert_eq!((live.siblings, live.sibling_keys.clone(), live.linearizable), (2, vec!["x".to_string()], Some(true)));
    assert!(live.witness.is_empty());
    let fresh = protocols::build(&common::scenario("nwr-siblings"), None).unwrap();
    let live = metrics::live(fresh.as_ref(), 100.0).unwrap();
    assert_eq!((live.linearizable, live.measures.over_time.len(), live.measures.latency_ms), (None, 0, None));
}

#[test]
fn a_bad_bucket_width_is_a_clear_error() {
    let r = run(&common::scenario("nwr-partition-ap"), &RunOptions::default()).unwrap();
    for bad in [0.0, -5.0, 0.5, f64::NAN, f64::INFINITY, 3_600_001.0] {
        let err = metrics::live(r.sim.as_ref(), bad).expect_err(&bad.to_string());
        assert!(err.starts_with("bucket_ms must be a number of milliseconds from 1 to 3600000"), "{bad}: {err}");
    }
    // Operations are invoked until about 5 s: 1 ms buckets are fine, 10,000 at most.
    assert!(metrics::live(r.sim.as_ref(), 1.0).is_ok());
    let long = edited("nwr-partition-ap", |v| {
        v["duration_ms"] = 30_000.into();
        v["workload"]["stop_ms"] = 30_000.into();
    });
    let r = run(&long, &RunOptions::default()).unwrap();
    let err = metrics::live(r.sim.as_ref(), 1.0).expect_err("too many buckets");
    assert!(err.contains("buckets (at most 10000): use at least"), "{err}");
    // The width it suggests is enough, and 1 ms less is not.
    let suggested: f64 = err.rsplit("use at least ").next().unwrap().trim_end_matches(" ms").parse().unwrap();
    assert!(metrics::live(r.sim.as_ref(), suggested).is_ok(), "{err}");
    assert!(suggested == 1.0 || metrics::live(r.sim.as_ref(), suggested - 1.0).is_err(), "{err}");
}

#[test]
fn probing_a_copy_from_the_heal_finds_the_same_convergence_as_the_run() {
    // What the CAP lab does: a copy at the heal, probed every 10 ms, must give `converged_ms`.
    for name in ["nwr-partition-ap", "cap-split"] {
        let s = common::scenario(name);
        let sides: Vec<Scenario> =
            if s.compare.is_empty() { vec![s.clone()] } else { (0..2).map(|i| s.side(i).unwrap()).collect() };
        for one in sides {
            let summary = run(&one, &RunOptions::default()).unwrap().summary;
            let heal = one.timeline.iter().rev().find(|e| e.action.name() == "heal").expect("a heal").at_ms;
            let mut sim = protocols::build(&one, None).unwrap();
            sim.run_until(Time::from_ms(heal as u64));
            let settled = protocols::info(&one.protocol).unwrap().settled;
            let found = metrics::first_settled(sim.as_mut(), settled, Time::from_ms(one.duration_ms), 10_000);
            let page = found.map(|t| t.0 as f64 / 1000.0 - heal);
            assert_eq!(page, summary.converged_ms, "{name} ({})", one.protocol);
            assert!(page.is_some(), "{name} ({}) converges", one.protocol);
        }
    }
}

/// The leader figures (`check::leadership`): the leader's crash opens a gap that the next
/// election closes, within the election timeout's reach; the messages are counted per label and
/// between nodes only; a write's latency is its client's.
#[test]
fn leadership_gap_after_a_leader_crash() {
    let s = common::scenario("raft-leader-crash");
    let r = run(&s, &RunOptions::default()).unwrap();
    let c = r.summary.consensus.expect("raft had a leader");
    let crashed: Vec<_> = c.leaderless.iter().filter(|g| g.cause == "crashed").collect();
    assert_eq!(crashed.len(), 1, "{:?}", c.leaderless);
    let g = crashed[0];
    assert_eq!(g.from_ms, 1500.0, "the crash is at 1500 ms");
    let to = g.to_ms.expect("a new leader took over");
    assert!((g.ms - (to - g.from_ms)).abs() < 1e-9);
    // Nobody can stand before its election timeout (150 ms at least) runs out; with five nodes
    // and no loss, one of the first few rounds wins.
    assert!((150.0..1500.0).contains(&g.ms), "{} ms without a leader", g.ms);
    assert_eq!(c.leaderless_after_crash_ms, Some(g.ms));
    assert_eq!(c.messages_by_label.values().sum::<u64>(), c.peer_messages);
    assert!(c.peer_messages < r.summary.messages.sent, "client traffic is not counted");
    assert!(c.messages_by_label.contains_key("RequestVote"));
    let ok_puts =
        r.sim.history().entries().iter().filter(|e| e.op == HistoryOp::Put && e.outcome == Outcome::Ok).count();
    assert_eq!(c.writes_committed, ok_puts);
    let per = c.messages_per_write.unwrap();
    assert!((per - c.peer_messages as f64 / ok_puts as f64).abs() < 1e-9);
    assert!(c.write_latency_ms.unwrap().p50 > 0.0);
}

/// A protocol in which no node ever leads has no leader figures; a leader that is only
/// isolated (it still believes it leads) opens no gap by crashing.
#[test]
fn no_leader_figures_without_leaders() {
    let s = common::scenario("nwr-happy");
    let r = run(&s, &RunOptions::default()).unwrap();
    assert!(r.summary.consensus.is_none());
    let s = common::scenario("raft-election");
    let r = run(&s, &RunOptions::default()).unwrap();
    let c = r.summary.consensus.unwrap();
    assert!(c.leaderless.iter().all(|g| g.cause != "crashed"));
    assert_eq!(c.leaderless_after_crash_ms, None);
}

/// A comparison runs two or three sides, not one or four.
#[test]
fn comparisons_have_two_or_three_sides() {
    let base = library::get("consensus-compare").unwrap();
    assert_eq!(base.compare.len(), 3);
    let mut four = serde_json::to_value(&base).unwrap();
    let extra = serde_json::json!({ "name": "fourth", "protocol": "raft" });
    four["compare"].as_array_mut().unwrap().push(extra);
    let err = Scenario::from_json(&four.to_string()).unwrap_err().to_string();
    assert!(err.contains("compares two or three sides, not 4"), "{err}");
    let mut one = serde_json::to_value(&base).unwrap();
    one["compare"].as_array_mut().unwrap().truncate(1);
    let err = Scenario::from_json(&one.to_string()).unwrap_err().to_string();
    assert!(err.contains("not 1"), "{err}");
}

/// Raft's `pipeline`: a leader that does not send entries again while they are on their way
/// commits the same writes with far fewer messages (the consensus comparison runs with it), and
/// stays linearizable.
#[test]
fn raft_pipeline_sends_entries_once() {
    let mut s = common::scenario("raft-leader-crash");
    s.workload.rate = 50.0;
    let figures = |pipeline: bool| {
        let mut s = s.clone();
        s.params["pipeline"] = serde_json::json!(pipeline);
        let r = run(&s, &RunOptions::default()).unwrap();
        assert_eq!(r.summary.linearizable, Some(true), "pipeline {pipeline}");
        assert_eq!(r.summary.invariants, serde_json::json!("ok"));
        r.summary.consensus.unwrap()
    };
    let (eager, piped) = (figures(false), figures(true));
    let per = |c: &caplab::check::leadership::Consensus| c.messages_per_write.unwrap();
    assert!(per(&piped) < per(&eager) * 0.6, "{} vs {} messages per write", per(&piped), per(&eager));
    assert!(piped.writes_committed as f64 > eager.writes_committed as f64 * 0.9);
}

/// A leader cut off in a minority still says it leads after the majority elected another; when
/// that other one crashes, the stale one does not count: the cluster is without a leader until
/// a new election (found by review: the gap used to be missed).
#[test]
fn a_stale_isolated_leader_does_not_hide_the_gap() {
    for protocol in ["raft", "multipaxos"] {
        let text = serde_json::json!({
            "format": 1, "name": "stale-leader-gap", "title": "stale leader", "protocol": protocol,
            "nodes": 5, "clients": 1, "seed": 1, "duration_ms": 4000,
            "params": { "election_timeout_ms": [150, 300], "heartbeat_ms": 50 },
            "workload": { "rate": 20, "keys": 2, "read_ratio": 0, "timeout_ms": 400, "retries": 6 },
            "timeline": [
                { "at_ms": 1000, "action": "isolate", "node": "leader" },
                { "at_ms": 2000, "action": "crash", "node": "leader" }
            ]
        });
        let s = Scenario::from_json(&text.to_string()).unwrap();
        let r = run(&s, &RunOptions::default()).unwrap();
        let c = r.summary.consensus.unwrap();
        let gap = c.leaderless.iter().find(|g| g.cause == "crashed").unwrap_or_else(|| panic!("{protocol}: {:?}", c));
        assert_eq!(gap.from_ms, 2000.0, "{protocol}");
        assert!(gap.ms >= 150.0 && gap.to_ms.is_some(), "{protocol}: {gap:?}");
    }
}
