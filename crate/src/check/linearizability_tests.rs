//! Tests of the linearizability checker: classic hand-written cases, a randomized cross-check
//! against a brute-force search over permutations, and a 10,000-operation sanity run.

use super::*;
use crate::sim::ids::ClientId;
use std::time::Instant;

fn entry(
    c: u16,
    op: HistoryOp,
    key: &str,
    v: Option<&str>,
    inv: u64,
    ret: Option<u64>,
    outcome: Outcome,
) -> HistoryEntry {
    HistoryEntry {
        client: ClientId(c),
        op,
        key: key.to_string(),
        value: v.map(str::to_string),
        expected: None,
        writes: Vec::new(),
        invoke_us: inv,
        return_us: ret,
        outcome,
    }
}

fn put(c: u16, key: &str, v: &str, inv: u64, ret: u64) -> HistoryEntry {
    entry(c, HistoryOp::Put, key, Some(v), inv, Some(ret), Outcome::Ok)
}

fn put_unknown(c: u16, key: &str, v: &str, inv: u64) -> HistoryEntry {
    entry(c, HistoryOp::Put, key, Some(v), inv, None, Outcome::Unknown)
}

fn put_failed(c: u16, key: &str, v: &str, inv: u64, ret: u64) -> HistoryEntry {
    entry(c, HistoryOp::Put, key, Some(v), inv, Some(ret), Outcome::Fail)
}

fn get(c: u16, key: &str, v: Option<&str>, inv: u64, ret: u64) -> HistoryEntry {
    entry(c, HistoryOp::Get, key, v, inv, Some(ret), Outcome::Ok)
}

fn cas_entry(
    c: u16,
    key: &str,
    from: Option<&str>,
    to: &str,
    inv: u64,
    ret: Option<u64>,
    outcome: Outcome,
) -> HistoryEntry {
    let mut e = entry(c, HistoryOp::Cas, key, Some(to), inv, ret, outcome);
    e.expected = from.map(str::to_string);
    e
}

fn cas_ok(c: u16, key: &str, from: Option<&str>, to: &str, inv: u64, ret: u64) -> HistoryEntry {
    cas_entry(c, key, from, to, inv, Some(ret), Outcome::Ok)
}

fn cas_unknown(c: u16, key: &str, from: Option<&str>, to: &str, inv: u64) -> HistoryEntry {
    cas_entry(c, key, from, to, inv, None, Outcome::Unknown)
}

fn cas_failed(c: u16, key: &str, from: Option<&str>, to: &str, inv: u64, ret: u64) -> HistoryEntry {
    cas_entry(c, key, from, to, inv, Some(ret), Outcome::Fail)
}

fn lin(h: &[HistoryEntry]) -> bool {
    let v = check(h, &CheckOptions::default());
    assert_eq!(v.error, None);
    assert_eq!(is_linearizable(h), v.linearizable == Some(true));
    v.linearizable.expect("small histories never give up")
}

fn witness_of(h: &[HistoryEntry], key: &str) -> Vec<usize> {
    let v = check(h, &CheckOptions::default());
    match v.keys.iter().find(|(k, _)| k == key) {
        Some((_, KeyVerdict::NotLinearizable { witness })) => witness.clone(),
        other => panic!("key {key} should fail, got {other:?}"),
    }
}

#[test]
fn sequential_write_then_read() {
    assert!(lin(&[put(0, "x", "1", 0, 10), get(1, "x", Some("1"), 20, 30)]));
    assert!(lin(&[]));
}

#[test]
fn stale_read_after_completed_write_is_not_linearizable() {
    let h = [put(0, "x", "1", 0, 10), put(0, "x", "2", 20, 30), get(1, "x", Some("1"), 40, 50)];
    assert!(!lin(&h));
    assert_eq!(witness_of(&h, "x"), vec![0, 1, 2]);
    let h = [put(0, "x", "1", 0, 10), get(1, "x", None, 20, 30)];
    assert!(!lin(&h));
    assert_eq!(witness_of(&h, "x"), vec![0, 1]);
}

