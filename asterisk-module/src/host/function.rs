//! The `TWINNING(user,field)` dialplan function: read a user's setting, or change it with
//! `Set(TWINNING(user,field)=value)`. A refused write changes nothing, logs why and puts
//! the reason in the channel variable `TWINNINGERROR` (cleared by a successful write).

use std::ffi::{c_char, c_int};

use asterisk_sys as sys;

use super::channel::ChannelRef;
use super::{cstr, guard, logger, state};
use twinning_service::{function_arguments, Source};

pub const ERROR_VARIABLE: &str = "TWINNINGERROR";

/// The registered function. Asterisk writes into it (documentation string fields, list
/// links), so it lives on the heap, owned by the module from register to unregister.
pub struct Registration(*mut sys::ast_custom_function);

// SAFETY: the pointer is only used on load/unload, which Asterisk serialises.
unsafe impl Send for Registration {}

pub fn register(module: *mut sys::ast_module) -> Result<Registration, String> {
    let acf = Box::new(sys::ast_custom_function {
        name: c"TWINNING".as_ptr(),
        read: Some(read),
        write: Some(write),
        ..Default::default()
    });
    let acf = Box::into_raw(acf);
    // SAFETY: `acf` is a zeroed, heap-allocated struct that stays valid until unregister;
    // empty synopsis/description make Asterisk load the XML documentation into it.
    let rc = unsafe { sys::__ast_custom_function_register(acf, module) };
    if rc != 0 {
        // SAFETY: registration failed, so Asterisk holds no reference to it.
        drop(unsafe { Box::from_raw(acf) });
        return Err("could not register dialplan function TWINNING".into());
    }
    Ok(Registration(acf))
}

impl Registration {
    pub fn unregister(self) {
        // SAFETY: registered by `register`; after ast_custom_function_unregister returns,
        // Asterisk has freed the documentation it allocated in it and keeps no pointer.
        unsafe {
            sys::ast_custom_function_unregister(self.0);
            drop(Box::from_raw(self.0));
        }
    }
}

fn refuse(chan: Option<ChannelRef>, message: &str) -> c_int {
    if let Some(c) = chan {
        c.set_variable(ERROR_VARIABLE, message);
    }
    -1
}

unsafe extern "C" fn read(
    chan: *mut sys::ast_channel,
    _function: *const c_char,
    data: *mut c_char,
    buf: *mut c_char,
    len: usize,
) -> c_int {
    guard::catch("TWINNING() read", -1, || {
        // SAFETY: Asterisk passes the calling channel (or NULL) and the argument string,
        // both valid for this call.
        let (chan, data) = unsafe { (ChannelRef::from_raw(chan), cstr::borrow(data).into_owned()) };
        let value = function_arguments(&data).and_then(|(user, field)| {
            let guard = state::lock();
            let service = guard.as_ref().ok_or("app_twinning is not loaded")?;
            service.settings().get(&user, &field).map_err(|e| e.to_string())
        });
        match value {
            Ok(v) => {
                if buf.is_null() || len == 0 {
                    return -1;
                }
                let n = v.len().min(len - 1);
                // SAFETY: `buf` has room for `len` bytes; we write `n < len` bytes and a NUL.
                unsafe {
                    std::ptr::copy_nonoverlapping(v.as_ptr(), buf as *mut u8, n);
                    *buf.add(n) = 0;
                }
                0
            }
            Err(e) => {
                logger::warning(&format!("TWINNING({}): {e}", twinning_core::printable(&data)));
                refuse(chan, &e)
            }
        }
    })
}

unsafe extern "C" fn write(
    chan: *mut sys::ast_channel,
    _function: *const c_char,
    data: *mut c_char,
    value: *const c_char,
) -> c_int {
    guard::catch("TWINNING() write", -1, || {
        // SAFETY: as in `read`; `value` is the assigned text, valid for this call.
        let (chan, data, value) = unsafe {
            (ChannelRef::from_raw(chan), cstr::borrow(data).into_owned(), cstr::borrow(value).into_owned())
        };
        let (user, field) = match function_arguments(&data) {
            Ok(a) => a,
            Err(e) => {
                logger::warning(&format!("TWINNING({}): {e}", twinning_core::printable(&data)));
                return refuse(chan, &e);
            }
        };
        let source = Source::Dialplan { channel: chan.map(ChannelRef::name) };
        match state::apply_change(&source, &user, &field, &value) {
            Ok(_) => {
                if let Some(c) = chan {
                    c.set_variable(ERROR_VARIABLE, "");
                }
                0
            }
            Err(e) => refuse(chan, &e.to_string()),
        }
    })
}
