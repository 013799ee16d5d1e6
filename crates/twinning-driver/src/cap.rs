//! The mobile cap as the engine sees it ([`MobileSlots`]): the node's own count, and with
//! a shared store the site's, in leases. The node's count always applies (it is never
//! above the bound either); the site's is asked only when the node's has room.
//!
//! While the store is away, each node counts its own legs against the bound: calls keep
//! ringing mobiles, and the site may briefly hold up to `max_concurrent` per node. The
//! reconnect re-registers every slot still held, so the site's count is exact again
//! before the next lease is granted.

use twinning_cluster::{Cluster, LeaseAnswer};
use twinning_core::call::{ConcurrencyCap, MobileSlots};

pub struct Cap {
    local: ConcurrencyCap,
    cluster: Option<Cluster>,
    /// A lease could not be asked for last time (logged once per outage).
    counting_alone: bool,
}

impl Cap {
    pub const fn new() -> Cap {
        Cap { local: ConcurrencyCap::new(0), cluster: None, counting_alone: false }
    }

    pub(crate) fn share(&mut self, cluster: Option<Cluster>) {
        self.cluster = cluster;
    }

    /// Gives back a slot the engine released.
    pub fn release(&mut self) {
        self.local.release();
        if let Some(c) = &self.cluster {
            c.release_lease();
        }
    }

    pub fn active(&self) -> u32 {
        self.local.active()
    }

    pub fn max(&self) -> u32 {
        self.local.max()
    }

    /// A reload may change the bound; calls already up keep their slots.
    pub fn set_max(&mut self, max: u32) {
        self.local.set_max(max);
    }
}

impl Default for Cap {
    fn default() -> Self {
        Cap::new()
    }
}

/// Site leases asked for before an engine step, with no lock held: a slow or stalled
/// database then holds up only the call that needs the leases, never the cap's lock
/// (every call's slot release) nor, for a push, the call's own lock (its bridge).
/// What the step does not use is given back when this is dropped.
pub(crate) struct Prefetched {
    cluster: Option<Cluster>,
    /// Answers not used yet, in the order they came.
    answers: std::collections::VecDeque<LeaseAnswer>,
}

impl Prefetched {
    /// Asks the site for up to `wanted` leases under the bound `max`; stops at the first
    /// refusal (the site is full or the database slow: asking again would only wait).
    /// With no shared store there is nothing to ask.
    pub(crate) fn take(cluster: Option<Cluster>, max: u32, wanted: u32) -> Prefetched {
        let mut answers = std::collections::VecDeque::new();
        if let Some(c) = &cluster {
            for _ in 0..wanted {
                let answer = c.acquire_lease(max);
                let refused = matches!(answer, LeaseAnswer::Full | LeaseAnswer::TooSlow);
                answers.push_back(answer);
                if refused {
                    break;
                }
            }
        }
        Prefetched { cluster, answers }
    }
}

impl Drop for Prefetched {
    fn drop(&mut self) {
        let Some(c) = &self.cluster else { return };
        for answer in self.answers.drain(..) {
            // A granted lease, and a slot counted alone, are both held until given back.
            if matches!(answer, LeaseAnswer::Granted | LeaseAnswer::Unavailable) {
                c.release_lease();
            }
        }
    }
}

/// The cap as one engine step sees it: the node's count, under the cap's lock, and the
/// site's leases taken before the step ([`Prefetched`]).
pub(crate) struct StepSlots<'a> {
    pub(crate) cap: &'a mut Cap,
    pub(crate) leases: &'a mut Prefetched,
}

impl MobileSlots for StepSlots<'_> {
    fn try_acquire(&mut self) -> bool {
        if !self.cap.local.try_acquire() {
            return false;
        }
        if self.cap.cluster.is_none() {
            return true;
        }
        match self.leases.answers.pop_front() {
            Some(LeaseAnswer::Granted) => {
                if std::mem::take(&mut self.cap.counting_alone) {
                    log::info!("twinning: the mobile cap is counted across the site again");
                }
                true
            }
            Some(LeaseAnswer::Unavailable) => {
                if !std::mem::replace(&mut self.cap.counting_alone, true) {
                    log::warn!(
                        "twinning: settings store unavailable: the mobile cap ({}) is counted by this node alone \
                         until it is back",
                        self.cap.local.max()
                    );
                }
                true
            }
            Some(LeaseAnswer::TooSlow) => {
                log::warn!(
                    "twinning: the settings store did not answer a lease request in time: a remote leg is refused \
                     to keep the site's cap"
                );
                self.cap.local.release();
                false
            }
            // The site is full, or the step wants more legs than were asked for.
            Some(LeaseAnswer::Full) | None => {
                self.cap.local.release();
                false
            }
        }
    }

    fn max(&self) -> u32 {
        self.cap.local.max()
    }
}
