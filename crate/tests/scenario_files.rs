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
    }
}

#[test]
fn a_scenario_survives_a_round_trip_through_json() {
    for (file, _) in library::files() {
        let s = library::get(file).expect("parses");
        let again = caplab::scenario::Scenario::from_json(&s.to_json()).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(s, again, "{file}");
    }
}