#[test]
fn concurrent_write_and_read_may_see_either_value() {
    for seen in [None, Some("1")] {
        assert!(lin(&[put(0, "x", "1", 0, 100), get(1, "x", seen, 50, 60)]), "{seen:?}");
    }
    // ... but once one reader saw the new value, a later reader cannot see the old one.
    let h = [put(0, "x", "1", 0, 100), get(1, "x", Some("1"), 10, 20), get(2, "x", None, 30, 40)];
    assert!(!lin(&h));
}

#[test]
fn read_of_absent_before_any_write() {
    assert!(lin(&[get(1, "x", None, 0, 5), put(0, "x", "1", 10, 20), get(1, "x", Some("1"), 30, 40)]));
    assert!(!lin(&[get(1, "x", Some("1"), 0, 5), put(0, "x", "1", 10, 20)]));
}

#[test]
fn concurrent_writes_read_in_an_impossible_order() {
    let w = [put(0, "x", "a", 0, 10), put(1, "x", "b", 0, 10)];
    let reads = |r1, r2| [w[0].clone(), w[1].clone(), get(2, "x", Some(r1), 20, 30), get(3, "x", Some(r2), 40, 50)];
    assert!(lin(&reads("a", "a")));
    assert!(lin(&reads("b", "b")));
    assert!(!lin(&reads("a", "b")));
    assert!(!lin(&reads("b", "a")));
    // Two reads concurrent with each other, after both writes, still have to agree.
    let h = [w[0].clone(), w[1].clone(), get(2, "x", Some("a"), 20, 30), get(3, "x", Some("b"), 20, 30)];
    assert!(!lin(&h));
}

#[test]
fn unknown_puts() {
    // Takes effect late, after the client stopped waiting.
    assert!(lin(&[put_unknown(0, "x", "1", 0), get(1, "x", None, 100, 110), get(1, "x", Some("1"), 200, 210)]));
    // Or never.
    assert!(lin(&[put_unknown(0, "x", "1", 0), get(1, "x", None, 100, 110)]));
    // But not before it was invoked ...
    let h = [get(1, "x", Some("1"), 0, 10), put_unknown(0, "x", "1", 50)];
    assert!(!lin(&h));
    assert_eq!(witness_of(&h, "x"), vec![0, 1]);
    // ... and it cannot be undone once seen.
    assert!(!lin(&[put_unknown(0, "x", "1", 0), get(1, "x", Some("1"), 10, 20), get(1, "x", None, 30, 40)]));
}

#[test]
fn unread_unknown_puts_do_not_blow_up_the_search() {
    // 40 timed-out writes whose values nobody reads, then an impossible read: without pruning
    // the search would try every subset of the writes at every point.
    let mut h: Vec<_> = (0..40).map(|i| put_unknown(i, "x", &format!("{i}"), i.into())).collect();
    h.extend((0..40).map(|i| get(99, "x", None, 100 + 10 * i, 105 + 10 * i)));
    h.push(get(99, "x", Some("1"), 1000, 1001));
    h.push(get(99, "x", Some("nope"), 2000, 2001));
    let v = check(&h, &CheckOptions { max_steps_per_key: 100_000 });
    assert_eq!(v.keys[0].1, KeyVerdict::NotLinearizable { witness: vec![1, 81] });
}

#[test]
fn failed_put_is_never_applied() {
    assert!(!lin(&[put_failed(0, "x", "1", 0, 10), get(1, "x", Some("1"), 20, 30)]));
    assert!(lin(&[put_failed(0, "x", "1", 0, 10), get(1, "x", None, 20, 30)]));
}

#[test]
fn failed_and_unknown_reads_are_ignored() {
    let mut bad = get(1, "x", Some("nonsense"), 20, 30);
    bad.outcome = Outcome::Fail;
    let mut lost = get(2, "x", None, 20, 30);
    (lost.outcome, lost.return_us) = (Outcome::Unknown, None);
    assert!(lin(&[put(0, "x", "1", 0, 10), bad, lost]));
}

