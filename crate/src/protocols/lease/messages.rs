//! The lease protocol's wire messages and timers. A holder asks the grantor for the lease
//! (`Acquire`), keeps it with `Renew` and gives it back with `Release`; the grantor answers
//! `Grant`, `Busy`, `RenewOk` or `RenewRefused`. With fencing on, the grantor first registers
//! each new token with the storage (`Fence`, `FenceAck`). A holder writes to the storage with
//! `Write`, which answers `WriteAck`. Names after Gray & Cheriton's leases and Chubby's
//! sequencers (Burrows 2006 §2.4).

use crate::sim::protocol::Message;
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum LeaseMsg {
    /// Holder → grantor: may I have the lease? `req` numbers the holder's requests; the holder
    /// counts a lease it is granted from the instant it sent this (by its own clock).
    Acquire {
        req: u64,
    },
    /// Grantor → holder: the lease is yours for `lease_ms` (as the holder counts it, from when
    /// it sent request `req`), with fencing token `token`.
    Grant {
        req: u64,
        token: u64,
        lease_ms: u64,
    },
    /// Grantor → holder: someone else holds it (or the grantor is waiting out a lease it may
    /// have forgotten); ask again later.
    Busy {
        req: u64,
    },
    /// Holder → grantor: extend my lease `token` by another `lease_ms` from now.
    Renew {
        req: u64,
        token: u64,
    },
    /// Grantor → holder: renewed; the holder counts `lease_ms` from when it sent request `req`.
    RenewOk {
        req: u64,
        token: u64,
        lease_ms: u64,
    },
    /// The grantor no longer counts `token` as held by this holder: it expired or was given away.
    RenewRefused {
        req: u64,
        token: u64,
    },
    /// Holder → grantor: I am done with lease `token`.
    Release {
        token: u64,
    },
    /// Grantor → storage (fencing on): lease `token` is about to be granted; refuse every
    /// write carrying a lower token from now on.
    Fence {
        token: u64,
    },
    FenceAck {
        token: u64,
    },
    /// Holder → storage: write `value`, done under lease `token`.
    Write {
        token: u64,
        value: String,
    },
    /// Storage → holder: accepted or not (`highest`: the highest token the storage knows).
    WriteAck {
        token: u64,
        accepted: bool,
        highest: u64,
    },
}

impl Message for LeaseMsg {
    fn label(&self) -> &'static str {
        match self {
            LeaseMsg::Acquire { .. } => "Acquire",
            LeaseMsg::Grant { .. } => "Grant",
            LeaseMsg::Busy { .. } => "Busy",
            LeaseMsg::Renew { .. } => "Renew",
            LeaseMsg::RenewOk { .. } => "RenewOk",
            LeaseMsg::RenewRefused { .. } => "RenewRefused",
            LeaseMsg::Release { .. } => "Release",
            LeaseMsg::Fence { .. } => "Fence",
            LeaseMsg::FenceAck { .. } => "FenceAck",
            LeaseMsg::Write { .. } => "Write",
            LeaseMsg::WriteAck { accepted: true, .. } => "WriteAck",
            LeaseMsg::WriteAck { accepted: false, .. } => "WriteRejected",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum LeaseTimer {
    /// Grantor: the current lease has run its `lease_ms` on the grantor's clock.
    LeaseExpiry,
    /// Grantor: after a restart, the lease it may have granted before the crash has surely run
    /// out; it may grant again.
    Grace,
    /// Grantor: the storage has not acknowledged the `Fence`; send it again.
    FenceRetry,
    /// Holder: time to ask for the lease (again).
    Compete,
    /// Holder: its work under the lease is done; write the result.
    Work,
    /// Holder: time to renew (at `renew_at` of the lease).
    RenewAt,
    /// Holder: by its own clock, its lease has run out.
    Expire,
}
