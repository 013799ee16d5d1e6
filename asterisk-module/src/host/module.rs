//! Registration with Asterisk's module loader, and the trampolines for the module's load,
//! reload and unload.
//!
//! Asterisk expects a module to call `ast_module_register` from an ELF constructor while
//! `dlopen` runs, passing an `ast_module_info` that the loader then writes into (`self`),
//! so the info lives in writable static memory and is filled in by the constructor. Its
//! `buildopt_sum` is the real `AST_BUILDOPT_SUM` of the headers built against, so the
//! loader refuses the module if this Asterisk was built with different options.
//!
//! What load, reload and unload do belongs to the layer above: it implements [`Module`] and
//! names that type once in [`ast_module_info!`] (in lib.rs), which places the constructor
//! for it. The trampolines here are generic over it, so `host` imports nothing above itself.

use std::cell::UnsafeCell;
use std::ffi::{c_int, CStr};
use std::mem::MaybeUninit;

use asterisk_sys as sys;

use super::{guard, logger};

pub const NAME: &CStr = c"app_twinning";

struct ModuleInfo(UnsafeCell<MaybeUninit<sys::ast_module_info>>);

// SAFETY: written once by the constructor before any other thread can know of it, then by
// the loader (under its own lock); the module only reads `self_` from load and unload.
unsafe impl Sync for ModuleInfo {}

static MODULE_INFO: ModuleInfo = ModuleInfo(UnsafeCell::new(MaybeUninit::zeroed()));

/// The module's own load, reload and unload, which the loader's trampolines call under
/// [`guard::catch`]; implemented above `host` and handed to it by [`ast_module_info!`].
pub trait Module {
    /// Starts the module and registers everything; false declines the load.
    fn load(module: ModuleHandle) -> bool;
    /// False when the reload was refused (the previous settings stay).
    fn reload() -> bool;
    /// False when the module must stay loaded.
    fn unload() -> bool;
}

/// Asterisk's `AST_MODULE_INFO` for a type implementing [`Module`]: registers it with the
/// loader from an ELF constructor while `dlopen` runs, and unregisters it from the
/// destructor at `dlclose`. Used once, in lib.rs.
macro_rules! ast_module_info {
    ($module:ty) => {
        #[used]
        #[link_section = ".init_array"]
        static REGISTER_AT_DLOPEN: extern "C" fn() = $crate::host::module::register_with_loader::<$module>;

        #[used]
        #[link_section = ".fini_array"]
        static UNREGISTER_AT_DLCLOSE: extern "C" fn() = $crate::host::module::unregister_from_loader;
    };
}
pub(crate) use ast_module_info;

/// The constructor [`ast_module_info!`] places: fills in the module info with `M`'s
/// trampolines and registers it.
pub extern "C" fn register_with_loader<M: Module>() {
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
            load: Some(load::<M>),
            reload: Some(reload::<M>),
            unload: Some(unload::<M>),
            name: NAME.as_ptr(),
            description: c"Mobile twinning (desk and mobile ring together, handover, policy)".as_ptr(),
            key,
            flags: sys::ast_module_flags::AST_MODFLAG_LOAD_ORDER,
            buildopt_sum,
            load_pri: sys::ast_module_load_priority::AST_MODPRI_DEFAULT as u8,
            support_level: sys::ast_module_support_level::AST_MODULE_SUPPORT_EXTENDED,
            // Loaded first where it is loaded at all, so its metrics API is there to find.
            optional_modules: c"res_prometheus".as_ptr(),
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

/// The destructor [`ast_module_info!`] places.
pub extern "C" fn unregister_from_loader() {
    guard::catch("module unregistration", (), || {
        // SAFETY: registered by the constructor of this same image.
        unsafe { sys::ast_module_unregister((*MODULE_INFO.0.get()).as_ptr()) }
    })
}

/// This module's handle, as registrations need it.
#[derive(Clone, Copy)]
pub struct ModuleHandle(*mut sys::ast_module);

impl ModuleHandle {
    pub(super) fn raw(self) -> *mut sys::ast_module {
        self.0
    }
}

/// This module's handle, which the loader stored in `self` during registration.
fn handle() -> ModuleHandle {
    // SAFETY: initialised by the constructor; `self_` is written by the loader before it
    // calls load().
    ModuleHandle(unsafe { (*MODULE_INFO.0.get()).assume_init_ref().self_ })
}

unsafe extern "C" fn load<M: Module>() -> sys::ast_module_load_result::Type {
    guard::catch("load", sys::ast_module_load_result::AST_MODULE_LOAD_DECLINE, || {
        logger::install();
        if M::load(handle()) {
            sys::ast_module_load_result::AST_MODULE_LOAD_SUCCESS
        } else {
            sys::ast_module_load_result::AST_MODULE_LOAD_DECLINE
        }
    })
}

unsafe extern "C" fn reload<M: Module>() -> c_int {
    guard::catch("reload", -1, || if M::reload() { 0 } else { -1 })
}

unsafe extern "C" fn unload<M: Module>() -> c_int {
    guard::catch("unload", -1, || if M::unload() { 0 } else { -1 })
}