#[test]
fn cas_applies_only_to_its_expected_value() {
    assert!(lin(&[put(0, "x", "1", 0, 10), cas_ok(1, "x", Some("1"), "2", 20, 30), get(2, "x", Some("2"), 40, 50)]));
    // From absent: `expected` null.
    assert!(lin(&[cas_ok(1, "x", None, "1", 0, 10), get(2, "x", Some("1"), 20, 30)]));
    assert!(!lin(&[put(0, "x", "1", 0, 10), cas_ok(1, "x", None, "2", 20, 30)]));
    // It compared with a value the register no longer held.
    let h = [put(0, "x", "1", 0, 10), put(0, "x", "3", 20, 30), cas_ok(1, "x", Some("1"), "2", 40, 50)];
    assert!(!lin(&h));
    assert_eq!(witness_of(&h, "x"), vec![0, 1, 2]);
    // A cas that succeeded changed the register: a later read cannot see the old value.
    let h = [put(0, "x", "1", 0, 10), cas_ok(1, "x", Some("1"), "2", 20, 30), get(2, "x", Some("1"), 40, 50)];
    assert!(!lin(&h));
    assert_eq!(witness_of(&h, "x"), vec![0, 1, 2]);
}

#[test]
fn concurrent_cas_from_the_same_value_cannot_both_succeed() {
    let both =
        [put(0, "x", "0", 0, 10), cas_ok(1, "x", Some("0"), "1", 20, 40), cas_ok(2, "x", Some("0"), "2", 20, 40)];
    assert!(!lin(&both));
    // Chained, they can: 0 -> 1 -> 2.
    let chained = [
        put(0, "x", "0", 0, 10),
        cas_ok(1, "x", Some("0"), "1", 20, 40),
        cas_ok(2, "x", Some("1"), "2", 20, 40),
        get(3, "x", Some("2"), 50, 60),
    ];
    assert!(lin(&chained));
    // One of them failing makes the first history fine.
    let mut one_failed = both.to_vec();
    one_failed[2].outcome = Outcome::Fail;
    assert!(lin(&one_failed));
}

#[test]
fn failed_cas_is_never_applied() {
    // As in Jepsen's own checker, a failed cas constrains nothing: it never wrote.
    let h = [put(0, "x", "1", 0, 10), cas_failed(1, "x", Some("1"), "2", 20, 30), get(2, "x", Some("1"), 40, 50)];
    assert!(lin(&h));
    let h = [put(0, "x", "1", 0, 10), cas_failed(1, "x", Some("1"), "2", 20, 30), get(2, "x", Some("2"), 40, 50)];
    assert!(!lin(&h));
}

#[test]
fn unknown_cas() {
    // Takes effect late ...
    let h = [
        put(0, "x", "1", 0, 10),
        cas_unknown(1, "x", Some("1"), "2", 20),
        get(2, "x", Some("1"), 40, 50),
        get(2, "x", Some("2"), 60, 70),
    ];
    assert!(lin(&h));
    // ... or never ...
    assert!(lin(&[put(0, "x", "1", 0, 10), cas_unknown(1, "x", Some("1"), "2", 20), get(2, "x", Some("1"), 40, 50)]));
    // ... but only while the register holds its expected value ...
    let h = [
        put(0, "x", "1", 0, 10),
        cas_unknown(1, "x", Some("1"), "2", 20),
        put(0, "x", "3", 30, 40),
        get(2, "x", Some("2"), 50, 60),
    ];
    assert!(!lin(&h));
    assert_eq!(witness_of(&h, "x"), vec![1, 2, 3]);
    // ... and it cannot be undone once seen.
    let h = [
        put(0, "x", "1", 0, 10),
        cas_unknown(1, "x", Some("1"), "2", 20),
        get(2, "x", Some("2"), 40, 50),
        get(2, "x", Some("1"), 60, 70),
    ];
    assert!(!lin(&h));
}

