//! The device a session came from, as FreeSWITCH proved it, for the desk check in
//! `twinning_driver::identity`.
//!
//! `caller_id_number` and the SIP From user are what the phone wrote. What sofia proves
//! is the user a request authenticated as (digest auth against the directory:
//! `sip_authorized`, `user_name`, `domain_name`) and the address its signalling came from
//! (`sip_network_ip`, `sip_network_port`), which a phone without a registration is known
//! by in a desk setting such as `sofia/internal/desk@192.0.2.10:5060`. A loopback session
//! is the dialplan's own.

use twinning_core::identity::Device;

use crate::host::session::Session;

pub fn of(session: Session) -> Device {
    let var = |name: &str| session.variable(name).filter(|v| !v.is_empty());
    from_parts(&session.name(), &var)
}

/// A session's label in audit records and PIN proofs: its name, which several calls from
/// one phone share, with its unique id.
pub fn channel_label(session: Session) -> String {
    format!("{} [{}]", session.name(), session.uuid())
}

fn from_parts(name: &str, var: &dyn Fn(&str) -> Option<String>) -> Device {
    if name.starts_with("loopback/") {
        return Device::Internal;
    }
    let mut ids = Vec::new();
    if var("sip_authorized").as_deref() == Some("true") {
        if let Some(user) = var("user_name").or_else(|| var("sip_auth_username")) {
            ids.push(format!("user/{user}"));
            if let Some(domain) = var("domain_name").or_else(|| var("sip_auth_realm")) {
                ids.push(format!("user/{user}@{domain}"));
            }
        }
    }
    if let (Some(profile), Some(ip)) = (var("sofia_profile_name"), var("sip_network_ip")) {
        // As a desk setting writes an IPv6 address: in brackets.
        let ip = if ip.contains(':') && !ip.starts_with('[') { format!("[{ip}]") } else { ip };
        ids.push(format!("sofia/{profile}/{ip}"));
        if let Some(port) = var("sip_network_port") {
            ids.push(format!("sofia/{profile}/{ip}:{port}"));
        }
    }
    Device::Phone(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    }

    #[test]
    fn authenticated_user_and_address() {
        let v = vars(&[
            ("sip_authorized", "true"),
            ("user_name", "1001"),
            ("domain_name", "example.com"),
            ("sofia_profile_name", "internal"),
            ("sip_network_ip", "192.0.2.10"),
            ("sip_network_port", "5062"),
        ]);
        let Device::Phone(ids) = from_parts("sofia/internal/1001@example.com", &v) else { panic!() };
        assert_eq!(
            ids,
            [
                "user/1001",
                "user/1001@example.com",
                "sofia/internal/192.0.2.10",
                "sofia/internal/192.0.2.10:5062"
            ]
        );
    }

    #[test]
    fn a_claimed_user_without_auth_proves_only_its_address() {
        let v = vars(&[
            ("user_name", "1002"),
            ("sofia_profile_name", "internal"),
            ("sip_network_ip", "192.0.2.9"),
        ]);
        assert_eq!(
            from_parts("sofia/internal/1002@x", &v),
            Device::Phone(vec!["sofia/internal/192.0.2.9".into()])
        );
        assert_eq!(from_parts("loopback/*21-a", &vars(&[])), Device::Internal);
    }
}
