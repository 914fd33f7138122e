//! Names of the actors in a run. Nodes are `n1..nN` and clients `c1..cM`, both in files and on
//! the wire to the page; inside they are small indices.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A server node running the protocol, numbered from 0 (shown as `n1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub u16);

/// A client actor, numbered from 0 (shown as `c1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientId(pub u16);

/// Anything with a network address: a node or a client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ActorId {
    Node(NodeId),
    Client(ClientId),
}

impl NodeId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl ClientId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0 as u32 + 1)
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{}", self.0 as u32 + 1)
    }
}

impl fmt::Display for ActorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ActorId::Node(n) => n.fmt(f),
            ActorId::Client(c) => c.fmt(f),
        }
    }
}

impl From<NodeId> for ActorId {
    fn from(n: NodeId) -> Self {
        ActorId::Node(n)
    }
}

impl From<ClientId> for ActorId {
    fn from(c: ClientId) -> Self {
        ActorId::Client(c)
    }
}

/// Parses `n3` or `c2`. Range checks against the cluster size happen in scenario validation.
pub fn parse_actor(s: &str) -> Result<ActorId, String> {
    let bad = || format!("`{s}` is not an actor name: nodes are n1, n2, ... and clients c1, c2, ...");
    let (kind, digits) = s.split_at_checked(1).ok_or_else(bad)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let number: u32 = digits.parse().map_err(|_| bad())?;
    if number == 0 || number > u16::MAX as u32 {
        return Err(bad());
    }
    let index = (number - 1) as u16;
    match kind {
        "n" => Ok(ActorId::Node(NodeId(index))),
        "c" => Ok(ActorId::Client(ClientId(index))),
        _ => Err(bad()),
    }
}

macro_rules! name_serde {
    ($ty:ty, $what:literal, $pat:path) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                match parse_actor(&s).map_err(serde::de::Error::custom)? {
                    $pat(x) => Ok(x),
                    _ => Err(serde::de::Error::custom(format!("`{s}` is not a {} name", $what))),
                }
            }
        }
    };
}

name_serde!(NodeId, "node", ActorId::Node);
name_serde!(ClientId, "client", ActorId::Client);

impl Serialize for ActorId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ActorId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_actor(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(parse_actor("n1"), Ok(ActorId::Node(NodeId(0))));
        assert_eq!(parse_actor("c12"), Ok(ActorId::Client(ClientId(11))));
        assert_eq!(ActorId::Node(NodeId(4)).to_string(), "n5");
        for bad in ["", "n", "n0", "x1", "n-1", "n1a", "n99999999"] {
            assert!(parse_actor(bad).is_err(), "{bad}");
        }
    }
}
