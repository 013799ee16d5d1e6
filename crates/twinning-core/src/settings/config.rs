//! `twinning.conf` given meaning: the `[general]` section and one section per user, every
//! value validated, every problem tied to its line.

use std::collections::BTreeMap;
use std::fmt;

use super::error::printable;
use super::store_config::{StoreConfig, StoreKeys};
use super::values::parse_bool;
use super::{
    Access, CallControl, DeskDevice, DestinationPolicy, Field, MobileDialTemplate, RawConfig, RawEntry,
    UserId, UserSettings,
};
use crate::pin_guard::PinPolicy;

/// System-wide settings from `[general]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct General {
    /// How a mobile leg is dialed, e.g. `PJSIP/{number}@mobile-trunk`.
    pub mobile_dial: MobileDialTemplate,
    /// Most mobile legs that may be up or ringing at once, across all users: the bound on
    /// what a compromised account or a call flood can cost in outside calls.
    pub max_concurrent: u32,
    pub policy: DestinationPolicy,
    pub call_control: CallControl,
    /// Mobile Direct Access and Mobile Callback: number matching, context, timers.
    pub access: Access,
    /// How wrong PINs are rate-limited across calls.
    pub pin: PinPolicy,
    /// Where runtime changes are kept, and this node's name in a cluster.
    pub store: StoreConfig,
    /// Devices whose calls the dialplan may identify by caller ID (`trusted_gateways`):
    /// an SBC or another PBX that authenticates its own phones. Empty by default, so a
    /// change, a pickup or a key press acts for a user only from that user's desk (see
    /// [`crate::identity`]).
    pub trusted_gateways: Vec<String>,
    /// Per-user defaults given in `[general]`, already validated, applied to every user
    /// before the user's own section.
    defaults: Vec<(Field, String)>,
}

impl General {
    pub const DEFAULT_MAX_CONCURRENT: u32 = 20;
}

/// The whole configuration file, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub general: General,
    pub users: BTreeMap<UserId, UserSettings>,
}

/// Everything wrong with a configuration, each problem with its line where known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub problems: Vec<(Option<u32>, String)>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (line, message)) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            match line {
                Some(l) => write!(f, "line {l}: {message}")?,
                None => f.write_str(message)?,
            }
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    /// The problems with each place named as `raw` names it (see [`RawConfig::locate`]).
    pub fn render(&self, raw: &RawConfig) -> String {
        let parts: Vec<String> = self
            .problems
            .iter()
            .map(|(line, message)| match line {
                Some(l) => format!("{}: {message}", raw.locate(*l)),
                None => message.clone(),
            })
            .collect();
        parts.join("; ")
    }
}

impl Config {
    /// Validates a configuration as read by the host. Either every section and entry is
    /// valid, or the result lists every problem found; there is no partly applied config.
    pub fn from_raw(raw: &RawConfig) -> Result<Config, ConfigError> {
        let mut problems = Vec::new();
        let mut general = None;
        let mut user_sections = Vec::new();
        for section in &raw.sections {
            if section.name.eq_ignore_ascii_case("general") {
                if general.is_some() {
                    problems.push((Some(section.line), "[general] appears twice".into()));
                }
                general = Some(parse_general(&section.entries, &mut problems));
            } else {
                user_sections.push(section);
            }
        }
        let general = match general {
            Some(Some(g)) => g,
            Some(None) => return Err(ConfigError { problems }),
            None => {
                problems.push((None, "no [general] section; it must at least set mobile_dial".into()));
                return Err(ConfigError { problems });
            }
        };

        let mut users = BTreeMap::new();
        for section in user_sections {
            let id = match UserId::parse(&section.name) {
                Ok(id) => id,
                Err(e) => {
                    problems.push((Some(section.line), format!("[{}]: {e}", printable(&section.name))));
                    continue;
                }
            };
            if users.contains_key(&id) {
                problems.push((Some(section.line), format!("user [{id}] appears twice")));
                continue;
            }
            if let Some(user) = parse_user(&id, section.line, &section.entries, &general, &mut problems) {
                users.insert(id, user);
            }
        }
        if problems.is_empty() {
            Ok(Config { general, users })
        } else {
            Err(ConfigError { problems })
        }
    }
}

