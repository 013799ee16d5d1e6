//! What FreeSWITCH loads: the `mod_twinning_module_interface` table that
//! `SWITCH_MODULE_DEFINITION` would export, the load function that registers the
//! applications and the API, and the shutdown function; and the accounting that keeps
//! the module's code mapped while any thread may still run it.
//!
//! FreeSWITCH unmaps a module after its shutdown function unless that returns
//! `SWITCH_STATUS_NOUNLOAD`, also at `fsctl shutdown`. So shutdown hangs up every call and
//! waits for every thread the module started to have exited (joined, not merely counted),
//! and for every callback in progress to return; only then may the code go. If that does
//! not happen in time, it answers NOUNLOAD and the module stays mapped.

use std::ffi::CStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{api, app, ffi, guard, logger};

const MODULE_NAME: &CStr = c"mod_twinning";

#[no_mangle]
#[allow(non_upper_case_globals)]
pub static mod_twinning_module_interface: ffi::switch_loadable_module_function_table =
    ffi::switch_loadable_module_function_table {
        switch_api_version: ffi::SWITCH_API_VERSION,
        load: Some(load),
        shutdown: Some(shutdown),
        // Nothing to run in the background: calls run on their sessions' threads.
        runtime: None,
        flags: ffi::SMODF_NONE,
    };

/// Callbacks (applications, the API) running module code now.
static INSIDE: AtomicUsize = AtomicUsize::new(0);

/// Held while FreeSWITCH runs a callback of this module.
pub struct Inside(());

impl Inside {
    pub fn enter() -> Inside {
        INSIDE.fetch_add(1, Ordering::SeqCst);
        Inside(())
    }
}

impl Drop for Inside {
    fn drop(&mut self) {
        INSIDE.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Threads the module started; joined before its code may be unmapped.
static THREADS: Mutex<Vec<JoinHandle<()>>> = Mutex::new(Vec::new());

/// Starts a thread the module's shutdown will wait for.
pub fn spawn(name: &str, body: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
    let handle = std::thread::Builder::new().name(name.into()).spawn(body)?;
    let mut threads = THREADS.lock().unwrap_or_else(PoisonError::into_inner);
    // Those that are done are reaped as new ones start, so the list stays short.
    threads.retain(|t| !t.is_finished());
    threads.push(handle);
    Ok(())
}

/// Waits until every thread the module started has exited and no callback is in
/// progress but `allowed`, for `timeout` at most.
pub fn wait_until_idle(allowed: usize, timeout: Duration) -> bool {
    let until = Instant::now() + timeout;
    loop {
        let finished: Vec<JoinHandle<()>> = {
            let mut threads = THREADS.lock().unwrap_or_else(PoisonError::into_inner);
            let (done, running): (Vec<_>, Vec<_>) = threads.drain(..).partition(|t| t.is_finished());
            *threads = running;
            done
        };
        for t in finished {
            let _ = t.join();
        }
        let running = THREADS.lock().unwrap_or_else(PoisonError::into_inner).len();
        if running == 0 && INSIDE.load(Ordering::SeqCst) <= allowed {
            return true;
        }
        if Instant::now() > until {
            log::warn!(
                "mod_twinning: {running} thread(s) and {} callback(s) still running",
                INSIDE.load(Ordering::SeqCst).saturating_sub(allowed)
            );
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

unsafe extern "C" fn load(
    module_interface: *mut *mut ffi::switch_loadable_module_interface_t,
    pool: *mut ffi::switch_memory_pool_t,
) -> ffi::switch_status_t {
    guard::catch("module load", ffi::SWITCH_STATUS_FALSE, || {
        logger::install();
        let (apps, api) = match crate::lifecycle::load() {
            Ok(interfaces) => interfaces,
            Err(e) => {
                log::error!("mod_twinning not loaded: {e}");
                return ffi::SWITCH_STATUS_FALSE;
            }
        };
        let apps = *app::APPLICATIONS.get_or_init(|| apps);
        let api = *api::API.get_or_init(|| api);
        // SAFETY: FreeSWITCH passes the out-pointer and the module's pool; the interfaces
        // are allocated from the pool and filled in the way SWITCH_ADD_APP / SWITCH_ADD_API
        // do, with static strings and our trampolines.
        unsafe {
            let module = ffi::switch_loadable_module_create_module_interface(pool, MODULE_NAME.as_ptr());
            if module.is_null() {
                return ffi::SWITCH_STATUS_FALSE;
            }
            *module_interface = module;
            for (a, function) in apps.iter().zip(app::FUNCTIONS) {
                let i =
                    ffi::switch_loadable_module_create_interface(module, ffi::SWITCH_APPLICATION_INTERFACE)
                        .cast::<ffi::switch_application_interface>();
                if i.is_null() {
                    return ffi::SWITCH_STATUS_FALSE;
                }
                (*i).interface_name = a.name.as_ptr();
                (*i).application_function = Some(function);
                (*i).short_desc = a.description.as_ptr();
                (*i).long_desc = a.description.as_ptr();
                (*i).syntax = a.syntax.as_ptr();
                (*i).flags = 0;
            }
            let i = ffi::switch_loadable_module_create_interface(module, ffi::SWITCH_API_INTERFACE)
                .cast::<ffi::switch_api_interface>();
            if i.is_null() {
                return ffi::SWITCH_STATUS_FALSE;
            }
            (*i).interface_name = api.name.as_ptr();
            (*i).desc = api.description.as_ptr();
            (*i).function = Some(api::api);
            (*i).syntax = api.syntax.as_ptr();
        }
        log::info!("mod_twinning loaded");
        ffi::SWITCH_STATUS_SUCCESS
    })
}

unsafe extern "C" fn shutdown() -> ffi::switch_status_t {
    guard::catch("module shutdown", ffi::SWITCH_STATUS_NOUNLOAD, || {
        if crate::lifecycle::shutdown() {
            ffi::SWITCH_STATUS_SUCCESS
        } else {
            log::warn!("mod_twinning: calls did not end in time; the module stays loaded");
            ffi::SWITCH_STATUS_NOUNLOAD
        }
    })
}
