//! One live twinned call as every thread shares it: the caller's thread, each leg's, AMI
//! or ESL requests, DTMF callbacks in the bridge, the desk's pickup.
//!
//! The one lock discipline lives here. A thread steps the engine under the call's lock and
//! takes every command that step produced in the same critical section; the step's
//! notifications are emitted in the engine's order before any later step's (the emit lock
//! is taken before the call lock is let go); then the commands are carried out with no
//! lock held, because a host call may block or call back into the module. Since the engine
//! emits nothing after its end, no event can follow a call's end.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use twinning_core::call::{
    CallStatus, CodeKind, Command, Event, HandoverTrigger, LegKind, MobileFeature, Notification, TwinnedCall,
};
use twinning_core::{CallControl, DtmfCode};
use twinning_service::call_events::call_event;

use crate::cap::StepSlots;
use crate::host::Host;
use crate::Driver;

/// How a call ended, for `TWINNINGSTATUS` / `twinning_status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub status: CallStatus,
    pub answered_by: Option<LegKind>,
}

impl Outcome {
    pub const FAILED: Outcome = Outcome { status: CallStatus::Failed, answered_by: None };
}

/// What the call's lock guards: the engine, the host's own per-call state, and the
/// commands queued for the caller's thread.
pub struct CallState<H: Host> {
    pub engine: TwinnedCall,
    pub host: H::Shared,
    for_caller: VecDeque<Command>,
    /// How many times [`Call::changed`] was called: a thread that read it before looking
    /// at something outside the call's lock (a channel's flags) and then waits for it to
    /// move cannot miss a change made in between.
    changes: u64,
}

impl<H: Host> CallState<H> {
    pub fn changes(&self) -> u64 {
        self.changes
    }
}

pub struct Call<H: Host> {
    pub user: String,
    /// The caller's channel or session, valid as long as this call exists.
    pub caller: H::Caller,
    pub call_control: CallControl,
    pub(crate) driver: &'static Driver<H>,
    pub(crate) id: u64,
    /// The control plane's user who asked for the latest AMI/ESL handover, if one did: its
    /// events say who (the audit of a handover started from twinctl or its web pages).
    pub(crate) handover_requested_by: Mutex<Option<String>>,
    state: Mutex<CallState<H>>,
    /// Held while a step's notifications are emitted (see [`Call::step`]).
    emitting: Mutex<()>,
    /// Wakes the caller's thread when something is queued for it or the call ends.
    wake: Condvar,
    /// Wakes threads waiting for the call's state to change (see [`Call::wait_until`]):
    /// every step and every [`Call::changed`] notifies it.
    change: Condvar,
}

/// What a code pressed during the bridge asks for. Which codes a leg has depends on the
/// device (see [`codes_for`]); what they do is the engine's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeRequest {
    /// The desk's push code: ring the mobile and move the call there when it answers.
    PushToMobile,
    /// The mobile's desk code.
    ToDesk,
    /// The mobile's hold code.
    HoldToggle,
    /// The mobile's transfer code, followed by an extension and `#`.
    Transfer,
    /// The mobile's consult code, followed by a number and `#`.
    Consult,
    /// While consulting (or in a conference): the attended-transfer code.
    AttendedTransfer,
    /// While consulting: the conference code.
    Conference,
    /// While consulting (or in a conference): the drop code.
    DropConsult,
}

impl CodeRequest {
    /// Whether digits up to `#` follow the code (the number to transfer to or consult).
    pub fn collects_digits(self) -> bool {
        matches!(self, CodeRequest::Transfer | CodeRequest::Consult)
    }
}

