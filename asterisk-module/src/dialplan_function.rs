//! The `TWINNING(user,field)` dialplan function: read a user's setting, or change it with
//! `Set(TWINNING(user,field)=value)`. A refused write changes nothing, logs why and puts
//! the reason in `TWINNINGERROR` (cleared by a successful write).

use twinning_core::printable;
use twinning_service::{function_arguments, Source};

use crate::apps::ERROR_VARIABLE;
use crate::host::channel::Channel;
use crate::host::function::Function;
use crate::pbx::DRIVER;

pub static TWINNING: Function = Function { name: c"TWINNING", read, write };

fn refuse(chan: Option<&Channel>, message: String) -> String {
    if let Some(c) = chan {
        c.set_variable(ERROR_VARIABLE, &message);
    }
    message
}

fn read(chan: Option<&Channel>, data: &str) -> Result<String, String> {
    let value = function_arguments(data).and_then(|(user, field)| {
        DRIVER.with_service(|s| s.settings().get(&user, &field).map_err(|e| e.to_string()))
    });
    value.map_err(|e| {
        log::warn!("TWINNING({}): {e}", printable(data));
        refuse(chan, e)
    })
}

fn write(chan: Option<&Channel>, data: &str, value: &str) -> Result<(), String> {
    let (user, field) = function_arguments(data).map_err(|e| {
        log::warn!("TWINNING({}): {e}", printable(data));
        refuse(chan, e.clone())
    })?;
    // Without a channel only the CLI's `dialplan eval` can get here: external protocols
    // (AMI Setvar) are refused by Asterisk, as the function is registered escalating.
    let device = chan.map_or(twinning_core::identity::Device::Internal, crate::device::of);
    let source = Source::Dialplan { channel: chan.map(Channel::name), device };
    match DRIVER.apply_change(&source, &user, &field, value) {
        Ok(_) => {
            if let Some(c) = chan {
                c.set_variable(ERROR_VARIABLE, "");
            }
            Ok(())
        }
        Err(e) => Err(refuse(chan, e.to_string())),
    }
}
