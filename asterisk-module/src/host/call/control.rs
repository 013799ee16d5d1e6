//! A call's shared state once threads other than the caller's can act on it: AMI
//! (`TwinningHandover`), the desk's `TwinningPickup`, DTMF hooks on the bridged leg, and
//! the threads that ring a device mid-call. All of them step the one engine under one
//! lock, then carry out the resulting commands with the lock released, so no Asterisk
//! call (which may wait on bridge or channel locks, or call back into a hook) is ever made
//! while holding it.

use std::collections::BTreeMap;
use std::ffi::c_int;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use asterisk_sys as sys;
use twinning_core::call::{CallStatus, Command, Event, LegId, LegKind, TwinnedCall};
use twinning_core::CallControl;

use super::handles::{BridgeRef, ChanRef};
use super::handover_leg;
use crate::host::channel::ChannelRef;
use crate::host::{cstr, logger, manager, state};

pub struct Outcome {
    pub status: CallStatus,
    pub answered_by: Option<LegKind>,
}

pub struct CallCtl {
    pub user: String,
    /// The caller's channel. Its memory stays valid as long as the call does (see
    /// `_caller_ref`), though the application may have returned: AMI, the pickup, DTMF
    /// hooks and ringing threads that took the call before it was unregistered still
    /// step it and report on it afterwards.
    pub caller: ChannelRef,
    /// The reference that keeps `caller` valid until the last holder of the call lets go.
    _caller_ref: ChanRef,
    pub call_control: CallControl,
    call_id: u64,
    inner: Mutex<Inner>,
    /// Held while a step's events are emitted (see [`CallCtl::step`]).
    emitting: Mutex<()>,
}

// SAFETY: the raw channel pointer inside is only used as documented on `caller`, and a
// counted reference keeps it valid for as long as the call exists.
unsafe impl Send for CallCtl {}
unsafe impl Sync for CallCtl {}

/// How the caller, held for the desk, gets back into a call: the caller's thread bridges
/// it with an answered desk leg (which it takes over), or joins a bridge the desk's own
/// thread (the pickup code) is in.
pub enum Rejoin {
    Impart { leg: LegId, chan: *mut sys::ast_channel },
    Join { bridge: BridgeRef },
}

pub struct Inner {
    pub engine: TwinnedCall,
    pub bridge: Option<BridgeRef>,
    /// The holding bridge the caller waits in after the mobile hung up.
    pub holding: Option<BridgeRef>,
    pub rejoin: Option<Rejoin>,
    /// References to legs other threads may act on: the bridged leg (to swap it out) and
    /// devices being rung mid-call (to stop them).
    pub chans: BTreeMap<LegId, ChanRef>,
}

/// Calls in progress, so mid-call requests can find them by user.
static ACTIVE: Mutex<Vec<Arc<CallCtl>>> = Mutex::new(Vec::new());

fn active() -> MutexGuard<'static, Vec<Arc<CallCtl>>> {
    ACTIVE.lock().unwrap_or_else(PoisonError::into_inner)
}

impl CallCtl {
    pub fn register(
        user: &str,
        caller: ChannelRef,
        call_control: CallControl,
        engine: TwinnedCall,
    ) -> Arc<CallCtl> {
        let call_id = state::calls().begin(user, &caller.name(), engine.started());
        // SAFETY: the caller channel runs this application, so it is live here.
        let caller_ref = unsafe { ChanRef::new(caller.raw()) };
        let ctl = Arc::new(CallCtl {
            user: user.to_owned(),
            caller,
            _caller_ref: caller_ref,
            call_control,
            call_id,
            emitting: Mutex::new(()),
            inner: Mutex::new(Inner {
                engine,
                bridge: None,
                holding: None,
                rejoin: None,
                chans: BTreeMap::new(),
            }),
        });
        active().push(ctl.clone());
        ctl
    }

    /// Removes the call from the registry and stops anything still ringing for it. The
    /// mobile slot is given back if the engine never did (the call was abandoned).
    pub fn unregister(self: &Arc<Self>) {
        active().retain(|c| !Arc::ptr_eq(c, self));
        state::calls().end(self.call_id);
        let mut inner = self.lock();
        for (_, chan) in std::mem::take(&mut inner.chans) {
            chan.soft_hangup();
        }
        inner.bridge = None;
        if let Some(Rejoin::Impart { chan, .. }) = inner.rejoin.take() {
            // SAFETY: an answered desk handed to the caller's thread that never took it.
            unsafe {
                sys::ast_hangup(chan);
            }
        }
        if inner.engine.holds_mobile_slot() && !inner.engine.is_finished() {
            state::cap().release();
        }
    }

