//! `app_twinning.so`: mobile twinning for Asterisk 22.
//!
//! Three layers: `twinning-core` decides, `twinning-driver` orchestrates each call (shared
//! with the FreeSWITCH module), and this module translates. `host` is the boundary with
//! Asterisk: safe values over asterisk-sys and every trampoline Asterisk calls, each
//! wrapped so a Rust panic becomes an error return and a log line; all of the module's
//! `unsafe` is there. Everything else here is safe Rust that turns Asterisk callbacks into
//! driver calls and driver commands into Asterisk operations.
//!
//! `host` is a layer: it imports nothing from the modules above it (tests/tests/layers.rs
//! keeps it so). What it calls back is handed to it: the loader's entry points here, the
//! tables of applications, the function, CLI commands, AMI actions and device state
//! providers at registration (lifecycle.rs).

mod host;

mod ami;
mod apps;
mod call;
mod cli_commands;
mod consult;
mod device;
mod dialplan_function;
mod hooks;
mod lamps;
mod lifecycle;
mod midcall;
mod pbx;

/// The module as Asterisk's loader sees it: `host`'s trampolines call these.
struct AppTwinning;

impl host::module::Module for AppTwinning {
    fn load(module: host::module::ModuleHandle) -> bool {
        lifecycle::load(module)
    }

    fn reload() -> bool {
        lifecycle::reload()
    }

    fn unload() -> bool {
        lifecycle::unload()
    }
}

host::module::ast_module_info!(AppTwinning);
