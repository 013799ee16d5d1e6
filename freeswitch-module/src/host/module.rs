//! What FreeSWITCH loads: the `mod_twinning_module_interface` table that
//! `SWITCH_MODULE_DEFINITION` would export, the load function that registers the
//! application, the API and the event subclasses, and the shutdown function.
//!
//! Unloading with calls up: FreeSWITCH holds the module's lock while one of its
//! applications runs, so `unload mod_twinning` answers "Module in use" during a call; the
//! shutdown function also refuses while any thread the module started is still running.

use std::ffi::CStr;

use twinning_service::Service;

use super::{api, app, call, config, events, ffi, guard, logger, state};

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

unsafe extern "C" fn load(
    module_interface: *mut *mut ffi::switch_loadable_module_interface_t,
    pool: *mut ffi::switch_memory_pool_t,
) -> ffi::switch_status_t {
    guard::catch("module load", ffi::SWITCH_STATUS_FALSE, || {
        logger::install();
        if let Err(e) = start() {
            logger::error(&format!("mod_twinning not loaded: {e}"));
            return ffi::SWITCH_STATUS_FALSE;
        }
        // SAFETY: FreeSWITCH passes the out-pointer and the module's pool; the interface is
        // allocated from the pool and filled in the way SWITCH_ADD_APP / SWITCH_ADD_API do,
        // with static strings and our trampolines.
        unsafe {
            let module = ffi::switch_loadable_module_create_module_interface(pool, MODULE_NAME.as_ptr());
            if module.is_null() {
                return ffi::SWITCH_STATUS_FALSE;
            }
            *module_interface = module;
            for (name, function, short, syntax) in app::APPLICATIONS {
                let a =
                    ffi::switch_loadable_module_create_interface(module, ffi::SWITCH_APPLICATION_INTERFACE)
                        .cast::<ffi::switch_application_interface>();
                if a.is_null() {
                    return ffi::SWITCH_STATUS_FALSE;
                }
                (*a).interface_name = name.as_ptr();
                (*a).application_function = Some(*function);
                (*a).short_desc = short.as_ptr();
                (*a).long_desc = short.as_ptr();
                (*a).syntax = syntax.as_ptr();
                (*a).flags = 0;
            }
            let a = ffi::switch_loadable_module_create_interface(module, ffi::SWITCH_API_INTERFACE)
                .cast::<ffi::switch_api_interface>();
            if a.is_null() {
                return ffi::SWITCH_STATUS_FALSE;
            }
            (*a).interface_name = api::NAME.as_ptr();
            (*a).desc = api::DESCRIPTION.as_ptr();
            (*a).function = Some(api::api);
            (*a).syntax = api::SYNTAX.as_ptr();
        }
        events::reserve();
        logger::notice("mod_twinning loaded");
        ffi::SWITCH_STATUS_SUCCESS
    })
}

/// Reads the configuration and the journal of runtime changes into the service.
fn start() -> Result<(), String> {
    let raw = config::load()?;
    let journal = state::journal_path();
    let (service, warnings) = Service::start(&raw, &journal, Vec::new)?;
    for w in warnings {
        logger::warning(&w);
    }
    state::cap().set_max(service.settings().general().max_concurrent);
    state::install(service);
    Ok(())
}

unsafe extern "C" fn shutdown() -> ffi::switch_status_t {
    guard::catch("module shutdown", ffi::SWITCH_STATUS_FALSE, || {
        let threads = call::running_threads();
        if threads > 0 {
            logger::warning(&format!("mod_twinning: {threads} call thread(s) still running; not unloading"));
            return ffi::SWITCH_STATUS_FALSE;
        }
        events::free();
        if let Some(mut service) = state::remove() {
            if let Err(e) = service.compact() {
                logger::warning(&e);
            }
        }
        ffi::SWITCH_STATUS_SUCCESS
    })
}
