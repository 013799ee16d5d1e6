//! What the driver needs from a PBX, and nothing more: one trait a module implements once
//! (Asterisk's app_twinning, FreeSWITCH's mod_twinning, a fake in the tests).
//!
//! The driver decides which thread does what and when; the host only turns a command
//! into its own calls (place a leg, hang it up, bridge, swap, hold, transfer, prompt) and
//! a notification into its own event. Every method is called with no driver lock held,
//! so a host call may block, lock host objects or call back into the driver.

use std::sync::Arc;
use std::time::Instant;

use twinning_core::call::Command;
use twinning_core::lamp::{Lamp, LampState};
use twinning_core::Change;
use twinning_service::call_events::CallEvent;
use twinning_service::Source;

use crate::call::Call;

pub trait Host: Sized + Send + Sync + 'static {
    /// The caller's channel or session as a call keeps it (valid for the call's life).
    type Caller: Send + Sync;
    /// What the host keeps per call besides the engine (bridges, leg handles), behind the
    /// call's one lock.
    type Shared: Default + Send;
    /// Where a command is carried out: on the caller's own thread, a leg's, a bridge
    /// callback's. `Default` is "no particular thread" (AMI, CLI, ESL).
    type Here: Copy + Default;

    /// Carries out `command` for `call` from `here`; gives it back when it belongs to
    /// another thread (the caller's thread, or the one servicing a leg), whose own loop
    /// then performs it. Never called for `Notify`, `ReleaseMobileSlot` or `Finish`,
    /// which the driver handles.
    fn perform(&self, call: &Arc<Call<Self>>, command: Command, here: Self::Here) -> Option<Command>;

    /// The call is leaving the registry (it ended, or its thread is giving up): stop every
    /// leg the host still holds for it. Called with no lock held.
    fn abandon(&self, call: &Arc<Call<Self>>);

    /// The call is out of the registry and abandoned; the caller's thread is about to
    /// return to the host. A host whose other threads may still use the caller's channel
    /// waits for them here (see [`Call::wait_for_other_holders`]).
    fn released(&self, _call: &Arc<Call<Self>>) {}

    /// A call's notification, as the host's monitoring event (AMI `Twinning*`, FreeSWITCH
    /// `CUSTOM twinning::*`), in the order the engine made them.
    fn emit_call_event(&self, caller: &Self::Caller, event: &CallEvent);

    /// A settings change was made durable and applied: audit it (event, log, mirrors).
    fn settings_changed(&self, change: &Change, source: &Source);

    /// A settings change was refused and nothing changed: audit that too.
    fn settings_refused(&self, user: &str, field: &str, source: &Source, reason: &str);

    /// A security event with no call behind it (AMI's `security` class, a FreeSWITCH
    /// `CUSTOM` event): a request refused because of who made it.
    fn security_event(&self, event: &CallEvent);

    /// One of `user`'s lamps changed (see `twinning_core::lamp`): tell the PBX's
    /// subscribers (a device state, a presence event). Called in the order the changes
    /// happened, under the driver's lamp lock: it must not block for long, nor call back
    /// into the driver.
    fn lamp_changed(&self, _lamp: Lamp, _user: &str, _state: LampState) {}

    /// The caller's channel name, for `twinning show calls`.
    fn caller_name(&self, caller: &Self::Caller) -> String;

    /// The caller's unique id (Asterisk's `Uniqueid`, FreeSWITCH's UUID), which the call's
    /// events carry: a control plane that lists the live calls ties them to their events.
    fn caller_uniqueid(&self, caller: &Self::Caller) -> String;

    /// The host's monotonic clock.
    fn now(&self) -> Instant {
        Instant::now()
    }
}