/// The codes a leg of `kind` has in the bridge, with how each is keyed; codes switched off
/// in the settings are left out.
pub fn codes_for(cc: &CallControl, kind: LegKind) -> Vec<(&DtmfCode, CodeRequest, CodeKind)> {
    let codes = match kind {
        LegKind::Desk => vec![(&cc.push_code, CodeRequest::PushToMobile, CodeKind::Immediate)],
        LegKind::Mobile(_) => vec![
            (&cc.desk_code, CodeRequest::ToDesk, CodeKind::Immediate),
            (&cc.hold_code, CodeRequest::HoldToggle, CodeKind::Immediate),
            (&cc.transfer_code, CodeRequest::Transfer, CodeKind::CollectUntilHash),
            (&cc.consult_code, CodeRequest::Consult, CodeKind::CollectUntilHash),
            // In a conference the mobile is back in the bridge: these end it.
            (&cc.attended_code, CodeRequest::AttendedTransfer, CodeKind::Immediate),
            (&cc.drop_code, CodeRequest::DropConsult, CodeKind::Immediate),
        ],
        // The third party after an attended transfer is not the user: no codes.
        LegKind::Consult => Vec::new(),
    };
    codes.into_iter().filter(|(c, _, _)| !c.is_off()).collect()
}

/// The codes the mobile has while it talks to the third party of a consult (the caller
/// held): complete the transfer, join all three, or drop the third party.
pub fn consult_codes(cc: &CallControl) -> Vec<(&DtmfCode, CodeRequest, CodeKind)> {
    [
        (&cc.attended_code, CodeRequest::AttendedTransfer, CodeKind::Immediate),
        (&cc.conference_code, CodeRequest::Conference, CodeKind::Immediate),
        (&cc.drop_code, CodeRequest::DropConsult, CodeKind::Immediate),
    ]
    .into_iter()
    .filter(|(c, _, _)| !c.is_off())
    .collect()
}

impl<H: Host> Call<H> {
    pub(crate) fn new(
        driver: &'static Driver<H>,
        id: u64,
        user: String,
        caller: H::Caller,
        call_control: CallControl,
        engine: TwinnedCall,
    ) -> Call<H> {
        Call {
            user,
            caller,
            call_control,
            driver,
            id,
            handover_requested_by: Mutex::new(None),
            state: Mutex::new(CallState {
                engine,
                host: H::Shared::default(),
                for_caller: VecDeque::new(),
                changes: 0,
            }),
            emitting: Mutex::new(()),
            wake: Condvar::new(),
            change: Condvar::new(),
        }
    }

