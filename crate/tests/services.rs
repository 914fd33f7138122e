//! The service graph (protocols/services): each tour's lesson as an assertion, the retry storm's
//! figures with and without back-off on the same seed, the breaker's timeline against
//! resilience4j's state machine, live changes through `configure`, and bad input refused with a
//! clear message and nothing lost.

mod common;

use caplab::protocols;
use caplab::scenario::Scenario;
use caplab::scenario::run::{RunOptions, run};
use caplab::sim::action::Action;
use caplab::sim::dynamic::Simulation;
use caplab::sim::time::Time;
use common::*;
use serde_json::{Value, json};

fn finish(s: &Scenario) -> Box<dyn Simulation> {
    let mut sim = protocols::build(s, None).unwrap_or_else(|e| panic!("{}: {e}", s.name));
    sim.run_until(Time::from_ms(s.duration_ms));
    sim
}

fn figure(sim: &dyn Simulation, name: &str) -> Value {
    name.split('.').fold(sim.figures(), |v, part| match part.parse::<usize>() {
        Ok(i) => v[i].clone(),
        Err(_) => v[part].clone(),
    })
}

/// The retry-storm tour with `retry` on its two inner edges replaced (and its notes and
/// expectations left out).
fn storm_with(retry: Value, drop_expired: bool) -> Scenario {
    let mut s = scenario("services-retry-storm");
    s.expect.clear();
    let calls = s.params["calls"].as_array_mut().expect("calls");
    for c in calls.iter_mut().skip(1) {
        c["retry"] = retry.clone();
    }
    s.params["services"][3]["drop_expired"] = json!(drop_expired);
    s
}

fn configure(change: Value) -> Action {
    Action::Configure { params: change.as_object().cloned().expect("an object") }
}

#[test]
fn every_services_tour_passes_its_expectations() {
    for name in [
        "services-cascade",
        "services-timeouts",
        "services-retry-storm",
        "services-backoff",
        "services-breaker",
        "services-rate-limit",
        "services-degradation",
    ] {
        let r = run(&scenario(name), &RunOptions::default()).expect("runs");
        assert!(r.summary.passed(), "{name}: {:#?}", r.summary.failures());
    }
}

#[test]
fn naive_retries_stay_down_and_backoff_with_a_budget_recovers() {
    let naive = finish(&storm_with(json!({"max_attempts": 3, "wait_duration_ms": 10, "multiplier": 1.0}), false));
    let backoff = finish(&storm_with(
        json!({"max_attempts": 3, "wait_duration_ms": 100, "multiplier": 2.0, "jitter": "full",
               "budget": {"budget_percent": 20, "min_retry_concurrency": 3}}),
        false,
    ));
    let none = finish(&storm_with(Value::Null, false));
    // The database recovers at 7 s. Naive retries keep it overloaded to the end.
    assert_eq!(figure(naive.as_ref(), "recovered"), json!(0));
    assert!(figure(naive.as_ref(), "success_after").as_f64().expect("measured") < 5.0);
    // Retry amplification: the database receives many times the users' 40 a second.
    let naive_peak = figure(naive.as_ref(), "services.2.peak_per_s").as_u64().expect("peak");
    let backoff_peak = figure(backoff.as_ref(), "services.2.peak_per_s").as_u64().expect("peak");
    assert!(naive_peak > 5 * 40, "naive peak {naive_peak}");
    assert!(backoff_peak < 3 * 40, "back-off peak {backoff_peak}");
    // Back-off with jitter and a budget recovers within 10 s of the database.
    assert_eq!(figure(backoff.as_ref(), "recovered"), json!(1));
    let ms = figure(backoff.as_ref(), "recovered_ms").as_u64().expect("recovered");
    assert!(ms <= 10_000, "{ms}");
    // With no retries at all it recovers too (sooner: no extra load at all).
    assert_eq!(figure(none.as_ref(), "recovered"), json!(1));
}

#[test]
fn dropping_expired_requests_speeds_recovery_after_backoff() {
    let retry = json!({"max_attempts": 3, "wait_duration_ms": 100, "multiplier": 2.0, "jitter": "full",
                       "budget": {"budget_percent": 20, "min_retry_concurrency": 3}});
    let keep = finish(&storm_with(retry.clone(), false));
    let drop = finish(&storm_with(retry, true));
    let (k, d) = (
        figure(keep.as_ref(), "recovered_ms").as_u64().expect("recovers"),
        figure(drop.as_ref(), "recovered_ms").as_u64().expect("recovers"),
    );
    assert!(d < k, "drop_expired {d} ms, keep {k} ms");
    assert!(figure(drop.as_ref(), "services.2.expired").as_u64().expect("counted") > 0);
}

