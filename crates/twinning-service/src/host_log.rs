//! The `log` crate's records, handed to a PBX's own logger: each module installs one
//! [`HostLog`] with the function that writes a line at a level into the host's log, so
//! messages from the module, the driver and the core reach the admin's usual log channels
//! (Asterisk's logger.conf, FreeSWITCH's console and logfile) at their usual levels, and
//! the host filters them itself.

/// The host's own level numbers for error, warning, info (the host's notice) and debug,
/// and the function that writes a message at one of them.
pub struct HostLog {
    pub levels: [i32; 4],
    pub write: fn(i32, &str),
}

impl log::Log for HostLog {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }

    fn log(&self, record: &log::Record) {
        let level = match record.level() {
            log::Level::Error => self.levels[0],
            log::Level::Warn => self.levels[1],
            log::Level::Info => self.levels[2],
            log::Level::Debug | log::Level::Trace => self.levels[3],
        };
        (self.write)(level, &record.args().to_string());
    }

    fn flush(&self) {}
}

/// Routes the `log` crate to `logger`. Installing again (a module loaded a second time
/// into the same process) keeps the first, which is the same function.
pub fn install(logger: &'static HostLog) {
    let _ = log::set_logger(logger);
    log::set_max_level(log::LevelFilter::Debug);
}
