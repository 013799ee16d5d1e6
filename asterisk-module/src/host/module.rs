//! Registration with Asterisk's module loader, and the module's load, reload and unload.
//!
//! Asterisk expects a module to call `ast_module_register` from an ELF constructor while
//! `dlopen` runs, passing an `ast_module_info` that the loader then writes into (`self`),
//! so the info lives in writable static memory and is filled in by the constructor. Its
//! `buildopt_sum` is the real `AST_BUILDOPT_SUM` of the headers built against, so the
//! loader refuses the module if this Asterisk was built with different options.

use std::cell::UnsafeCell;
use std::ffi::{c_int, CStr};
use std::mem::MaybeUninit;
use std::sync::{Mutex, PoisonError};

use asterisk_sys as sys;

use super::{app, astdb, cli, config, function, guard, logger, manager, paths, state};
use twinning_service::Service;

pub const NAME: &CStr = c"app_twinning";

struct ModuleInfo(UnsafeCell<MaybeUninit<sys::ast_module_info>>);

// SAFETY: written once by the constructor before any other thread can know of it, then by
// the loader (under its own lock); the module only reads `self_` from load and unload.
unsafe impl Sync for ModuleInfo {}

static MODULE_INFO: ModuleInfo = ModuleInfo(UnsafeCell::new(MaybeUninit::zeroed()));

#[used]
#[link_section = ".init_array"]
static REGISTER_AT_DLOPEN: extern "C" fn() = register_with_loader;

#[used]
#[link_section = ".fini_array"]
static UNREGISTER_AT_DLCLOSE: extern "C" fn() = unregister_from_loader;

extern "C" fn register_with_loader() {
    guard::catch("module registration", (), || {
        // SAFETY: the shim's constants are NUL-terminated strings defined by build/shim.c.
        let (sum, key) = unsafe {
            (CStr::from_ptr(sys::twinning_ast_buildopt_sum.as_ptr()), sys::twinning_ast_gpl_key.as_ptr())
        };
        let mut buildopt_sum = [0 as std::ffi::c_char; 33];
        for (dst, src) in buildopt_sum.iter_mut().zip(sum.to_bytes().iter().take(32)) {
            *dst = *src as std::ffi::c_char;
        }
        let info = sys::ast_module_info {
            self_: std::ptr::null_mut(),
            load: Some(load),
            reload: Some(reload),
            unload: Some(unload),
            name: NAME.as_ptr(),
            description: c"Mobile twinning (desk and mobile ring together, handover, policy)".as_ptr(),
            key,
            flags: sys::ast_module_flags::AST_MODFLAG_LOAD_ORDER,
            buildopt_sum,
            load_pri: sys::ast_module_load_priority::AST_MODPRI_DEFAULT as u8,
            support_level: sys::ast_module_support_level::AST_MODULE_SUPPORT_EXTENDED,
            ..Default::default()
        };
        // SAFETY: the constructor runs once per dlopen, before anything else can reach
        // MODULE_INFO; the pointer stays valid for the life of the image.
        unsafe {
            (*MODULE_INFO.0.get()).write(info);
            sys::ast_module_register((*MODULE_INFO.0.get()).as_ptr());
        }
    })
}

extern "C" fn unregister_from_loader() {
    guard::catch("module unregistration", (), || {
        // SAFETY: registered by the constructor of this same image.
        unsafe { sys::ast_module_unregister((*MODULE_INFO.0.get()).as_ptr()) }
    })
}

/// This module's handle, which the loader stored in `self` during registration.
fn handle() -> *mut sys::ast_module {
    // SAFETY: initialised by the constructor; `self_` is written by the loader before it
    // calls load().
    unsafe { (*MODULE_INFO.0.get()).assume_init_ref().self_ }
}

struct Registrations {
    function: function::Registration,
    cli: cli::Registration,
}

static REGISTRATIONS: Mutex<Option<Registrations>> = Mutex::new(None);

