//! A call's shared state. Every thread that acts on the call (the caller's, each leg's,
//! the API's, a DTMF callback in a bridge, the desk's pickup) steps the one engine under
//! one lock and takes the commands it produced; the commands are then carried out with
//! the lock released, because FreeSWITCH calls may block or call back into the module.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use twinning_core::call::{CallStatus, Command, Event, LegId, LegKind, Prompt, TwinnedCall};
use twinning_core::CallControl;

use super::leg;
use crate::host::session::{LockedSession, Session};
use crate::host::{cstr, events, ffi, logger, state};

/// What a held caller hears when its channel names no `hold_music`.
const DEFAULT_HOLD_MUSIC: &str = "local_stream://moh";

pub struct Outcome {
    pub status: CallStatus,
    pub answered_by: Option<LegKind>,
}

/// One leg as the threads share it.
pub struct LegHandle {
    pub kind: LegKind,
    /// Read by `switch_ivr_originate` (its `cancel_cause`) and by the leg's thread: a
    /// non-zero cause stops the attempt or ends the leg.
    pub cancel: Arc<AtomicU32>,
    /// The leg's session uuid once `switch_ivr_originate` returned it, or the desk's own for
    /// a pickup. Other threads act on the leg through [`LegHandle::locate`], never through
    /// a pointer that its owner's thread may let go of.
    pub uuid: Option<String>,
    /// A prompt the leg's thread is to play (the confirmation).
    pub prompt: Option<Prompt>,
    /// The engine has heard how this leg ended (or released it): nothing more is reported.
    pub ended: bool,
    /// The desk running `twinning_pickup`: no thread of ours holds it.
    pub joined: bool,
}

impl LegHandle {
    pub fn dialing(kind: LegKind) -> LegHandle {
        LegHandle {
            kind,
            cancel: Arc::new(AtomicU32::new(0)),
            uuid: None,
            prompt: None,
            ended: false,
            joined: false,
        }
    }

    pub fn joined(kind: LegKind, session: Session) -> LegHandle {
        LegHandle { uuid: Some(session.uuid()), joined: true, ..LegHandle::dialing(kind) }
    }

    /// The leg's session, read-locked, if it still exists.
    pub fn locate(uuid: Option<&str>) -> Option<LockedSession> {
        uuid.and_then(LockedSession::locate)
    }
}

pub struct Inner {
    pub engine: TwinnedCall,
    pub legs: BTreeMap<LegId, LegHandle>,
    /// Commands only the caller's thread can carry out (it owns the caller's media).
    pub for_caller: VecDeque<Command>,
    /// The leg the caller is bridged with now.
    pub in_bridge: Option<LegId>,
    /// A leg to bridge as soon as the current bridge ends (a swap under way).
    pub swap_to: Option<LegId>,
}

pub struct CallCtl {
    pub user: String,
    /// The caller's session; valid while `twinning` runs, which outlives every use: the
    /// call is unregistered before the application returns and leg threads are joined.
    pub caller: Session,
    pub call_control: CallControl,
    call_id: u64,
    inner: Mutex<Inner>,
    /// Held while a step's events are fired (see [`CallCtl::step_inner`]).
    emitting: Mutex<()>,
    /// Wakes the caller's thread when something is queued for it.
    pub wake: Condvar,
}

static ACTIVE: Mutex<Vec<Arc<CallCtl>>> = Mutex::new(Vec::new());

fn active() -> MutexGuard<'static, Vec<Arc<CallCtl>>> {
    ACTIVE.lock().unwrap_or_else(PoisonError::into_inner)
}

impl CallCtl {
    pub fn register(
        user: &str,
        caller: Session,
        call_control: CallControl,
        engine: TwinnedCall,
    ) -> Arc<CallCtl> {
        let call_id = state::calls().begin(user, &caller.name(), engine.started());
        let ctl = Arc::new(CallCtl {
            user: user.to_owned(),
            caller,
            call_control,
            call_id,
            inner: Mutex::new(Inner {
                engine,
                legs: BTreeMap::new(),
                for_caller: VecDeque::new(),
                in_bridge: None,
                swap_to: None,
            }),
            emitting: Mutex::new(()),
            wake: Condvar::new(),
        });
        active().push(ctl.clone());
        ctl
    }