fn parse_general(entries: &[RawEntry], problems: &mut Vec<(Option<u32>, String)>) -> Option<General> {
    let before = problems.len();
    let mut mobile_dial = None;
    let mut max_concurrent = General::DEFAULT_MAX_CONCURRENT;
    let mut policy = DestinationPolicy::default();
    let mut call_control = CallControl::default();
    let mut access = Access::default();
    let mut pin = PinPolicy::default();
    let mut defaults = Vec::new();
    let mut store = StoreKeys::default();
    let mut trusted_gateways = Vec::new();
    // Checks defaults against a scratch user, so a bad default is reported at its own line
    // in [general], not once per user.
    let mut scratch = UserSettings::builtin(DeskDevice::parse("Local/scratch").expect("valid literal"));
    for e in entries {
        let line = Some(e.line);
        let mut bad = |m: String| problems.push((line, format!("{}: {m}", e.key)));
        match e.key.to_ascii_lowercase().as_str() {
            "mobile_dial" => match MobileDialTemplate::parse(&e.value) {
                Ok(t) => mobile_dial = Some(t),
                Err(m) => bad(m),
            },
            "max_concurrent" => match e.value.parse::<u32>() {
                Ok(n) if (1..=100_000).contains(&n) => max_concurrent = n,
                _ => bad("a whole number from 1 to 100000".into()),
            },
            "allowed_prefixes" => set_prefixes(&mut policy.allowed_prefixes, &e.value, &mut bad),
            "blocked_prefixes" => set_prefixes(&mut policy.blocked_prefixes, &e.value, &mut bad),
            "international_prefixes" => set_prefixes(&mut policy.international_prefixes, &e.value, &mut bad),
            "home_prefixes" => set_prefixes(&mut policy.home_prefixes, &e.value, &mut bad),
            "allow_international" => match parse_bool(&e.value) {
                Ok(b) => policy.allow_international = b,
                Err(m) => bad(m),
            },
            "min_digits" => match e.value.parse::<usize>() {
                Ok(n) if (1..=20).contains(&n) => policy.min_digits = n,
                _ => bad("a whole number from 1 to 20".into()),
            },
            "max_digits" => match e.value.parse::<usize>() {
                Ok(n) if (1..=20).contains(&n) => policy.max_digits = n,
                _ => bad("a whole number from 1 to 20".into()),
            },
            "trusted_gateways" => {
                trusted_gateways.clear();
                for g in e.value.split(',').filter(|g| !g.trim().is_empty()) {
                    match crate::identity::parse_trusted_gateway(g) {
                        Ok(g) => trusted_gateways.push(g),
                        Err(m) => bad(m),
                    }
                }
            }
            key => match call_control
                .set(key, &e.value)
                .or_else(|| access.set(key, &e.value))
                .or_else(|| pin.set(key, &e.value))
                .or_else(|| store.take(key, &e.value))
            {
                Some(Ok(())) => {}
                Some(Err(m)) => bad(m),
                None => match Field::parse(key) {
                    Some(field) if field.has_general_default() => match scratch.set(field, &e.value, &policy)
                    {
                        Ok(()) => defaults.push((field, e.value.clone())),
                        Err(err) => problems.push((line, err.to_string())),
                    },
                    Some(field) => {
                        problems.push((line, format!("'{field}' is per user; set it in the user's section")))
                    }
                    None => {
                        problems.push((line, format!("unknown setting '{}' in [general]", printable(key))))
                    }
                },
            },
        }
    }
    if let Err(m) = call_control.check() {
        problems.push((None, m));
    }
    let store = store.finish().unwrap_or_else(|m| {
        problems.push((None, m));
        StoreConfig::default()
    });
    if policy.min_digits > policy.max_digits {
        problems.push((None, "min_digits is greater than max_digits".into()));
    }
    if mobile_dial.is_none() && problems.len() == before {
        problems.push((
            None,
            "[general] must set mobile_dial, e.g. mobile_dial = PJSIP/{number}@mobile-trunk".into(),
        ));
    }
    if problems.len() > before {
        return None;
    }
    Some(General {
        mobile_dial: mobile_dial?,
        max_concurrent,
        policy,
        call_control,
        access,
        pin,
        store,
        trusted_gateways,
        defaults,
    })
}

fn set_prefixes(target: &mut Vec<String>, value: &str, bad: &mut impl FnMut(String)) {
    match DestinationPolicy::parse_prefixes(value) {
        Ok(p) => *target = p,
        Err(m) => bad(m),
    }
}

