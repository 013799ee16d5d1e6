//! The API command (`twinning ...` from fs_cli, ESL and `${twinning(...)}`): its
//! registration, and the trampoline that runs a safe body and writes its reply.

use std::ffi::{c_char, CStr};

use super::session::Session;
use super::{cstr, ffi, guard};

pub struct Api {
    pub name: &'static CStr,
    pub description: &'static CStr,
    pub syntax: &'static CStr,
    /// The reply to a command line; with the session when called from a channel.
    pub run: fn(&str, Option<Session>) -> String,
}

pub(super) static API: std::sync::OnceLock<&'static Api> = std::sync::OnceLock::new();

pub(super) unsafe extern "C" fn api(
    cmd: *const c_char,
    session: *mut ffi::switch_core_session_t,
    stream: *mut ffi::switch_stream_handle_t,
) -> ffi::switch_status_t {
    let Some(api) = API.get() else { return ffi::SWITCH_STATUS_FALSE };
    // SAFETY: FreeSWITCH passes the command text (or NULL) and, from a channel, its session.
    let (line, session) = unsafe { (cstr::borrow(cmd).into_owned(), Session::from_raw(session)) };
    let _inside = super::module::THREADS.enter();
    let reply = guard::catch(
        &format!("{} API", api.name.to_string_lossy()),
        "-ERR internal error\n".to_string(),
        || (api.run)(&line, session),
    );
    if !stream.is_null() {
        let text = cstr::owned(&reply);
        // SAFETY: FreeSWITCH's stream for this API call; write_function copies the
        // formatted text, with "%s" and one string argument.
        unsafe {
            if let Some(write) = (*stream).write_function {
                write(stream, c"%s".as_ptr(), text.as_ptr());
            }
        }
    }
    ffi::SWITCH_STATUS_SUCCESS
}
