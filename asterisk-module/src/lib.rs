//! `app_twinning.so`: mobile twinning for Asterisk 22.
//!
//! The module is a shim. `host` is the boundary with Asterisk (every `unsafe` block, every
//! callback Asterisk makes, each wrapped so a Rust panic becomes an error return and a log
//! line); `service` is the module's own state, in safe Rust, and hands every decision to
//! `twinning-core`.

mod host;
pub mod service;
