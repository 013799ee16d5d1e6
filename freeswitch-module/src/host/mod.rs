//! The boundary with FreeSWITCH: the hand-declared FFI (`ffi`, checked against real
//! headers by crates/freeswitch-ffi-check), safe values over it (sessions, the bridge,
//! events, presence, the configuration tree, the core's variables), the module table and every
//! trampoline FreeSWITCH calls, each running its body under [`guard::catch`]. Every
//! `unsafe` block of the module lives below this module, each with the reason it is sound;
//! everything above it is safe Rust.

pub mod api;
pub mod app;
pub mod bridge;
pub mod channel_events;
pub mod config;
pub mod core;
pub mod cstr;
pub mod events;
pub mod ffi;
pub mod guard;
pub mod keys;
pub mod logger;
pub mod module;
pub mod presence;
pub mod session;