#[test]
fn the_breaker_follows_resilience4js_state_machine() {
    let sim = finish(&scenario("services-breaker"));
    let t = figure(sim.as_ref(), "breakers.0.transitions");
    let steps: Vec<(u64, &str, &str)> = t
        .as_array()
        .expect("transitions")
        .iter()
        .map(|x| (x["at_ms"].as_u64().unwrap_or(0), x["from"].as_str().unwrap_or(""), x["to"].as_str().unwrap_or("")))
        .collect();
    assert!(steps.len() >= 5, "{steps:?}");
    assert_eq!(steps[0].1..steps[0].2, "closed".."open");
    for w in steps.windows(2) {
        // Each change starts from where the last one ended.
        assert_eq!(w[0].2, w[1].1, "{steps:?}");
        // Open lasts exactly wait_duration_in_open_state (2 s; automatic transition on).
        if w[0].2 == "open" {
            assert_eq!((w[1].0 - w[0].0, w[1].2), (2000, "half_open"), "{steps:?}");
        }
        // Half-open ends only in open or closed.
        if w[0].2 == "half_open" {
            assert!(matches!(w[1].2, "open" | "closed"), "{steps:?}");
        }
    }
    assert_eq!(steps.last().map(|s| s.2), Some("closed"));
    // It closes only after the database recovered at 9 s.
    assert!(steps.last().map_or(0, |s| s.0) > 9000);
    // While open, the database gets almost nothing.
    let series = figure(sim.as_ref(), "series");
    let db_at_5s = series[10]["load"]["db"].as_u64().expect("load");
    assert!(db_at_5s <= 10, "{db_at_5s}");
}

#[test]
fn a_live_change_slows_the_database_and_a_later_one_repairs_it() {
    let mut s = scenario("services-timeouts");
    s.timeline.clear();
    s.expect.clear();
    let mut sim = protocols::build(&s, None).expect("builds");
    run_to(sim.as_mut(), 2000);
    sim.apply_now(configure(json!({"services": {"db": {"service_ms": [400, 600]}}}))).expect("slows db");
    assert_eq!(inspect(sim.as_ref(), 3)["state"]["service_ms"], json!([400, 600]));
    run_to(sim.as_mut(), 4000);
    assert_eq!(figure(sim.as_ref(), "series.5.success").as_f64(), Some(0.0), "users fail while db is slow");
    sim.apply_now(configure(json!({"services": {"db": {"service_ms": [40, 60]}},
                                   "calls": {"api->db": {"timeout_ms": 250, "breaker": {}}}})))
        .expect("repairs db and adds a breaker");
    let edge = &inspect(sim.as_ref(), 2)["state"]["edges"][0];
    assert_eq!(edge["timeout_ms"], json!(250));
    assert_eq!(edge["breaker"]["state"], json!("closed"));
    assert_eq!(edge["breaker"]["failure_rate_threshold"], json!(50), "resilience4j's default");
    run_to(sim.as_mut(), 9000);
    // Users succeed once db has worked off the requests queued while it was slow...
    assert_eq!(figure(sim.as_ref(), "series.11.success").as_f64(), Some(100.0));
    // ...but those requests' timeouts were the new breaker's first 100 calls, over half of
    // them failed, and resilience4j's default breaker opened for 60 s: db now gets nothing.
    assert_eq!(figure(sim.as_ref(), "breakers.0.opened"), json!(1));
    assert_eq!(figure(sim.as_ref(), "breakers.0.state"), json!("open"));
    assert_eq!(figure(sim.as_ref(), "series.16.load.db"), json!(0));
    sim.apply_now(configure(json!({"calls": {"api->db": {"breaker": null}}}))).expect("switches it off");
    assert_eq!(inspect(sim.as_ref(), 2)["state"]["edges"][0]["breaker"], Value::Null);
}

