//! Asterisk's logger (`ast_log`) as the `log` crate's backend, so the module's messages
//! land in the admin's usual log channels with their usual levels.

use std::ffi::c_int;

use asterisk_sys as sys;
use twinning_service::host_log::{self, HostLog};

use super::cstr;

fn write(level: c_int, message: &str) {
    let message = cstr::owned(message);
    // SAFETY: every pointer is a NUL-terminated string alive for the call, and the format
    // is the constant "%s" with exactly one string argument.
    unsafe {
        sys::ast_log(
            level as c_int,
            c"app_twinning".as_ptr(),
            0,
            c"twinning".as_ptr(),
            c"%s".as_ptr(),
            message.as_ptr(),
        );
    }
}

static LOGGER: HostLog = HostLog {
    levels: [
        sys::__LOG_ERROR as c_int,
        sys::__LOG_WARNING as c_int,
        sys::__LOG_NOTICE as c_int,
        sys::__LOG_DEBUG as c_int,
    ],
    write,
};

/// Asterisk filters by level itself (`core set debug`).
pub fn install() {
    host_log::install(&LOGGER);
}
