//! The little the module does to a channel outside a call: read its name, set a variable.

use std::ffi::c_char;

use asterisk_sys as sys;

use super::cstr;

/// A channel Asterisk passed into a callback, valid for that callback's duration.
#[derive(Clone, Copy)]
pub struct ChannelRef(*mut sys::ast_channel);

impl ChannelRef {
    /// # Safety
    /// `chan` is NULL or a channel Asterisk keeps alive for the current callback.
    pub unsafe fn from_raw(chan: *mut sys::ast_channel) -> Option<ChannelRef> {
        (!chan.is_null()).then_some(ChannelRef(chan))
    }

    pub fn raw(self) -> *mut sys::ast_channel {
        self.0
    }

    pub fn name(self) -> String {
        // SAFETY: the channel is alive for this callback (see `from_raw`), and
        // ast_channel_name returns a string owned by it.
        unsafe { cstr::borrow(sys::ast_channel_name(self.0)) }.into_owned()
    }

    pub fn uniqueid(self) -> String {
        // SAFETY: live channel; the string belongs to it and is copied at once.
        unsafe { cstr::borrow(sys::ast_channel_uniqueid(self.0)) }.into_owned()
    }

    /// The caller's number and name (empty where unknown).
    pub fn caller_id(self) -> (String, String) {
        let mut number = [0 as c_char; 128];
        let mut name = [0 as c_char; 128];
        // SAFETY: live channel; the helper copies under the channel lock into our buffers,
        // NUL-terminating within their length.
        unsafe {
            sys::twinning_channel_caller(
                self.0,
                number.as_mut_ptr(),
                number.len(),
                name.as_mut_ptr(),
                name.len(),
            );
            (cstr::borrow(number.as_ptr()).into_owned(), cstr::borrow(name.as_ptr()).into_owned())
        }
    }

    /// The extension the channel is executing now (after any Goto).
    pub fn exten(self) -> String {
        // SAFETY: live channel; the string belongs to it and is copied at once.
        unsafe { cstr::borrow(sys::ast_channel_exten(self.0)) }.into_owned()
    }

    /// The number the caller dialed (`CALLERID(dnid)`), kept across Goto and Local
    /// channels; empty where the channel driver set none.
    pub fn dnid(self) -> String {
        let mut out = [0 as c_char; 128];
        // SAFETY: live channel; the helper copies under the channel lock into our buffer,
        // NUL-terminating within its length.
        unsafe {
            sys::twinning_channel_dnid(self.0, out.as_mut_ptr(), out.len());
            cstr::borrow(out.as_ptr()).into_owned()
        }
    }

    /// The number the caller dialed, for `caller_id = did`: the DNID, or the extension
    /// where the channel has none (a call started inside Asterisk).
    pub fn dialed_number(self) -> String {
        let dnid = self.dnid();
        if dnid.is_empty() {
            self.exten()
        } else {
            dnid
        }
    }

    pub fn set_variable(self, name: &str, value: &str) {
        let (name, value) = (cstr::owned(name), cstr::owned(value));
        // SAFETY: live channel (see `from_raw`); both strings are NUL-terminated and
        // copied by Asterisk before the call returns.
        unsafe {
            sys::pbx_builtin_setvar_helper(self.0, name.as_ptr(), value.as_ptr() as *const c_char);
        }
    }
}
