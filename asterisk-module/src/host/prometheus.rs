//! The module's metrics in Asterisk's own `/metrics` (res_prometheus), next to its channel
//! metrics, when res_prometheus is loaded; without it the module loads all the same and
//! its metrics are still read over AMI (`TwinningMetrics`). res_prometheus's functions are
//! looked up in the running process rather than linked: a hard link would stop the module
//! loading wherever res_prometheus is absent or disabled.

use std::ffi::{c_int, CStr};
use std::sync::Mutex;

use asterisk_sys as sys;

use super::{cstr, guard};

type Register = unsafe extern "C" fn(*mut sys::prometheus_callback) -> c_int;
type Unregister = unsafe extern "C" fn(*mut sys::prometheus_callback);

/// The registered callback: Asterisk keeps the pointer, so it lives on the heap from
/// register to unregister, with the function that takes it back.
struct Registration {
    callback: *mut sys::prometheus_callback,
    unregister: Unregister,
}

// SAFETY: only used at load and unload, which Asterisk serialises.
unsafe impl Send for Registration {}

static REGISTERED: Mutex<Option<Registration>> = Mutex::new(None);
static RENDER: std::sync::OnceLock<fn() -> String> = std::sync::OnceLock::new();

const NAME: &CStr = c"twinning";

/// Registers `render` (the metrics in Prometheus text) with res_prometheus if it is loaded.
/// Whether it was.
pub fn register(render: fn() -> String) -> bool {
    let _ = RENDER.set(render);
    let this = libloading::os::unix::Library::this();
    // SAFETY: the symbols, if present, are res_prometheus's functions with these signatures
    // (res_prometheus.h, Asterisk 22); the library handle is the process itself.
    let found = unsafe {
        (
            this.get::<Register>(b"prometheus_callback_register\0"),
            this.get::<Unregister>(b"prometheus_callback_unregister\0"),
        )
    };
    let (Ok(register), Ok(unregister)) = found else {
        log::info!("twinning: res_prometheus is not loaded; the metrics are read with AMI TwinningMetrics");
        return false;
    };
    let callback = Box::into_raw(Box::new(sys::prometheus_callback {
        name: NAME.as_ptr(),
        callback_fn: Some(render_into),
    }));
    // SAFETY: a valid callback that stays allocated until `unregister`.
    if unsafe { register(callback) } != 0 {
        // SAFETY: not registered, so not kept.
        drop(unsafe { Box::from_raw(callback) });
        log::warn!("twinning: res_prometheus refused the metrics callback");
        return false;
    }
    *REGISTERED.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
        Some(Registration { callback, unregister: *unregister });
    true
}

pub fn unregister() {
    let Some(r) = REGISTERED.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take() else { return };
    // SAFETY: registered by `register`; once unregistered res_prometheus keeps no pointer.
    unsafe {
        (r.unregister)(r.callback);
        drop(Box::from_raw(r.callback));
    }
}

unsafe extern "C" fn render_into(output: *mut *mut sys::ast_str) {
    guard::catch("res_prometheus callback", (), || {
        let Some(render) = RENDER.get() else { return };
        let text = cstr::owned(&render());
        // SAFETY: res_prometheus passes its output string, valid for this call.
        unsafe { sys::twinning_str_append(output, text.as_ptr()) };
    })
}
