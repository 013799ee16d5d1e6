//! The module's metrics, counted once here for both PBXes from what the driver already
//! sees: every call notification, every settings change and refusal, every PIN check.
//! Hosts only render them: AMI `TwinningMetrics`, ESL `twinning metrics`, and
//! Asterisk's own `/metrics` through res_prometheus when it is loaded.
//!
//! Names follow Prometheus: `twinning_*_total` counters, plain gauges. Labels name
//! outcomes, reasons and surfaces, never a phone number or a user: a label's values must
//! stay few, and the metrics must be safe to send to a monitoring system.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

use twinning_core::call::{LegNotice, Notification};

/// One metric family: its name, type and help, as Prometheus exposes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Family {
    pub name: &'static str,
    pub kind: Kind,
    pub help: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Counter,
    Gauge,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        }
    }
}

macro_rules! family {
    ($id:ident, $name:literal, $kind:ident, $help:literal) => {
        pub const $id: Family = Family { name: $name, kind: Kind::$kind, help: $help };
    };
}

family!(CALLS, "twinning_calls_total", Counter, "Twinned calls ended, by status.");
family!(
    ANSWERED_BY,
    "twinning_answered_calls_total",
    Counter,
    "Answered twinned calls, by the leg that had the call at its end (desk, mobile, mobile2 ...)."
);
family!(LEGS, "twinning_legs_total", Counter, "Legs by outcome (and reason for refused or failed legs).");
family!(HANDOVERS, "twinning_handovers_total", Counter, "Handovers by trigger and result.");
family!(
    CONSULTS,
    "twinning_consults_total",
    Counter,
    "Consults from the mobile, by result (started, answered, refused, failed, dropped, ended, cancelled)."
);
family!(
    TRANSFERS,
    "twinning_transfers_total",
    Counter,
    "Transfers from the mobile, by kind (blind, attended)."
);
family!(
    CONFERENCES,
    "twinning_conferences_total",
    Counter,
    "Three-party conferences from the mobile, by result (started, refused, ended)."
);
family!(CHANGES, "twinning_settings_changes_total", Counter, "Settings changes in force, by surface.");
family!(REFUSALS, "twinning_settings_refusals_total", Counter, "Settings changes refused, by surface.");
family!(
    PIN_FAILURES,
    "twinning_pin_failures_total",
    Counter,
    "Wrong PINs, and PINs entered while locked out."
);
family!(PIN_LOCKOUTS, "twinning_pin_lockouts_total", Counter, "Lockouts started by wrong PINs.");
family!(CAP_REFUSALS, "twinning_cap_refusals_total", Counter, "Remote legs refused by max_concurrent.");
family!(
    STORE_RECONNECTS,
    "twinning_store_reconnects_total",
    Counter,
    "Connections to the shared store made again."
);
family!(LIVE_CALLS, "twinning_live_calls", Gauge, "Twinned calls in progress.");
family!(RINGING_LEGS, "twinning_ringing_legs", Gauge, "Legs dialing or ringing now.");
family!(
    STORE_UP,
    "twinning_store_up",
    Gauge,
    "1 when the settings store can take changes (a file store always can)."
);

/// Every family, in the order they are shown; a family with no sample yet is still shown
/// with its zero, so a dashboard sees it from the start.
pub const FAMILIES: [Family; 16] = [
    CALLS,
    ANSWERED_BY,
    LEGS,
    HANDOVERS,
    CONSULTS,
    TRANSFERS,
    CONFERENCES,
    CHANGES,
    REFUSALS,
    PIN_FAILURES,
    PIN_LOCKOUTS,
    CAP_REFUSALS,
    STORE_RECONNECTS,
    LIVE_CALLS,
    RINGING_LEGS,
    STORE_UP,
];

/// One sample: a family, its labels (`key="value"` pairs, in order) and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub family: Family,
    pub labels: Vec<(&'static str, String)>,
    pub value: f64,
}

