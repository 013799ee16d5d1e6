//! Asterisk bridges as safe values: a counted reference to a bridge, the features a
//! channel joins with (DTMF hooks run Rust closures), and the bridge channel a hook is
//! called on.
//!
//! Media stays in Asterisk: the caller and the winning leg are in an ordinary basic
//! bridge (native RTP bridging applies), and a swap replaces one channel with another in
//! one step (`ast_bridge_impart`/`ast_bridge_join` with a swap channel).

use std::ffi::{c_int, c_void};
use std::ptr::NonNull;

use asterisk_sys as sys;

use super::channel::{ao2_ref as object_ref, Channel, Leg};
use super::{cstr, guard};

pub struct Bridge(NonNull<sys::ast_bridge>);

// SAFETY: a counted reference; the bridge API locks the bridge itself.
unsafe impl Send for Bridge {}
unsafe impl Sync for Bridge {}

impl Clone for Bridge {
    fn clone(&self) -> Bridge {
        object_ref(self.0.as_ptr().cast(), 1);
        Bridge(self.0)
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        object_ref(self.0.as_ptr().cast(), -1);
    }
}

impl Bridge {
    /// A basic two-party bridge (dissolves when a party hangs up or it is empty); the value
    /// is its creation reference.
    pub fn basic() -> Option<Bridge> {
        // SAFETY: creates a bridge whose creation reference we take.
        NonNull::new(unsafe { sys::ast_bridge_basic_new() }).map(Bridge)
    }

    /// A holding bridge: the caller hears music on hold (as `holding_participant` with
    /// `idle_mode=musiconhold`) while the desk is offered the call.
    pub fn holding() -> Option<Bridge> {
        use sys::ast_bridge_feature_flags as flags;
        // SAFETY: creates a bridge whose creation reference we take; the strings are
        // static.
        let b = unsafe {
            sys::ast_bridge_base_new(
                sys::ast_bridge_capability::AST_BRIDGE_CAPABILITY_HOLDING,
                flags::AST_BRIDGE_FLAG_DISSOLVE_EMPTY
                    | flags::AST_BRIDGE_FLAG_MERGE_INHIBIT_TO
                    | flags::AST_BRIDGE_FLAG_MERGE_INHIBIT_FROM,
                c"twinning".as_ptr(),
                c"twinning-hold".as_ptr(),
                std::ptr::null(),
            )
        };
        NonNull::new(b).map(Bridge)
    }

    /// Puts `leg` into the bridge on a thread of the bridge's own, replacing `swap` if
    /// given; the bridge owns the leg from then on (it is hung up when it leaves). On
    /// failure the leg is hung up.
    pub fn impart(&self, leg: Leg, swap: Option<&Channel>, features: Option<Features>) -> bool {
        let chan = leg.into_raw();
        // SAFETY: `chan` is a live channel we owned and now hand over (INDEPENDENT: the
        // bridge hangs it up when it leaves); impart borrows `swap` and takes its own
        // reference; `features` are consumed whatever the result.
        unsafe {
            let rc = sys::ast_bridge_impart(
                self.0.as_ptr(),
                chan,
                swap.map_or(std::ptr::null_mut(), Channel::raw),
                features.map_or(std::ptr::null_mut(), Features::into_raw),
                sys::ast_bridge_impart_flags::AST_BRIDGE_IMPART_CHAN_INDEPENDENT,
            );
            if rc != 0 {
                sys::ast_hangup(chan);
            }
            rc == 0
        }
    }

    /// Joins `chan` (run by the calling thread) to the bridge, replacing `swap` if given,
    /// and blocks until it leaves. With `pass` the bridge reference held by `pass` is
    /// handed to Asterisk (`AST_BRIDGE_JOIN_PASS_REFERENCE`). False if it could not join.
    pub fn join(&self, chan: &Channel, swap: Option<&Channel>, features: &Features) -> bool {
        // SAFETY: `chan` runs on this thread; join steals a reference to `swap`, so it is
        // given one of its own; the features outlive the call and are ours after it.
        unsafe {
            let swap = swap.map_or(std::ptr::null_mut(), |s| {
                object_ref(s.raw().cast(), 1);
                s.raw()
            });
            sys::ast_bridge_join(self.0.as_ptr(), chan.raw(), swap, features.0, std::ptr::null_mut(), 0) == 0
        }
    }

