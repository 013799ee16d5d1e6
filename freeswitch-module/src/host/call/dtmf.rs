//! DTMF during the bridge. FreeSWITCH hands every key of either side to the bridge's
//! input callback; on the desk the push code, on the mobile the desk, hold and transfer
//! codes are matched by the core's [`DtmfCodeMatcher`] (keys that start no code go on to
//! the far end unchanged, in order); what a code does is decided by the engine.

use std::ffi::{c_uint, c_void};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use twinning_core::call::{
    CodeAction, CodeKind, DtmfCodeMatcher, Event, HandoverTrigger, LegKind, MobileFeature,
};

use super::control::{execute, CallCtl};
use crate::host::session::Session;
use crate::host::{ffi, guard, state};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    PushToMobile,
    ToDesk,
    HoldToggle,
    Transfer,
}

/// One side of the caller's bridge: who it is, its codes, and the far side to which held
/// keys are passed on.
pub struct BridgeSide {
    ctl: Arc<CallCtl>,
    matcher: Option<Mutex<DtmfCodeMatcher<Action>>>,
    far: Session,
}

impl BridgeSide {
    /// The caller's side: no codes, every key goes to the leg.
    pub fn caller(ctl: Arc<CallCtl>, far: Session) -> BridgeSide {
        BridgeSide { ctl, matcher: None, far }
    }

    pub fn leg(ctl: Arc<CallCtl>, kind: LegKind, far: Session) -> BridgeSide {
        let cc = &ctl.call_control;
        let code = |c: &twinning_core::DtmfCode| c.as_str().to_owned();
        let codes = match kind {
            LegKind::Desk => vec![(code(&cc.push_code), Action::PushToMobile, CodeKind::Immediate)],
            LegKind::Mobile => vec![
                (code(&cc.desk_code), Action::ToDesk, CodeKind::Immediate),
                (code(&cc.hold_code), Action::HoldToggle, CodeKind::Immediate),
                (code(&cc.transfer_code), Action::Transfer, CodeKind::CollectUntilHash),
            ],
        };
        BridgeSide { matcher: Some(Mutex::new(DtmfCodeMatcher::new(codes))), ctl, far }
    }
}

/// The bridge's input callback (`switch_input_callback_function_t`): `buf` is the side's
/// [`BridgeSide`].
pub unsafe extern "C" fn on_dtmf(
    _session: *mut ffi::switch_core_session_t,
    input: *mut c_void,
    input_type: ffi::switch_input_type_t,
    buf: *mut c_void,
    _buflen: c_uint,
) -> ffi::switch_status_t {
    guard::catch("bridge DTMF", ffi::SWITCH_STATUS_SUCCESS, || {
        if input_type != ffi::SWITCH_INPUT_TYPE_DTMF || input.is_null() || buf.is_null() {
            return ffi::SWITCH_STATUS_SUCCESS;
        }
        // SAFETY: the bridge passes the key and the side data given to it, which the
        // caller's thread keeps alive until the bridge has returned.
        let (dtmf, side) = unsafe { (*(input as *const ffi::switch_dtmf_t), &*(buf as *const BridgeSide)) };
        let Some(matcher) = &side.matcher else { return ffi::SWITCH_STATUS_SUCCESS };
        let key = dtmf.digit as u8 as char;
        let keyed = matcher.lock().unwrap_or_else(PoisonError::into_inner).feed(key, Instant::now());
        let status = if keyed.pass.len() == 1 && keyed.pass.starts_with(key) {
            ffi::SWITCH_STATUS_SUCCESS
        } else {
            for k in keyed.pass.chars() {
                let out = ffi::switch_dtmf_t { digit: k as u8 as std::ffi::c_char, ..dtmf };
                // SAFETY: the far side is in the bridge (read-locked by it) while keys flow.
                unsafe {
                    ffi::switch_core_session_send_dtmf(side.far.raw(), &out);
                }
            }
            ffi::SWITCH_STATUS_IGNORE
        };
        if let Some(action) = keyed.action {
            act(&side.ctl, action);
        }
        status
    })
}

fn act(ctl: &Arc<CallCtl>, action: CodeAction<Action>) {
    let now = Instant::now();
    let commands = match action {
        CodeAction::Code(Action::PushToMobile) => {
            ctl.step(|e| e.request_handover(LegKind::Mobile, HandoverTrigger::Dtmf, &mut state::cap(), now)).1
        }
        CodeAction::Code(Action::ToDesk) => ctl.event(Event::MobileFeature(MobileFeature::ToDesk)),
        CodeAction::Code(Action::HoldToggle) => ctl.event(Event::MobileFeature(MobileFeature::HoldToggle)),
        CodeAction::CodeWithDigits(Action::Transfer, exten) => {
            ctl.event(Event::MobileFeature(MobileFeature::Transfer(exten)))
        }
        _ => Vec::new(),
    };
    execute(ctl, commands);
}
