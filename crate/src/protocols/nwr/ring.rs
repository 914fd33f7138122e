//! The consistent-hash ring (Dynamo §4.2): each node owns a few points on a ring of 64-bit
//! hashes ("virtual nodes"), and a key belongs to the first nodes met walking clockwise from the
//! key's hash. The first N distinct nodes are the key's home replicas, its *preference list*;
//! the nodes after them, in the same order, are where a sloppy quorum looks for stand-ins.

use crate::sim::ids::NodeId;

/// Points per node. A few are enough to spread keys over a small cluster evenly-ish.
const POINTS_PER_NODE: u32 = 4;

/// FNV-1a, 64 bits, then MurmurHash3's finalizer: fixed, portable, the same in wasm and
/// natively. FNV alone leaves short keys ("x", "y", "z") next to each other on the ring; the
/// finalizer spreads them.
pub fn fnv(bytes: &[u8]) -> u64 {
    let mut h = bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ *b as u64).wrapping_mul(0x0000_0100_0000_01b3));
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

thread_local! {
    /// Walks already made: the ring is a pure function of the cluster size, and the protocol and
    /// its invariants ask for the same few keys at every step. Cleared when it grows large.
    static WALKS: std::cell::RefCell<std::collections::HashMap<(String, u16), Vec<NodeId>>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// Every node, in the order a walk round the ring from `key` first meets it.
pub fn walk(key: &str, nodes: u16) -> Vec<NodeId> {
    let cached = WALKS.with(|w| w.borrow().get(&(key.to_string(), nodes)).cloned());
    if let Some(order) = cached {
        return order;
    }
    let order = compute_walk(key, nodes);
    WALKS.with(|w| {
        let mut w = w.borrow_mut();
        if w.len() >= 4096 {
            w.clear();
        }
        w.insert((key.to_string(), nodes), order.clone());
    });
    order
}

fn compute_walk(key: &str, nodes: u16) -> Vec<NodeId> {
    let mut points: Vec<(u64, NodeId)> = (0..nodes)
        .flat_map(|n| (0..POINTS_PER_NODE).map(move |p| (fnv(format!("{}#{p}", NodeId(n)).as_bytes()), NodeId(n))))
        .collect();
    points.sort();
    let h = fnv(key.as_bytes());
    let start = points.partition_point(|(p, _)| *p < h);
    let mut order = Vec::with_capacity(nodes as usize);
    for i in 0..points.len() {
        let node = points[(start + i) % points.len()].1;
        if !order.contains(&node) {
            order.push(node);
        }
    }
    order
}

/// The key's N home replicas, its preference list.
pub fn home(key: &str, nodes: u16, n: u16) -> Vec<NodeId> {
    let mut order = walk(key, nodes);
    order.truncate(n as usize);
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_lives_on_n_distinct_nodes_and_keys_spread() {
        let mut owners = std::collections::BTreeSet::new();
        for key in ["x", "y", "z", "w", "v", "u", "k7", "k8"] {
            let h = home(key, 5, 3);
            assert_eq!(h.len(), 3);
            assert_eq!(walk(key, 5).len(), 5);
            owners.insert(h[0]);
        }
        assert!(owners.len() > 1, "keys do not all start on one node");
    }
}
