//! The `twinning` API command, for fs_cli, ESL (`api twinning ...`) and the dialplan
//! (`${twinning(set ${caller_id_number} enabled yes)}`): status, settings changes,
//! handover and the live calls. Replies follow FreeSWITCH's convention: `+OK ...` or
//! `-ERR <reason>`, so scripts can test the first character.

use twinning_core::lamp::{Lamp, LampState};
use twinning_core::printable;
use twinning_service::api_command::{ApiCommand, USAGE};
use twinning_service::Source;

use crate::host::api::Api;
use crate::host::config;
use crate::host::session::Session;
use crate::pbx::DRIVER;

pub static API: Api = Api {
    name: c"twinning",
    description: c"Mobile twinning: settings, handover and live calls",
    syntax:
        c"status [user] | set <user> <field> <value> | set-as <agent> <user> <field> <value> | handover <user> desk|mobile|mobile2..10 [<agent>] | state <user> | calls | store | metrics | checkpin <user> <pin> [<agent>] | reload | help",
    run,
};

fn run(line: &str, session: Option<Session>) -> String {
    let command = match ApiCommand::parse(line) {
        Ok(c) => c,
        Err(e) => return format!("-ERR {e}\n"),
    };
    let reply = match command {
        ApiCommand::Help => Ok(format!("USAGE: {USAGE}\n")),
        ApiCommand::Status(None) => DRIVER.users_report(),
        ApiCommand::Status(Some(user)) => DRIVER.user_report(&user),
        ApiCommand::Set { user, field, value } => {
            let source = match session {
                Some(s) => Source::Dialplan {
                    channel: Some(crate::device::channel_label(s)),
                    device: crate::device::of(s),
                },
                None => Source::Esl,
            };
            DRIVER
                .apply_change(&source, &user, &field, &value)
                .map(|change| format!("+OK {}.{} = {}\n", change.user, change.field.name(), change.shown().1))
                .map_err(|e| e.to_string())
        }
        ApiCommand::SetAs { agent, user, field, value } => Source::agent(&agent).and_then(|source| {
            DRIVER
                .apply_change(&source, &user, &field, &value)
                .map(|change| format!("+OK {}.{} = {}\n", change.user, change.field.name(), change.shown().1))
                .map_err(|e| e.to_string())
        }),
        ApiCommand::Metrics => Ok(DRIVER.metrics_text()),
        ApiCommand::CheckPin { user, pin, agent } => {
            let source = match agent.as_deref().map(Source::agent) {
                Some(Err(e)) => return format!("-ERR {e}\n"),
                Some(Ok(s)) => s.label(),
                None => "esl".into(),
            };
            DRIVER.check_pin(&user, &pin, &source).map(|r| format!("+OK {}\n", r.name()))
        }
        ApiCommand::Handover { user, to, agent } => {
            let source = match agent.as_deref().map(Source::agent) {
                Some(Err(e)) => return format!("-ERR {e}\n"),
                Some(Ok(s)) => s,
                None => Source::Esl,
            };
            DRIVER
                .handover(&user, to, &source)
                .map(|()| format!("+OK handover of {} to {} started\n", printable(&user), to.name()))
        }
        ApiCommand::State(user) => lamp_states(&user),
        ApiCommand::Calls => Ok(DRIVER.calls_report()),
        ApiCommand::Store => DRIVER.store_report(),
        ApiCommand::Reload => {
            reload().map(|notes| format!("+OK twinning.conf reloaded{notes}\n")).inspect_err(|e| {
                log::warn!("twinning reload refused: {e}");
            })
        }
    };
    reply.unwrap_or_else(|e| format!("-ERR {e}\n"))
}

/// Both lamps of `user`, one per line, as their presence ids and Asterisk's state names.
fn lamp_states(user: &str) -> Result<String, String> {
    let states: Vec<(Lamp, LampState)> = Lamp::ALL.iter().map(|l| (*l, DRIVER.lamp(*l, user))).collect();
    if states.iter().all(|(_, s)| *s == LampState::Invalid) {
        return Err(format!("unknown twinning user '{}' (its lamps read INVALID)", printable(user)));
    }
    Ok(states.iter().map(|(l, s)| format!("{}+{user}: {s}\n", l.presence_prefix())).collect())
}

/// Re-reads the configuration; a broken file changes nothing and says why.
pub fn reload() -> Result<String, String> {
    let reloaded = DRIVER.reload(&config::load()?)?;
    Ok(match reloaded.dropped {
        0 => String::new(),
        n => format!("; {n} runtime override(s) no longer valid and dropped (see the log)"),
    })
}