    /// Like [`Bridge::join`], handing the bridge's creation reference (this value) to
    /// Asterisk, so the bridge goes when its last party leaves.
    pub fn join_passing_reference(self, chan: &Channel, features: &Features) {
        let raw = self.0.as_ptr();
        std::mem::forget(self);
        // SAFETY: as in `join`; our reference to the bridge is passed to it.
        unsafe {
            sys::ast_bridge_join(
                raw,
                chan.raw(),
                std::ptr::null_mut(),
                features.0,
                std::ptr::null_mut(),
                sys::ast_bridge_join_flags::AST_BRIDGE_JOIN_PASS_REFERENCE,
            );
        }
    }

    /// Takes `chan` out of the bridge (its joining thread returns). False if it is not in
    /// the bridge (yet).
    pub fn remove(&self, chan: &Channel) -> bool {
        // SAFETY: both live (we hold references).
        unsafe { sys::ast_bridge_remove(self.0.as_ptr(), chan.raw()) == 0 }
    }

    /// Dissolves the bridge, releasing this (creation) reference.
    pub fn destroy(self) {
        let raw = self.0.as_ptr();
        std::mem::forget(self);
        // SAFETY: ast_bridge_destroy takes over the reference we held.
        unsafe {
            sys::ast_bridge_destroy(raw, 0);
        }
    }
}

/// Gives a channel a bridge role option for its next bridge (the holding bridge's music).
pub fn with_holding_role<R>(chan: &Channel, body: impl FnOnce() -> R) -> R {
    let role = c"holding_participant";
    // SAFETY: live channel; static strings, copied by Asterisk.
    unsafe {
        sys::ast_channel_add_bridge_role(chan.raw(), role.as_ptr());
        sys::ast_channel_set_bridge_role_option(
            chan.raw(),
            role.as_ptr(),
            c"idle_mode".as_ptr(),
            c"musiconhold".as_ptr(),
        );
    }
    let r = body();
    // SAFETY: as above.
    unsafe {
        sys::ast_channel_remove_bridge_role(chan.raw(), role.as_ptr());
    }
    r
}

/// A hook run when a code is keyed in the bridge (or the channel leaves it).
pub type DtmfHook = Box<dyn Fn(HookChannel) + Send + Sync>;

/// The features a channel joins a bridge with. Destroyed when dropped, unless given to an
/// impart.
pub struct Features(*mut sys::ast_bridge_features);

impl Features {
    pub fn new() -> Option<Features> {
        // SAFETY: a new structure, ours until destroyed or handed to the bridge.
        let f = unsafe { sys::ast_bridge_features_new() };
        (!f.is_null()).then_some(Features(f))
    }

    /// Runs `hook` whenever `code` is keyed (Asterisk's bridge matches it; keys that start
    /// no code pass through to the far end unchanged).
    pub fn add_dtmf_hook(&mut self, code: &str, hook: DtmfHook) {
        let dtmf = cstr::owned(code);
        let pvt = Box::into_raw(Box::new(hook)).cast::<c_void>();
        // SAFETY: `self.0` is live; the hook's private data is Asterisk's to release with
        // `drop_hook` when the features are destroyed, once the hook is in.
        let rc = unsafe {
            sys::ast_bridge_dtmf_hook(self.0, dtmf.as_ptr(), Some(on_dtmf), pvt, Some(drop_hook), 0)
        };
        if rc != 0 {
            log::warn!("twinning: could not hook DTMF code {code}");
            // SAFETY: on failure "the caller must cleanup any hook_pvt resources"
            // (bridge_features.h): Asterisk never calls `drop_hook` for it, so it is still ours.
            drop(unsafe { Box::from_raw(pvt.cast::<DtmfHook>()) });
        }
    }

