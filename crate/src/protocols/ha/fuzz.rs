//! What the fuzzer needs of `ha`: the parameters of a run (the guarded configurations only) and
//! the check that the cluster serves again after the faults are healed.

use crate::sim::dynamic::Simulation;
use crate::sim::ids::NodeId;

/// Fuzz runs cover the three modes, but primary-backup only with a guard on and synchronous
/// replication: the configurations whose invariants must hold.
pub fn fuzz_params(rng: &mut crate::sim::rng::SimRng) -> serde_json::Value {
    match rng.below(4) {
        0 => serde_json::json!({ "mode": "primary_backup", "guard": "view_service", "replication": "sync" }),
        1 => serde_json::json!({ "mode": "primary_backup", "guard": "lease", "replication": "sync" }),
        2 => {
            let conflict = if rng.chance(500_000) { "lww" } else { "siblings" };
            serde_json::json!({ "mode": "active_active", "conflict": conflict })
        }
        _ => {
            let balance = if rng.chance(500_000) { "round_robin" } else { "least_connections" };
            serde_json::json!({ "mode": "load_balanced", "balance": balance })
        }
    }
}

/// The fuzzer's `settled` check. Primary-backup: one primary, every other running replica (and
/// the view server) in its view. Active-active: every running node holds the same store.
/// Load-balanced: the balancer runs and marks every running server up.
pub fn settled(sim: &dyn Simulation) -> Result<(), String> {
    let views = sim.node_views();
    let mode = views
        .iter()
        .position(|v| v.role != "crashed")
        .and_then(|i| sim.inspect(NodeId(i as u16)).ok())
        .and_then(|s| s["state"]["mode"].as_str().map(str::to_string))
        .unwrap_or_default();
    let live: Vec<_> = views.iter().filter(|v| v.role != "crashed").collect();
    match mode.as_str() {
        "active_active" => {
            let Some(first) = live.first() else { return Ok(()) };
            match live.iter().find(|v| v.view.store != first.view.store) {
                Some(v) => Err(format!("{} and {} hold different stores", first.id, v.id)),
                None => Ok(()),
            }
        }
        "load_balanced" => {
            let lb = sim.inspect(NodeId(0))?;
            for v in live.iter().filter(|v| v.id != "n1") {
                if lb["state"]["health"][v.id.as_str()]["up"] != true {
                    return Err(format!("the balancer still marks {} down", v.id));
                }
            }
            Ok(())
        }
        _ => {
            let primaries: Vec<_> = live.iter().filter(|v| v.view.role == "primary").collect();
            let [p] = primaries.as_slice() else {
                return Err(format!("expected one primary, found {}", primaries.len()));
            };
            for v in live.iter().filter(|v| v.id != p.id) {
                if v.view.term != p.view.term || v.view.leader.map(|l| l.to_string()) != Some(p.id.clone()) {
                    return Err(format!(
                        "{} is in view {}, not in primary {}'s view {}",
                        v.id, v.view.term, p.id, p.view.term
                    ));
                }
            }
            Ok(())
        }
    }
}
