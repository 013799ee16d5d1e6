//! The module's load, reload and unload: the service started from twinning.conf and the
//! journal, the registrations, and a reload that changes nothing when the file is wrong.

use std::sync::{Mutex, PoisonError};

use twinning_service::{Service, Source};

use crate::host::module::ModuleHandle;
use crate::host::{app, astdb, cli, config, function, logger, manager, paths};
use crate::pbx::DRIVER;
use twinning_driver::Host;

struct Registrations {
    function: function::Registration,
    cli: cli::Registration,
}

static REGISTRATIONS: Mutex<Option<Registrations>> = Mutex::new(None);

pub fn load(module: ModuleHandle) -> bool {
    match start(module) {
        Ok(users) => {
            logger::notice(&format!("app_twinning loaded with {users} twinning user(s)"));
            true
        }
        Err(e) => {
            logger::error(&format!("app_twinning not loaded: {e}"));
            false
        }
    }
}

fn start(module: ModuleHandle) -> Result<usize, String> {
    let raw = config::load()?;
    // The journal of runtime overrides, beside astdb in Asterisk's var lib directory.
    let journal = paths::var_dir().join("twinning").join("overrides.journal");
    let (mut service, warnings) = Service::start(&raw, &journal, astdb::entries)?;
    for w in warnings {
        logger::warning(&w);
    }
    mirror_to_astdb(&mut service)?;
    let users = service.settings().users().count();
    DRIVER.install(service);
    let registered = register(module);
    match registered {
        Ok(r) => {
            *REGISTRATIONS.lock().unwrap_or_else(PoisonError::into_inner) = Some(r);
            Ok(users)
        }
        Err(e) => {
            DRIVER.remove();
            Err(e)
        }
    }
}

/// Registers everything, or nothing.
fn register(module: ModuleHandle) -> Result<Registrations, String> {
    let function = function::register(module, &crate::dialplan_function::TWINNING)?;
    let cli = match cli::register(module, &crate::cli_commands::COMMANDS) {
        Ok(cli) => cli,
        Err(e) => {
            function.unregister();
            return Err(e);
        }
    };
    let rest = manager::register(module, &crate::ami::ACTIONS).and_then(|()| {
        app::register(module, &crate::apps::APPLICATIONS).inspect_err(|_| manager::unregister())
    });
    match rest {
        Ok(()) => Ok(Registrations { function, cli }),
        Err(e) => {
            cli.unregister();
            function.unregister();
            Err(e)
        }
    }
}

/// Compacts the journal and makes AstDB's `twinning` family show exactly the overrides in
/// force, dropping entries the journal superseded or found invalid.
fn mirror_to_astdb(service: &mut Service) -> Result<(), String> {
    let entries = service.compact()?;
    astdb::clear_family();
    for e in entries {
        astdb::put(&format!("{}/{}", e.user, e.field), &e.value)?;
    }
    Ok(())
}

pub fn reload() -> bool {
    let raw = match config::load() {
        Ok(raw) => raw,
        Err(e) => return reload_refused(&e),
    };
    let reloaded = DRIVER.with_service(|service| {
        let problems = service.reload(&raw)?;
        for p in &problems {
            logger::warning(&p.to_string());
        }
        // Users gone from the file, or without a PIN now, need no PIN record.
        let settings = service.settings().clone();
        DRIVER.with_pin_guard(|pins| {
            pins.prune(std::time::Instant::now(), |user| {
                settings.user(user.as_str()).is_some_and(|u| u.pin.is_some())
            })
        });
        // Dropped overrides leave the journal and the AstDB mirror too.
        if !problems.is_empty() {
            if let Err(e) = mirror_to_astdb(service) {
                logger::error(&format!("twinning: {e}"));
            }
        }
        Ok(service.settings().users().count())
    });
    match reloaded {
        Ok(users) => {
            logger::notice(&format!("twinning.conf reloaded: {users} twinning user(s)"));
            true
        }
        Err(e) => reload_refused(&e),
    }
}

/// A twinning.conf that was refused: the log names every bad line, and the security event
/// every other refused change raises says so too (someone may have written a number the
/// policy forbids, or a dial string into the file).
fn reload_refused(reason: &str) -> bool {
    logger::error(&format!("twinning reload failed, previous settings kept: {reason}"));
    DRIVER.host.settings_refused("", "", &Source::Reload, reason);
    false
}

pub fn unload() {
    app::unregister();
    manager::unregister();
    if let Some(r) = REGISTRATIONS.lock().unwrap_or_else(PoisonError::into_inner).take() {
        r.cli.unregister();
        r.function.unregister();
    }
    DRIVER.remove();
}
