//! What a call's notifications say to monitoring, as named fields: the same fields for
//! Asterisk's AMI events (`TwinningStart`...) and FreeSWITCH's `CUSTOM` events
//! (`twinning::start`...), so tools read one vocabulary on either PBX.

use twinning_core::call::{LegNotice, Notification};

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
];

pub fn call_event(user: &str, n: &Notification) -> CallEvent {
    let user_field = ("User", user.to_owned());
    let (ami_name, subclass, mut fields) = match n {
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
                _ => {}
            }
            ("TwinningLeg", "twinning::leg", f)
        }
        Notification::Refused { reason, detail } => (
            "TwinningRefused",
            "twinning::refused",
            vec![user_field, ("Reason", reason.name().into()), ("Detail", detail.clone())],
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
        Notification::Transfer { context, exten } => (
            "TwinningTransfer",
            "twinning::transfer",
            vec![user_field, ("Context", context.clone()), ("Exten", exten.clone())],
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
                answered_by: Some(LegKind::Mobile),
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
            &Notification::Transfer { context: "x\r\nEvent: Fake".into(), exten: "1".into() },
        );
        assert!(e.fields.iter().all(|(_, v)| !v.contains('\n') && !v.contains('\r')));
    }
}
