//! What a call's notifications say to monitoring, as named fields: the same fields for
//! Asterisk's AMI events (`TwinningStart`...) and FreeSWITCH's `CUSTOM` events
//! (`twinning::start`...), so tools read one vocabulary on either PBX.

use twinning_core::call::{LegNotice, Notification};
use twinning_core::{printable, Change};

use crate::Source;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallEvent {
    /// The AMI event name.
    pub ami_name: &'static str,
    /// The FreeSWITCH `Event-Subclass`.
    pub subclass: &'static str,
    pub fields: Vec<(&'static str, String)>,
}

/// Every `CUSTOM` subclass the FreeSWITCH module fires (reserved at load).
pub const SUBCLASSES: &[&str] = &[
    "twinning::start",
    "twinning::leg",
    "twinning::bridged",
    "twinning::handover",
    "twinning::end",
    "twinning::refused",
    "twinning::settings",
    "twinning::settings_refused",
    "twinning::hold",
    "twinning::transfer",
    "twinning::auth_failed",
    "twinning::request_refused",
    "twinning::access",
    "twinning::consult",
    "twinning::conference",
];

pub fn call_event(user: &str, n: &Notification) -> CallEvent {
    let user_field = ("User", user.to_owned());
    let (ami_name, subclass, fields) = match n {
        Notification::Start { mobile } => (
            "TwinningStart",
            "twinning::start",
            vec![user_field, ("Mobile", mobile.clone().unwrap_or_default())],
        ),
        Notification::Leg { kind, notice, .. } => {
            let mut f = vec![user_field, ("Leg", kind.name().into()), ("State", notice.state().into())];
            match notice {
                LegNotice::Dialing { target } => f.push(("Destination", target.clone())),
                LegNotice::Guarded { after } => f.push(("AnsweredAfter", after.as_millis().to_string())),
                LegNotice::Declined { timeout } => {
                    f.push(("Cause", if *timeout { "timeout" } else { "key" }.into()))
                }
                LegNotice::Failed { cause } => f.push(("Cause", cause.name().into())),
                LegNotice::Retried { cause, caller_id } => {
                    f.push(("Cause", cause.name().into()));
                    f.push(("Reason", "caller_id_fallback".into()));
                    f.push(("RetryCallerId", caller_id.clone()));
                }
                _ => {}
            }
            ("TwinningLeg", "twinning::leg", f)
        }
        Notification::Refused { leg, reason, detail } => (
            "TwinningRefused",
            "twinning::refused",
            vec![
                user_field,
                ("Reason", reason.name().into()),
                ("Detail", detail.clone()),
                ("Leg", leg.name().into()),
            ],
        ),
        Notification::Bridged { kind, .. } => {
            ("TwinningBridged", "twinning::bridged", vec![user_field, ("Leg", kind.name().into())])
        }
        Notification::Handover { from, to, trigger, result, detail } => (
            "TwinningHandover",
            "twinning::handover",
            vec![
                user_field,
                ("From", from.name().into()),
                ("To", to.name().into()),
                ("Trigger", trigger.name().into()),
                ("Result", result.name().into()),
                ("Detail", detail.clone()),
            ],
        ),
        Notification::Hold { on } => (
            "TwinningHold",
            "twinning::hold",
            vec![user_field, ("State", if *on { "on" } else { "off" }.into())],
        ),
        Notification::Transfer { kind, context, exten } => (
            "TwinningTransfer",
            "twinning::transfer",
            vec![
                user_field,
                ("Context", context.clone()),
                ("Exten", exten.clone()),
                ("Kind", kind.name().into()),
            ],
        ),
        Notification::Consult { result, context, exten, detail } => (
            "TwinningConsult",
            "twinning::consult",
            vec![
                user_field,
                ("Result", result.name().into()),
                ("Context", context.clone()),
                ("Exten", exten.clone()),
                ("Detail", detail.clone()),
            ],
        ),
        Notification::Conference { result, detail } => (
            "TwinningConference",
            "twinning::conference",
            vec![user_field, ("Result", result.name().into()), ("Detail", detail.clone())],
        ),
        Notification::End { status, answered_by, duration } => (
            "TwinningEnd",
            "twinning::end",
            vec![
                user_field,
                ("Status", status.name().into()),
                ("AnsweredBy", answered_by.map_or("", |k| k.name()).into()),
                ("Duration", duration.as_millis().to_string()),
            ],
        ),
    };
    event(ami_name, subclass, fields)
}

/// A settings change was made: `TwinningSettingsChanged`, `twinning::settings`.
pub fn settings_changed(change: &Change, source: &Source) -> CallEvent {
    let (old, new) = change.shown();
    event(
        "TwinningSettingsChanged",
        "twinning::settings",
        vec![
            ("User", change.user.to_string()),
            ("Field", change.field.name().into()),
            ("Value", new),
            ("OldValue", old),
            ("Source", source.label()),
            ("Channel", source.channel().into()),
            ("Node", source.node().into()),
        ],
    )
}

/// A settings change was refused (or a reloaded file): a security event, since someone
/// may be pointing a user's calls somewhere policy forbids, or probing for users and
/// fields. `TwinningSettingsRefused`, `twinning::settings_refused`.
pub fn settings_refused(user: &str, field: &str, source: &Source, reason: &str) -> CallEvent {
    event(
        "TwinningSettingsRefused",
        "twinning::settings_refused",
        vec![
            ("User", printable(user)),
            ("Field", printable(field)),
            ("Source", source.label()),
            ("Channel", source.channel().into()),
            ("Reason", reason.into()),
        ],
    )
}

/// An application refused its arguments (unknown user, bad options): a dialplan may be
/// handing caller-controlled text to it. `TwinningRequestRefused`,
/// `twinning::request_refused`.
pub fn request_refused(application: &str, arguments: &str, reason: &str) -> CallEvent {
    event(
        "TwinningRequestRefused",
        "twinning::request_refused",
        vec![
            ("Application", application.into()),
            ("Arguments", printable(arguments)),
            ("Reason", reason.into()),
        ],
    )
}

/// A request from a phone that is not the user's desk (a change, a pickup, the key, a PIN
/// entry): someone may be acting for another user with a forged caller ID. Raised as
/// `TwinningRequestRefused` / `twinning::request_refused`, with the user and the device.
pub fn device_refused(request: &str, user: &str, device: &str, channel: &str, reason: &str) -> CallEvent {
    event(
        "TwinningRequestRefused",
        "twinning::request_refused",
        vec![
            ("Application", request.into()),
            ("Arguments", printable(user)),
            ("Reason", reason.into()),
            ("User", printable(user)),
            ("Device", printable(device)),
            ("RequestChannel", printable(channel)),
        ],
    )
}

/// A wrong PIN, or a PIN entered during a lockout: someone may be guessing a user's PIN.
/// `TwinningAuthFailed`, `twinning::auth_failed`.
pub fn auth_failed(user: &str, reason: &str, attempts: u32, locked_for_secs: u64) -> CallEvent {
    event(
        "TwinningAuthFailed",
        "twinning::auth_failed",
        vec![
            ("User", user.into()),
            ("Reason", reason.into()),
            ("Attempts", attempts.to_string()),
            ("LockedFor", locked_for_secs.to_string()),
        ],
    )
}

/// A Mobile Direct Access or Mobile Callback call granted or refused: a security event
/// (the caller ID that picked the user may be spoofed). `TwinningAccess`,
/// `twinning::access`. `result` is `granted` or `refused`; `reason` is the refusal's name
/// (`twinning_core::access::Refusal`), or `pin` for a grant.
pub fn access(
    feature: &str,
    result: &str,
    reason: &str,
    user: &str,
    calling: &str,
    number: &str,
) -> CallEvent {
    event(
        "TwinningAccess",
        "twinning::access",
        vec![
            ("Feature", feature.into()),
            ("Result", result.into()),
            ("Reason", reason.into()),
            ("User", user.into()),
            ("CallerNumber", printable(calling)),
            ("Number", number.into()),
        ],
    )
}

fn event(
    ami_name: &'static str,
    subclass: &'static str,
    mut fields: Vec<(&'static str, String)>,
) -> CallEvent {
    for (_, v) in &mut fields {
        *v = one_line(v);
    }
    CallEvent { ami_name, subclass, fields }
}

/// A field value on one line with no control characters, so no value can forge another
/// field or event in a line-based protocol (AMI, ESL plain events).
pub fn one_line(v: &str) -> String {
    v.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use twinning_core::call::{CallStatus, LegKind};

    #[test]
    fn end_event_has_the_ami_fields_and_every_subclass_is_reserved() {
        let e = call_event(
            "1001",
            &Notification::End {
                status: CallStatus::Answered,
                answered_by: Some(LegKind::MOBILE),
                duration: Duration::from_millis(1500),
            },
        );
        assert_eq!((e.ami_name, e.subclass), ("TwinningEnd", "twinning::end"));
        assert_eq!(
            e.fields,
            vec![
                ("User", "1001".into()),
                ("Status", "ANSWERED".into()),
                ("AnsweredBy", "mobile".into()),
                ("Duration", "1500".into())
            ]
        );
        assert!(SUBCLASSES.contains(&e.subclass));
    }

    #[test]
    fn values_cannot_break_lines() {
        let e = call_event(
            "1001",
            &Notification::Transfer {
                kind: twinning_core::call::TransferKind::Blind,
                context: "x\r\nEvent: Fake".into(),
                exten: "1".into(),
            },
        );
        assert!(e.fields.iter().all(|(_, v)| !v.contains('\n') && !v.contains('\r')));
    }
}