    /// The user's most recent answered call: a leg bridged with the caller, or the caller
    /// held for the desk after the mobile hung up.
    pub fn find_answered(user: &str) -> Option<Arc<CallCtl>> {
        active()
            .iter()
            .rev()
            .find(|c| {
                let inner = c.lock();
                c.user == user && (inner.engine.is_bridged() || inner.engine.is_parked())
            })
            .cloned()
    }

    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        // Commands are taken from the engine within the same critical section that fed
        // it, so a panic cannot leave half a step behind: take the lock over.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the engine and takes every command it produced.
    ///
    /// The step's notifications are emitted here, in the order the engine made them and
    /// before any later step's: the event lock is taken before the call lock is let go, so
    /// two threads stepping the same call cannot interleave their AMI events (no
    /// `TwinningLeg` after `TwinningEnd`). Emitting takes the caller's channel lock but never
    /// the call lock, and no thread steps a call while holding a channel lock.
    pub fn step<R>(&self, f: impl FnOnce(&mut TwinnedCall) -> R) -> (R, Vec<Command>) {
        let mut inner = self.lock();
        let r = f(&mut inner.engine);
        let mut commands = Vec::new();
        while let Some(c) = inner.engine.poll_command() {
            commands.push(c);
        }
        state::calls().update(self.call_id, inner.engine.leg_states());
        let emitting = self.emitting.lock().unwrap_or_else(PoisonError::into_inner);
        drop(inner);
        let mut rest = Vec::with_capacity(commands.len());
        for c in commands {
            match c {
                Command::Notify(n) => manager::emit_call_notification(self.caller, &self.user, &n),
                other => rest.push(other),
            }
        }
        drop(emitting);
        (r, rest)
    }

    pub fn event(&self, event: Event) -> Vec<Command> {
        self.step(|e| e.handle_event(event, Instant::now())).1
    }

    /// How the call ended, from the engine itself: the thread that finished the call may
    /// not have carried out its Finish command yet when the caller's thread asks.
    pub fn outcome(&self) -> Option<Outcome> {
        self.lock().engine.outcome().map(|(status, answered_by)| Outcome { status, answered_by })
    }
}

/// Where a command is carried out: on a bridge channel's thread (a DTMF hook), or not.
#[derive(Clone, Copy)]
pub struct Here {
    pub bridge_channel: *mut sys::ast_bridge_channel,
}

impl Here {
    pub const NOWHERE: Here = Here { bridge_channel: std::ptr::null_mut() };
}

/// Carries out the commands any thread can; returns the ones only a particular thread can
/// (the ringing-phase commands the caller's thread owns, and a swap into the bridge, which
/// the thread servicing the new leg performs).
pub fn execute(ctl: &Arc<CallCtl>, commands: Vec<Command>, here: Here) -> Vec<Command> {
    let mut rest = Vec::new();
    let mut queue: std::collections::VecDeque<Command> = commands.into();
    while let Some(command) = queue.pop_front() {
        // Read what the command needs in one short critical section; nothing below runs
        // with the lock held.
        let (midcall, owned_here) = {
            let inner = ctl.lock();
            let midcall = inner.engine.is_bridged() || inner.engine.is_parked();
            let tracked = match &command {
                Command::Cancel { leg } => inner.chans.contains_key(leg),
                _ => false,
            };
            (midcall, tracked)
        };
        match command {
            // Placing the leg can take a while (channel drivers resolve names, send the
            // INVITE): it happens on the thread that will ring it, so AMI, hooks and the
            // pickup are never held up by it.
            Command::Dial { leg, kind, target, caller_id } if midcall => {
                handover_leg::spawn(ctl.clone(), leg, kind, target, caller_id)
            }
            Command::Cancel { leg } if owned_here => {
                let chan = ctl.lock().chans.remove(&leg);
                if let Some(chan) = chan {
                    chan.soft_hangup();
                }
            }
            Command::Notify(n) => manager::emit_call_notification(ctl.caller, &ctl.user, &n),
            Command::ReleaseMobileSlot => state::cap().release(),
            Command::ReleaseCaller => release_from_holding(ctl),
            // The outcome is read from the engine (see CallCtl::outcome).
            Command::Finish { .. } => {}
            Command::HoldCaller | Command::ResumeCaller if !here.bridge_channel.is_null() => {
                // SAFETY: a hook's bridge channel is live for the hook's run; writing hold
                // from the mobile makes the bridge play music on hold to the caller.
                unsafe {
                    if command == Command::HoldCaller {
                        sys::ast_bridge_channel_write_hold(here.bridge_channel, std::ptr::null());
                    } else {
                        sys::ast_bridge_channel_write_unhold(here.bridge_channel);
                    }
                }
            }
            Command::BlindTransfer { context, exten } if !here.bridge_channel.is_null() => {
                let (context, exten) = (cstr::owned(&context), cstr::owned(&exten));
                // SAFETY: the mobile's bridge channel is live for the hook's run; the
                // transfer moves the caller to exten@context and releases the mobile.
                let result = unsafe {
                    sys::ast_bridge_transfer_blind(
                        0,
                        (*here.bridge_channel).chan,
                        exten.as_ptr(),
                        context.as_ptr(),
                        None,
                        std::ptr::null_mut(),
                    )
                };
                if result != sys::ast_transfer_result::AST_BRIDGE_TRANSFER_SUCCESS {
                    logger::warning(&format!("twinning {}: blind transfer failed ({result})", ctl.user));
                }
            }
            other => rest.push(other),
        }
    }
    rest
}

