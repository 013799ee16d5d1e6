//! `mod_twinning.so`: mobile twinning for FreeSWITCH 1.10.
//!
//! Three layers: `twinning-core` decides, `twinning-driver` orchestrates each call (shared
//! with the Asterisk module), and this module translates. `host` is the boundary with
//! FreeSWITCH: the FFI, safe values over it and every trampoline FreeSWITCH calls, each
//! wrapped so a Rust panic becomes an error return and a log line; all of the module's
//! `unsafe` is there. Everything else here is safe Rust that turns FreeSWITCH callbacks
//! into driver calls and driver commands into FreeSWITCH operations.

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
