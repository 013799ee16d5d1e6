//! Keeps Rust panics inside a module: unwinding into the host's C frames is undefined
//! behaviour, so each shim runs every callback body here and a panic becomes the
//! callback's error value and an error line in the host's log.

use std::panic::{catch_unwind, AssertUnwindSafe};

/// Runs `body`; if it panics, reports which callback failed through `log_error` and
/// returns `on_panic`.
pub fn catch<R>(callback: &str, on_panic: R, log_error: impl Fn(&str), body: impl FnOnce() -> R) -> R {
    // The shared state a body touches is behind mutexes whose poisoning is handled where
    // they are locked, so observing it after a caught panic is sound.
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
            log_error(&format!("internal error in {callback}: {what}; the request was refused"));
            on_panic
        }
    }
}

/// Debug builds only: `TWINNING_INJECT_PANIC=<callback>[,<callback>...]` in the host's
/// environment makes that callback panic, so tests can prove the panic stops at the guard.
#[cfg(debug_assertions)]
fn fault_injected(callback: &str) -> bool {
    std::env::var("TWINNING_INJECT_PANIC").is_ok_and(|v| v.split(',').any(|c| c == callback))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    #[test]
    fn a_panic_becomes_the_fallback_and_a_log_line() {
        let logged = RefCell::new(Vec::new());
        let r = catch(
            "test callback",
            -1,
            |l| logged.borrow_mut().push(l.to_owned()),
            || -> i32 { panic!("boom") },
        );
        assert_eq!(r, -1);
        assert_eq!(
            logged.borrow().as_slice(),
            ["internal error in test callback: boom; the request was refused"]
        );
        assert_eq!(catch("test callback", -1, |_| unreachable!(), || 7), 7);
    }
}
