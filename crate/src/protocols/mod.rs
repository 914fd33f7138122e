//! Every protocol, one folder each, and the registry that turns a scenario's `"protocol"` name
//! into a running simulation. This is the only place that lists the protocols: the engine, the
//! CLI and the page learn about a new one from here.

pub mod gossip;
pub mod ha;
pub mod kv;
pub mod lease;
pub mod multipaxos;
pub mod nwr;
pub mod paxos;
pub mod raft;
pub mod saga;
pub mod services;
pub mod swim;
pub mod threepc;
pub mod twopc;
pub mod txn;
pub mod zab;

use crate::scenario::{Scenario, ScenarioError};
use crate::sim::dynamic::Simulation;
use crate::sim::engine::{Sim, SimConfig};
use crate::sim::protocol::Protocol;
use crate::sim::rng::SimRng;
use crate::workload::Workload;

/// A check of a whole simulation: `Err` says what does not hold.
pub type SimCheck = fn(&dyn Simulation) -> Result<(), String>;

/// What the CLI, the fuzzer and the page need to know of a protocol.
pub struct ProtocolInfo {
    pub name: &'static str,
    pub title: &'static str,
    /// After faults are healed and the cluster has had time to settle: is it serving again?
    pub settled: fn(&dyn Simulation) -> Result<(), String>,
    /// Parameters for one fuzz run, varied by seed so that the fuzzer covers the protocol's
    /// options too (a bug may only show with an option off).
    pub fuzz_params: fn(&mut SimRng) -> serde_json::Value,
    /// Whether it runs transactions (`"op": "txn"`; the atomic-commitment protocols).
    pub transactions: bool,
    /// The faults its random runs may inject: a protocol is judged only against the failures
    /// its paper assumes (3PC assumes a synchronous network: crashes, no partitions).
    pub fuzz_faults: FuzzFaults,
    /// Whether `caplab fuzz` demands a linearizable history (a transaction counts as one put
    /// per key it writes). A Saga gives up isolation, so its histories are not.
    pub linearizable: bool,
    /// How many keys `caplab fuzz` writes. Three for most; Basic Paxos makes each key a
    /// write-once register decided in the first milliseconds, so its runs use many keys to keep
    /// fresh instances starting while the faults happen.
    pub fuzz_keys: u32,
    /// The largest cluster a scenario may ask for. Most protocols are drawn node by node and
    /// stop at [`DEFAULT_MAX_NODES`]; the epidemic ones are about thousands of nodes.
    pub max_nodes: u16,
    /// A check of its own that `caplab fuzz` runs at the end of every seed, beside the
    /// invariants and `settled` (SWIM: with no message lost, no live node was declared dead).
    pub fuzz_check: Option<SimCheck>,
    /// How far `caplab fuzz` sets the nodes' clocks off true time: each node's clock runs at a
    /// drift drawn from `-fuzz_drift..=fuzz_drift` with an offset of up to two seconds ahead.
    /// 0 (true clocks) for the protocols that do not read clocks; the lease protocols set the
    /// drift their guard allows for, so that the fuzzer judges them within their bounds.
    pub fuzz_drift: f64,
}

/// [`ProtocolInfo::max_nodes`] of the protocols drawn node by node.
pub const DEFAULT_MAX_NODES: u16 = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FuzzFaults {
    /// Partitions, cuts, crashes, restarts, pauses, loss and duplication.
    All,
    /// Crashes and restarts only, on a network that neither loses nor delays messages beyond
    /// its latency range.
    CrashOnly,
}

