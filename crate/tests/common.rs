//! Helpers shared by the integration tests.

#![allow(dead_code)]

use caplab::protocols;
use caplab::scenario::{Scenario, library};
use caplab::sim::dynamic::Simulation;
use caplab::sim::time::Time;

pub fn scenario(name: &str) -> Scenario {
    library::get(name).unwrap_or_else(|e| panic!("scenario {name}: {e}"))
}

pub fn start(name: &str) -> Box<dyn Simulation> {
    protocols::build(&scenario(name), None).unwrap_or_else(|e| panic!("building {name}: {e}"))
}

pub fn run_to(sim: &mut dyn Simulation, ms: u64) {
    sim.run_until(Time::from_ms(ms));
}

/// The state of one node as the inspector shows it.
pub fn inspect(sim: &dyn Simulation, node: u16) -> serde_json::Value {
    sim.inspect(caplab::sim::ids::NodeId(node)).expect("node exists")
}
