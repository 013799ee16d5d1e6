//! Logging into Asterisk's logger (`ast_log`), both directly and as the `log` crate's
//! backend, so messages land in the admin's usual log channels with their usual levels.

use std::ffi::{c_char, c_int};

use asterisk_sys as sys;

use super::cstr;

const FILE: &std::ffi::CStr = c"app_twinning";

fn emit(level: u32, function: &str, message: &str) {
    let function = cstr::owned(function);
    let message = cstr::owned(message);
    // SAFETY: every pointer is a NUL-terminated string alive for the call, and the format
    // is the constant "%s" with exactly one string argument.
    unsafe {
        sys::ast_log(
            level as c_int,
            FILE.as_ptr(),
            0,
            function.as_ptr(),
            c"%s".as_ptr(),
            message.as_ptr() as *const c_char,
        );
    }
}

pub fn error(message: &str) {
    emit(sys::__LOG_ERROR, "twinning", message);
}

pub fn warning(message: &str) {
    emit(sys::__LOG_WARNING, "twinning", message);
}

pub fn notice(message: &str) {
    emit(sys::__LOG_NOTICE, "twinning", message);
}

struct AsteriskLogger;

impl log::Log for AsteriskLogger {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }

    fn log(&self, record: &log::Record) {
        let level = match record.level() {
            log::Level::Error => sys::__LOG_ERROR,
            log::Level::Warn => sys::__LOG_WARNING,
            log::Level::Info => sys::__LOG_NOTICE,
            log::Level::Debug | log::Level::Trace => sys::__LOG_DEBUG,
        };
        emit(level, record.target(), &record.args().to_string());
    }

    fn flush(&self) {}
}

static LOGGER: AsteriskLogger = AsteriskLogger;

/// Routes the `log` crate to Asterisk. Asterisk filters by level itself (`core set debug`).
pub fn install() {
    // Fails only if already installed by an earlier load of this same image; harmless.
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(log::LevelFilter::Debug);
}
