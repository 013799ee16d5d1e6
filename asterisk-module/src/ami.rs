//! AMI actions: `TwinningStatus`, `TwinningSet` and `TwinningHandover`. Reading settings
//! is reporting; changing them needs the `config` write class, as Asterisk's own
//! configuration actions do; moving a live call is call control, as Redirect and Bridge
//! are. Event names and headers are public interface (see README).

use twinning_core::call::LegKind;
use twinning_core::printable;
use twinning_service::{report, Source};

use crate::host::manager::{Action, Class, Request, COUNT};
use crate::pbx::DRIVER;

pub static ACTIONS: [Action; COUNT] = [
    Action { name: c"TwinningStatus", authority: Class::Reporting, run: status },
    Action { name: c"TwinningSet", authority: Class::Config, run: set },
    Action { name: c"TwinningHandover", authority: Class::Call, run: handover },
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
            .map(|(id, user)| report::ami_user(id, user))
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
    match DRIVER.apply_change(&Source::Ami, &user, &field, &value) {
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
    match DRIVER.handover(&user, to) {
        Ok(()) => req.ack(&format!("handover of {user}'s call to the {to} started")),
        Err(e) => req.error(&format!("handover refused: {}", printable(&e))),
    }
}
