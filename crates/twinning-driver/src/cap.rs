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

impl MobileSlots for Cap {
    fn try_acquire(&mut self) -> bool {
        if !self.local.try_acquire() {
            return false;
        }
        let Some(cluster) = &self.cluster else { return true };
        match cluster.acquire_lease(self.local.max()) {
            LeaseAnswer::Granted => {
                if std::mem::take(&mut self.counting_alone) {
                    log::info!("twinning: the mobile cap is counted across the site again");
                }
                true
            }
            LeaseAnswer::Full => {
                self.local.release();
                false
            }
            LeaseAnswer::TooSlow => {
                log::warn!("twinning: the settings store did not answer a lease request in time: remote leg refused to keep the site's cap");
                self.local.release();
                false
            }
            LeaseAnswer::Unavailable => {
                if !std::mem::replace(&mut self.counting_alone, true) {
                    log::warn!(
                        "twinning: settings store unavailable: the mobile cap ({}) is counted by this node alone \
                         until it is back",
                        self.local.max()
                    );
                }
                true
            }
        }
    }

    fn max(&self) -> u32 {
        self.local.max()
    }
}
