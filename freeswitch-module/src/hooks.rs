//! DTMF codes during the bridge: FreeSWITCH hands every key to the module, so the codes
//! (on the desk the push code; on the mobile the desk, hold and transfer codes) are
//! matched by the core's [`DtmfCodeMatcher`]: keys that start no code go on to the far
//! end unchanged, in order. What a code does is the engine's decision, through the driver.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use twinning_core::call::{CodeAction, DtmfCodeMatcher, LegKind};
use twinning_driver::{codes_for, CodeRequest};

use crate::host::bridge::{KeyFilter, Keys};
use crate::pbx::{Here, TwinnedCall};

/// The key filter of the leg of `kind` in the caller's bridge.
pub fn key_filter(call: &Arc<TwinnedCall>, kind: LegKind) -> KeyFilter {
    let codes = codes_for(&call.call_control, kind)
        .into_iter()
        .map(|(code, request, how)| (code.as_str().to_owned(), request, how));
    let matcher = Mutex::new(DtmfCodeMatcher::new(codes));
    let call = call.clone();
    Box::new(move |key| {
        let keyed = matcher.lock().unwrap_or_else(PoisonError::into_inner).feed(key, Instant::now());
        let keys = if keyed.pass.len() == 1 && keyed.pass.starts_with(key) {
            Keys::Pass
        } else {
            Keys::Send(keyed.pass)
        };
        let request = match keyed.action {
            Some(CodeAction::Code(r)) => Some((r, None)),
            Some(CodeAction::CodeWithDigits(r @ CodeRequest::Transfer, exten)) => Some((r, Some(exten))),
            _ => None,
        };
        if let Some((request, digits)) = request {
            for c in call.code_pressed(request, digits, Here::Anywhere) {
                log::error!("twinning {}: code left a command unperformed: {c:?}", call.user);
            }
        }
        keys
    })
}
