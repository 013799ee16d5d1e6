//! The user's lamps as Asterisk devices: `Twinning:<user>` (twinning on, or the mobile
//! ringing) and `TwinningCall:<user>` (an answered or ringing twinned call on any device),
//! for hints and `DEVICE_STATE()`. What each shows is `twinning_core::lamp`'s decision;
//! the driver publishes every change (see `twinning_driver::lamps`).

use twinning_core::lamp::Lamp;

use crate::host::devstate::{self, Provider};
use crate::pbx::DRIVER;

pub static PROVIDERS: [Provider; devstate::COUNT] = [
    Provider { label: c"Twinning", state: |user| DRIVER.lamp(Lamp::Twinning, user) },
    Provider { label: c"TwinningCall", state: |user| DRIVER.lamp(Lamp::TwinningCall, user) },
];

/// The device's name, as a hint writes it.
pub fn device(lamp: Lamp, user: &str) -> String {
    format!("{}:{user}", lamp.provider())
}

/// After the providers are gone (unload), has Asterisk ask again about every user's
/// lamps, which then read INVALID rather than their last state.
pub fn go_dark(users: &[String]) {
    for user in users {
        for lamp in Lamp::ALL {
            devstate::forget(&device(lamp, user));
        }
    }
}
