//! The boundary with Asterisk: safe values over asterisk-sys (channels, bridges, the
//! registration of applications, functions, CLI commands, AMI actions and device state
//! providers, the loader, the logger, AstDB, the config loader) and every trampoline
//! Asterisk calls, each running its body under [`guard::catch`]. Every `unsafe` block of the module lives below this module,
//! each with the reason it is sound; everything above it is safe Rust.

pub mod app;
pub mod astdb;
pub mod bridge;
pub mod cdr;
pub mod channel;
pub mod cli;
pub mod clock;
pub mod config;
pub mod cstr;
pub mod devstate;
pub mod function;
pub mod guard;
pub mod logger;
pub mod manager;
pub mod module;
pub mod paths;
pub mod prometheus;
pub mod thread;
