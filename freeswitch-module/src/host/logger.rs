//! Logging into FreeSWITCH's logger (`switch_log_printf`), directly and as the `log`
//! crate's backend, so messages reach fs_cli, the console and mod_logfile at their levels.

use std::ffi::CStr;

use super::{cstr, ffi};

const FILE: &CStr = c"mod_twinning.rs";

fn emit(level: ffi::switch_log_level_t, function: &str, message: &str) {
    let function = cstr::owned(function);
    let message = cstr::owned(message);
    // SAFETY: every pointer is a NUL-terminated string alive for the call; the format is
    // the constant "%s\n" with exactly one string argument.
    unsafe {
        ffi::switch_log_printf(
            ffi::SWITCH_CHANNEL_ID_LOG,
            FILE.as_ptr(),
            function.as_ptr(),
            0,
            std::ptr::null(),
            level,
            c"%s\n".as_ptr(),
            message.as_ptr(),
        );
    }
}

pub fn error(message: &str) {
    emit(ffi::SWITCH_LOG_ERROR, "twinning", message);
}

pub fn warning(message: &str) {
    emit(ffi::SWITCH_LOG_WARNING, "twinning", message);
}

pub fn notice(message: &str) {
    emit(ffi::SWITCH_LOG_NOTICE, "twinning", message);
}

struct FreeSwitchLogger;

impl log::Log for FreeSwitchLogger {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }

    fn log(&self, record: &log::Record) {
        let level = match record.level() {
            log::Level::Error => ffi::SWITCH_LOG_ERROR,
            log::Level::Warn => ffi::SWITCH_LOG_WARNING,
            log::Level::Info => ffi::SWITCH_LOG_INFO,
            log::Level::Debug | log::Level::Trace => ffi::SWITCH_LOG_DEBUG,
        };
        emit(level, record.target(), &record.args().to_string());
    }

    fn flush(&self) {}
}

static LOGGER: FreeSwitchLogger = FreeSwitchLogger;

/// Routes the `log` crate to FreeSWITCH, which filters by level itself (`console loglevel`).
pub fn install() {
    // Fails only if already installed by an earlier load of this same image; harmless.
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(log::LevelFilter::Debug);
}
