//! Who is asking: a request from a phone acts for a user only when the PBX proves the
//! phone is that user's desk.
//!
//! A caller ID proves nothing: a PJSIP endpoint without a fixed `callerid` takes it from
//! the From header, and FreeSWITCH's `caller_id_number` likewise. What the PBX does prove
//! is the device a channel came from: Asterisk's endpoint (the channel's device name,
//! `PJSIP/desk1001`), FreeSWITCH's authenticated user (`user_name`), or the address a
//! leg's signalling came from. The host names what it proved ([`Device`]); this module
//! decides, once for both PBXes, whether that is the user's desk.

use crate::settings::DeskDevice;

/// The device behind a request from a channel, as the host proved it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Device {
    /// A channel the PBX made itself, from its dialplan or a privileged interface (an
    /// Asterisk Local channel, a FreeSWITCH loopback): trusted as the dialplan is, since
    /// only the admin's dialplan or an originate-class manager decides where it runs.
    Internal,
    /// A phone or trunk, with every identity the host could prove for it, in the forms
    /// [`desk_identity`] gives: `PJSIP/desk1001`; `user/1001` and `user/1001@example.com`;
    /// `sofia/internal/192.0.2.10` and `sofia/internal/192.0.2.10:5062`.
    Phone(Vec<String>),
}

impl Device {
    /// The identity to show in a refusal or an audit record.
    pub fn describe(&self) -> String {
        match self {
            Device::Internal => "an internal channel".into(),
            Device::Phone(ids) => ids.first().cloned().unwrap_or_else(|| "an unidentified device".into()),
        }
    }

    fn proves(&self, identity: &str) -> bool {
        match self {
            Device::Internal => false,
            Device::Phone(ids) => ids.iter().any(|id| same_identity(id, identity)),
        }
    }
}

/// Why a request from a device was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotTheDesk {
    pub device: String,
    pub user: String,
}

impl std::fmt::Display for NotTheDesk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} is not {}'s desk device; only the user's own desk may do this", self.device, self.user)
    }
}

/// Decides whether a request for `user` (whose desk is `desk`) may come from `device`:
/// it may from the desk itself, from the PBX's own channels, and from a gateway the admin
/// listed in `trusted_gateways` (whose caller IDs the dialplan is then trusted to read).
pub fn check_desk(
    user: &str,
    desk: &DeskDevice,
    device: &Device,
    trusted_gateways: &[String],
) -> Result<(), NotTheDesk> {
    if matches!(device, Device::Internal)
        || device.proves(&desk_identity(desk))
        || trusted_gateways.iter().any(|g| device.proves(g))
    {
        return Ok(());
    }
    Err(NotTheDesk { device: device.describe(), user: user.to_owned() })
}

/// The identity a desk's phone must prove, from its dial string:
/// - `sofia/<profile>/<user>@<host>[:port]` (a FreeSWITCH phone by address): the address
///   the call must come from, `sofia/<profile>/<host>`. The user part is dropped: it is
///   what the phone claims, not what the PBX proved. So is the port: it is where the phone
///   listens, and its requests may come from another (TCP, TLS, NAT).
/// - `user/<id>[@domain]` (a FreeSWITCH directory user): the authenticated user.
/// - anything else (`PJSIP/desk1001`, `IAX2/…`): Asterisk's device name, the dial string
///   up to any further `/` (a PJSIP contact URI after the endpoint).
pub fn desk_identity(desk: &DeskDevice) -> String {
    let (tech, resource) = (desk.tech(), desk.resource());
    if tech.eq_ignore_ascii_case("sofia") {
        if let Some((profile, target)) = resource.split_once('/') {
            let host = target.rsplit_once('@').map_or(target, |(_, h)| h);
            return format!("sofia/{profile}/{}", without_port(host));
        }
    }
    if tech.eq_ignore_ascii_case("user") {
        return format!("user/{resource}");
    }
    let endpoint = resource.split('/').next().unwrap_or(resource);
    format!("{tech}/{endpoint}")
}

/// `192.0.2.1:5060` → `192.0.2.1`, `[2001:db8::1]:5060` → `[2001:db8::1]`.
fn without_port(host: &str) -> &str {
    match host.strip_prefix('[') {
        Some(rest) => rest.find(']').map_or(host, |end| &host[..end + 2]),
        None => host.split(':').next().unwrap_or(host),
    }
}