    /// Removes the call from the registry, stops every leg still up and waits for the leg
    /// threads to let go of their sessions; gives back the mobile slot if the engine never
    /// did (the call was abandoned).
    pub fn unregister(self: &Arc<Self>) {
        active().retain(|c| !Arc::ptr_eq(c, self));
        state::calls().end(self.call_id);
        let legs: Vec<String> = {
            let mut inner = self.lock();
            let mut s = Vec::new();
            for h in inner.legs.values_mut() {
                h.cancel.store(ffi::SWITCH_CAUSE_ORIGINATOR_CANCEL, Ordering::SeqCst);
                if let (Some(uuid), false) = (&h.uuid, h.joined) {
                    s.push(uuid.clone());
                }
            }
            if inner.engine.holds_mobile_slot() && !inner.engine.is_finished() {
                state::cap().release();
            }
            s
        };
        for uuid in legs {
            if let Some(leg) = LockedSession::locate(&uuid) {
                leg.session().hangup(ffi::SWITCH_CAUSE_ORIGINATOR_CANCEL);
            }
        }
        // Leg threads (and an API request or DTMF callback in progress) hold a clone of this
        // Arc and may use the caller's session: wait until they are gone, however long, so
        // none outlives it. Every leg has been told to stop above.
        let mut warn_at = Instant::now() + Duration::from_secs(30);
        while Arc::strong_count(self) > 1 {
            if Instant::now() > warn_at {
                logger::warning(&format!("twinning {}: still waiting for a leg thread to finish", self.user));
                warn_at += Duration::from_secs(30);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The user's most recent answered call: bridged, or the caller held for the desk.
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
        // Commands are taken in the same critical section that fed the engine, so a panic
        // cannot leave half a step behind: a poisoned lock is taken over.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the engine and takes every command it produced.
    pub fn step<R>(&self, f: impl FnOnce(&mut TwinnedCall) -> R) -> (R, Vec<Command>) {
        self.step_inner(|inner| f(&mut inner.engine))
    }

    /// Like [`CallCtl::step`], with the rest of the shared state at hand too. The step's
    /// notifications are fired here, in the order the engine made them and before any
    /// later step's: the event lock is taken before the call lock is let go, so two threads
    /// stepping the same call cannot interleave their events (no `twinning::leg` after
    /// `twinning::end`). Firing an event never calls back into the module.
    pub fn step_inner<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> (R, Vec<Command>) {
        let mut inner = self.lock();
        let r = f(&mut inner);
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
                Command::Notify(n) => events::fire_call(self.caller, &self.user, &n),
                other => rest.push(other),
            }
        }
        drop(emitting);
        (r, rest)
    }

    pub fn event(&self, event: Event) -> Vec<Command> {
        self.step(|e| e.handle_event(event, Instant::now())).1
    }

    /// Fires the engine's timers that are due.
    pub fn tick(&self) -> Vec<Command> {
        let now = Instant::now();
        // Every polling thread calls this many times a second: only a due timer costs more
        // than a look at the deadline.
        if !self.lock().engine.poll_timeout().is_some_and(|t| t <= now) {
            return Vec::new();
        }
        self.step(|e| {
            if e.poll_timeout().is_some_and(|t| t <= now) {
                e.handle_timeout(now);
            }
        })
        .1
    }

    /// Reports how leg `leg` ended, unless someone already did.
    pub fn leg_ended(&self, leg: LegId, event: Event) -> Vec<Command> {
        let first = {
            let mut inner = self.lock();
            match inner.legs.get_mut(&leg) {
                Some(h) if !h.ended => {
                    h.ended = true;
                    true
                }
                Some(_) => false,
                None => true,
            }
        };
        if first {
            self.event(event)
        } else {
            Vec::new()
        }
    }

    pub fn outcome(&self) -> Option<Outcome> {
        self.lock().engine.outcome().map(|(status, answered_by)| Outcome { status, answered_by })
    }
}

/// Carries out commands. The ones that need the caller's own thread are queued for it.
pub fn execute(ctl: &Arc<CallCtl>, commands: Vec<Command>) {
    for command in commands {
        match command {
            Command::Dial { leg, kind, target, caller_id } => {
                ctl.lock().legs.insert(leg, LegHandle::dialing(kind));
                leg::spawn(ctl.clone(), leg, kind, target, caller_id);
            }
            Command::Cancel { leg } => {
                let uuid = {
                    let mut inner = ctl.lock();
                    inner.legs.get_mut(&leg).and_then(|h| {
                        h.cancel.store(ffi::SWITCH_CAUSE_ORIGINATOR_CANCEL, Ordering::SeqCst);
                        h.ended = true;
                        h.uuid.clone()
                    })
                };
                if let Some(s) = LegHandle::locate(uuid.as_deref()) {
                    s.session().hangup(ffi::SWITCH_CAUSE_ORIGINATOR_CANCEL);
                }
            }
            Command::PlayPrompt { leg, prompt } => {
                if let Some(h) = ctl.lock().legs.get_mut(&leg) {
                    h.prompt = Some(prompt);
                }
            }
            Command::IndicateRinging => ctl.caller.ring_ready(),
            Command::SwapBridge { new, old } => {
                // The caller's bridge ends when `old` hangs up; its thread then bridges `new`.
                let old_uuid = {
                    let mut inner = ctl.lock();
                    inner.swap_to = Some(new);
                    inner.legs.get_mut(&old).and_then(|h| {
                        h.ended = true;
                        h.cancel.store(ffi::SWITCH_CAUSE_NORMAL_CLEARING, Ordering::SeqCst);
                        h.uuid.clone()
                    })
                };
                ctl.wake.notify_all();
                if let Some(s) = LegHandle::locate(old_uuid.as_deref()) {
                    s.session().hangup(ffi::SWITCH_CAUSE_NORMAL_CLEARING);
                }
            }
            // Music for the caller from its own channel (a broadcast), so neither the
            // caller nor the mobile is re-INVITEd; the mobile hears silence meanwhile.
            Command::HoldCaller => {
                let music = ctl.caller.hold_music().unwrap_or_else(|| DEFAULT_HOLD_MUSIC.into());
                if !ctl.caller.broadcast_loop(&music) {
                    logger::warning(&format!("twinning {}: could not play hold music {music}", ctl.user));
                }
            }
            Command::ResumeCaller => ctl.caller.stop_broadcast(),
            Command::BlindTransfer { context, exten } => {
                let (exten, context) = (cstr::owned(&exten), cstr::owned(&context));
                // SAFETY: the caller's session is valid for the call (see CallCtl::caller);
                // the transfer ends its bridge and sends it through the XML dialplan.
                let status = unsafe {
                    ffi::switch_ivr_session_transfer(
                        ctl.caller.raw(),
                        exten.as_ptr(),
                        c"XML".as_ptr(),
                        context.as_ptr(),
                    )
                };
                if status != ffi::SWITCH_STATUS_SUCCESS {
                    logger::warning(&format!("twinning {}: blind transfer failed", ctl.user));
                }
            }
            Command::Notify(n) => events::fire_call(ctl.caller, &ctl.user, &n),
            Command::ReleaseMobileSlot => state::cap().release(),
            // The outcome is read from the engine (see CallCtl::outcome).
            Command::Finish { .. } => {
                ctl.wake.notify_all();
            }
            // The mobile hung up: the caller hears hold music while the desk is offered
            // the call (the caller's thread waits meanwhile).
            Command::Park => {
                let music = ctl.caller.hold_music().unwrap_or_else(|| DEFAULT_HOLD_MUSIC.into());
                ctl.caller.broadcast_loop(&music);
                ctl.lock().for_caller.push_back(Command::Park);
                ctl.wake.notify_all();
            }
            // The music plays on the caller's own thread, which cannot take the command
            // until it stops: stop it from here.
            caller_only @ (Command::Unpark { .. } | Command::ReleaseCaller) => {
                ctl.caller.stop_broadcast();
                ctl.lock().for_caller.push_back(caller_only);
                ctl.wake.notify_all();
            }
            caller_only @ Command::Bridge { .. } => {
                ctl.lock().for_caller.push_back(caller_only);
                ctl.wake.notify_all();
            }
        }
    }
}
