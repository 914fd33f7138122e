//! The published numbers a gossip run is compared with.
//!
//! - Push, fanout 1: all n nodes are informed after log2(n) + ln(n) + O(1) rounds (Frieze &
//!   Grimmett 1985; Pittel 1987, "On spreading a rumor": S_n = log2 n + ln n + O(1) in
//!   probability). With fanout f the two phases become log_{f+1}(n) (the informed grow by a
//!   factor f + 1 a round) and ln(n)/f (each uninformed node escapes all f·n pushes of a round
//!   with probability e^-f).
//! - Pull, fanout 1: log2(n) for the growth phase, then the uninformed share squares every round
//!   (an uninformed node must pick an uninformed peer), so log2(ln n) more.
//! - Push-pull: log3(n) + O(log log n) (Karp, Schindelhauer, Shenker & Vöcking 2000, Theorem
//!   2.1 and §2.2); the formula shown takes the O(log log n) term as ln(ln n).
//! - The mean-field recurrence: the expected number of uninformed nodes after each round, if
//!   every node's fate were independent of the others'. An uninformed node stays uninformed
//!   through a round with probability (1 - 1/(n-1))^(f·i) under push (none of the f·i pushes of
//!   the i informed nodes hits it), ((u-1)/(n-1))^f under pull (each of its f picks is another
//!   uninformed node), and the product of both under push-pull.
//! - Demers et al. 1987, Tables 1 and 2: residue, traffic and convergence of push rumor
//!   mongering on 1,000 sites, with feedback and a counter, and blind with a coin; and the
//!   analysis of §1.4, whose residue s for feedback with a coin of 1/k solves
//!   s = e^{-(k+1)(1-s)} (k = 1 gives 0.203, the classic rumor model's share that never hears).

use super::Direction;

/// The theory for one cluster size, direction and fanout.
#[derive(Clone, Debug, PartialEq)]
pub struct Theory {
    pub formula: String,
    /// The formula's value.
    pub rounds: f64,
    /// The mean-field expected number of informed nodes at the end of round 0, 1, 2, ...,
    /// until less than half a node is expected uninformed (round 0: the creator alone).
    pub curve: Vec<f64>,
}

/// The most rounds of mean-field curve computed.
const MEAN_FIELD_MAX: usize = 400;

impl Theory {
    pub fn new(n: u64, direction: Direction, fanout: u32) -> Theory {
        let (formula, rounds) = formula(n, direction, fanout);
        Theory { formula, rounds, curve: mean_field(n, direction, fanout) }
    }

    /// The mean-field estimate of the rounds to inform everybody: the first round whose
    /// expected uninformed count is below one half.
    pub fn mean_field_rounds(&self) -> usize {
        self.curve.len().saturating_sub(1)
    }
}

fn ln(x: f64) -> f64 {
    x.max(1.0).ln()
}

/// The formula for the rounds to inform all n nodes, and its value.
pub fn formula(n: u64, direction: Direction, fanout: u32) -> (String, f64) {
    let n = n.max(2) as f64;
    let f = fanout.max(1) as f64;
    let base = f + 1.0;
    let log = |x: f64| ln(x) / base.ln();
    match (direction, fanout) {
        (Direction::Push, 1) => ("log2(n) + ln(n)".into(), n.log2() + ln(n)),
        (Direction::Push, _) => (format!("log{}(n) + ln(n)/{fanout}", fanout + 1), log(n) + ln(n) / f),
        (Direction::Pull, 1) => ("log2(n) + log2(ln(n))".into(), n.log2() + ln(n).log2()),
        (Direction::Pull, _) => (format!("log{0}(n) + log{0}(ln(n))", fanout + 1), log(n) + log(ln(n))),
        (Direction::PushPull, 1) => ("log3(n) + ln(ln(n))".into(), ln(n) / 3f64.ln() + ln(ln(n))),
        (Direction::PushPull, _) => {
            let b = 2.0 * f + 1.0;
            (format!("log{}(n) + ln(ln(n))", 2 * fanout + 1), ln(n) / b.ln() + ln(ln(n)))
        }
    }
}