fn parse_user(
    id: &UserId,
    section_line: u32,
    entries: &[RawEntry],
    general: &General,
    problems: &mut Vec<(Option<u32>, String)>,
) -> Option<UserSettings> {
    let before = problems.len();
    let desk_entries: Vec<_> = entries.iter().filter(|e| e.key.eq_ignore_ascii_case("desk")).collect();
    let desk = match desk_entries.last() {
        None => {
            problems.push((
                Some(section_line),
                format!("user [{id}] needs a desk dial string, e.g. desk = PJSIP/{id}"),
            ));
            return None;
        }
        Some(e) => match DeskDevice::parse(&e.value) {
            Ok(d) => d,
            Err(m) => {
                problems.push((Some(e.line), format!("desk: {m}")));
                return None;
            }
        },
    };
    let mut user = UserSettings::builtin(desk);
    for (field, value) in &general.defaults {
        user.set(*field, value, &general.policy).expect("defaults were validated when [general] was read");
    }
    for e in entries.iter().filter(|e| !e.key.eq_ignore_ascii_case("desk")) {
        match Field::parse(&e.key) {
            Some(field) => {
                if let Err(err) = user.set(field, &e.value, &general.policy) {
                    problems.push((Some(e.line), format!("user [{id}]: {err}")));
                }
            }
            None => {
                problems.push((Some(e.line), format!("user [{id}]: unknown setting '{}'", printable(&e.key))))
            }
        }
    }
    (problems.len() == before).then_some(user)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
[general]
mobile_dial = PJSIP/{number}@mobile-trunk
max_concurrent = 5
blocked_prefixes = 09, +449
home_prefixes = +44
ring_time = 25
answer_guard = 2

[1001]
desk = PJSIP/1001
mobile = 07700900123
enabled = yes

[1002]
desk = PJSIP/1002
ring_time = 30
";

    fn load(text: &str) -> Result<Config, ConfigError> {
        Config::from_raw(&RawConfig::parse_conf(text).unwrap())
    }

    #[test]
    fn general_defaults_apply_under_user_values() {
        let c = load(SAMPLE).unwrap();
        assert_eq!(c.general.max_concurrent, 5);
        let u1 = &c.users[&UserId::parse("1001").unwrap()];
        assert_eq!(u1.get(Field::RingTime), "25");
        assert_eq!(u1.get(Field::AnswerGuard), "2");
        assert!(u1.enabled);
        let u2 = &c.users[&UserId::parse("1002").unwrap()];
        assert_eq!(u2.get(Field::RingTime), "30");
        assert_eq!(u2.mobile, None);
    }

    #[test]
    fn every_problem_is_reported_with_its_line() {
        let text = SAMPLE
            .replace("mobile = 07700900123", "mobile = 0900123456")
            .replace("ring_time = 30", "ring_time = soon");
        let err = load(&text).unwrap_err();
        let lines: Vec<_> = err.problems.iter().map(|p| p.0).collect();
        assert_eq!(lines, vec![Some(11), Some(16)], "{err}");
        assert!(err.to_string().contains("blocked prefix 09"), "{err}");
    }

    #[test]
    fn the_shipped_sample_config_is_valid() {
        let text = include_str!("../../../../asterisk-module/conf/twinning.conf.sample");
        let c = load(text).unwrap();
        assert_eq!(c.users.len(), 2);
        assert!(c.general.policy.check(&crate::PhoneNumber::parse("09001234567").unwrap()).is_err());
    }

    #[test]
    fn pin_rate_limits_are_read_and_bad_ones_reported_at_their_line() {
        let c = load(&SAMPLE.replace(
            "answer_guard = 2",
            "answer_guard = 2\npin_max_attempts = 5\npin_lockout = 60\npin_window = 600",
        ))
        .unwrap();
        assert_eq!(
            c.general.pin,
            PinPolicy {
                max_attempts: 5,
                lockout: crate::Millis::from_secs(60),
                window: crate::Millis::from_secs(600)
            }
        );
        assert_eq!(load(SAMPLE).unwrap().general.pin, PinPolicy::default());
        let e = load(
            &SAMPLE.replace("answer_guard = 2", "answer_guard = 2\npin_max_attempts = 0\npin_lockout = 0"),
        )
        .unwrap_err();
        let lines: Vec<_> = e.problems.iter().map(|p| p.0).collect();
        assert_eq!(lines, vec![Some(8), Some(9)], "{e}");
        assert!(e.to_string().contains("pin_max_attempts"), "{e}");
    }

    #[test]
    fn structural_errors() {
        assert!(load("[1001]\ndesk=PJSIP/1001\n").unwrap_err().to_string().contains("no [general]"));
        assert!(load("[general]\n").unwrap_err().to_string().contains("mobile_dial"));
        let e = load("[general]\nmobile_dial=PJSIP/{number}@t\nfrobnicate=1\n").unwrap_err();
        assert_eq!(e.problems[0].0, Some(3));
        let e = load("[general]\nmobile_dial=PJSIP/{number}@t\n[1001]\nmobile=0770\n").unwrap_err();
        assert!(e.to_string().contains("needs a desk"), "{e}");
        let e = load("[general]\nmobile_dial=PJSIP/{number}@t\n[10 01]\ndesk=PJSIP/1\n").unwrap_err();
        assert_eq!(e.problems[0].0, Some(3));
        let e = load("[general]\nmobile_dial=PJSIP/{number}@t\nmobile=0770\n").unwrap_err();
        assert!(e.to_string().contains("per user"), "{e}");
        let e = load("[general]\nmobile_dial=PJSIP/{number}@t\n[1]\ndesk=PJSIP/1\n[1]\ndesk=PJSIP/1\n")
            .unwrap_err();
        assert!(e.to_string().contains("twice"), "{e}");
    }
}
