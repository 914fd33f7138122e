//! The invariants checked after every step: the protocol's checker is handed the nodes the step
//! touched (or all of them), and the first breach of each invariant is kept and traced.

use super::engine::{FirstViolation, Sim};
use super::protocol::{Invariants, NodeRef, Protocol};
use super::trace::TraceEvent;
use super::views::refs_of;

impl<P: Protocol> Sim<P> {
    pub(crate) fn check(&mut self) {
        let refs: Vec<NodeRef<'_, P>> = if <P::Invariants as Invariants<P>>::LOCAL {
            self.touched.sort_unstable();
            self.touched.dedup();
            self.touched
                .iter()
                .map(|&n| {
                    let s = &self.nodes[n.index()];
                    NodeRef {
                        id: n,
                        live: s.state.as_ref(),
                        durable: s.durable.as_ref(),
                        clock: s.clock.read(self.now),
                    }
                })
                .collect()
        } else {
            refs_of(&self.nodes, self.now)
        };
        let mut found = std::mem::take(&mut self.scratch_violations);
        self.checker.check(&refs, self.now, &mut found);
        drop(refs);
        for v in found.drain(..) {
            match self.violations.iter_mut().find(|f| f.invariant == v.invariant) {
                Some(first) => first.count += 1,
                None => {
                    self.violations.push(FirstViolation {
                        invariant: v.invariant,
                        detail: v.detail.clone(),
                        at_us: self.now.0,
                        step: self.stats.steps,
                        count: 1,
                    });
                    self.emit(TraceEvent::Violation { invariant: v.invariant, detail: v.detail });
                }
            }
        }
        self.scratch_violations = found;
    }
}
