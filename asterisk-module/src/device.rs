//! The device a channel came from, as Asterisk proved it, for the desk check in
//! `twinning_driver::identity`.
//!
//! A channel's name is `<tech>/<resource>-<sequence>`, made by its channel driver from
//! what that driver authenticated or identified (chan_pjsip: the endpoint that matched
//! the request), never from the caller ID. Its device name, the name without the
//! sequence, is what `DEVICE_STATE()` and hints use. A Local channel is the dialplan's own.

use twinning_core::identity::Device;

use crate::host::channel::Channel;

pub fn of(chan: &Channel) -> Device {
    from_name(&chan.name())
}

fn from_name(name: &str) -> Device {
    let device = name.rsplit_once('-').map_or(name, |(device, _)| device);
    match device.split_once('/') {
        Some((tech, _)) if tech.eq_ignore_ascii_case("Local") => Device::Internal,
        Some(_) => Device::Phone(vec![device.to_owned()]),
        None => Device::Phone(Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names() {
        assert_eq!(from_name("PJSIP/desk1001-0000002a"), Device::Phone(vec!["PJSIP/desk1001".into()]));
        assert_eq!(from_name("PJSIP/my-phone-0000002a"), Device::Phone(vec!["PJSIP/my-phone".into()]));
        assert_eq!(from_name("Local/*21@twinning-features-00000003;2"), Device::Internal);
        assert_eq!(from_name("garbage"), Device::Phone(Vec::new()));
    }
}