#[test]
fn cas_entries_in_json() {
    let h = [put(0, "x", "1", 0, 10), cas_ok(1, "x", Some("1"), "2", 20, 30), cas_unknown(1, "x", None, "3", 40)];
    let json = serde_json::to_string(&h).unwrap_or_default();
    assert!(json.contains(r#""op":"cas","key":"x","value":"2","expected":"1","invoke_us":20"#), "{json}");
    assert!(json.contains(r#""op":"put","key":"x","value":"1","invoke_us":0"#), "{json}");
    let back: Vec<HistoryEntry> = serde_json::from_str(&json).unwrap_or_default();
    assert_eq!(back, h);
}

#[test]
fn keys_are_independent() {
    // One register would forbid this (y read absent after x was written), two do not.
    assert!(lin(&[put(0, "x", "1", 0, 10), get(1, "y", None, 20, 30), get(1, "x", Some("1"), 40, 50)]));
    let h = [
        put(0, "y", "1", 0, 10),
        put(0, "x", "1", 0, 10),
        get(1, "x", None, 20, 30),
        get(1, "y", Some("1"), 20, 30),
        get(2, "z", None, 0, 1),
    ];
    let v = check(&h, &CheckOptions::default());
    assert_eq!(v.linearizable, Some(false));
    let keys: Vec<&str> = v.keys.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["x", "y", "z"]);
    assert_eq!(v.keys[0].1, KeyVerdict::NotLinearizable { witness: vec![1, 2] });
    assert_eq!(v.keys[1].1, KeyVerdict::Linearizable);
    assert_eq!(v.keys[2].1, KeyVerdict::Linearizable);
}

#[test]
fn equal_timestamps_are_concurrent() {
    assert!(lin(&[put(0, "x", "1", 0, 10), get(1, "x", None, 10, 20)]));
    assert!(!lin(&[put(0, "x", "1", 0, 10), get(1, "x", None, 11, 20)]));
    assert!(lin(&[get(1, "x", Some("1"), 0, 10), put_unknown(0, "x", "1", 10)]));
}

#[test]
fn malformed_entries_give_an_error() {
    let backwards = put(0, "x", "1", 10, 5);
    let mut no_return = get(0, "x", None, 10, 20);
    no_return.return_us = None;
    let mut unknown_returned = put_unknown(0, "x", "1", 10);
    unknown_returned.return_us = Some(20);
    let mut no_value = put(0, "x", "1", 10, 20);
    no_value.value = None;
    let mut cas_no_value = cas_ok(0, "x", Some("0"), "1", 10, 20);
    cas_no_value.value = None;
    let mut put_expecting = put(0, "x", "1", 10, 20);
    put_expecting.expected = Some("0".to_string());
    for bad in [backwards, no_return, unknown_returned, no_value, cas_no_value, put_expecting] {
        let h = [put(0, "x", "0", 0, 1), bad];
        let v = check(&h, &CheckOptions::default());
        let error = v.error.unwrap_or_default();
        assert!(error.contains("entry 1"), "{error}");
        assert_eq!((v.linearizable, v.keys.len()), (None, 0));
        assert!(!is_linearizable(&h));
    }
    let huge = [put(0, "x", "1", u64::MAX, u64::MAX), get(1, "x", Some("1"), u64::MAX, u64::MAX)];
    assert!(lin(&huge));
}

#[test]
fn budget_gives_up_and_failures_win() {
    let h = [put(0, "x", "1", 0, 10), put(1, "x", "2", 0, 10), get(2, "x", Some("1"), 20, 30)];
    let tight = CheckOptions { max_steps_per_key: 2 };
    let v = check(&h, &tight);
    assert_eq!(v.linearizable, None);
    assert_eq!(v.keys, vec![("x".to_string(), KeyVerdict::GaveUp { steps: 2 })]);
    let mut h = h.to_vec();
    h.push(get(0, "w", Some("1"), 0, 1));
    assert_eq!(check(&h, &tight).linearizable, Some(false));
    assert!(!is_linearizable(&h));
}

#[test]
fn verdict_serializes_in_snake_case() {
    let v = check(&[get(0, "x", Some("1"), 0, 1)], &CheckOptions::default());
    let json = serde_json::to_string(&v).unwrap_or_default();
    assert_eq!(json, r#"{"linearizable":false,"keys":[["x",{"not_linearizable":{"witness":[0]}}]],"error":null}"#);
}

// ---- randomized cross-check against brute force ----

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(1);
        splitmix64(self.0) % n
    }
}

/// Is there an order of the operations that respects real time and the register semantics, for
/// some choice of which unknown puts and cas happened? Tries every such permutation of all keys
/// at once. Failed operations never happened; an unknown cas, if it happened, wrote only if it
/// found its expected value.
fn brute_force(h: &[HistoryEntry]) -> bool {
    let ops: Vec<&HistoryEntry> = h
        .iter()
        .filter(|e| match e.op {
            HistoryOp::Put | HistoryOp::Cas => e.outcome != Outcome::Fail,
            HistoryOp::Get => e.outcome == Outcome::Ok,
            HistoryOp::Txn => unreachable!("the brute force is only given histories without transactions"),
        })
        .collect();
    let unknown: Vec<usize> = (0..ops.len()).filter(|&i| ops[i].return_us.is_none()).collect();
    (0..1u32 << unknown.len()).any(|mask| {
        let chosen: Vec<&HistoryEntry> = (0..ops.len())
            .filter(|i| unknown.iter().position(|u| u == i).is_none_or(|b| mask >> b & 1 == 1))
            .map(|i| ops[i])
            .collect();
        orders(&chosen, &mut vec![false; chosen.len()], &mut HashMap::new())
    })
}

fn orders<'a>(ops: &[&'a HistoryEntry], placed: &mut [bool], reg: &mut HashMap<&'a str, &'a Option<String>>) -> bool {
    if placed.iter().all(|&p| p) {
        return true;
    }
    for i in 0..ops.len() {
        let precedes = |j: usize| ops[j].return_us.is_some_and(|r| r < ops[i].invoke_us);
        if placed[i] || (0..ops.len()).any(|j| !placed[j] && precedes(j)) {
            continue;
        }
        let (key, op) = (ops[i].key.as_str(), ops[i]);
        let old = reg.get(key).copied();
        let now = old.unwrap_or(&None);
        // Whether the operation can apply now, and what it writes.
        let (valid, write) = match (op.op, op.outcome) {
            (HistoryOp::Put, _) => (true, Some(&op.value)),
            (HistoryOp::Get, _) => (*now == op.value, None),
            (HistoryOp::Cas, Outcome::Unknown) => (true, (*now == op.expected).then_some(&op.value)),
            (HistoryOp::Cas, _) => (*now == op.expected, Some(&op.value)),
            (HistoryOp::Txn, _) => unreachable!("filtered out above"),
        };
        if !valid {
            continue;
        }
        placed[i] = true;
        if let Some(v) = write {
            reg.insert(key, v);
        }
        let ok = orders(ops, placed, reg);
        match old {
            Some(v) => reg.insert(key, v),
            None => reg.remove(key),
        };
        placed[i] = false;
        if ok {
            return true;
        }
    }
    false
}

