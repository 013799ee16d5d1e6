//! A user's settings as AMI `TwinningStatus` reports them. TWINNING() is registered as
//! escalating, so AMI's Getvar and Setvar cannot reach it (Asterisk's `live_dangerously`
//! is off by default): a test that only needs to read a setting reads it here, and a test
//! of the function itself runs it on a channel (see [`crate::dialplan`]).

use crate::ami::{Ami, Message};

/// The header TwinningStatus gives a field: `dial_delay` becomes `DialDelay`, made as
/// `report::ami_header` in crates/twinning-service makes it.
pub fn ami_header(field: &str) -> String {
    field
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
        })
        .collect()
}

/// `user`'s `TwinningUser` event: the user's fields as headers. Destinations 2 … 10 are
/// listed only while in use, so a header's absence is itself something to check.
pub fn twinning_user(ami: &mut Ami, user: &str) -> Message {
    let (r, events) = ami.list("TwinningStatus", &[("User", user)], "TwinningStatusComplete");
    assert_eq!(r.get("Response"), Some("Success"), "TwinningStatus for {user}: {r:?}");
    let mut users: Vec<Message> = events.into_iter().filter(|e| e.is_event("TwinningUser")).collect();
    assert_eq!(users.len(), 1, "TwinningStatus for {user}: {users:?}");
    users.remove(0)
}

/// One of `user`'s settings as TwinningStatus shows it: a PIN that is set as `****`. A
/// field that is not listed (of a destination not in use) fails the test rather than
/// reading as empty, since such a field may still have a value inherited from the user.
pub fn twinning_field(ami: &mut Ami, user: &str, field: &str) -> String {
    let header = ami_header(field);
    let event = twinning_user(ami, user);
    event
        .get(&header)
        .unwrap_or_else(|| panic!("{user}.{field} is not listed ({header}): {event:?}"))
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_the_fields_in_camel_case() {
        assert_eq!(ami_header("dial_delay"), "DialDelay");
        assert_eq!(ami_header("mobile10_answer_guard"), "Mobile10AnswerGuard");
        assert_eq!(ami_header("pin"), "Pin");
    }
}
