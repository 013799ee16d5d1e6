//! FreeSWITCH's logger (`switch_log_printf`) as the `log` crate's backend, so the
//! module's messages reach fs_cli, the console and mod_logfile at their levels.

use twinning_service::host_log::{self, HostLog};

use super::{cstr, ffi};

fn write(level: ffi::switch_log_level_t, message: &str) {
    let message = cstr::owned(message);
    // SAFETY: every pointer is a NUL-terminated string alive for the call; the format is
    // the constant "%s\n" with exactly one string argument.
    unsafe {
        ffi::switch_log_printf(
            ffi::SWITCH_CHANNEL_ID_LOG,
            c"mod_twinning.rs".as_ptr(),
            c"twinning".as_ptr(),
            0,
            std::ptr::null(),
            level,
            c"%s\n".as_ptr(),
            message.as_ptr(),
        );
    }
}

static LOGGER: HostLog = HostLog {
    levels: [ffi::SWITCH_LOG_ERROR, ffi::SWITCH_LOG_WARNING, ffi::SWITCH_LOG_NOTICE, ffi::SWITCH_LOG_DEBUG],
    write,
};

/// FreeSWITCH filters by level itself (`console loglevel`).
pub fn install() {
    host_log::install(&LOGGER);
}
