/// Where the engine takes a slot for each remote leg it rings: the node's own count, or a
/// site-wide one the host keeps elsewhere (leases in a shared database). Slots are given
/// back by the host when the engine says [`super::Command::ReleaseMobileSlot`].
pub trait MobileSlots {
    /// Takes a slot if one is free.
    fn try_acquire(&mut self) -> bool;
    /// The bound, for the refusal's reason.
    fn max(&self) -> u32;
}

impl MobileSlots for ConcurrencyCap {
    fn try_acquire(&mut self) -> bool {
        ConcurrencyCap::try_acquire(self)
    }

    fn max(&self) -> u32 {
        ConcurrencyCap::max(self)
    }
}

/// The system-wide bound on mobile legs ringing or up at once (`max_concurrent`). The
/// host keeps one, shared by all calls, and applies the engine's acquire and release.
#[derive(Debug, Clone)]
pub struct ConcurrencyCap {
    max: u32,
    active: u32,
}

impl ConcurrencyCap {
    pub const fn new(max: u32) -> Self {
        ConcurrencyCap { max, active: 0 }
    }

    /// Takes a slot if one is free.
    pub fn try_acquire(&mut self) -> bool {
        if self.active < self.max {
            self.active += 1;
            true
        } else {
            false
        }
    }

    pub fn release(&mut self) {
        debug_assert!(self.active > 0, "released a slot that was not held");
        self.active = self.active.saturating_sub(1);
    }

    pub fn active(&self) -> u32 {
        self.active
    }

    pub fn max(&self) -> u32 {
        self.max
    }

    /// A reload may change the bound; calls already up keep their slots.
    pub fn set_max(&mut self, max: u32) {
        self.max = max;
    }
}
