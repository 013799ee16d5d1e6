//! Keeps Rust panics inside the module: every callback FreeSWITCH makes runs its body under
//! [`catch`], so a panic becomes the callback's error value and an ERROR line in
//! FreeSWITCH's log (see `twinning_service::panic_guard`; debug builds take
//! `TWINNING_INJECT_PANIC=<callback>[,...]` to force one in tests).

/// Runs `body`; if it panics, logs which callback failed and returns `on_panic`.
pub fn catch<R>(callback: &str, on_panic: R, body: impl FnOnce() -> R) -> R {
    twinning_service::panic_guard::catch(callback, on_panic, |m| log::error!("{m}"), body)
}
