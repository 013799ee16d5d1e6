//! The caller's thread: the loop that runs a call from its first command to its end.
//!
//! It carries out what only the caller's thread can (the host says which, by giving
//! commands back), feeds the engine what that thread sees (the caller, and the legs it
//! services), fires the engine's timers, and takes commands other threads queued for it.
//! The host supplies only the two things that differ between PBXes: how to perform such a
//! command, and how to wait for the next thing to happen.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use twinning_core::call::{Command, Event};

use crate::call::Call;
use crate::host::Host;

pub trait CallerThread<H: Host> {
    /// The place this thread is, for [`Host::perform`].
    fn here(&self) -> H::Here;

    /// Carries out a command that belongs to the caller's thread (placing a leg it will
    /// service, bridging and staying in the bridge, holding the caller...). Returns what
    /// it saw happen, if anything (a leg that could not be placed, the end of the bridge).
    fn perform(&mut self, call: &Arc<Call<H>>, command: Command) -> Option<Event>;

    /// Waits for the next thing that happens to the caller or a leg this thread services,
    /// until `deadline` at the latest (the engine's next timer), or less when the host
    /// polls. `None`: nothing happened (a timer may be due).
    fn wait(&mut self, call: &Arc<Call<H>>, deadline: Option<Instant>) -> Option<Event>;
}

pub(crate) fn run<H: Host>(call: &Arc<Call<H>>, thread: &mut impl CallerThread<H>, first: Vec<Command>) {
    let mut commands = first;
    let mut seen: VecDeque<Event> = VecDeque::new();
    loop {
        for command in call.execute(commands, thread.here()) {
            if let Some(event) = thread.perform(call, command) {
                seen.push_back(event);
            }
        }
        if call.is_finished() {
            return;
        }
        commands = if let Some(queued) = call.take_for_caller() {
            vec![queued]
        } else if let Some(event) = seen.pop_front() {
            call.event(event)
        } else {
            let deadline = call.deadline();
            match thread.wait(call, deadline) {
                Some(event) => call.event(event),
                None => call.tick(),
            }
        };
    }
}

/// What a caller's thread does with a command it has no business with: says so in the
/// log (the engine and the host disagree about whose it is) and carries on.
pub fn unexpected<H: Host>(call: &Call<H>, command: Command) -> Option<Event> {
    log::error!("twinning {}: unexpected command on the caller's thread: {command:?}", call.user);
    None
}
