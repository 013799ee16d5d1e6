//! The `twinning` API command, for fs_cli, ESL (`api twinning ...`) and the dialplan
//! (`${twinning(set ${caller_id_number} enabled yes)}`): status, settings changes,
//! handover and the live calls. Replies follow FreeSWITCH's convention: `+OK ...` or
//! `-ERR <reason>`, so scripts can test the first character.

use std::ffi::{c_char, CStr};
use std::time::Instant;

use twinning_core::{printable, UserId};
use twinning_service::api_command::{ApiCommand, USAGE};
use twinning_service::{report, Source};

use super::session::Session;
use super::{call, config, cstr, ffi, guard, logger, state};

pub const NAME: &CStr = c"twinning";
pub const SYNTAX: &CStr =
    c"status [user] | set <user> <field> <value> | handover <user> desk|mobile | calls | reload | help";
pub const DESCRIPTION: &CStr = c"Mobile twinning: settings, handover and live calls";

pub unsafe extern "C" fn api(
    cmd: *const c_char,
    session: *mut ffi::switch_core_session_t,
    stream: *mut ffi::switch_stream_handle_t,
) -> ffi::switch_status_t {
    // SAFETY: FreeSWITCH passes the command text (or NULL) and, from a channel, its session.
    let (line, session) = unsafe { (cstr::borrow(cmd).into_owned(), Session::from_raw(session)) };
    let reply = guard::catch("twinning API", "-ERR internal error\n".to_string(), || run(&line, session));
    write(stream, &reply);
    ffi::SWITCH_STATUS_SUCCESS
}

fn write(stream: *mut ffi::switch_stream_handle_t, text: &str) {
    if stream.is_null() {
        return;
    }
    let text = cstr::owned(text);
    // SAFETY: FreeSWITCH's stream for this API call; write_function copies the formatted
    // text, with "%s" and one string argument.
    unsafe {
        if let Some(write) = (*stream).write_function {
            write(stream, c"%s".as_ptr(), text.as_ptr());
        }
    }
}

fn run(line: &str, session: Option<Session>) -> String {
    let command = match ApiCommand::parse(line) {
        Ok(c) => c,
        Err(e) => return format!("-ERR {e}\n"),
    };
    match command {
        ApiCommand::Help => format!("USAGE: {USAGE}\n"),
        ApiCommand::Status(None) => match state::lock().as_ref() {
            Some(service) => report::users_table(service.settings()),
            None => "-ERR mod_twinning is not loaded\n".into(),
        },
        ApiCommand::Status(Some(user)) => {
            let guard = state::lock();
            let Some(service) = guard.as_ref() else { return "-ERR mod_twinning is not loaded\n".into() };
            let settings = service.settings();
            match (UserId::parse(&user), settings.user(&user)) {
                (Ok(id), Some(u)) => report::user_detail(settings, &id, u),
                _ => format!("-ERR unknown twinning user '{}'\n", printable(&user)),
            }
        }
        ApiCommand::Set { user, field, value } => {
            let source = match session {
                Some(s) => Source::Dialplan { channel: Some(s.name()) },
                None => Source::Esl,
            };
            match state::apply_change(&source, &user, &field, &value) {
                Ok(change) => format!("+OK {}.{} = {}\n", change.user, change.field.name(), change.shown().1),
                Err(e) => format!("-ERR {e}\n"),
            }
        }
        ApiCommand::Handover { user, to } => match call::handover(&user, to) {
            Ok(()) => format!("+OK handover of {} to {} started\n", printable(&user), to.name()),
            Err(e) => format!("-ERR {e}\n"),
        },
        ApiCommand::Calls => state::calls().render(Instant::now()),
        ApiCommand::Reload => match reload() {
            Ok(notes) => format!("+OK twinning.conf reloaded{notes}\n"),
            Err(e) => {
                logger::warning(&format!("twinning reload refused: {e}"));
                format!("-ERR {e}\n")
            }
        },
    }
}

/// Re-reads the configuration; a broken file changes nothing and says why.
pub fn reload() -> Result<String, String> {
    let raw = config::load()?;
    let mut guard = state::lock();
    let service = guard.as_mut().ok_or("mod_twinning is not loaded")?;
    let problems = service.reload(&raw)?;
    for p in &problems {
        logger::warning(&p.to_string());
    }
    Ok(if problems.is_empty() {
        String::new()
    } else {
        format!("; {} runtime override(s) no longer valid and dropped (see the log)", problems.len())
    })
}
