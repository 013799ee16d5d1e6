//! Dialplan applications: the table registered at load, and the trampolines that run a
//! safe Rust body for each with its session and argument string, under the panic guard.

use std::ffi::{c_char, CStr};

use super::session::Session;
use super::{cstr, ffi, guard};

pub struct Application {
    pub name: &'static CStr,
    pub description: &'static CStr,
    pub syntax: &'static CStr,
    pub run: fn(Session, &str),
    /// What to leave on the channel when `run` panicked (e.g. the status variable).
    pub on_panic: fn(Session),
    /// Runs on a channel with no media yet. Without it FreeSWITCH pre-answers the channel
    /// (183 with its own SDP) before the application starts; with it the application
    /// gives the caller ringing (180) and media when it bridges, as `bridge` does.
    pub without_media: bool,
}

pub const COUNT: usize = 6;

pub(super) type AppFunction = unsafe extern "C" fn(*mut ffi::switch_core_session_t, *const c_char);
pub(super) const FUNCTIONS: [AppFunction; COUNT] =
    [exec::<0>, exec::<1>, exec::<2>, exec::<3>, exec::<4>, exec::<5>];

pub(super) static APPLICATIONS: std::sync::OnceLock<&'static [Application; COUNT]> =
    std::sync::OnceLock::new();

unsafe extern "C" fn exec<const I: usize>(session: *mut ffi::switch_core_session_t, data: *const c_char) {
    let Some(app) = APPLICATIONS.get().map(|a| &a[I]) else { return };
    // SAFETY: FreeSWITCH runs an application with its live session and argument string.
    let (session, data) = unsafe { (Session::from_raw(session), cstr::borrow(data).into_owned()) };
    let Some(session) = session else { return };
    let _inside = super::module::THREADS.enter();
    let done = guard::catch(&format!("{} app", app.name.to_string_lossy()), false, || {
        (app.run)(session, &data);
        true
    });
    if !done {
        (app.on_panic)(session);
    }
}
