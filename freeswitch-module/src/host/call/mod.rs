//! Twinned calls in FreeSWITCH. The caller's session thread runs the `twinning`
//! application: it carries out the engine's ringing-phase commands and sits in
//! `switch_ivr_multi_threaded_bridge` with the winning leg (`caller`). Each leg has its
//! own thread from `switch_ivr_originate` to its end (`leg`). Handover, the desk's
//! `twinning_pickup` and DTMF codes (`dtmf`) act on the same call through its shared state
//! (`control`): a swap ends the caller's bridge by hanging up the leg leaving the call,
//! and the caller's thread bridges the new one at once, so the caller's own dialog is
//! never touched.

mod caller;
mod control;
mod dtmf;
mod leg;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use twinning_core::call::{CallSetup, CallStatus, HandoverTrigger, LegKind, TwinnedCall};

pub use control::Outcome;
use control::{execute, CallCtl, LegHandle};

use super::session::Session;
use super::{ffi, state};

/// Threads this module started that are still running (leg threads): the module must not
/// be unloaded under them.
static RUNNING_THREADS: AtomicUsize = AtomicUsize::new(0);

pub fn running_threads() -> usize {
    RUNNING_THREADS.load(Ordering::SeqCst)
}

/// Runs a twinned call to its end. `caller` is the session running `twinning`.
pub fn run(caller: Session, user: &str, setup: CallSetup) -> Outcome {
    let call_control = setup.call_control.clone();
    let mut engine = TwinnedCall::start(setup, &mut state::cap(), Instant::now());
    let mut first = Vec::new();
    while let Some(c) = engine.poll_command() {
        first.push(c);
    }
    let ctl = CallCtl::register(user, caller, call_control, engine);
    struct Registered<'a>(&'a std::sync::Arc<CallCtl>);
    impl Drop for Registered<'_> {
        fn drop(&mut self) {
            self.0.unregister();
        }
    }
    let registered = Registered(&ctl);
    caller::CallerThread::new(ctl.clone()).run(first);
    drop(registered);
    ctl.outcome().unwrap_or(Outcome { status: CallStatus::Failed, answered_by: None })
}

/// `twinning handover <user> desk|mobile`: moves the user's answered call.
pub fn handover(user: &str, to: LegKind) -> Result<(), String> {
    let ctl =
        CallCtl::find_answered(user).ok_or_else(|| format!("user {user} has no answered twinned call"))?;
    let (result, commands) =
        ctl.step(|e| e.request_handover(to, HandoverTrigger::Ami, &mut state::cap(), Instant::now()));
    execute(&ctl, commands);
    result
}

/// `twinning_pickup <user>` on the desk: the caller's thread bridges the caller with this
/// session; this returns once the bridge has taken the session over (its state leaves
/// CS_EXECUTE), or with an error if the call could not move here.
pub fn pickup(desk: Session, user: &str) -> Result<(), String> {
    let ctl =
        CallCtl::find_answered(user).ok_or_else(|| format!("user {user} has no answered twinned call"))?;
    if !desk.is_answered() {
        desk.answer();
    }
    let (result, commands) = ctl.step_inner(|inner| {
        let r = inner.engine.pickup(Instant::now());
        if let Ok(leg) = r {
            inner.legs.insert(leg, LegHandle::joined(LegKind::Desk, desk));
        }
        r
    });
    let leg = match result {
        Ok(leg) => leg,
        Err(e) => {
            execute(&ctl, commands);
            return Err(e);
        }
    };
    execute(&ctl, commands);
    let give_up = Instant::now() + Duration::from_secs(10);
    loop {
        if desk.state() != ffi::CS_EXECUTE {
            return Ok(());
        }
        let gone = {
            let inner = ctl.lock();
            inner.engine.is_finished() || !inner.engine.is_leg_live(leg)
        };
        if gone || !desk.is_ready() || Instant::now() > give_up {
            ctl.lock().legs.remove(&leg);
            return Err("the call could not be moved to this phone".into());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