/// Takes the caller out of the holding bridge, so its thread can bridge it again (see
/// [`Rejoin`]) or, with nothing to rejoin, end the call. The caller may be a moment from
/// entering the bridge; its thread checks for a pending rejoin or finish before it does,
/// and the removal is retried meanwhile.
pub fn release_from_holding(ctl: &Arc<CallCtl>) {
    for _ in 0..100 {
        let holding = ctl.lock().holding.as_ref().map(BridgeRef::raw);
        let Some(holding) = holding else {
            return;
        };
        // SAFETY: the call holds a reference to the bridge; the caller channel is live for
        // the application's run.
        if unsafe { sys::ast_bridge_remove(holding, ctl.caller.raw()) } == 0 {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    logger::warning(&format!("twinning {}: could not take the caller off hold", ctl.user));
}

/// Puts `new` into the call's bridge in place of `old`, from the thread that services
/// `new`: `join` (blocking, for a channel running its own application, i.e. the pickup)
/// or impart (the bridge takes the channel over). Returns whether it got in.
pub fn swap_in(
    ctl: &Arc<CallCtl>,
    new: LegId,
    kind: LegKind,
    chan: *mut sys::ast_channel,
    old: Option<LegId>,
    join: bool,
) -> bool {
    // SAFETY: `chan` is live and serviced by the calling thread.
    let reference = unsafe { ChanRef::new(chan) };
    let (bridge, old) = {
        let mut inner = ctl.lock();
        let Some(bridge) = inner.bridge.as_ref().map(BridgeRef::raw) else { return false };
        let old = old.and_then(|old| inner.chans.remove(&old));
        inner.chans.insert(new, reference);
        (bridge, old)
    };
    let features = super::hooks::features_for(ctl, kind);
    // SAFETY: `bridge` stays valid (the call holds a reference); `features` is handed over
    // (impart) or destroyed after the join. The two calls treat the swapped-out channel
    // differently: ast_bridge_join steals a reference to it (so it gets one of its own),
    // ast_bridge_impart only borrows it and takes its own (so our reference, `old`, is
    // kept until impart has returned and then released). Giving impart a reference of its
    // own leaked every channel a handover swapped out (found by scripts/memcheck).
    unsafe {
        if join {
            let swap = old.as_ref().map_or(std::ptr::null_mut(), ChanRef::give);
            let rc = sys::ast_bridge_join(bridge, chan, swap, features, std::ptr::null_mut(), 0);
            sys::ast_bridge_features_destroy(features);
            rc == 0
        } else {
            let swap = old.as_ref().map_or(std::ptr::null_mut(), ChanRef::raw);
            let rc = sys::ast_bridge_impart(
                bridge,
                chan,
                swap,
                features,
                sys::ast_bridge_impart_flags::AST_BRIDGE_IMPART_CHAN_INDEPENDENT,
            );
            drop(old);
            rc == 0
        }
    }
}

/// The C-side value of a status for a hook's return.
pub const KEEP_HOOK: c_int = 0;
