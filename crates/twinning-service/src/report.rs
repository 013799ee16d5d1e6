//! How settings are shown: the CLI's tables and the AMI events' headers. Pure text, so the
//! layout is tested here and the host only prints it.

use twinning_core::{Field, Settings, UserId, UserSettings};

/// An AMI header name for a field: `dial_delay` becomes `DialDelay`, as AMI headers are
/// conventionally written. `TwinningSet` takes the field's own name.
pub fn ami_header(field: Field) -> String {
    field
        .name()
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
        })
        .collect()
}

/// The fields a listing shows for `user`: all of the user's own, and destination 2 … 10's
/// only for a destination in use (a number, or a value of its own, set).
pub fn listed_fields(user: &UserSettings) -> impl Iterator<Item = Field> + '_ {
    Field::ALL.into_iter().filter(|&f| match f {
        Field::Destination(n, _) => {
            user.destination(n).is_some()
                || twinning_core::DestinationField::ALL
                    .iter()
                    .any(|&d| user.is_own_value(Field::Destination(n, d)))
        }
        _ => true,
    })
}

/// The header of a `TwinningUser` event that names where values come from: the fields a
/// runtime change set (every other value is the configuration file's), comma-separated.
pub const RUNTIME_FIELDS_HEADER: &str = "RuntimeFields";

/// The fields of `id` whose value in force a runtime change set, not the configuration
/// file, in field order.
pub fn runtime_fields(settings: &Settings, id: &UserId) -> Vec<Field> {
    let mut out: Vec<Field> = settings.overrides().filter(|(u, _, _)| *u == id).map(|(_, f, _)| f).collect();
    out.sort_by_key(|f| Field::ALL.iter().position(|a| a == f));
    out.dedup();
    out
}

/// The headers of one `TwinningUser` event (without `Event:` and `ActionID:`): the user,
/// each field, then `RuntimeFields`.
pub fn ami_user(settings: &Settings, id: &UserId, user: &UserSettings) -> Vec<(String, String)> {
    let mut headers = vec![("User".to_owned(), id.to_string())];
    headers.extend(listed_fields(user).map(|f| (ami_header(f), user.display(f))));
    let runtime: Vec<&str> = runtime_fields(settings, id).iter().map(|f| f.name()).collect();
    headers.push((RUNTIME_FIELDS_HEADER.to_owned(), runtime.join(",")));
    headers
}

/// `twinning show users`.
pub fn users_table(settings: &Settings) -> String {
    let mut out = format!(
        "{:<12} {:<20} {:<16} {:<7} {:<4} {:>6} {:>6} {:>6} {:<7} {}\n",
        "User", "Desk", "Mobile", "Enabled", "DND", "Delay", "Guard", "Ring", "Confirm", "Schedule"
    );
    let mut count = 0;
    for (id, u) in settings.users() {
        count += 1;
        out.push_str(&format!(
            "{:<12} {:<20} {:<16} {:<7} {:<4} {:>6} {:>6} {:>6} {:<7} {}\n",
            id.as_str(),
            u.get(Field::Desk),
            dash_if_empty(u.get(Field::Mobile)),
            u.get(Field::Enabled),
            u.get(Field::Dnd),
            u.get(Field::DialDelay),
            u.get(Field::AnswerGuard),
            u.get(Field::RingTime),
            u.get(Field::Confirm),
            u.get(Field::Schedule),
        ));
    }
    out.push_str(&format!("{count} twinning user{}\n", if count == 1 { "" } else { "s" }));
    out
}

/// `twinning show user <user>`: every field, and which ones a runtime change overrides.
pub fn user_detail(settings: &Settings, id: &UserId, user: &UserSettings) -> String {
    let overridden = runtime_fields(settings, id);
    let mut out = format!("Twinning user {id}\n");
    for f in listed_fields(user) {
        let note = if overridden.contains(&f) { "  (runtime)" } else { "" };
        out.push_str(&format!("  {:<17}: {}{note}\n", f.name(), dash_if_empty(user.display(f))));
    }
    out
}

/// Splits `user,field`, the arguments of the dialplan function (`TWINNING()` in Asterisk).
pub fn function_arguments(data: &str) -> Result<(String, String), String> {
    let parts: Vec<&str> = data.split(',').map(str::trim).collect();
    match parts.as_slice() {
        [user, field] if !user.is_empty() && !field.is_empty() => Ok((user.to_string(), field.to_string())),
        _ => Err("usage: TWINNING(user,field)".into()),
    }
}

fn dash_if_empty(s: String) -> String {
    if s.is_empty() {
        "-".into()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use twinning_core::{Config, RawConfig};

    fn settings() -> Settings {
        let conf = "[general]\nmobile_dial=PJSIP/{number}@t\n[1001]\ndesk=PJSIP/1001\nmobile=07700900123\npin=1234\n";
        Settings::new(Config::from_raw(&RawConfig::parse_conf(conf).unwrap()).unwrap())
    }

    #[test]
    fn ami_headers_are_camel_case_and_pin_is_masked() {
        assert_eq!(ami_header(Field::HuntGroupCalls), "HuntGroupCalls");
        let s = settings();
        let (id, u) = s.users().next().unwrap();
        let h = ami_user(&s, id, u);
        assert!(h.contains(&("DialDelay".into(), "0".into())));
        assert!(h.contains(&("Pin".into(), "****".into())));
        assert_eq!(h.last(), Some(&("RuntimeFields".into(), String::new())), "all from the file");
    }

    #[test]
    fn ami_user_names_the_fields_a_runtime_change_set() {
        let mut s = settings();
        s.set("1001", "ring_time", "30").unwrap();
        s.set("1001", "dnd", "yes").unwrap();
        let id = UserId::parse("1001").unwrap();
        let h = ami_user(&s, &id, s.user("1001").unwrap());
        assert_eq!(h.last(), Some(&("RuntimeFields".into(), "ring_time,dnd".into())), "{h:?}");
        assert!(!h.iter().any(|(k, _)| k == "Runtime"), "the header is not a field's");
        assert!(Field::ALL.iter().all(|&f| ami_header(f) != RUNTIME_FIELDS_HEADER));
    }

    #[test]
    fn function_arguments_are_exactly_user_and_field() {
        assert_eq!(function_arguments("1001, mobile").unwrap(), ("1001".into(), "mobile".into()));
        for bad in ["", "1001", "1001,", ",mobile", "1001,mobile,x"] {
            assert!(function_arguments(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn detail_marks_runtime_overrides() {
        let mut s = settings();
        s.set("1001", "ring_time", "30").unwrap();
        let id = UserId::parse("1001").unwrap();
        let text = user_detail(&s, &id, s.user("1001").unwrap());
        assert!(text.contains("ring_time        : 30  (runtime)"), "{text}");
        assert!(text.contains("pin              : ****\n"), "{text}");
        assert!(!text.contains("mobile2"), "an unused destination is not listed: {text}");
        s.set("1001", "mobile2", "07700900222").unwrap();
        let text = user_detail(&s, &id, s.user("1001").unwrap());
        assert!(text.contains("mobile2          : 07700900222  (runtime)"), "{text}");
        assert!(text.contains("mobile2_ring_time: 30\n"), "the user's own value applies: {text}");
        assert!(!text.contains("mobile3"), "{text}");
        assert!(users_table(&s).ends_with("1 twinning user\n"));
    }
}
