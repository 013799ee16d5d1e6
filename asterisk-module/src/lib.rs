//! `app_twinning.so`: mobile twinning for Asterisk 22.
//!
//! Three layers: `twinning-core` decides, `twinning-driver` orchestrates each call (shared
//! with the FreeSWITCH module), and this module translates. `host` is the boundary with
//! Asterisk: safe values over asterisk-sys and every trampoline Asterisk calls, each
//! wrapped so a Rust panic becomes an error return and a log line; all of the module's
//! `unsafe` is there. Everything else here is safe Rust that turns Asterisk callbacks into
//! driver calls and driver commands into Asterisk operations.

mod host;

mod ami;
mod apps;
mod call;
mod cli_commands;
mod device;
mod dialplan_function;
mod hooks;
mod lamps;
mod lifecycle;
mod midcall;
mod pbx;