#[test]
fn bad_changes_are_refused_with_a_clear_message_and_nothing_changes() {
    let mut sim = start("services-breaker");
    run_to(sim.as_mut(), 1000);
    let before = (sim.trace_hash(), inspect(sim.as_ref(), 2));
    for (change, says) in [
        (
            json!({"services": {"redis": {"capacity": 3}}}),
            "there is no service redis (there are users, gateway, api, db)",
        ),
        (json!({"calls": {"api->cache": {"timeout_ms": 3}}}), "there is no call api->cache"),
        (
            json!({"calls": {"api->db": {"breaker": {"failure_rate_threshold": 500}}}}),
            "failure_rate_threshold must be a percentage in 1..=100, not 500",
        ),
        (json!({"calls": {"api->db": {"retries": 3}}}), "has no field `retries`"),
        (json!({"services": {"db": {"error_rate": 2}}}), "error_rate must be from 0 to 1"),
        (json!({"services": {"db": {"service_ms": [50, 10]}}}), "the first must not be above the second"),
        (json!({"services": {"db": {"rate": 5}}}), "a source cannot become a service"),
        (json!({"workers": 3}), "services has no parameter `workers`"),
        (json!({"calls": {"api->db": {"timeout_ms": "soon"}}}), "calls.api->db.timeout_ms"),
    ] {
        let err = sim.apply_now(configure(change.clone())).expect_err(&change.to_string());
        assert!(err.contains(says), "{change}: {err}");
    }
    assert_eq!((sim.trace_hash(), inspect(sim.as_ref(), 2)), before);
    run_to(sim.as_mut(), 2000);
    assert!(sim.violations().is_empty());
}

#[test]
fn bad_scenarios_are_refused_with_a_clear_message() {
    let base = scenario("services-timeouts");
    let cases = [
        (json!({"nodes": 3}), "one node per service: 4 services (users, gateway, api, db) but nodes is 3"),
        (
            json!({"params": {"calls": [{"from": "db", "to": "api"}, {"from": "api", "to": "db"}]}}),
            "go round in a circle",
        ),
        (json!({"params": {"calls": [{"from": "api", "to": "cache"}]}}), "there is no service cache"),
        (
            json!({"params": {"calls": [{"from": "api", "to": "users"}]}}),
            "users is a source of requests and takes no calls",
        ),
        (
            json!({"params": {"calls": [{"from": "api", "to": "db", "retry": {"max_attempts": 0}}]}}),
            "max_attempts must be at least 1",
        ),
        (
            json!({"params": {"calls": [{"from": "api", "to": "db", "retry": {"jitter": "lots"}}]}}),
            "unknown variant `lots`",
        ),
        (json!({"params": {"services": [{"name": "a", "capacity": 3}]}, "nodes": 1}), "no service has a rate"),
    ];
    for (change, says) in cases {
        let mut v = serde_json::to_value(&base).expect("serializes");
        for (k, c) in change.as_object().expect("object") {
            match (v[k.as_str()].as_object_mut(), c.as_object()) {
                (Some(obj), Some(inner)) => inner.iter().for_each(|(ik, iv)| {
                    obj.insert(ik.clone(), iv.clone());
                }),
                _ => v[k.as_str()] = c.clone(),
            }
        }
        let s: Scenario = serde_json::from_value(v).expect("still a scenario");
        let err = protocols::build(&s, None).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains(says), "{change}: {err}");
    }
}

#[test]
fn a_client_request_goes_through_the_graph_and_is_answered() {
    let mut s = scenario("services-degradation");
    s.timeline.clear();
    s.expect.clear();
    let mut sim = protocols::build(&s, None).expect("builds");
    run_to(sim.as_mut(), 500);
    let req: Action = serde_json::from_value(json!({"action": "request", "client": "c1", "op": "get", "key": "page"}))
        .expect("a request");
    sim.apply_now(req).expect("applies");
    run_to(sim.as_mut(), 1500);
    use caplab::workload::history::Outcome;
    assert_eq!((sim.history().count(Outcome::Ok), sim.history().in_flight()), (1, 0), "{}", sim.history().to_json());
}

/// A three-service graph users -> api -> db with these `params` and `timeline`.
fn graph(params: Value, timeline: Value, duration_ms: u64) -> Scenario {
    serde_json::from_value(json!({
        "format": 1, "protocol": "services", "name": "graph", "title": {"en": "graph"},
        "nodes": 3, "clients": 1, "seed": 1, "duration_ms": duration_ms,
        "network": {"latency_ms": [1, 3]},
        "workload": {"rate": 0, "timeout_ms": 3000, "retries": 0},
        "params": params,
        "timeline": timeline,
    }))
    .expect("a scenario")
}

/// users (40/s) -> api -> db, with `bulkhead` on api -> db (the review's experiments).
fn small(timeline: Value, bulkhead: Value) -> Scenario {
    let params = json!({
        "services": [
            {"name": "users", "rate": 40},
            {"name": "api", "capacity": 50, "queue": 50, "service_ms": [1, 2]},
            {"name": "db", "capacity": 4, "queue": 100, "service_ms": [100, 150]}
        ],
        "calls": [
            {"from": "users", "to": "api", "timeout_ms": 3000},
            {"from": "api", "to": "db", "timeout_ms": 1000, "bulkhead": bulkhead}
        ]
    });
    graph(params, timeline, 12000)
}

