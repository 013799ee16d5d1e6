//! The boundary with FreeSWITCH. Every `unsafe` block of the module lives below this
//! module, each with the reason it is sound; every function FreeSWITCH calls is an
//! `extern "C"` trampoline that runs its body under [`guard::catch`].

pub mod api;
pub mod app;
pub mod authenticate;
pub mod call;
pub mod config;
pub mod cstr;
pub mod events;
pub mod ffi;
pub mod guard;
pub mod logger;
pub mod module;
pub mod session;
pub mod state;
