//! `mod_twinning.so`: mobile twinning for FreeSWITCH 1.10.
//!
//! The module is a shim, built like the Asterisk one: `host` is the boundary with
//! FreeSWITCH (every `unsafe` block, every callback, each under a panic guard); decisions
//! come from `twinning-core`, settings state, durability and reports from
//! `twinning-service`. Calls stay in FreeSWITCH's own media path: legs are placed with
//! `switch_ivr_originate` and bridged with `switch_ivr_multi_threaded_bridge`.

mod host;
