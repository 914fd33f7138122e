//! The key-value store the chosen log drives, with client sessions so that a command chosen in
//! two slots (a client's retry reached a second leader) is applied once: the store remembers,
//! per client, the last sequence number it applied and the answer it gave (as Raft's store does,
//! Raft dissertation §6.3; "Paxos Made Moderately Complex" §3 makes the same point: a command
//! may be decided in more than one slot, and replicas must not apply it twice).

use super::messages::Command;
use crate::sim::ids::ClientId;
use serde::Serialize;
use std::collections::BTreeMap;

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
            // A duplicate: answer as the first time (a client has one operation in flight, so
            // the latest answer is the only one it can still be waiting for).
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
    fn a_command_chosen_twice_applies_once() {
        let mut kv = KvStore::default();
        let c = ClientId(0);
        let put = |v: &str, seq| Command::Put { key: "x".into(), value: v.into(), client: c, seq };
        kv.apply(&put("1", 1));
        kv.apply(&Command::Put { key: "x".into(), value: "2".into(), client: ClientId(1), seq: 1 });
        kv.apply(&put("1", 1));
        assert_eq!(kv.data.get("x").map(String::as_str), Some("2"));
        assert_eq!(kv.apply(&Command::Noop), None);
    }
}
