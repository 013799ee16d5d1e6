//! The `twinning` API command of FreeSWITCH (fs_cli, ESL `api`/`bgapi`, `${twinning(...)}`
//! in the dialplan): its words, parsed and checked before anything is looked up.

use twinning_core::call::LegKind;

pub const USAGE: &str =
    "twinning status [user] | set <user> <field> <value> | set-as console:<login>|web:<login> <user> <field> <value> | handover <user> desk|mobile|mobile2..10 [console:<login>|web:<login>] | state <user> | calls | store | metrics | checkpin <user> <pin> | reload | help";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiCommand {
    /// Every user (a table), or one user's fields.
    Status(Option<String>),
    Set {
        user: String,
        field: String,
        value: String,
    },
    /// A control plane's change for one of its users (`console:<login>`, `web:<login>`),
    /// audited under that name.
    SetAs {
        agent: String,
        user: String,
        field: String,
        value: String,
    },
    /// Every metric, in Prometheus' text format.
    Metrics,
    /// A PIN checked through the phone's guard and lockout: `+OK OK|WRONG|LOCKED|NOPIN`.
    CheckPin {
        user: String,
        pin: String,
        agent: Option<String>,
    },
    /// Moves the user's answered call; a control plane names the user it acts for, whom
    /// the handover's events then name.
    Handover {
        user: String,
        to: LegKind,
        agent: Option<String>,
    },
    /// The user's two lamps (the twinning key and the call lamp).
    State(String),
    Calls,
    /// The settings store: backend, connection state, last sync.
    Store,
    /// Re-read twinning.conf.xml (after `reloadxml`); a broken file changes nothing.
    Reload,
    Help,
}

impl ApiCommand {
    pub fn parse(line: &str) -> Result<ApiCommand, String> {
        let line = line.trim();
        let (verb, rest) = split_word(line);
        match verb {
            "" | "help" if rest.is_empty() => Ok(ApiCommand::Help),
            "status" => {
                let (user, extra) = split_word(rest);
                if !extra.is_empty() {
                    return Err("usage: twinning status [user]".into());
                }
                Ok(ApiCommand::Status((!user.is_empty()).then(|| user.to_owned())))
            }
            "set" => {
                let (user, rest) = split_word(rest);
                let (field, value) = split_word(rest);
                if user.is_empty() || field.is_empty() {
                    return Err("usage: twinning set <user> <field> <value>".into());
                }
                // The value is the rest of the line (an empty value clears, e.g. the mobile).
                Ok(ApiCommand::Set { user: user.into(), field: field.into(), value: value.into() })
            }
            "set-as" => {
                let (agent, rest) = split_word(rest);
                let (user, rest) = split_word(rest);
                let (field, value) = split_word(rest);
                if agent.is_empty() || user.is_empty() || field.is_empty() {
                    return Err(
                        "usage: twinning set-as console:<login>|web:<login> <user> <field> <value>".into()
                    );
                }
                Ok(ApiCommand::SetAs {
                    agent: agent.into(),
                    user: user.into(),
                    field: field.into(),
                    value: value.into(),
                })
            }
            "metrics" if rest.is_empty() => Ok(ApiCommand::Metrics),
            "checkpin" => {
                let (user, rest) = split_word(rest);
                let (pin, rest) = split_word(rest);
                let (agent, extra) = split_word(rest);
                if user.is_empty() || !extra.is_empty() {
                    return Err("usage: twinning checkpin <user> <pin> [console:<login>|web:<login>]".into());
                }
                Ok(ApiCommand::CheckPin {
                    user: user.into(),
                    pin: pin.into(),
                    agent: (!agent.is_empty()).then(|| agent.to_owned()),
                })
            }
            "handover" => {
                let (user, rest) = split_word(rest);
                let (to, rest) = split_word(rest);
                let (agent, extra) = split_word(rest);
                const HANDOVER_USAGE: &str = "usage: twinning handover <user> desk|mobile (or mobile2 ... mobile10) [console:<login>|web:<login>]";
                let Some(to) = LegKind::parse(to) else {
                    return Err(HANDOVER_USAGE.into());
                };
                if user.is_empty() || !extra.is_empty() {
                    return Err(HANDOVER_USAGE.into());
                }
                if !agent.is_empty() {
                    crate::Source::agent(agent).map_err(|e| format!("{e}; {HANDOVER_USAGE}"))?;
                }
                Ok(ApiCommand::Handover {
                    user: user.into(),
                    to,
                    agent: (!agent.is_empty()).then(|| agent.to_owned()),
                })
            }
            "state" => {
                let (user, extra) = split_word(rest);
                if user.is_empty() || !extra.is_empty() {
                    return Err("usage: twinning state <user>".into());
                }
                Ok(ApiCommand::State(user.into()))
            }
            "calls" if rest.is_empty() => Ok(ApiCommand::Calls),
            "store" if rest.is_empty() => Ok(ApiCommand::Store),
            "reload" if rest.is_empty() => Ok(ApiCommand::Reload),
            _ => Err(format!("unknown twinning command; usage: {USAGE}")),
        }
    }
}

fn split_word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.find(char::is_whitespace) {
        Some(i) => (&s[..i], s[i..].trim()),
        None => (s, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_command() {
        assert_eq!(ApiCommand::parse("").unwrap(), ApiCommand::Help);
        assert_eq!(ApiCommand::parse(" help ").unwrap(), ApiCommand::Help);
        assert_eq!(ApiCommand::parse("status").unwrap(), ApiCommand::Status(None));
        assert_eq!(ApiCommand::parse("state 1001").unwrap(), ApiCommand::State("1001".into()));
        assert!(ApiCommand::parse("state").is_err());
        assert!(ApiCommand::parse("state 1001 1002").is_err());
        assert_eq!(ApiCommand::parse("status 1001").unwrap(), ApiCommand::Status(Some("1001".into())));
        assert_eq!(
            ApiCommand::parse("set 1001 schedule mon-fri 09:00-17:00").unwrap(),
            ApiCommand::Set {
                user: "1001".into(),
                field: "schedule".into(),
                value: "mon-fri 09:00-17:00".into()
            }
        );
        assert_eq!(
            ApiCommand::parse("set 1001 mobile").unwrap(),
            ApiCommand::Set { user: "1001".into(), field: "mobile".into(), value: String::new() }
        );
        assert_eq!(
            ApiCommand::parse("handover 1001 mobile").unwrap(),
            ApiCommand::Handover { user: "1001".into(), to: LegKind::MOBILE, agent: None }
        );
        assert_eq!(
            ApiCommand::parse("handover 1001 desk web:alice").unwrap(),
            ApiCommand::Handover { user: "1001".into(), to: LegKind::Desk, agent: Some("web:alice".into()) }
        );
        assert!(ApiCommand::parse("handover 1001 desk web:alice more").is_err());
        assert_eq!(ApiCommand::parse("calls").unwrap(), ApiCommand::Calls);
        assert_eq!(ApiCommand::parse("store").unwrap(), ApiCommand::Store);
        assert!(ApiCommand::parse("store now").is_err());
        assert_eq!(ApiCommand::parse("reload").unwrap(), ApiCommand::Reload);
    }

    #[test]
    fn refuses_malformed_commands() {
        for bad in [
            "status 1001 extra",
            "set",
            "set 1001",
            "handover 1001",
            "handover 1001 voicemail",
            "handover 1001 desk now",
            "calls now",
            "help me",
            "drop tables",
        ] {
            assert!(ApiCommand::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
