//! The replicated key-value store that a log of commands drives (Raft's log, Multi-Paxos's chosen
//! slots, ZAB's delivered transactions), with client sessions so that a command applied twice (a
//! client's retry that was committed again, in another entry or slot) takes effect once: the
//! store remembers, per client, the last sequence number it applied and the answer it gave (Raft
//! dissertation §6.3; "Paxos Made Moderately Complex" §3 makes the same point for Paxos: a command
//! may be decided in more than one slot, and replicas must not apply it twice).

use crate::sim::ids::ClientId;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// What an entry asks the state machine to do. Client commands carry the client's session
/// (client, seq) so that a retried request is applied once (Raft dissertation §6.3).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Command {
    /// Changes nothing: Raft's blank entry of a new leader (§8), a Multi-Paxos no-op filling a hole
    /// ("Paxos Made Simple" §3).
    Noop,
    Put {
        key: String,
        value: String,
        client: ClientId,
        seq: u64,
    },
    Get {
        key: String,
        client: ClientId,
        seq: u64,
    },
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Noop => write!(f, "no-op"),
            Command::Put { key, value, client, .. } => write!(f, "{client}: {key}={value}"),
            Command::Get { key, client, .. } => write!(f, "{client}: get {key}"),
        }
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct KvStore {
    pub data: BTreeMap<String, String>,
    /// client → (last applied seq, the answer it got)
    pub sessions: BTreeMap<ClientId, (u64, Option<String>)>,
}

impl KvStore {
    /// Applies one command and returns the answer for the client that sent it, if any.
    pub fn apply(&mut self, command: &Command) -> Option<(ClientId, u64, Option<String>)> {
        let (client, seq) = match command {
            Command::Noop => return None,
            Command::Put { client, seq, .. } | Command::Get { client, seq, .. } => (*client, *seq),
        };
        if let Some((last, answer)) = self.sessions.get(&client)
            && *last >= seq
        {
            // A duplicate: answer as the first time (only the latest answer is kept, which is
            // enough because a client has one operation in flight).
            let answer = if *last == seq { answer.clone() } else { None };
            return Some((client, seq, answer));
        }
        let answer = match command {
            Command::Put { key, value, .. } => {
                self.data.insert(key.clone(), value.clone());
                None
            }
            Command::Get { key, .. } => self.data.get(key).cloned(),
            Command::Noop => None,
        };
        self.sessions.insert(client, (seq, answer.clone()));
        Some((client, seq, answer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retried_put_applies_once() {
        let mut kv = KvStore::default();
        let c = ClientId(0);
        let put = |v: &str, seq| Command::Put { key: "x".into(), value: v.into(), client: c, seq };
        kv.apply(&put("1", 1));
        kv.apply(&Command::Put { key: "x".into(), value: "2".into(), client: ClientId(1), seq: 1 });
        // The retry of c1's first put must not overwrite c2's later write.
        kv.apply(&put("1", 1));
        assert_eq!(kv.data.get("x").map(String::as_str), Some("2"));
        let get = Command::Get { key: "x".into(), client: c, seq: 2 };
        assert_eq!(kv.apply(&get), Some((c, 2, Some("2".into()))));
        // A no-op answers nobody and changes nothing.
        assert_eq!(kv.apply(&Command::Noop), None);
        assert_eq!(kv.data.len(), 1);
    }
}