/// Up to 7 operations on two keys; with `cas`, half the writes are compare-and-set.
fn random_small_history(rng: &mut Rng, cas: bool) -> Vec<HistoryEntry> {
    let n = 1 + rng.below(7);
    (0..n)
        .map(|_| {
            let key = ["x", "y"][rng.below(2) as usize];
            let inv = rng.below(20);
            let ret = inv + rng.below(12);
            let c = rng.below(4) as u16;
            let roll = rng.below(10);
            if rng.below(2) == 0 {
                let v = ["a", "b", "c"][rng.below(3) as usize];
                if cas && rng.below(2) == 0 {
                    let from = [None, Some("a"), Some("b")][rng.below(3) as usize];
                    return match roll {
                        0 | 1 => cas_unknown(c, key, from, v, inv),
                        2 => cas_failed(c, key, from, v, inv, ret),
                        _ => cas_ok(c, key, from, v, inv, ret),
                    };
                }
                match roll {
                    0 | 1 => put_unknown(c, key, v, inv),
                    2 => put_failed(c, key, v, inv, ret),
                    _ => put(c, key, v, inv, ret),
                }
            } else {
                let v = [None, Some("a"), Some("b")][rng.below(3) as usize];
                let mut g = get(c, key, v, inv, ret);
                match roll {
                    0 => (g.outcome, g.value) = (Outcome::Fail, None),
                    1 => (g.outcome, g.value, g.return_us) = (Outcome::Unknown, None, None),
                    _ => {}
                }
                g
            }
        })
        .collect()
}

