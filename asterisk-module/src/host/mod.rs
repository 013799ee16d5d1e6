//! The boundary with Asterisk. Every `unsafe` block of the module lives below this module,
//! each with the reason it is sound; every function Asterisk calls is an `extern "C"`
//! trampoline that runs its body under [`guard::catch`].

pub mod app;
pub mod astdb;
pub mod authenticate;
pub mod call;
pub mod channel;
pub mod cli;
pub mod clock;
pub mod config;
pub mod cstr;
pub mod function;
pub mod guard;
pub mod logger;
pub mod manager;
pub mod module;
pub mod paths;
pub mod state;
