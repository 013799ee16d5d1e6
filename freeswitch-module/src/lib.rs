//! `mod_twinning.so`: mobile twinning for FreeSWITCH 1.10.
//!
//! Three layers: `twinning-core` decides, `twinning-driver` orchestrates each call (shared
//! with the Asterisk module), and this module translates. `host` is the boundary with
//! FreeSWITCH: the FFI, safe values over it and every trampoline FreeSWITCH calls, each
//! wrapped so a Rust panic becomes an error return and a log line; all of the module's
//! `unsafe` is there. Everything else here is safe Rust that turns FreeSWITCH callbacks
//! into driver calls and driver commands into FreeSWITCH operations.
//!
//! `host` is a layer: it imports nothing from the modules above it (tests/tests/layers.rs
//! keeps it so). What it calls back is handed to it: the load and shutdown here, and the
//! tables of applications and the API command that load returns (lifecycle.rs).

mod host;

mod api_command;
mod apps;
mod call;
mod device;
mod hooks;
mod lamps;
mod leg;
mod lifecycle;
mod pbx;
mod wakeups;

/// The module as FreeSWITCH's loader sees it: `host`'s trampolines call these.
struct ModTwinning;

impl host::module::Module for ModTwinning {
    fn load() -> Result<host::module::Interfaces, String> {
        lifecycle::load()
    }

    fn shutdown() -> bool {
        lifecycle::shutdown()
    }
}

host::module::switch_module_definition!(ModTwinning);