/// Checks `rounds` random histories against brute force; returns how many were linearizable and
/// how many not.
fn cross_check(seed: u64, rounds: usize, cas: bool) -> (usize, usize) {
    let mut rng = Rng(seed);
    let (mut yes, mut no) = (0, 0);
    for round in 0..rounds {
        let h = random_small_history(&mut rng, cas);
        let expected = brute_force(&h);
        let v = check(&h, &CheckOptions::default());
        assert_eq!(v.linearizable, Some(expected), "round {round}: {h:#?}\n{v:#?}");
        for (key, kv) in &v.keys {
            if let KeyVerdict::NotLinearizable { witness } = kv {
                assert!(!witness.is_empty() && witness.iter().all(|&i| h[i].key == *key), "{v:?}");
            }
        }
        if expected { yes += 1 } else { no += 1 }
    }
    (yes, no)
}

#[test]
fn agrees_with_brute_force_on_random_histories() {
    let (yes, no) = cross_check(7, 20_000, false);
    println!("random histories: {yes} linearizable, {no} not");
    assert!(yes > 4_000 && no > 4_000, "{yes} / {no}: the generator lost its balance");
}

#[test]
fn agrees_with_brute_force_on_random_histories_with_cas() {
    let (yes, no) = cross_check(11, 20_000, true);
    println!("random histories with cas: {yes} linearizable, {no} not");
    assert!(yes > 4_000 && no > 4_000, "{yes} / {no}: the generator lost its balance");
}

// ---- a large history from a real register ----

/// `n` operations of `clients` sequential clients over `keys` keys, each applied to a real
/// register at a random instant inside its interval (unknown puts: at some instant after the
/// call, or never), so the history is linearizable by construction.
fn register_history(rng: &mut Rng, n: usize, clients: usize, keys: usize) -> Vec<HistoryEntry> {
    let mut clock = vec![0u64; clients];
    let mut h = Vec::with_capacity(n);
    let mut points = Vec::new();
    for i in 0..n {
        let c = (0..clients).min_by_key(|&c| clock[c]).unwrap_or(0);
        let inv = clock[c] + rng.below(20);
        let ret = inv + 1 + rng.below(100);
        clock[c] = ret + 1;
        let key = format!("k{}", rng.below(keys as u64));
        let roll = rng.below(100);
        let at = inv + rng.below(ret - inv + 1);
        if rng.below(2) == 0 {
            let v = format!("v{}", rng.below(8));
            h.push(match roll {
                0..3 => put_failed(c as u16, &key, &v, inv, ret),
                3..6 => {
                    if roll == 3 {
                        points.push((inv + rng.below(500), i));
                    }
                    put_unknown(c as u16, &key, &v, inv)
                }
                _ => {
                    points.push((at, i));
                    put(c as u16, &key, &v, inv, ret)
                }
            });
        } else {
            let mut g = get(c as u16, &key, None, inv, ret);
            match roll {
                0..3 => g.outcome = Outcome::Fail,
                3..5 => (g.outcome, g.return_us) = (Outcome::Unknown, None),
                _ => points.push((at, i)),
            }
            h.push(g);
        }
    }
    points.sort_unstable();
    let mut reg: HashMap<String, Option<String>> = HashMap::new();
    for (_, i) in points {
        let e = &mut h[i];
        match e.op {
            HistoryOp::Put => _ = reg.insert(e.key.clone(), e.value.clone()),
            HistoryOp::Get => e.value = reg.get(&e.key).cloned().flatten(),
            HistoryOp::Cas | HistoryOp::Txn => unreachable!("no cas or txn here"),
        }
    }
    h
}