pub static PROTOCOLS: &[ProtocolInfo] = &[
    ProtocolInfo {
        name: "raft",
        title: "Raft consensus",
        settled: single_agreed_leader,
        fuzz_params: raft::fuzz_params,
        transactions: false,
        fuzz_faults: FuzzFaults::All,
        linearizable: true,
        fuzz_keys: 3,
        max_nodes: DEFAULT_MAX_NODES,
        fuzz_check: None,
        fuzz_drift: 0.0,
    },
    ProtocolInfo {
        name: "nwr",
        title: "NWR quorum key-value store (Dynamo)",
        settled: nwr::converged,
        fuzz_params: nwr::fuzz_params,
        transactions: false,
        fuzz_faults: FuzzFaults::All,
        linearizable: true,
        fuzz_keys: 3,
        max_nodes: DEFAULT_MAX_NODES,
        fuzz_check: None,
        fuzz_drift: 0.0,
    },
    ProtocolInfo {
        name: "twopc",
        title: "Two-phase commit (2PC)",
        settled: txn::settled,
        fuzz_params: twopc::fuzz_params,
        transactions: true,
        fuzz_faults: FuzzFaults::All,
        linearizable: true,
        fuzz_keys: 3,
        max_nodes: DEFAULT_MAX_NODES,
        fuzz_check: None,
        fuzz_drift: 0.0,
    },
    ProtocolInfo {
        name: "threepc",
        title: "Three-phase commit (Skeen)",
        settled: txn::settled,
        fuzz_params: threepc::fuzz_params,
        transactions: true,
        fuzz_faults: FuzzFaults::CrashOnly,
        linearizable: true,
        fuzz_keys: 3,
        max_nodes: DEFAULT_MAX_NODES,
        fuzz_check: None,
        fuzz_drift: 0.0,
    },
    ProtocolInfo {
        name: "saga",
        title: "Saga (orchestrated, with compensations)",
        settled: txn::settled,
        fuzz_params: saga::fuzz_params,
        transactions: true,
        fuzz_faults: FuzzFaults::All,
        // A saga gives up isolation: a read can see a step that is later compensated.
        linearizable: false,
        fuzz_keys: 3,
        max_nodes: DEFAULT_MAX_NODES,
        fuzz_check: None,
        fuzz_drift: 0.0,
    },
    ProtocolInfo {
        name: "paxos",
        title: "Basic Paxos (single-decree, one instance per key)",
        settled: paxos::settled,
        fuzz_params: paxos::fuzz_params,
        transactions: false,
        fuzz_faults: FuzzFaults::All,
        linearizable: true,
        fuzz_keys: 60,
        max_nodes: DEFAULT_MAX_NODES,
        fuzz_check: None,
        fuzz_drift: 0.0,
    },
    ProtocolInfo {
        name: "multipaxos",
        title: "Multi-Paxos (stable leader, replicated key-value store)",
        settled: multipaxos::settled,
        fuzz_params: multipaxos::fuzz_params,
        transactions: false,
        fuzz_faults: FuzzFaults::All,
        linearizable: true,
        fuzz_keys: 3,
        max_nodes: DEFAULT_MAX_NODES,
        fuzz_check: None,
        fuzz_drift: 0.0,
    },
    ProtocolInfo {
        name: "zab",
        title: "ZAB (ZooKeeper Atomic Broadcast)",
        settled: single_agreed_leader,
        fuzz_params: zab::fuzz_params,
        transactions: false,
        fuzz_faults: FuzzFaults::All,
        linearizable: true,
        fuzz_keys: 3,
        max_nodes: DEFAULT_MAX_NODES,
        fuzz_check: None,
        fuzz_drift: 0.0,
    },
    ProtocolInfo {
        name: "gossip",
        title: "Gossip (epidemic dissemination: rumor mongering and anti-entropy)",
        settled: gossip::settled,
        fuzz_params: gossip::fuzz_params,
        transactions: false,
        fuzz_faults: FuzzFaults::All,
        // Reads see the local store: eventual consistency, not linearizability.
        linearizable: false,
        fuzz_keys: 3,
        max_nodes: 10_000,
        fuzz_check: None,
        fuzz_drift: 0.0,
    },
    ProtocolInfo {
        name: "swim",
        title: "SWIM membership and failure detection",
        settled: swim::settled,
        fuzz_params: swim::fuzz_params,
        transactions: false,
        fuzz_faults: FuzzFaults::All,
        // A membership service keeps no data: nothing to linearize.
        linearizable: false,
        // No keys: SWIM answers only a get of `members`, so the fuzzer's final reads are none.
        fuzz_keys: 0,
        max_nodes: 10_000,
        fuzz_check: Some(swim::fuzz_check),
        fuzz_drift: 0.0,
    },
    ProtocolInfo {
        name: "lease",
        title: "Leases with fencing tokens (Gray & Cheriton; Chubby; Kleppmann)",
        settled: lease::settled,
        fuzz_params: lease::fuzz_params,
        transactions: false,
        fuzz_faults: FuzzFaults::All,
        // The holders write to one register by lease, not by client request: no history to
        // linearize (clients only read).
        linearizable: false,
        fuzz_keys: 0,
        max_nodes: DEFAULT_MAX_NODES,
        fuzz_check: None,
        fuzz_drift: lease::FUZZ_DRIFT,
    },
    ProtocolInfo {
        name: "ha",
        title: "High availability (primary-backup, active-active, load balancing)",
        settled: ha::settled,
        fuzz_params: ha::fuzz_params,
        transactions: false,
        fuzz_faults: FuzzFaults::All,
        // Asynchronous replication loses acknowledged writes, active-active and the servers
        // behind a balancer read their local copies, and a primary reads writes its backup
        // has not yet acknowledged.
        linearizable: false,
        fuzz_keys: 3,
        max_nodes: DEFAULT_MAX_NODES,
        fuzz_check: None,
        // The guards judge leases on the nodes' clocks with a margin (lease_ms 300 against
        // fd_timeout_ms 500 by default) that absorbs a drift of 10 % either way.
        fuzz_drift: 0.1,
    },
    ProtocolInfo {
        name: "services",
        title: "Service graph (timeouts, retries, circuit breakers, rate limits, bulkheads, fallbacks)",
        settled: services::settled,
        fuzz_params: services::fuzz_params,
        transactions: false,
        fuzz_faults: FuzzFaults::All,
        // No store: a client's request is answered done or rejected, with no value to check.
        linearizable: false,
        fuzz_keys: 0,
        max_nodes: DEFAULT_MAX_NODES,
        fuzz_check: None,
        // Deadlines and breaker windows are read on the nodes' clocks; drift only shifts them.
        fuzz_drift: 0.05,
    },
];

