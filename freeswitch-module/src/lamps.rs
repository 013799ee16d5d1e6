//! The user's lamps as presence, for BLF keys on phones subscribed through mod_sofia:
//! `twinning+<user>@<domain>` (twinning on, or the mobile ringing) and
//! `twinningcall+<user>@<domain>` (an answered or ringing twinned call on any device).
//! What each shows is `twinning_core::lamp`'s decision; the driver publishes every change
//! (see `twinning_driver::lamps`), and a new subscription's probe is answered at once.
//!
//! Sofia matches a `PRESENCE_IN` to subscriptions by its `proto` (the id's prefix before
//! `+`, exactly) and user, and shows `answer-state` as the dialog's state when the event
//! names a dialog (`unique-id`); an event without one is an empty dialog-info, idle. The
//! domain is FreeSWITCH's `domain` variable, which the phones subscribe to.

use twinning_core::lamp::{Lamp, LampState};

use crate::host::core;
use crate::host::presence::{self, Probe};
use crate::pbx::DRIVER;

/// Publishes `user`'s `lamp` to every subscriber, or only to the subscription `call_id`
/// (a probe's answer), at `host` (the domain).
pub fn publish(lamp: Lamp, user: &str, state: LampState, host: &str, call_id: Option<&str>) {
    let proto = lamp.presence_prefix();
    let from = format!("{proto}+{user}@{host}");
    // A dialog id of the lamp's own: no call's channel, and stable, so a phone sees one
    // dialog change state.
    let dialog = format!("{proto}-{user}");
    let (answer_state, status) = match state {
        LampState::InUse => ("confirmed", if lamp == Lamp::Twinning { "Twinning on" } else { "On a call" }),
        LampState::Ringing => ("early", "Ringing"),
        LampState::NotInUse | LampState::Invalid => ("terminated", "Idle"),
    };
    let mut headers = vec![
        ("proto", proto),
        ("login", "mod_twinning"),
        ("from", from.as_str()),
        ("status", status),
        ("rpid", "unknown"),
        ("event_type", "presence"),
        ("alt_event_type", "dialog"),
        ("answer-state", answer_state),
        ("presence-call-direction", "outbound"),
    ];
    if matches!(state, LampState::InUse | LampState::Ringing) {
        headers.push(("unique-id", &dialog));
    }
    if let Some(id) = call_id {
        headers.push(("call-id", id));
    }
    presence::fire(&headers);
}

/// The domain lamps are published at.
pub fn domain() -> String {
    core::variable(c"domain").filter(|d| !d.is_empty()).unwrap_or_else(|| "127.0.0.1".into())
}

/// A phone subscribed (or refreshed): tell it the lamp's state now.
pub fn answer_probe(probe: &Probe) {
    let Some(lamp) =
        probe.header("proto").and_then(|p| Lamp::ALL.into_iter().find(|l| l.presence_prefix() == p))
    else {
        return;
    };
    if probe.header("expires").is_some_and(|e| e.trim() == "0") {
        return;
    }
    let Some(to) = probe.header("to") else { return };
    let (id, host) = to.split_once('@').unwrap_or((to.as_str(), ""));
    let user = id.split_once('+').map_or(id, |(_, u)| u);
    let host = if host.is_empty() { domain() } else { host.to_owned() };
    let state = DRIVER.lamp(lamp, user);
    publish(lamp, user, state, &host, probe.header("sub-call-id").as_deref());
}