#[test]
fn ten_thousand_operations() {
    let mut rng = Rng(42);
    let mut h = register_history(&mut rng, 10_000, 5, 10);
    let start = Instant::now();
    let v = check(&h, &CheckOptions::default());
    println!("10,000 operations, 5 clients, 10 keys: {:?}", start.elapsed());
    assert_eq!(v.linearizable, Some(true), "{v:?}");
    assert_eq!(v.keys.len(), 10);

    // Make one late read return a value its key never held: only that key fails, and the
    // witness names the read and stays small.
    let bad = (h.len() / 2..h.len()).find(|&i| h[i].op == HistoryOp::Get && h[i].outcome == Outcome::Ok);
    let bad = bad.unwrap_or_default();
    h[bad].value = Some("never".to_string());
    let start = Instant::now();
    let v = check(&h, &CheckOptions::default());
    println!("same with one bad read: {:?}", start.elapsed());
    assert_eq!(v.linearizable, Some(false));
    let failing: Vec<_> = v.keys.iter().filter(|(_, kv)| *kv != KeyVerdict::Linearizable).collect();
    assert_eq!(failing.len(), 1, "{failing:?}");
    let KeyVerdict::NotLinearizable { witness } = &failing[0].1 else { panic!("{failing:?}") };
    assert!(witness.contains(&bad) && witness.len() <= 12, "{bad} {witness:?}");
}

/// A transaction is checked as one put per key it writes: a read may not see one of its
/// values before the transaction began, nor miss one after it returned ok; a witness names the
/// transaction's own entry.
#[test]
fn a_transaction_counts_as_a_put_on_each_of_its_keys() {
    use crate::workload::op::Write;
    let txn = |invoke: u64, ret: Option<u64>, outcome: Outcome| HistoryEntry {
        op: HistoryOp::Txn,
        key: "x+y".into(),
        value: None,
        writes: vec![Write { key: "x".into(), value: "1".into() }, Write { key: "y".into(), value: "2".into() }],
        ..entry(1, HistoryOp::Put, "x+y", None, invoke, ret, outcome)
    };
    let read = |key: &str, v: Option<&str>, invoke: u64, ret: u64| {
        entry(2, HistoryOp::Get, key, v, invoke, Some(ret), Outcome::Ok)
    };
    // Both keys read after the commit: fine.
    let good = vec![txn(0, Some(10), Outcome::Ok), read("x", Some("1"), 20, 30), read("y", Some("2"), 20, 30)];
    assert_eq!(check(&good, &CheckOptions::default()).linearizable, Some(true));
    // y read as absent after the transaction returned ok: a lost write on y.
    let torn = vec![txn(0, Some(10), Outcome::Ok), read("x", Some("1"), 20, 30), read("y", None, 20, 30)];
    let v = check(&torn, &CheckOptions::default());
    assert_eq!(v.linearizable, Some(false));
    let (key, verdict) = v.keys.iter().find(|(_, k)| *k != KeyVerdict::Linearizable).unwrap();
    assert_eq!(key, "y");
    assert_eq!(*verdict, KeyVerdict::NotLinearizable { witness: vec![0, 2] });
    // A failed (aborted) transaction whose value was read.
    let dirty = vec![txn(0, Some(10), Outcome::Fail), read("x", Some("1"), 5, 8)];
    assert_eq!(check(&dirty, &CheckOptions::default()).linearizable, Some(false));
    // A malformed one.
    let mut empty = txn(0, Some(10), Outcome::Ok);
    empty.writes.clear();
    assert!(check(&[empty], &CheckOptions::default()).error.is_some());
}
