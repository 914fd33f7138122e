//! Every file in `scenarios/` is valid, named after its file, and keeps its promises.

use caplab::scenario::library;
use caplab::scenario::run::{RunOptions, run};

#[test]
fn every_scenario_parses_and_is_named_after_its_file() {
    assert!(!library::files().is_empty());
    for (file, _) in library::files() {
        let s = library::get(file).unwrap_or_else(|e| panic!("{file}.json: {e}"));
        assert_eq!(&s.name, file, "the name field matches the file name");
    }
}

#[test]
fn every_scenario_meets_its_expectations() {
    for (file, _) in library::files() {
        let s = library::get(file).expect("parses");
        assert!(!s.expect.is_empty(), "{file} states what it expects");
        let r = run(&s, &RunOptions::default()).expect("runs");
        assert!(r.summary.passed(), "{file}: {:#?}", r.summary.failures());
        // A comparison keeps its promises on both sides.
        for (i, side) in s.compare.iter().enumerate() {
            let one = s.side(i).expect("a side of a valid scenario builds");
            assert_eq!(one.protocol, side.protocol);
            assert!(one.compare.is_empty());
            let r = run(&one, &RunOptions::default()).expect("runs");
            assert!(r.summary.passed(), "{file}[{}]: {:#?}", side.name, r.summary.failures());
        }
    }
}

#[test]
fn a_comparison_names_two_distinct_sides_and_checks_their_expectations() {
    let good = library::get("cap-split").expect("parses").to_json();
    let err = |from: &str, to: &str| {
        assert!(good.contains(from), "the fixture contains {from}");
        caplab::scenario::Scenario::from_json(&good.replacen(from, to, 1)).expect_err("refused").to_string()
    };
    assert!(err("\"name\": \"ap\"", "\"name\": \"cp\"").contains("`cp` names two sides"));
    assert!(err("\"name\": \"ap\"", "\"name\": \"A P\"").contains("compare[1].name"));
    assert!(err("\"name\": \"ap\"", "\"name\": \"0\"").contains("starting with a letter"));
    assert!(
        err("\"protocol\": \"raft\"", "\"protocol\": \"nope\"")
            .contains("compare[0].protocol: unknown protocol `nope`")
    );
    let e = err("\"max\": 0", "\"min\": 5, \"max\": 0");
    assert!(e.contains("compare[0].expect[1]"), "{e}");
    let s = library::get("cap-split").expect("parses");
    assert_eq!(s.side_index("ap").unwrap(), 1);
    assert_eq!(s.side_index("0").unwrap(), 0);
    assert!(s.side_index("bp").unwrap_err().to_string().contains("the sides are cp, ap"));
}

#[test]
fn a_scenario_survives_a_round_trip_through_json() {
    for (file, _) in library::files() {
        let s = library::get(file).expect("parses");
        let again = caplab::scenario::Scenario::from_json(&s.to_json()).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(s, again, "{file}");
    }
}
