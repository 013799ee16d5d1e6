//! AMI actions: `TwinningStatus`, `TwinningSet`, `TwinningHandover`, and for a control
//! plane (twinctl) `TwinningCalls`, `TwinningStore`, `TwinningMetrics` and
//! `TwinningCheckPin`. Reading is reporting; changing settings, and testing a PIN, needs the
//! `config` write class, as Asterisk's own configuration actions do; moving a live call is
//! call control, as Redirect and Bridge are. Names and headers are public interface (see
//! the book's AMI reference).

use twinning_core::call::LegKind;
use twinning_core::printable;
use twinning_service::{report, Source};

use crate::host::manager::{Action, Class, Request, COUNT};
use crate::pbx::DRIVER;

pub static ACTIONS: [Action; COUNT] = [
    Action { name: c"TwinningStatus", authority: Class::Reporting, run: status },
    Action { name: c"TwinningSet", authority: Class::Config, run: set },
    Action { name: c"TwinningHandover", authority: Class::Call, run: handover },
    Action { name: c"TwinningCalls", authority: Class::Reporting, run: calls },
    Action { name: c"TwinningStore", authority: Class::Reporting, run: store },
    Action { name: c"TwinningMetrics", authority: Class::Reporting, run: metrics },
    Action { name: c"TwinningCheckPin", authority: Class::Config, run: check_pin },
];

fn status(req: &Request) {
    let wanted = req.header(c"User");
    // Rendered under the lock, written to the session after it: a slow AMI client must
    // not hold up calls that need the settings.
    let users = DRIVER.with_service(|service| {
        let settings = service.settings();
        if !wanted.is_empty() && settings.user(&wanted).is_none() {
            return Err(format!("unknown twinning user '{}'", printable(&wanted)));
        }
        Ok(settings
            .users()
            .filter(|(id, _)| wanted.is_empty() || id.as_str() == wanted)
            .map(|(id, user)| report::ami_user(settings, id, user))
            .collect::<Vec<_>>())
    });
    match users {
        Ok(users) => {
            req.list("Twinning users will follow", "TwinningUser", &users, c"TwinningStatusComplete")
        }
        Err(message) => req.error(&message),
    }
}

fn set(req: &Request) {
    let (user, field, value) = (req.header(c"User"), req.header(c"Field"), req.header(c"Value"));
    let missing: Vec<&str> =
        [("User", &user), ("Field", &field)].iter().filter(|(_, v)| v.is_empty()).map(|(k, _)| *k).collect();
    if !missing.is_empty() {
        return req.error(&format!("missing header(s): {}", missing.join(", ")));
    }
    // A control plane names the user it acts for; the change is audited as theirs.
    let source = match req.header(c"Source").as_str() {
        "" => Source::Ami,
        agent => match Source::agent(agent) {
            Ok(s) => s,
            Err(e) => return req.error(&e),
        },
    };
    match DRIVER.apply_change(&source, &user, &field, &value) {
        Ok(change) => req.ack(&format!("{}.{} set to '{}'", change.user, change.field, change.shown().1)),
        Err(e) => req.error(&e.to_string()),
    }
}

fn handover(req: &Request) {
    let user = req.header(c"User");
    let Some(to) = LegKind::parse(&req.header(c"To")) else {
        return req.error("To must be desk or mobile (or mobile2 ... mobile10)");
    };
    if user.is_empty() {
        return req.error("missing header: User");
    }
    // A control plane names the user it acts for; the handover's events say so.
    let source = match req.header(c"Source").as_str() {
        "" => Source::Ami,
        agent => match Source::agent(agent) {
            Ok(s) => s,
            Err(e) => return req.error(&e),
        },
    };
    match DRIVER.handover(&user, to, &source) {
        Ok(()) => req.ack(&format!("handover of {user}'s call to the {to} started")),
        Err(e) => req.error(&format!("handover refused: {}", printable(&e))),
    }
}

/// The twinned calls in progress: one `TwinningCall` event each (`User`, `Channel`,
/// `Uniqueid`, `Seconds`, `Legs` as `desk:ringing mobile:dialing`).
fn calls(req: &Request) {
    let now = std::time::Instant::now();
    let calls: Vec<Vec<(String, String)>> = DRIVER
        .live()
        .list()
        .map(|c| {
            let legs: Vec<String> = c.legs.iter().map(|(k, s)| format!("{k}:{s}")).collect();
            vec![
                ("User".into(), c.user.clone()),
                ("Channel".into(), c.caller.clone()),
                ("Uniqueid".into(), c.caller_uniqueid.clone()),
                ("Seconds".into(), now.saturating_duration_since(c.started).as_secs().to_string()),
                ("Legs".into(), legs.join(" ")),
            ]
        })
        .collect();
    req.list("Twinned calls will follow", "TwinningCall", &calls, c"TwinningCallsComplete")
}

/// The settings store's state, each line of `twinning show store` as a header.
fn store(req: &Request) {
    match DRIVER.store_report() {
        Ok(report) => {
            let headers: Vec<(&str, String)> =
                report.lines().filter_map(|l| l.split_once(": ")).map(|(k, v)| (k, v.to_string())).collect();
            let headers: Vec<(String, String)> =
                headers.into_iter().map(|(k, v)| (k.replace(' ', ""), v)).collect();
            let borrowed: Vec<(&str, String)> =
                headers.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
            req.ack_with(&borrowed)
        }
        Err(e) => req.error(&e),
    }
}

/// Every metric: one `TwinningMetric` event each (`Name`, `Type`, `Help`, `Labels` as
/// Prometheus writes them, `Value`).
fn metrics(req: &Request) {
    let samples: Vec<Vec<(String, String)>> = DRIVER
        .metric_samples()
        .iter()
        .map(|s| {
            vec![
                ("Name".into(), s.family.name.into()),
                ("Type".into(), s.family.kind.name().into()),
                ("Help".into(), s.family.help.into()),
                ("Labels".into(), s.labels_text()),
                ("Value".into(), s.value.to_string()),
            ]
        })
        .collect();
    req.list("Twinning metrics will follow", "TwinningMetric", &samples, c"TwinningMetricsComplete")
}

/// Checks a user's PIN through the phone's guard and lockout: `Result: OK`, `WRONG`,
/// `LOCKED` or `NOPIN`.
fn check_pin(req: &Request) {
    let (user, pin) = (req.header(c"User"), req.header(c"Pin"));
    if user.is_empty() {
        return req.error("missing header: User");
    }
    let source = match req.header(c"Source").as_str() {
        "" => "ami".to_string(),
        agent => match Source::agent(agent) {
            Ok(s) => s.label(),
            Err(e) => return req.error(&e),
        },
    };
    match DRIVER.check_pin(&user, &pin, &source) {
        Ok(result) => req.ack_with(&[("User", user), ("Result", result.name().to_string())]),
        Err(e) => req.error(&e),
    }
}
