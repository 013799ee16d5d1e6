//! DTMF codes on a bridged leg: on the desk, the push code sends the call to the mobile;
//! on the mobile, codes move the call to the desk, hold the caller, or blind-transfer it.
//! Asterisk's bridge matches the codes (digits that start no code pass through to the far
//! end unchanged); what a code does is decided by the engine.

use std::ffi::{c_char, c_int, c_void};
use std::sync::Arc;
use std::time::Instant;

use asterisk_sys as sys;
use twinning_core::call::{Event, HandoverTrigger, LegKind, MobileFeature};

use super::control::{execute, CallCtl, Here, KEEP_HOOK};
use crate::host::{cstr, guard, logger, state};

#[derive(Clone, Copy, Debug)]
enum Action {
    PushToMobile,
    ToDesk,
    HoldToggle,
    Transfer,
}

struct Hook {
    ctl: Arc<CallCtl>,
    action: Action,
}

/// Bridge features for a leg of `kind` joining the call's bridge, with its codes hooked.
pub fn features_for(ctl: &Arc<CallCtl>, kind: LegKind) -> *mut sys::ast_bridge_features {
    let cc = &ctl.call_control;
    let codes = match kind {
        LegKind::Desk => vec![(&cc.push_code, Action::PushToMobile)],
        LegKind::Mobile => {
            vec![
                (&cc.desk_code, Action::ToDesk),
                (&cc.hold_code, Action::HoldToggle),
                (&cc.transfer_code, Action::Transfer),
            ]
        }
    };
    // SAFETY: a new features structure, owned by the caller until handed to the bridge.
    let features = unsafe { sys::ast_bridge_features_new() };
    if features.is_null() {
        return features;
    }
    for (code, action) in codes.into_iter().filter(|(c, _)| !c.is_off()) {
        let dtmf = cstr::owned(code.as_str());
        let pvt = Box::into_raw(Box::new(Hook { ctl: ctl.clone(), action })).cast::<c_void>();
        // SAFETY: `features` is live; the hook's private data is ours until Asterisk calls
        // `drop_hook`, which it does when the features are destroyed (or here on failure).
        let rc = unsafe {
            sys::ast_bridge_dtmf_hook(features, dtmf.as_ptr(), Some(on_dtmf), pvt, Some(drop_hook), 0)
        };
        if rc != 0 {
            logger::warning(&format!("twinning: could not hook DTMF code {code}"));
        }
    }
    features
}

unsafe extern "C" fn drop_hook(pvt: *mut c_void) {
    guard::catch("DTMF hook release", (), || {
        // SAFETY: `pvt` came from Box::into_raw in `features_for` and is released once.
        drop(unsafe { Box::from_raw(pvt.cast::<Hook>()) });
    })
}

unsafe extern "C" fn on_dtmf(bridge_channel: *mut sys::ast_bridge_channel, pvt: *mut c_void) -> c_int {
    guard::catch("DTMF hook", KEEP_HOOK, || {
        // SAFETY: Asterisk passes the hook's private data (alive until drop_hook) and the
        // live bridge channel of the leg that keyed the code.
        let hook = unsafe { &*(pvt as *const Hook) };
        let ctl = &hook.ctl;
        let now = Instant::now();
        let commands = match hook.action {
            Action::PushToMobile => {
                ctl.step(|e| {
                    e.request_handover(LegKind::Mobile, HandoverTrigger::Dtmf, &mut state::cap(), now)
                })
                .1
            }
            Action::ToDesk => ctl.event(Event::MobileFeature(MobileFeature::ToDesk)),
            Action::HoldToggle => ctl.event(Event::MobileFeature(MobileFeature::HoldToggle)),
            Action::Transfer => {
                // SAFETY: live bridge channel for the hook's run.
                let chan = unsafe { (*bridge_channel).chan };
                match read_extension(chan) {
                    Some(exten) => ctl.event(Event::MobileFeature(MobileFeature::Transfer(exten))),
                    None => Vec::new(),
                }
            }
        };
        execute(ctl, commands, Here { bridge_channel });
        KEEP_HOOK
    })
}

/// The extension keyed after the transfer code, ended by `#` (or a pause).
fn read_extension(chan: *mut sys::ast_channel) -> Option<String> {
    let mut buf = [0 as c_char; 24];
    // SAFETY: the hook runs on the channel's bridge thread, which may read from it; the
    // buffer has room for `len` digits and the NUL; "#" is a mutable copy Asterisk reads.
    let rc = unsafe {
        let mut enders = *b"#\0";
        sys::ast_readstring(chan, buf.as_mut_ptr(), 20, 6000, 3000, enders.as_mut_ptr().cast())
    };
    // SAFETY: ast_readstring NUL-terminates the buffer.
    let digits = unsafe { cstr::borrow(buf.as_ptr()) }.into_owned();
    (rc == 0 && !digits.is_empty()).then_some(digits)
}