    pub fn host(&self) -> &'static H {
        &self.driver.host
    }

    /// The call's state. Commands are taken from the engine in the same critical section
    /// that fed it, so a panic cannot leave half a step behind: a poisoned lock is taken
    /// over.
    pub fn lock(&self) -> MutexGuard<'_, CallState<H>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the call's state and takes every command the engine produced; emits the
    /// step's notifications, in order, before any later step's, and returns the rest.
    pub fn step<R>(&self, f: impl FnOnce(&mut CallState<H>) -> R) -> (R, Vec<Command>) {
        let mut state = self.lock();
        let r = f(&mut state);
        let mut commands = Vec::new();
        while let Some(c) = state.engine.poll_command() {
            commands.push(c);
        }
        let lamps_may_change =
            self.driver.live().update(self.id, state.engine.leg_states(), state.engine.activity()).is_some();
        let emitting = self.emitting.lock().unwrap_or_else(PoisonError::into_inner);
        drop(state);
        let mut rest = Vec::with_capacity(commands.len());
        for c in commands {
            match c {
                Command::Notify(n) => self.notify(&n),
                other => rest.push(other),
            }
        }
        drop(emitting);
        self.change.notify_all();
        if lamps_may_change {
            self.driver.refresh_lamps(&self.user);
        }
        (r, rest)
    }

    /// Counts a notification and tells the PBX; an AMI/ESL handover's events name the
    /// control plane's user who asked for it.
    fn notify(&self, n: &Notification) {
        self.driver.metrics.observe(n);
        let mut e = call_event(&self.user, n);
        if let Notification::Handover { trigger: HandoverTrigger::Ami, .. } = n {
            if let Some(by) =
                self.handover_requested_by.lock().unwrap_or_else(PoisonError::into_inner).clone()
            {
                e.fields.push(("Source", by));
            }
        }
        self.host().emit_call_event(&self.caller, &e)
    }

    /// Feeds one event to the engine.
    pub fn event(&self, event: Event) -> Vec<Command> {
        let now = self.host().now();
        self.step(|s| s.engine.handle_event(event, now)).1
    }

    /// Fires the engine's timers that are due. Polling threads call this often: only a due
    /// timer costs more than a look at the deadline.
    pub fn tick(&self) -> Vec<Command> {
        let now = self.host().now();
        if self.lock().engine.poll_timeout().is_none_or(|t| t > now) {
            return Vec::new();
        }
        self.step(|s| {
            if s.engine.poll_timeout().is_some_and(|t| t <= now) {
                s.engine.handle_timeout(now);
            }
        })
        .1
    }

    pub fn deadline(&self) -> Option<Instant> {
        self.lock().engine.poll_timeout()
    }

    pub fn is_finished(&self) -> bool {
        self.lock().engine.is_finished()
    }

    /// Whether the call can be handed over or picked up: bridged, or the caller held for
    /// the desk after the mobile hung up.
    pub fn is_answered(&self) -> bool {
        let s = self.lock();
        s.engine.is_bridged() || s.engine.is_parked()
    }

    /// How the call ended, read from the engine: the thread that finished the call may not
    /// have carried out its `Finish` yet when the caller's thread asks.
    pub fn outcome(&self) -> Option<Outcome> {
        self.lock().engine.outcome().map(|(status, answered_by)| Outcome { status, answered_by })
    }

    /// Carries out `commands` from `here`: the driver's own (the cap, the end), and the
    /// host's; returns those the host gave back for another thread.
    pub fn execute(self: &Arc<Self>, commands: Vec<Command>, here: H::Here) -> Vec<Command> {
        let mut rest = Vec::new();
        for command in commands {
            match command {
                Command::Notify(n) => self.notify(&n),
                Command::ReleaseMobileSlot => self.driver.cap().release(),
                Command::Finish { .. } => self.wake.notify_all(),
                other => rest.extend(self.host().perform(self, other, here)),
            }
        }
        rest
    }

    /// Steps the engine with `event` and carries out what follows, from `here`.
    pub fn feed(self: &Arc<Self>, event: Event, here: H::Here) -> Vec<Command> {
        let commands = self.event(event);
        self.execute(commands, here)
    }

    /// Waits until no thread but the caller's holds this call (leg threads, a request or a
    /// bridge callback in progress), however long: each may still use the caller's channel.
    pub fn wait_for_other_holders(self: &Arc<Self>) {
        let mut warn_at = Instant::now() + Duration::from_secs(30);
        while Arc::strong_count(self) > 1 {
            if Instant::now() > warn_at {
                log::warn!("twinning {}: still waiting for a leg thread to finish", self.user);
                warn_at += Duration::from_secs(30);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Queues a command for the caller's thread and wakes it.
    pub fn queue_for_caller(&self, command: Command) {
        self.lock().for_caller.push_back(command);
        self.wake.notify_all();
    }

    pub fn take_for_caller(&self) -> Option<Command> {
        self.lock().for_caller.pop_front()
    }

    /// Waits up to `timeout` for a command queued for the caller, the call's end, or a
    /// [`Call::changed`] after `seen` (what [`Call::changes`] read before the caller's
    /// channel was last looked at).
    pub fn wait_for_caller_work(&self, timeout: Duration, seen: u64) {
        let state = self.lock();
        if state.for_caller.is_empty() && !state.engine.is_finished() && state.changes == seen {
            drop(self.wake.wait_timeout(state, timeout));
        }
    }

    /// See [`CallState::changes`].
    pub fn changes(&self) -> u64 {
        self.lock().changes
    }

    /// Blocks until `done` holds for the call's state, or `timeout` has passed; true when it
    /// holds. `done` is checked under the call's lock, and every step and every
    /// [`Call::changed`] wakes the wait, so a thread waits for nothing in particular
    /// without polling. What changes outside the call's lock (a host's channel) must be
    /// followed by [`Call::changed`] to be seen before the timeout.
    pub fn wait_until(&self, timeout: Duration, mut done: impl FnMut(&mut CallState<H>) -> bool) -> bool {
        let until = Instant::now() + timeout;
        let mut state = self.lock();
        loop {
            if done(&mut state) {
                return true;
            }
            let now = Instant::now();
            if now >= until {
                return false;
            }
            state = self.change.wait_timeout(state, until - now).unwrap_or_else(PoisonError::into_inner).0;
        }
    }

    /// Something threads may wait for changed (the host's per-call state, a channel):
    /// wakes every [`Call::wait_until`] and the caller's [`Call::wait_for_caller_work`].
    /// The count moves under the lock, so a thread between its check and its wait cannot
    /// miss it.
    pub fn changed(&self) {
        {
            let mut state = self.lock();
            state.changes = state.changes.wrapping_add(1);
        }
        self.change.notify_all();
        self.wake.notify_all();
    }

    /// Moves the answered call to `to` (AMI, ESL, the twinning button).
    pub fn request_handover(
        self: &Arc<Self>,
        to: LegKind,
        trigger: HandoverTrigger,
        here: H::Here,
    ) -> Result<(), String> {
        // A push's lease is asked for before the call's lock is taken (see cap::Prefetched).
        let mut leases = self.driver.prefetch_leases(u32::from(to != LegKind::Desk));
        let now = self.host().now();
        let (result, commands) = self.step(|s| {
            let mut cap = self.driver.cap();
            s.engine.request_handover(to, trigger, &mut StepSlots { cap: &mut cap, leases: &mut leases }, now)
        });
        drop(leases);
        for c in self.execute(commands, here) {
            log::error!("twinning {}: handover command left unperformed: {c:?}", self.user);
        }
        result
    }

    /// A code pressed on the bridged leg; `digits` are those keyed after a transfer code.
    /// Returns commands the host gave back for another thread.
    pub fn code_pressed(
        self: &Arc<Self>,
        request: CodeRequest,
        digits: Option<String>,
        here: H::Here,
    ) -> Vec<Command> {
        let commands = match request {
            CodeRequest::PushToMobile => {
                let mut leases = self.driver.prefetch_leases(1);
                let now = self.host().now();
                let commands = self
                    .step(|s| {
                        let mut cap = self.driver.cap();
                        let mut slots = StepSlots { cap: &mut cap, leases: &mut leases };
                        s.engine.request_handover(LegKind::MOBILE, HandoverTrigger::Dtmf, &mut slots, now)
                    })
                    .1;
                drop(leases);
                commands
            }
            CodeRequest::ToDesk => self.event(Event::MobileFeature(MobileFeature::ToDesk)),
            CodeRequest::HoldToggle => self.event(Event::MobileFeature(MobileFeature::HoldToggle)),
            CodeRequest::Transfer => match digits {
                Some(exten) => self.event(Event::MobileFeature(MobileFeature::Transfer(exten))),
                None => Vec::new(),
            },
            CodeRequest::Consult => match digits {
                Some(number) => self.event(Event::MobileFeature(MobileFeature::Consult(number))),
                None => Vec::new(),
            },
            CodeRequest::AttendedTransfer => {
                self.event(Event::MobileFeature(MobileFeature::AttendedTransfer))
            }
            CodeRequest::Conference => self.event(Event::MobileFeature(MobileFeature::Conference)),
            CodeRequest::DropConsult => self.event(Event::MobileFeature(MobileFeature::DropConsult)),
        };
        self.execute(commands, here)
    }
}
