//! Counted references to Asterisk objects the call keeps across threads: a channel or a
//! bridge stays valid memory while we hold a reference, whatever another thread does to it.

use std::ffi::{c_int, c_void};

use asterisk_sys as sys;

fn ao2_ref(obj: *mut c_void, delta: c_int) {
    // SAFETY: `obj` is a live ao2 object (channel or bridge) on which we hold or are
    // taking a reference; __ao2_ref is the function behind the ao2_ref() macro.
    unsafe {
        sys::__ao2_ref(obj, delta, c"twinning".as_ptr(), c"twinning".as_ptr(), 0, c"twinning".as_ptr());
    }
}

/// A reference to a channel (ast_channel_ref). Dropping it releases the reference; it never
/// hangs the channel up.
pub struct ChanRef(*mut sys::ast_channel);

// SAFETY: a counted reference may be used and released from any thread; operations on the
// channel itself lock it (ast_softhangup) or are documented at their call site.
unsafe impl Send for ChanRef {}
unsafe impl Sync for ChanRef {}

impl ChanRef {
    /// # Safety
    /// `chan` is a live channel.
    pub unsafe fn new(chan: *mut sys::ast_channel) -> ChanRef {
        ao2_ref(chan.cast(), 1);
        ChanRef(chan)
    }

    /// A further reference, to hand to an Asterisk call that steals one (a bridge swap).
    pub fn give(&self) -> *mut sys::ast_channel {
        ao2_ref(self.0.cast(), 1);
        self.0
    }

    /// The channel, borrowed: valid while this reference is held.
    pub fn raw(&self) -> *mut sys::ast_channel {
        self.0
    }

    /// Asks whoever services the channel to hang it up (it reads a hangup next).
    pub fn soft_hangup(&self) {
        // SAFETY: we hold a reference; ast_softhangup locks the channel itself.
        unsafe {
            sys::twinning_softhangup(self.0);
        }
    }
}

impl Drop for ChanRef {
    fn drop(&mut self) {
        ao2_ref(self.0.cast(), -1);
    }
}

/// A reference to the call's bridge.
pub struct BridgeRef(*mut sys::ast_bridge);

// SAFETY: as for ChanRef: the bridge API locks the bridge itself.
unsafe impl Send for BridgeRef {}
unsafe impl Sync for BridgeRef {}

impl BridgeRef {
    /// # Safety
    /// `bridge` is a live bridge.
    pub unsafe fn new(bridge: *mut sys::ast_bridge) -> BridgeRef {
        ao2_ref(bridge.cast(), 1);
        BridgeRef(bridge)
    }

    pub fn raw(&self) -> *mut sys::ast_bridge {
        self.0
    }
}

impl Drop for BridgeRef {
    fn drop(&mut self) {
        ao2_ref(self.0.cast(), -1);
    }
}