#[test]
fn changing_one_pattern_keeps_the_others_state() {
    // A changed timeout keeps the bulkhead's permits...
    let mut sim = protocols::build(&small(json!([]), json!({"max_concurrent_calls": 2})), None).expect("builds");
    run_to(sim.as_mut(), 2000);
    sim.apply_now(configure(json!({"calls": {"api->db": {"timeout_ms": 900}}}))).expect("applies");
    assert_eq!(inspect(sim.as_ref(), 1)["state"]["edges"][0]["bulkhead"]["running"], json!(2));
    run_to(sim.as_mut(), 4000);
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    // ...and an open breaker stays open.
    let mut s = scenario("services-breaker");
    s.expect.clear();
    let mut sim = protocols::build(&s, None).expect("builds");
    run_to(sim.as_mut(), 4500);
    assert_eq!(figure(sim.as_ref(), "breakers.0.state"), json!("open"));
    let attempts = |sim: &dyn Simulation| inspect(sim, 2)["state"]["edges"][0]["totals"]["attempts"].clone();
    let before = attempts(sim.as_ref());
    sim.apply_now(configure(json!({"calls": {"api->db": {"timeout_ms": 299}}}))).expect("applies");
    run_to(sim.as_mut(), 4600);
    assert_eq!((figure(sim.as_ref(), "breakers.0.state"), attempts(sim.as_ref())), (json!("open"), before));
    // A restart gives a fresh breaker, and the timeline says it is closed.
    sim.apply_now(serde_json::from_value(json!({"action": "crash", "node": "n3"})).expect("crash")).expect("crashes");
    run_to(sim.as_mut(), 4610);
    sim.apply_now(serde_json::from_value(json!({"action": "restart", "node": "n3"})).expect("restart"))
        .expect("restarts");
    assert_eq!(figure(sim.as_ref(), "breakers.0.state"), json!("closed"));
}

#[test]
fn a_clock_set_back_leaks_no_bulkhead_permit() {
    let repair = json!([{"at_ms": 2000, "action": "clock", "node": "n2", "offset_ms": -2000},
                        {"at_ms": 4000, "action": "configure", "params": {"services": {"db": {"service_ms": [1, 2]}}}}]);
    let s = small(repair, json!({"max_concurrent_calls": 2, "max_wait_duration_ms": 20}));
    let mut sim = protocols::build(&s, None).expect("builds");
    run_to(sim.as_mut(), 12000);
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    assert_eq!(figure(sim.as_ref(), "recovered"), json!(1), "the bulkhead still lets calls through");
}

#[test]
fn lowering_a_queue_sheds_what_no_longer_fits() {
    let mut sim = protocols::build(&small(json!([]), Value::Null), None).expect("builds");
    run_to(sim.as_mut(), 3000);
    let queued = inspect(sim.as_ref(), 2)["state"]["queued"].as_u64().expect("queued");
    assert!(queued > 5, "{queued}");
    let shed = inspect(sim.as_ref(), 2)["state"]["totals"]["shed"].as_u64().expect("shed");
    sim.apply_now(configure(json!({"services": {"db": {"queue": 5}}}))).expect("applies");
    let after = &inspect(sim.as_ref(), 2)["state"];
    assert_eq!(after["queued"], json!(5));
    assert_eq!(after["totals"]["shed"].as_u64(), Some(shed + queued - 5));
    run_to(sim.as_mut(), 3001);
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
}

#[test]
fn a_restarted_caller_takes_no_reply_meant_for_its_previous_life() {
    // db works one request at a time (200 ms) with no timeouts anywhere: when api restarts at
    // 3 s, db still answers the calls of api's first life for seconds. A reply must not be
    // taken for the answer to a new call with the same number.
    let params = json!({
        "services": [
            {"name": "users", "rate": 20},
            {"name": "api", "capacity": 1000, "queue": 100, "service_ms": [1, 2]},
            {"name": "db", "capacity": 1, "queue": 1000, "service_ms": [200, 200]}
        ],
        "calls": [{"from": "users", "to": "api"}, {"from": "api", "to": "db"}]
    });
    let restart =
        json!([{"at_ms": 3000, "action": "crash", "node": "n2"}, {"at_ms": 3010, "action": "restart", "node": "n2"}]);
    let s = graph(params, restart, 8000);
    let sim = finish(&s);
    for b in 7..10 {
        assert_eq!(figure(sim.as_ref(), &format!("series.{b}.success")).as_f64(), Some(0.0), "bucket {b}");
    }
}