pub fn info(name: &str) -> Result<&'static ProtocolInfo, ScenarioError> {
    PROTOCOLS.iter().find(|p| p.name == name).ok_or_else(|| unknown(name))
}

fn unknown(name: &str) -> ScenarioError {
    let known: Vec<&str> = PROTOCOLS.iter().map(|p| p.name).collect();
    ScenarioError::UnknownProtocol(name.to_string(), known.join(", "))
}

/// Builds the simulation a scenario describes, with its seed or the one given.
pub fn build(s: &Scenario, seed: Option<u64>) -> Result<Box<dyn Simulation>, ScenarioError> {
    let info = info(&s.protocol)?;
    if s.nodes > info.max_nodes {
        return Err(ScenarioError::Invalid {
            field: "nodes".into(),
            problem: format!("{} runs at most {} nodes, not {}", info.name, info.max_nodes, s.nodes),
        });
    }
    match s.protocol.as_str() {
        "raft" => Ok(Box::new(build_sim::<raft::Raft>(s, seed, |_, _| Ok(()))?)),
        "nwr" => Ok(Box::new(build_sim::<nwr::Nwr>(s, seed, |p, s| p.check_cluster(s.nodes))?)),
        "twopc" => Ok(Box::new(build_sim::<twopc::TwoPc>(s, seed, |p, s| p.check_cluster(s.nodes))?)),
        "threepc" => Ok(Box::new(build_sim::<threepc::ThreePc>(s, seed, threepc::check_cluster)?)),
        "saga" => Ok(Box::new(build_sim::<saga::Saga>(s, seed, |_, _| Ok(()))?)),
        "paxos" => Ok(Box::new(build_sim::<paxos::Paxos>(s, seed, |_, _| Ok(()))?)),
        "multipaxos" => Ok(Box::new(build_sim::<multipaxos::MultiPaxos>(s, seed, |_, _| Ok(()))?)),
        "zab" => Ok(Box::new(build_sim::<zab::Zab>(s, seed, |_, _| Ok(()))?)),
        "gossip" => Ok(Box::new(build_sim::<gossip::Gossip>(s, seed, gossip::check_cluster)?)),
        "swim" => Ok(Box::new(build_sim::<swim::Swim>(s, seed, |_, _| Ok(()))?)),
        "lease" => Ok(Box::new(build_sim::<lease::Lease>(s, seed, lease::check_cluster)?)),
        "ha" => Ok(Box::new(build_sim::<ha::Ha>(s, seed, |p, s| p.check_cluster(s.nodes))?)),
        "services" => Ok(Box::new(build_sim::<services::Services>(s, seed, services::check_cluster)?)),
        other => Err(unknown(other)),
    }
}

/// `cluster` checks the parameters against the scenario (its cluster size, its network), which
/// `Protocol::validate` does not know.
fn build_sim<P: Protocol>(
    s: &Scenario,
    seed: Option<u64>,
    cluster: fn(&P::Params, &Scenario) -> Result<(), String>,
) -> Result<Sim<P>, ScenarioError> {
    let params: P::Params = if s.params.is_null() {
        P::Params::default()
    } else {
        serde_path_to_error::deserialize(s.params.clone()).map_err(|e| {
            let path = e.path().to_string();
            let field = if path == "." { "params".to_string() } else { format!("params.{path}") };
            ScenarioError::Invalid { field, problem: e.into_inner().to_string() }
        })?
    };
    P::validate(&params)
        .and_then(|()| cluster(&params, s))
        .map_err(|problem| ScenarioError::Invalid { field: "params".into(), problem })?;
    Ok(Sim::new(SimConfig {
        nodes: s.nodes,
        clients: s.clients,
        seed: seed.unwrap_or(s.seed),
        params,
        network: s.network.profile(),
        workload: Workload::new(&s.workload, s.duration_ms.saturating_mul(1000)),
        timeline: s.timeline_actions(),
    }))
}

/// Leader-based protocols have settled when exactly one node leads and every other running
/// node follows it in the same term.
fn single_agreed_leader(sim: &dyn Simulation) -> Result<(), String> {
    let views = sim.node_views();
    let leaders: Vec<_> = views.iter().filter(|v| v.role == "leader").collect();
    let [leader] = leaders.as_slice() else {
        let names: Vec<&str> = leaders.iter().map(|v| v.id.as_str()).collect();
        return Err(format!("expected one leader, found {} ({})", leaders.len(), names.join(", ")));
    };
    for v in views.iter().filter(|v| v.role != "crashed" && v.id != leader.id) {
        let follows = v.view.leader.map(|l| l.to_string()) == Some(leader.id.clone());
        if !follows || v.view.term != leader.view.term {
            return Err(format!(
                "{} does not follow leader {} of term {} (it is {} in term {})",
                v.id, leader.id, leader.view.term, v.role, v.view.term
            ));
        }
    }
    Ok(())
}