    /// Runs `hook` once, when the channel leaves the bridge (on the channel's own thread,
    /// while it is still counted in the bridge).
    pub fn on_leave(&mut self, hook: DtmfHook) {
        let pvt = Box::into_raw(Box::new(hook)).cast::<c_void>();
        // SAFETY: `self.0` is live; the hook's data is Asterisk's to release with `drop_hook`
        // (when the hook is removed or the features destroyed), once the hook is in.
        let rc = unsafe { sys::ast_bridge_leave_hook(self.0, Some(on_dtmf), pvt, Some(drop_hook), 0) };
        if rc != 0 {
            log::warn!("twinning: could not hook a bridge leave");
            // SAFETY: as in `add_dtmf_hook`: a hook that did not go in is the caller's to free.
            drop(unsafe { Box::from_raw(pvt.cast::<DtmfHook>()) });
        }
    }

    fn into_raw(self) -> *mut sys::ast_bridge_features {
        let f = self.0;
        std::mem::forget(self);
        f
    }
}

impl Drop for Features {
    fn drop(&mut self) {
        // SAFETY: ours (never handed over); destroying it releases the hooks' data.
        unsafe { sys::ast_bridge_features_destroy(self.0) }
    }
}

/// The bridge channel a DTMF hook runs on: valid only during the hook, which is the only
/// place one is made (it is `Copy` so that it can travel down the call stack as the place
/// a command is performed; the driver never keeps it).
#[derive(Clone, Copy, Default)]
pub struct HookChannel(Option<NonNull<sys::ast_bridge_channel>>);

impl HookChannel {
    /// Not in a hook: AMI, the CLI, another thread.
    pub const NONE: HookChannel = HookChannel(None);

    pub fn is_hook(self) -> bool {
        self.0.is_some()
    }

    /// Music on hold for the others in the bridge (the caller), or back.
    pub fn hold(self, on: bool) {
        let Some(bc) = self.0 else { return };
        // SAFETY: a hook's bridge channel is live for the hook's run.
        unsafe {
            if on {
                sys::ast_bridge_channel_write_hold(bc.as_ptr(), std::ptr::null());
            } else {
                sys::ast_bridge_channel_write_unhold(bc.as_ptr());
            }
        }
    }

    /// Sends the other party (the caller) to `exten@context`; this channel is released.
    pub fn blind_transfer(self, context: &str, exten: &str) -> bool {
        let Some(bc) = self.0 else { return false };
        let (context, exten) = (cstr::owned(context), cstr::owned(exten));
        // SAFETY: live bridge channel for the hook's run; the strings outlive the call.
        let result = unsafe {
            sys::ast_bridge_transfer_blind(
                0,
                (*bc.as_ptr()).chan,
                exten.as_ptr(),
                context.as_ptr(),
                None,
                std::ptr::null_mut(),
            )
        };
        result == sys::ast_transfer_result::AST_BRIDGE_TRANSFER_SUCCESS
    }

    /// The channel keying the code, for reading what follows it.
    pub fn channel(self) -> Option<Channel> {
        // SAFETY: live bridge channel for the hook's run; its channel is live with it.
        self.0.and_then(|bc| unsafe { Channel::from_raw((*bc.as_ptr()).chan) })
    }
}

unsafe extern "C" fn drop_hook(pvt: *mut c_void) {
    guard::catch("DTMF hook release", (), || {
        // SAFETY: `pvt` came from Box::into_raw in `add_dtmf_hook` and is released once.
        drop(unsafe { Box::from_raw(pvt.cast::<DtmfHook>()) });
    })
}

unsafe extern "C" fn on_dtmf(bridge_channel: *mut sys::ast_bridge_channel, pvt: *mut c_void) -> c_int {
    guard::catch("DTMF hook", 0, || {
        // SAFETY: Asterisk passes the hook's private data (alive until drop_hook).
        let hook = unsafe { &*(pvt as *const DtmfHook) };
        hook(HookChannel(NonNull::new(bridge_channel)));
        // Keep the hook for the next press.
        0
    })
}
