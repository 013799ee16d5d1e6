//! Dialplan applications: registration, and the trampolines that run a safe Rust body for
//! each with the calling channel and its argument string, under the panic guard.

use std::ffi::{c_char, c_int, CStr};

use asterisk_sys as sys;

use super::channel::Channel;
use super::module::ModuleHandle;
use super::{cstr, guard};

/// What the dialplan does after an application: go on, or end (the caller has gone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Hangup,
}

impl Flow {
    /// `Hangup` once the channel has been asked to hang up, as Dial does.
    pub fn after(chan: &Channel) -> Flow {
        if chan.hung_up() {
            Flow::Hangup
        } else {
            Flow::Continue
        }
    }
}

pub struct Application {
    pub name: &'static CStr,
    pub run: fn(&Channel, &str) -> Flow,
    /// What to leave on the channel when `run` panicked (e.g. the status variable).
    pub on_panic: fn(&Channel),
}

/// The module's applications, registered in this order; the trampolines index it.
pub const COUNT: usize = 6;

static APPLICATIONS: std::sync::OnceLock<&'static [Application; COUNT]> = std::sync::OnceLock::new();

type Exec = unsafe extern "C" fn(*mut sys::ast_channel, *const c_char) -> c_int;
const EXECS: [Exec; COUNT] = [exec::<0>, exec::<1>, exec::<2>, exec::<3>, exec::<4>, exec::<5>];

pub fn register(module: ModuleHandle, apps: &'static [Application; COUNT]) -> Result<(), String> {
    let apps = *APPLICATIONS.get_or_init(|| apps);
    for (app, exec) in apps.iter().zip(EXECS) {
        // SAFETY: static name (Asterisk keeps the pointer); NULL synopsis and description
        // make Asterisk load the XML documentation; `module` is our handle.
        let rc = unsafe {
            sys::ast_register_application2(
                app.name.as_ptr(),
                Some(exec),
                std::ptr::null(),
                std::ptr::null(),
                module.raw().cast(),
            )
        };
        if rc != 0 {
            unregister();
            return Err(format!("could not register the {} application", app.name.to_string_lossy()));
        }
    }
    Ok(())
}

pub fn unregister() {
    for app in APPLICATIONS.get().into_iter().flat_map(|a| a.iter()) {
        // SAFETY: static name; unregistering an unregistered application is a no-op.
        unsafe {
            sys::ast_unregister_application(app.name.as_ptr());
        }
    }
}

unsafe extern "C" fn exec<const I: usize>(chan: *mut sys::ast_channel, data: *const c_char) -> c_int {
    let Some(app) = APPLICATIONS.get().map(|a| &a[I]) else { return -1 };
    // SAFETY: Asterisk runs an application with a live channel and its argument string.
    let (chan, data) = unsafe { (Channel::from_raw(chan), cstr::borrow(data).into_owned()) };
    let Some(chan) = chan else { return -1 };
    let name = app.name.to_string_lossy();
    let flow = guard::catch(&format!("{name}()"), None, || Some((app.run)(&chan, &data)));
    match flow {
        Some(Flow::Continue) => 0,
        Some(Flow::Hangup) => -1,
        None => {
            (app.on_panic)(&chan);
            0
        }
    }
}
