//! Keeps Rust panics inside the module: unwinding into FreeSWITCH's C frames is undefined
//! behaviour, so every callback body runs here and a panic becomes the callback's error
//! value and an ERROR line in FreeSWITCH's log.

use std::panic::{catch_unwind, AssertUnwindSafe};

/// Runs `body`; if it panics, logs which callback failed and returns `on_panic`.
pub fn catch<R>(callback: &str, on_panic: R, body: impl FnOnce() -> R) -> R {
    // Shared state is behind mutexes whose poisoning is handled where they are locked.
    let body = || {
        #[cfg(debug_assertions)]
        if fault_injected(callback) {
            panic!("fault injected by TWINNING_INJECT_PANIC");
        }
        body()
    };
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(r) => r,
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            super::logger::error(&format!("internal error in {callback}: {what}; the request was refused"));
            on_panic
        }
    }
}

/// Debug builds only: `TWINNING_INJECT_PANIC=<callback>[,<callback>...]` in FreeSWITCH's
/// environment makes that callback panic, so tests can prove the panic stops here.
#[cfg(debug_assertions)]
fn fault_injected(callback: &str) -> bool {
    std::env::var("TWINNING_INJECT_PANIC").is_ok_and(|v| v.split(',').any(|c| c == callback))
}
