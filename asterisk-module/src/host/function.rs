//! Dialplan functions: registration of one function with safe read and write bodies,
//! under the panic guard.

use std::ffi::{c_char, c_int, CStr};

use asterisk_sys as sys;

use super::channel::Channel;
use super::module::ModuleHandle;
use super::{cstr, guard};

pub struct Function {
    pub name: &'static CStr,
    /// `${NAME(args)}`: the value, or the reason it cannot be read.
    pub read: fn(Option<&Channel>, &str) -> Result<String, String>,
    /// `Set(NAME(args)=value)`.
    pub write: fn(Option<&Channel>, &str, &str) -> Result<(), String>,
}

static FUNCTION: std::sync::OnceLock<&'static Function> = std::sync::OnceLock::new();

/// The registered function. Asterisk writes into it (documentation fields, list links), so
/// it lives on the heap, owned by the module from register to unregister.
struct Registration(*mut sys::ast_custom_function);

// SAFETY: the pointer is only used on load/unload, which Asterisk serialises.
unsafe impl Send for Registration {}

static REGISTERED: std::sync::Mutex<Option<Registration>> = std::sync::Mutex::new(None);

pub fn register(module: ModuleHandle, function: &'static Function) -> Result<(), String> {
    let function = *FUNCTION.get_or_init(|| function);
    let acf = Box::into_raw(Box::new(sys::ast_custom_function {
        name: function.name.as_ptr(),
        read: Some(read),
        write: Some(write),
        ..Default::default()
    }));
    // Escalating, for reading and writing: Asterisk then refuses the function to external
    // protocols (AMI Getvar/Setvar, ARI) unless asterisk.conf sets live_dangerously, so
    // a manager account with the `call` class cannot reach settings that AMI itself
    // guards with `config`.
    // SAFETY: `acf` is a zeroed, heap-allocated struct that stays valid until unregister;
    // empty synopsis/description make Asterisk load the XML documentation into it.
    let rc = unsafe {
        sys::__ast_custom_function_register_escalating(
            acf,
            sys::ast_custom_function_escalation::AST_CFE_BOTH,
            module.raw(),
        )
    };
    if rc != 0 {
        // SAFETY: registration failed, so Asterisk holds no reference to it.
        drop(unsafe { Box::from_raw(acf) });
        return Err(format!("could not register dialplan function {}", function.name.to_string_lossy()));
    }
    *REGISTERED.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Registration(acf));
    Ok(())
}

pub fn unregister() {
    let Some(r) = REGISTERED.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take() else { return };
    // SAFETY: registered by `register`; after ast_custom_function_unregister returns,
    // Asterisk has freed the documentation it allocated in it and keeps no pointer.
    unsafe {
        sys::ast_custom_function_unregister(r.0);
        drop(Box::from_raw(r.0));
    }
}

unsafe extern "C" fn read(
    chan: *mut sys::ast_channel,
    _function: *const c_char,
    data: *mut c_char,
    buf: *mut c_char,
    len: usize,
) -> c_int {
    let Some(function) = FUNCTION.get() else { return -1 };
    guard::catch(&format!("{}() read", function.name.to_string_lossy()), -1, || {
        // SAFETY: Asterisk passes the calling channel (or NULL) and the argument string,
        // both valid for this call.
        let (chan, data) = unsafe { (Channel::from_raw(chan), cstr::borrow(data).into_owned()) };
        match (function.read)(chan.as_ref(), &data) {
            Ok(v) if !buf.is_null() && len > 0 => {
                let n = v.len().min(len - 1);
                // SAFETY: `buf` has room for `len` bytes; we write `n < len` bytes and a NUL.
                unsafe {
                    std::ptr::copy_nonoverlapping(v.as_ptr(), buf as *mut u8, n);
                    *buf.add(n) = 0;
                }
                0
            }
            _ => -1,
        }
    })
}

unsafe extern "C" fn write(
    chan: *mut sys::ast_channel,
    _function: *const c_char,
    data: *mut c_char,
    value: *const c_char,
) -> c_int {
    let Some(function) = FUNCTION.get() else { return -1 };
    guard::catch(&format!("{}() write", function.name.to_string_lossy()), -1, || {
        // SAFETY: as in `read`; `value` is the assigned text, valid for this call.
        let (chan, data, value) = unsafe {
            (Channel::from_raw(chan), cstr::borrow(data).into_owned(), cstr::borrow(value).into_owned())
        };
        match (function.write)(chan.as_ref(), &data, &value) {
            Ok(()) => 0,
            Err(_) => -1,
        }
    })
}
