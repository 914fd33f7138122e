//! The protocol-agnostic engine: virtual time, the seeded rng, the network, faults, clients
//! and the event loop. It knows nothing about any protocol beyond the `Protocol` trait.

pub mod action;
mod checking;
mod clients;
pub mod clock;
pub mod dynamic;
pub mod engine;
mod faults;
pub mod ids;
pub mod network;
pub mod protocol;
mod queue;
pub mod rng;
pub mod time;
pub mod trace;
mod views;

pub use action::{Action, Target, Text, TimedAction};
pub use engine::{LeaderChange, Sim, SimConfig, Stats};
pub use ids::{ActorId, ClientId, NodeId};
pub use protocol::{Ctx, InvariantInfo, Invariants, Message, NodeRef, NodeStatus, NodeView, Protocol, Violation};
pub use time::{Micros, Time};
