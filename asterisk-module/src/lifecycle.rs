//! The module's load, reload and unload: the service started from twinning.conf and the
//! journal, the registrations, and a reload that changes nothing when the file is wrong.

use twinning_service::{Service, Source};

use crate::host::module::ModuleHandle;
use crate::host::{app, astdb, cli, config, devstate, function, manager, paths};
use crate::pbx::DRIVER;
use twinning_driver::Host;

pub fn load(module: ModuleHandle) -> bool {
    match start(module) {
        Ok(users) => {
            log::info!("app_twinning loaded with {users} twinning user(s)");
            true
        }
        Err(e) => {
            log::error!("app_twinning not loaded: {e}");
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
        log::warn!("{}", w);
    }
    mirror_to_astdb(&mut service)?;
    let users = service.settings().users().count();
    DRIVER.install(service);
    // With a shared store, the database's settings replace the cached ones before the
    // first call (or the load waits a few seconds and starts on the cache).
    DRIVER.start_store(&crate::midcall::THREADS).inspect_err(|_| {
        DRIVER.remove();
    })?;
    register(module).inspect_err(|_| {
        DRIVER.remove();
    })?;
    Ok(users)
}

/// Registers everything, or nothing.
fn register(module: ModuleHandle) -> Result<(), String> {
    function::register(module, &crate::dialplan_function::TWINNING)
        .and_then(|()| cli::register(module, &crate::cli_commands::COMMANDS))
        .and_then(|()| manager::register(module, &crate::ami::ACTIONS))
        .and_then(|()| app::register(module, &crate::apps::APPLICATIONS))
        .and_then(|()| devstate::register(&crate::lamps::PROVIDERS))
        .and_then(|()| crate::host::cdr::register())
        .inspect_err(|_| unregister())?;
    crate::host::prometheus::register(|| DRIVER.metrics_text());
    // Hints show the lamps as soon as their provider can answer for them.
    DRIVER.refresh_all_lamps();
    Ok(())
}

/// Takes back whatever is registered.
fn unregister() {
    crate::host::prometheus::unregister();
    crate::host::cdr::unregister();
    devstate::unregister();
    app::unregister();
    manager::unregister();
    cli::unregister();
    function::unregister();
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
    let reloaded = config::load().and_then(|raw| DRIVER.reload(&raw));
    match reloaded {
        Ok(r) => {
            // Dropped overrides leave the journal and the AstDB mirror too.
            if r.dropped > 0 {
                if let Err(e) = DRIVER.with_service(mirror_to_astdb) {
                    log::error!("twinning: {e}");
                }
            }
            log::info!("twinning.conf reloaded: {} twinning user(s)", r.users);
            true
        }
        Err(e) => reload_refused(&e),
    }
}

/// A twinning.conf that was refused: the log names every bad line, and the security event
/// every other refused change raises says so too (someone may have written a number the
/// policy forbids, or a dial string into the file).
fn reload_refused(reason: &str) -> bool {
    log::error!("twinning reload failed, previous settings kept: {reason}");
    DRIVER.host.settings_refused("", "", &Source::Reload, reason);
    false
}

/// False (Asterisk keeps the module) if a thread the module started is still running after
/// a while: its code must stay mapped.
pub fn unload() -> bool {
    // The shared store's thread runs as long as the module: it goes first.
    DRIVER.stop_store();
    if !crate::midcall::THREADS.wait_until_idle(0, std::time::Duration::from_secs(10)) {
        log::warn!("app_twinning: a handover thread is still running; not unloading");
        if let Err(e) = DRIVER.start_store(&crate::midcall::THREADS) {
            log::error!("twinning: {e}");
        }
        return false;
    }
    let users = DRIVER.user_names();
    unregister();
    crate::lamps::go_dark(&users);
    DRIVER.remove();
    true
}