impl Sample {
    /// The labels as Prometheus writes them, without braces: `status="answered"`.
    pub fn labels_text(&self) -> String {
        self.labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect::<Vec<_>>().join(",")
    }
}

type Key = (&'static str, Vec<(&'static str, String)>);

/// The counters. One lock, taken for an increment: a call makes a few dozen.
pub struct Counters {
    counts: Mutex<BTreeMap<Key, u64>>,
}

impl Counters {
    pub const fn new() -> Self {
        Counters { counts: Mutex::new(BTreeMap::new()) }
    }

    /// Forgets every count and lets go of the map's allocations (module unload: memory only
    /// a static points to would outlive the unmapped module).
    pub fn clear(&self) {
        *self.counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = BTreeMap::new();
    }

    pub fn add(&self, family: Family, labels: Vec<(&'static str, String)>) {
        *self
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry((family.name, labels))
            .or_insert(0) += 1;
    }

    /// What a call's notification counts.
    pub fn observe(&self, n: &Notification) {
        match n {
            Notification::End { status, answered_by, .. } => {
                self.add(CALLS, vec![("status", status.name().to_lowercase())]);
                if let Some(leg) = answered_by {
                    self.add(ANSWERED_BY, vec![("leg", leg.name().to_string())]);
                }
            }
            Notification::Leg { notice, .. } => {
                let (outcome, reason) = match notice {
                    LegNotice::Answered => ("answered", None),
                    LegNotice::Guarded { .. } => ("guarded", None),
                    LegNotice::Declined { .. } => ("declined", None),
                    LegNotice::Cancelled => ("cancelled", None),
                    LegNotice::NoAnswer => ("noanswer", None),
                    LegNotice::Failed { cause } => ("failed", Some(cause.name())),
                    LegNotice::Retried { cause, .. } => ("retried", Some(cause.name())),
                    LegNotice::HungUp => ("hungup", None),
                    LegNotice::Released => ("released", None),
                    LegNotice::Dialing { .. } | LegNotice::Ringing | LegNotice::Confirmed => return,
                };
                self.add(LEGS, leg_labels(outcome, reason));
            }
            Notification::Refused { reason, .. } => {
                self.add(LEGS, leg_labels("refused", Some(reason.name())));
                if *reason == twinning_core::call::RefusalReason::Cap {
                    self.add(CAP_REFUSALS, Vec::new());
                }
            }
            Notification::Handover { trigger, result, .. } => self.add(
                HANDOVERS,
                vec![("trigger", trigger.name().to_string()), ("result", result.name().to_string())],
            ),
            Notification::Consult { result, .. } => {
                self.add(CONSULTS, vec![("result", result.name().to_string())])
            }
            Notification::Transfer { kind, .. } => {
                self.add(TRANSFERS, vec![("kind", kind.name().to_string())])
            }
            Notification::Conference { result, .. } => {
                self.add(CONFERENCES, vec![("result", result.name().to_string())])
            }
            _ => {}
        }
    }

    /// Every family's samples together: `read_now` gives the value of the families kept
    /// elsewhere (the gauges, and the store's reconnects, which the store counts), the
    /// rest are these counters.
    pub fn samples(&self, read_now: &[(Family, f64)]) -> Vec<Sample> {
        let counts = self.counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out = Vec::new();
        for family in FAMILIES {
            if let Some((_, value)) = read_now.iter().find(|(f, _)| f.name == family.name) {
                out.push(Sample { family, labels: Vec::new(), value: *value });
                continue;
            }
            let before = out.len();
            for ((_, labels), value) in counts.iter().filter(|((n, _), _)| *n == family.name) {
                out.push(Sample { family, labels: labels.clone(), value: *value as f64 });
            }
            if out.len() == before && (family.kind == Kind::Gauge || unlabelled(family)) {
                out.push(Sample { family, labels: Vec::new(), value: 0.0 });
            }
        }
        out
    }
}

impl Default for Counters {
    fn default() -> Self {
        Counters::new()
    }
}

fn leg_labels(outcome: &str, reason: Option<&str>) -> Vec<(&'static str, String)> {
    vec![("outcome", outcome.to_string()), ("reason", reason.unwrap_or_default().to_string())]
}

/// Families shown with a zero before their first sample: those without labels.
fn unlabelled(family: Family) -> bool {
    matches!(
        family.name,
        "twinning_pin_failures_total"
            | "twinning_pin_lockouts_total"
            | "twinning_cap_refusals_total"
            | "twinning_store_reconnects_total"
    )
}

/// The Prometheus text exposition of `samples`, with `extra` labels (say, `node`) first on
/// every sample.
pub fn render(samples: &[Sample], extra: &[(&str, &str)]) -> String {
    let mut out = String::new();
    let mut last: Option<&str> = None;
    for s in samples {
        if last != Some(s.family.name) {
            let _ = writeln!(out, "# HELP {} {}", s.family.name, s.family.help);
            let _ = writeln!(out, "# TYPE {} {}", s.family.name, s.family.kind.name());
            last = Some(s.family.name);
        }
        let mut labels: Vec<String> = extra.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect();
        if !s.labels.is_empty() {
            labels.push(s.labels_text());
        }
        if labels.is_empty() {
            let _ = writeln!(out, "{} {}", s.family.name, s.value);
        } else {
            let _ = writeln!(out, "{}{{{}}} {}", s.family.name, labels.join(","), s.value);
        }
    }
    out
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use twinning_core::call::{CallStatus, LegFailure, LegId, LegKind, RefusalReason};

    #[test]
    fn notifications_count_and_render() {
        let c = Counters::new();
        c.observe(&Notification::End {
            status: CallStatus::Answered,
            answered_by: None,
            duration: Default::default(),
        });
        c.observe(&Notification::End {
            status: CallStatus::Answered,
            answered_by: Some(LegKind::Mobile(2)),
            duration: Default::default(),
        });
        c.observe(&Notification::Leg {
            leg: LegId(1),
            kind: LegKind::MOBILE,
            notice: LegNotice::Failed { cause: LegFailure::Busy },
        });
        c.observe(&Notification::Refused {
            leg: LegKind::MOBILE,
            reason: RefusalReason::Cap,
            detail: String::new(),
        });
        let text = render(&c.samples(&[(LIVE_CALLS, 3.0)]), &[]);
        assert!(text.contains("twinning_calls_total{status=\"answered\"} 2\n"), "{text}");
        assert!(text.contains("twinning_legs_total{outcome=\"failed\",reason=\"busy\"} 1\n"), "{text}");
        assert!(text.contains("twinning_legs_total{outcome=\"refused\",reason=\"cap\"} 1\n"), "{text}");
        assert!(text.contains("twinning_cap_refusals_total 1\n"), "{text}");
        assert!(text.contains("twinning_answered_calls_total{leg=\"mobile2\"} 1\n"), "{text}");
        assert_eq!(text.matches("twinning_answered_calls_total{").count(), 1, "no leg, no sample: {text}");
        assert!(text.contains("twinning_pin_failures_total 0\n"), "{text}");
        c.observe(&Notification::Transfer {
            kind: twinning_core::call::TransferKind::Attended,
            context: "consult".into(),
            exten: "1002".into(),
        });
        let after = render(&c.samples(&[]), &[]);
        assert!(after.contains("twinning_transfers_total{kind=\"attended\"} 1\n"), "{after}");
        assert!(text.contains("twinning_live_calls 3\n"), "{text}");
        assert!(text.contains("# TYPE twinning_live_calls gauge\n"), "{text}");
        let node = render(&c.samples(&[]), &[("node", "a")]);
        assert!(node.contains("twinning_calls_total{node=\"a\",status=\"answered\"} 2\n"), "{node}");
    }
}