/// The mean-field expected informed count per round (see the module doc).
pub fn mean_field(n: u64, direction: Direction, fanout: u32) -> Vec<f64> {
    let nf = n as f64;
    let mut curve = vec![1.0f64.min(nf)];
    if n < 2 {
        return curve;
    }
    let f = fanout.max(1) as f64;
    let miss = 1.0 - 1.0 / (nf - 1.0);
    let mut u = nf - 1.0;
    while u >= 0.5 && curve.len() < MEAN_FIELD_MAX {
        let i = nf - u;
        let push = miss.powf(f * i);
        let pull = ((u - 1.0).max(0.0) / (nf - 1.0)).powf(f);
        let stay = match direction {
            Direction::Push => push,
            Direction::Pull => pull,
            Direction::PushPull => push * pull,
        };
        u *= stay;
        curve.push(nf - u);
    }
    curve
}

/// One row of Demers et al.'s Tables 1 and 2 (1,000 sites, push rumor mongering).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DemersRow {
    pub k: u32,
    /// The share of sites that never receive the update.
    pub residue: f64,
    /// Update messages sent per site.
    pub traffic: f64,
    /// Mean and last cycle in which a site received the update.
    pub t_ave: f64,
    pub t_last: f64,
}

const fn row(k: u32, residue: f64, traffic: f64, t_ave: f64, t_last: f64) -> DemersRow {
    DemersRow { k, residue, traffic, t_ave, t_last }
}

/// Demers et al. 1987, Table 1: feedback and counters (push, 1,000 sites), with the digits the
/// paper prints (Xerox PARC CSL-89-1, p. 10).
pub const FEEDBACK_COUNTER: [DemersRow; 5] = [
    row(1, 0.18, 1.7, 11.0, 16.8),
    row(2, 0.037, 3.3, 12.1, 16.9),
    row(3, 0.011, 4.5, 12.5, 17.4),
    row(4, 0.0036, 5.6, 12.7, 17.5),
    row(5, 0.0012, 6.7, 12.8, 17.7),
];

/// Demers et al. 1987, Table 2: blind and coin (push, 1,000 sites), as printed.
pub const BLIND_COIN: [DemersRow; 5] = [
    row(1, 0.96, 0.04, 19.0, 38.0),
    row(2, 0.20, 1.6, 17.0, 33.0),
    row(3, 0.060, 2.8, 15.0, 32.0),
    row(4, 0.021, 3.9, 14.1, 32.0),
    row(5, 0.008, 4.9, 13.8, 32.0),
];

/// Demers §1.4's differential-equation residue for feedback with a coin of 1/k: the root in
/// (0, 1) of s = e^{-(k+1)(1-s)}, found by fixed-point iteration from 0.
pub fn feedback_coin_residue(k: u32) -> f64 {
    let c = k as f64 + 1.0;
    let mut s = 0.0f64;
    for _ in 0..200 {
        s = (-c * (1.0 - s)).exp();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_at_a_thousand_nodes() {
        let (f, r) = formula(1000, Direction::Push, 1);
        assert_eq!(f, "log2(n) + ln(n)");
        assert!((r - (9.966 + 6.908)).abs() < 0.01, "{r}");
        let (_, r) = formula(1000, Direction::PushPull, 1);
        assert!((r - (6.288 + 1.933)).abs() < 0.01, "{r}");
    }

    #[test]
    fn the_mean_field_curve_rises_to_all_and_push_pull_is_fastest() {
        let push = Theory::new(1000, Direction::Push, 1);
        let pull = Theory::new(1000, Direction::Pull, 1);
        let both = Theory::new(1000, Direction::PushPull, 1);
        assert_eq!(push.curve[0], 1.0);
        assert!(push.curve.windows(2).all(|w| w[1] >= w[0]));
        assert!(*push.curve.last().unwrap_or(&0.0) > 999.0);
        assert!(both.mean_field_rounds() < pull.mean_field_rounds());
        assert!(pull.mean_field_rounds() < push.mean_field_rounds());
        // Push: the mean field lands within a round or two of log2 n + ln n.
        assert!((push.mean_field_rounds() as f64 - push.rounds).abs() < 2.0, "{push:?}");
    }

    #[test]
    fn the_classic_rumor_leaves_a_fifth_unaware() {
        assert!((feedback_coin_residue(1) - 0.2032).abs() < 0.001);
        assert!(feedback_coin_residue(2) < 0.07);
    }
}
