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
//!
//! What load and shutdown do belongs to the layer above: it implements [`Module`] and names
//! that type once in [`switch_module_definition!`] (in lib.rs), which exports the table for
//! it. The trampolines here are generic over it, so `host` imports nothing above itself.

use std::ffi::CStr;

use twinning_driver::threads::{Body, ModuleThreads, NativeThread};

use super::api::Api;
use super::app::{Application, COUNT};
use super::{api, app, ffi, guard, logger};

const MODULE_NAME: &CStr = c"mod_twinning";

/// The module's own load and shutdown, which FreeSWITCH's trampolines call under
/// [`guard::catch`]; implemented above `host` and handed to it by
/// [`switch_module_definition!`].
pub trait Module {
    /// Starts the module; the applications and the API command to register.
    fn load() -> Result<Interfaces, String>;
    /// Ends every call and waits for the module to be idle; true when the code may be
    /// unmapped.
    fn shutdown() -> bool;
}

/// What load registers with FreeSWITCH: the dialplan applications and the API command.
pub type Interfaces = (&'static [Application; COUNT], &'static Api);

/// FreeSWITCH's `SWITCH_MODULE_DEFINITION` for a type implementing [`Module`]: the
/// `mod_twinning_module_interface` table FreeSWITCH looks up in the loaded image. Used
/// once, in lib.rs.
macro_rules! switch_module_definition {
    ($module:ty) => {
        #[no_mangle]
        #[allow(non_upper_case_globals)]
        pub static mod_twinning_module_interface: $crate::host::ffi::switch_loadable_module_function_table =
            $crate::host::module::function_table::<$module>();
    };
}
pub(crate) use switch_module_definition;

/// The table [`switch_module_definition!`] exports, with `M`'s trampolines.
pub const fn function_table<M: Module>() -> ffi::switch_loadable_module_function_table {
    ffi::switch_loadable_module_function_table {
        switch_api_version: ffi::SWITCH_API_VERSION,
        load: Some(load::<M>),
        shutdown: Some(shutdown::<M>),
        // Nothing to run in the background: calls run on their sessions' threads.
        runtime: None,
        flags: ffi::SMODF_NONE,
    }
}

/// The module's threads and the callbacks running its code (see `twinning_driver::threads`).
pub static THREADS: ModuleThreads = ModuleThreads::new(start_native);

/// Starts `body` on a plain POSIX thread, for the spawner (see `twinning_driver::threads`).
fn start_native(body: Body) -> Result<NativeThread, String> {
    let data = Box::into_raw(Box::new(body));
    let mut thread: libc::pthread_t = 0;
    // SAFETY: `run_native` receives `data` and takes ownership of it exactly once; on
    // failure no thread got it and it is freed here.
    let rc = unsafe { libc::pthread_create(&mut thread, std::ptr::null(), run_native, data.cast()) };
    if rc != 0 {
        // SAFETY: as above.
        drop(unsafe { Box::from_raw(data) });
        return Err(format!("pthread_create failed ({rc})"));
    }
    Ok(NativeThread::new(move || {
        // SAFETY: a joinable thread we created, joined once.
        unsafe {
            libc::pthread_join(thread, std::ptr::null_mut());
        }
    }))
}

extern "C" fn run_native(data: *mut std::ffi::c_void) -> *mut std::ffi::c_void {
    // SAFETY: `data` is the boxed body from `start_native`, handed to this thread alone.
    let body = unsafe { Box::from_raw(data.cast::<Body>()) };
    guard::catch("module thread", (), body);
    std::ptr::null_mut()
}

unsafe extern "C" fn load<M: Module>(
    module_interface: *mut *mut ffi::switch_loadable_module_interface_t,
    pool: *mut ffi::switch_memory_pool_t,
) -> ffi::switch_status_t {
    guard::catch("module load", ffi::SWITCH_STATUS_FALSE, || {
        logger::install();
        let (apps, api) = match M::load() {
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
                (*i).flags = if a.without_media { ffi::SAF_SUPPORT_NOMEDIA } else { ffi::SAF_NONE };
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

unsafe extern "C" fn shutdown<M: Module>() -> ffi::switch_status_t {
    guard::catch("module shutdown", ffi::SWITCH_STATUS_NOUNLOAD, || {
        if M::shutdown() {
            ffi::SWITCH_STATUS_SUCCESS
        } else {
            log::warn!("mod_twinning: calls did not end in time; the module stays loaded");
            ffi::SWITCH_STATUS_NOUNLOAD
        }
    })
}
