//! DTMF codes on a bridged leg: on the desk the push code, on the mobile the desk, hold
//! and transfer codes. Asterisk's bridge matches the codes (digits that start no code pass
//! through to the far end unchanged); what a code does is the engine's decision, through
//! the driver.

use std::sync::Arc;
use std::time::Duration;

use twinning_core::call::LegKind;
use twinning_driver::{codes_for, CodeRequest};

use crate::host::bridge::Features;
use crate::pbx::TwinnedCall;

/// Bridge features for a leg of `kind` joining the call's bridge, with its codes hooked.
pub fn features_for(call: &Arc<TwinnedCall>, kind: LegKind) -> Option<Features> {
    let mut features = Features::new()?;
    for (code, request, _) in codes_for(&call.call_control, kind) {
        let call = call.clone();
        features.add_dtmf_hook(
            code.as_str(),
            Box::new(move |keyed_on| {
                // The extension keyed after the transfer code, ended by `#` (or a pause).
                let digits = (request == CodeRequest::Transfer)
                    .then(|| keyed_on.channel())
                    .flatten()
                    .and_then(|c| c.read_digits(20, Duration::from_secs(3), Duration::from_secs(6)));
                for c in call.code_pressed(request, digits, keyed_on) {
                    log::error!("twinning {}: code left a command unperformed: {c:?}", call.user);
                }
            }),
        );
    }
    Some(features)
}