unsafe extern "C" fn load() -> sys::ast_module_load_result::Type {
    guard::catch("load", sys::ast_module_load_result::AST_MODULE_LOAD_DECLINE, || {
        logger::install();
        match start() {
            Ok(users) => {
                logger::notice(&format!("app_twinning loaded with {users} twinning user(s)"));
                sys::ast_module_load_result::AST_MODULE_LOAD_SUCCESS
            }
            Err(e) => {
                logger::error(&format!("app_twinning not loaded: {e}"));
                sys::ast_module_load_result::AST_MODULE_LOAD_DECLINE
            }
        }
    })
}

/// The journal of runtime overrides, beside astdb in Asterisk's var lib directory.
fn journal_path() -> std::path::PathBuf {
    paths::var_dir().join("twinning").join("overrides.journal")
}

fn start() -> Result<usize, String> {
    let raw = config::load()?;
    let (mut service, warnings) = Service::start(&raw, &journal_path(), astdb::entries)?;
    for w in warnings {
        logger::warning(&w);
    }
    mirror_to_astdb(&mut service)?;
    let users = service.settings().users().count();
    state::cap().set_max(service.settings().general().max_concurrent);
    state::install(service);

    let module = handle();
    let registered = function::register(module).and_then(|function| match cli::register(module) {
        Ok(cli) => match manager::register(module)
            .and_then(|()| app::register(module).inspect_err(|_| manager::unregister()))
        {
            Ok(()) => Ok(Registrations { function, cli }),
            Err(e) => {
                cli.unregister();
                function.unregister();
                Err(e)
            }
        },
        Err(e) => {
            function.unregister();
            Err(e)
        }
    });
    match registered {
        Ok(r) => {
            *REGISTRATIONS.lock().unwrap_or_else(PoisonError::into_inner) = Some(r);
            Ok(users)
        }
        Err(e) => {
            state::remove();
            Err(e)
        }
    }
}

/// Compacts the journal and makes AstDB's `twinning` family show exactly the overrides in
/// force, dropping entries the journal superseded or found invalid.
fn mirror_to_astdb(service: &mut Service) -> Result<(), String> {
    let entries = service.compact()?;
    astdb::clear_family();
    for e in entries {
        astdb::put(&format!("{}/{}", e.user, e.field), &e.value)?;
    }
    Ok(())
}

unsafe extern "C" fn reload() -> c_int {
    guard::catch("reload", -1, || {
        let raw = match config::load() {
            Ok(raw) => raw,
            Err(e) => {
                reload_refused(&e);
                return -1;
            }
        };
        let mut guard = state::lock();
        let Some(service) = guard.as_mut() else {
            return -1;
        };
        match service.reload(&raw) {
            Ok(problems) => {
                for p in &problems {
                    logger::warning(&p.to_string());
                }
                // Users gone from the file, or without a PIN now, need no PIN record.
                let settings = service.settings();
                state::pin_guard().prune(std::time::Instant::now(), |user| {
                    settings.user(user.as_str()).is_some_and(|u| u.pin.is_some())
                });
                // Dropped overrides leave the journal and the AstDB mirror too.
                if !problems.is_empty() {
                    if let Err(e) = mirror_to_astdb(service) {
                        logger::error(&format!("twinning: {e}"));
                    }
                }
                logger::notice(&format!(
                    "twinning.conf reloaded: {} twinning user(s)",
                    service.settings().users().count()
                ));
                0
            }
            Err(e) => {
                reload_refused(&e);
                -1
            }
        }
    })
}

/// A twinning.conf that was refused: the log names every bad line, and the security event
/// every other refused change raises says so too (someone may have written a number the
/// policy forbids, or a dial string into the file).
fn reload_refused(reason: &str) {
    logger::error(&format!("twinning reload failed, previous settings kept: {reason}"));
    manager::emit_settings_refused("", "", "reload", "", reason);
}

unsafe extern "C" fn unload() -> c_int {
    guard::catch("unload", -1, || {
        app::unregister();
        manager::unregister();
        if let Some(r) = REGISTRATIONS.lock().unwrap_or_else(PoisonError::into_inner).take() {
            r.cli.unregister();
            r.function.unregister();
        }
        state::remove();
        0
    })
}
