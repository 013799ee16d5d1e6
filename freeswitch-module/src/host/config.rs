//! `twinning.conf.xml`, read through FreeSWITCH's configuration tree (so pre-processing,
//! includes and XML bindings work as for any module) into the core's front-end-neutral
//! [`RawConfig`], which the core validates exactly as it validates `twinning.conf`.
//!
//! ```xml
//! <configuration name="twinning.conf" description="Mobile twinning">
//!   <settings>                         <!-- Asterisk's [general] -->
//!     <param name="mobile_dial" value="sofia/gateway/mobile/{number}"/>
//!   </settings>
//!   <users>
//!     <user id="1001">                 <!-- Asterisk's [1001] -->
//!       <param name="desk" value="user/1001"/>
//!     </user>
//!   </users>
//! </configuration>
//! ```

use std::ffi::CStr;

use twinning_core::{printable, RawConfig, RawEntry, RawSection};

use super::{cstr, ffi};

pub const FILE_NAME: &CStr = c"twinning.conf";

/// The configuration as FreeSWITCH holds it now, or why it cannot be read.
pub fn load() -> Result<RawConfig, String> {
    let mut cfg: ffi::switch_xml_t = std::ptr::null_mut();
    // SAFETY: returns the root (which we free) and sets `cfg` to our <configuration>, or
    // returns NULL.
    let root = unsafe { ffi::switch_xml_open_cfg(FILE_NAME.as_ptr(), &mut cfg, std::ptr::null_mut()) };
    if root.is_null() || cfg.is_null() {
        return Err(
            "twinning.conf.xml: no <configuration name=\"twinning.conf\"> (is it in autoload_configs?)"
                .into(),
        );
    }
    // SAFETY: `cfg` belongs to `root`, which stays alive until the free below.
    let raw = unsafe { read(cfg) };
    // SAFETY: the root from switch_xml_open_cfg is ours to release.
    unsafe { ffi::switch_xml_free(root) };
    Ok(raw)
}

/// # Safety
/// `cfg` is a live node of a tree that outlives the call.
unsafe fn read(cfg: ffi::switch_xml_t) -> RawConfig {
    let mut raw = RawConfig::default();
    // Entries are numbered in document order; `locations` says what each number is.
    let mut place = |raw: &mut RawConfig, what: String| -> u32 {
        raw.locations.push(what);
        raw.locations.len() as u32
    };
    // SAFETY (whole function): every node comes from the live tree; attribute strings
    // belong to their node.
    unsafe {
        let settings = ffi::switch_xml_child(cfg, c"settings".as_ptr());
        if !settings.is_null() {
            let line = place(&mut raw, "<settings>".into());
            let entries = params(settings, "<settings>", &mut raw, &mut place);
            raw.sections.push(RawSection { name: "general".into(), line, entries });
        }
        let users = ffi::switch_xml_child(cfg, c"users".as_ptr());
        let mut user = if users.is_null() { users } else { ffi::switch_xml_child(users, c"user".as_ptr()) };
        while !user.is_null() {
            let id = attr(user, c"id");
            let at = format!("<user id=\"{}\">", printable(&id));
            let line = place(&mut raw, at.clone());
            let entries = params(user, &at, &mut raw, &mut place);
            raw.sections.push(RawSection { name: id, line, entries });
            user = (*user).next;
        }
    }
    raw
}

/// # Safety
/// `parent` is a live node.
unsafe fn params(
    parent: ffi::switch_xml_t,
    at: &str,
    raw: &mut RawConfig,
    place: &mut impl FnMut(&mut RawConfig, String) -> u32,
) -> Vec<RawEntry> {
    let mut entries = Vec::new();
    // SAFETY: live nodes of the same tree.
    unsafe {
        let mut param = ffi::switch_xml_child(parent, c"param".as_ptr());
        while !param.is_null() {
            let key = attr(param, c"name");
            let value = attr(param, c"value");
            let line = place(raw, format!("{at} param {}", printable(&key)));
            entries.push(RawEntry { key, value, line });
            param = (*param).next;
        }
    }
    entries
}

/// # Safety
/// `node` is live.
unsafe fn attr(node: ffi::switch_xml_t, name: &CStr) -> String {
    // SAFETY: attr_soft returns the attribute or a static "".
    unsafe { cstr::borrow(ffi::switch_xml_attr_soft(node, name.as_ptr())) }.trim().to_owned()
}
