//! Gossip's wire messages, named after Demers et al. 1987: rumor mongering pushes the *hot*
//! (infective) updates, pulls ask for them, and anti-entropy exchanges the whole database.
//! Every update carries its version, so a receiver keeps the newest (last writer wins).

use crate::sim::ids::NodeId;
use crate::sim::protocol::Message;
use serde::{Serialize, Serializer};
use std::fmt;

/// The version of an update: the virtual time at which its node created it, then the node, so
/// two updates never tie (Demers §1: "a timestamp ... ordered by (time, site)"). Shown as
/// `1200ms@n3`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    pub at_us: u64,
    pub node: NodeId,
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (ms, us) = (self.at_us / 1000, self.at_us % 1000);
        if us == 0 { write!(f, "{ms}ms@{}", self.node) } else { write!(f, "{ms}.{us:03}ms@{}", self.node) }
    }
}

impl Serialize for Version {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One write of one key: what a rumor carries and what the store keeps.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Update {
    pub key: String,
    pub value: String,
    pub version: Version,
}

/// What a node holds of one key, without the value: a pull or an anti-entropy request says
/// what the asker already has, so the answer carries only what it lacks.
pub type Digest = Vec<(String, Version)>;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum GossipMsg {
    /// Rumor mongering, push: the sender's hot updates. With a feedback stop rule the receiver
    /// answers with `Feedback`.
    Push { updates: Vec<Update> },
    /// Which of the pushed updates the receiver already had (Demers' "unnecessary" contacts,
    /// which make a feedback sender lose interest).
    Feedback { known: Digest },
    /// Rumor mongering, pull: "what are you spreading that I lack?" The digest also tells the
    /// contacted node which of its rumors the asker already knew (feedback for pull).
    Pull { digest: Digest },
    /// The answer to a pull: the hot updates the asker lacked. Not sent when there are none.
    PullReply { updates: Vec<Update> },
    /// Push-pull: both at once.
    PushPull { updates: Vec<Update>, digest: Digest },
    /// The answer to a push-pull: the contacted node's hot updates the asker lacked, and which
    /// of the asker's updates it already had. Not sent when both are empty.
    PushPullReply { updates: Vec<Update>, known: Digest },
    /// Anti-entropy: the sender's whole store (push, push-pull) and, for pull and push-pull,
    /// its digest asking for what it lacks.
    AntiEntropy { entries: Vec<Update>, digest: Option<Digest> },
    /// The entries the asker lacked or held older. Not sent when there are none.
    AntiEntropyReply { entries: Vec<Update> },
}

impl Message for GossipMsg {
    fn label(&self) -> &'static str {
        match self {
            GossipMsg::Push { .. } => "Push",
            GossipMsg::Feedback { .. } => "Feedback",
            GossipMsg::Pull { .. } => "Pull",
            GossipMsg::PullReply { .. } => "PullReply",
            GossipMsg::PushPull { .. } => "PushPull",
            GossipMsg::PushPullReply { .. } => "PushPullReply",
            GossipMsg::AntiEntropy { .. } => "AntiEntropy",
            GossipMsg::AntiEntropyReply { .. } => "AntiEntropyReply",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum GossipTimer {
    /// The next round of rumor mongering, at the next multiple of `period_ms`.
    Round,
    /// The next anti-entropy exchange, at the next multiple of `anti_entropy_period_ms`.
    AntiEntropy,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_order_by_time_then_node_and_print_in_ms() {
        let a = Version { at_us: 1_200_000, node: NodeId(2) };
        let b = Version { at_us: 1_200_000, node: NodeId(3) };
        let c = Version { at_us: 1_200_001, node: NodeId(0) };
        assert!(a < b && b < c);
        assert_eq!(a.to_string(), "1200ms@n3");
        assert_eq!(c.to_string(), "1200.001ms@n1");
    }
}