/// Technology names compare as the PBXes compare them (without case); the rest exactly.
fn same_identity(a: &str, b: &str) -> bool {
    match (a.split_once('/'), b.split_once('/')) {
        (Some((ta, ra)), Some((tb, rb))) => ta.eq_ignore_ascii_case(tb) && ra == rb,
        _ => false,
    }
}

/// Checks an admin's `trusted_gateways` entry: one identity in the forms above.
pub fn parse_trusted_gateway(s: &str) -> Result<String, String> {
    let s = s.trim();
    let ok = s.split_once('/').is_some_and(|(t, r)| {
        !t.is_empty()
            && t.chars().all(|c| c.is_ascii_alphanumeric())
            && !r.is_empty()
            && r.chars().all(|c| c.is_ascii_alphanumeric() || "._-/@:[]".contains(c))
    });
    if ok {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "'{}' is not a device (PJSIP/<endpoint>, user/<id>[@domain] or sofia/<profile>/<address>[:port])",
            crate::printable(s)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desk(s: &str) -> DeskDevice {
        DeskDevice::parse(s).unwrap()
    }

    fn phone(ids: &[&str]) -> Device {
        Device::Phone(ids.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn the_desk_itself_is_accepted_and_another_phone_refused() {
        let d = desk("PJSIP/desk1001");
        assert!(check_desk("1001", &d, &phone(&["PJSIP/desk1001"]), &[]).is_ok());
        assert!(check_desk("1001", &d, &phone(&["pjsip/desk1001"]), &[]).is_ok(), "tech without case");
        let e = check_desk("1001", &d, &phone(&["PJSIP/desk1002"]), &[]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "PJSIP/desk1002 is not 1001's desk device; only the user's own desk may do this"
        );
        assert!(check_desk("1001", &d, &phone(&["PJSIP/desk10011"]), &[]).is_err(), "no prefix match");
        assert!(check_desk("1001", &d, &phone(&[]), &[]).is_err());
        assert!(check_desk("1001", &d, &Device::Internal, &[]).is_ok());
        assert!(check_desk(
            "1001",
            &desk("PJSIP/desk1001/sip:desk@192.0.2.1"),
            &phone(&["PJSIP/desk1001"]),
            &[]
        )
        .is_ok());
    }

    #[test]
    fn freeswitch_forms() {
        let by_user = desk("user/1001");
        assert!(check_desk("1001", &by_user, &phone(&["user/1001", "user/1001@example.com"]), &[]).is_ok());
        assert!(check_desk("1001", &by_user, &phone(&["user/1002"]), &[]).is_err());
        let with_domain = desk("user/1001@example.com");
        assert!(
            check_desk("1001", &with_domain, &phone(&["user/1001", "user/1001@example.com"]), &[]).is_ok()
        );
        assert!(
            check_desk("1001", &with_domain, &phone(&["user/1001", "user/1001@other.example"]), &[]).is_err()
        );
        let by_address = desk("sofia/internal/desk@192.0.2.10:5071");
        let from_desk = phone(&["sofia/internal/192.0.2.10", "sofia/internal/192.0.2.10:40123"]);
        assert!(check_desk("1001", &by_address, &from_desk, &[]).is_ok());
        let other_host = phone(&["sofia/internal/192.0.2.11", "sofia/internal/192.0.2.11:5071"]);
        assert!(check_desk("1001", &by_address, &other_host, &[]).is_err());
        let other_profile = phone(&["sofia/external/192.0.2.10"]);
        assert!(check_desk("1001", &by_address, &other_profile, &[]).is_err());
        // A gateway may be listed by an IPv6 address (a desk's dial string cannot hold one).
        assert_eq!(without_port("[2001:db8::1]:5060"), "[2001:db8::1]");
        assert_eq!(without_port("192.0.2.1"), "192.0.2.1");
    }

    #[test]
    fn a_trusted_gateway_relaxes_the_check() {
        let d = desk("PJSIP/desk1001");
        let sbc = phone(&["PJSIP/sbc"]);
        assert!(check_desk("1001", &d, &sbc, &[]).is_err());
        assert!(check_desk("1001", &d, &sbc, &["PJSIP/sbc".into()]).is_ok());
        assert!(parse_trusted_gateway("PJSIP/sbc").is_ok());
        assert!(parse_trusted_gateway("sofia/external/192.0.2.7:5060").is_ok());
        for bad in ["", "sbc", "/x", "PJSIP/", "PJSIP/a&b", "PJSIP/a,b", "PJSIP/${X}"] {
            assert!(parse_trusted_gateway(bad).is_err(), "{bad:?}");
        }
    }
}
