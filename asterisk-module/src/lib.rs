//! `app_twinning.so`: mobile twinning for Asterisk 22.
//!
//! The module is a shim. `host` is the boundary with Asterisk: every `unsafe` block, every
//! callback Asterisk makes, each wrapped so a Rust panic becomes an error return and a log
//! line. Decisions come from `twinning-core`; settings state, durability and reports from
//! `twinning-service`, which the FreeSWITCH module shares.

mod host;
