//! The module's load and shutdown: the service started from twinning.conf.xml and the
//! journal, the event subclasses, and a shutdown that lets the code go only once nothing
//! runs it (see `host::module`).

use std::path::PathBuf;
use std::time::Duration;

use twinning_service::Service;

use crate::host::api::Api;
use crate::host::app::{Application, COUNT};
use crate::host::{channel_events, config, core, events, ffi, module, presence};
use crate::pbx::DRIVER;

/// How long shutdown waits for calls to end and threads to exit before keeping the module
/// mapped instead.
const DRAIN_TIME: Duration = Duration::from_secs(20);

/// Reads the configuration and the journal of runtime changes into the driver; the
/// interfaces to register.
pub fn load() -> Result<(&'static [Application; COUNT], &'static Api), String> {
    let raw = config::load()?;
    let (service, warnings) = Service::start(&raw, &journal_path(), Vec::new)?;
    for w in warnings {
        log::warn!("{}", w);
    }
    DRIVER.install(service);
    // Reserved first: the store's first sync announces what changed while the node was
    // away.
    events::reserve();
    // With a shared store, the database's settings replace the cached ones before the
    // first call (or the load waits a few seconds and starts on the cache).
    DRIVER.start_store(&module::THREADS).inspect_err(|_| {
        events::free();
        DRIVER.remove();
    })?;
    presence::bind(crate::lamps::answer_probe).inspect_err(|_| {
        events::free();
        DRIVER.remove();
    })?;
    channel_events::bind(crate::wakeups::channel_moved).inspect_err(|_| {
        presence::unbind();
        events::free();
        DRIVER.remove();
    })?;
    // Subscribed phones hear the lamps as loaded (after a restart, the settings in force).
    DRIVER.refresh_all_lamps();
    Ok((&crate::apps::APPLICATIONS, &crate::api_command::API))
}

/// Where runtime changes are journalled: FreeSWITCH's `db_dir`, beside its core database.
fn journal_path() -> PathBuf {
    let dir = core::variable(c"db_dir").unwrap_or_else(|| "/var/lib/freeswitch/db".into());
    PathBuf::from(dir).join("twinning").join("overrides.journal")
}

/// Ends every call and waits for the module to be idle; true when the code may be
/// unmapped. At `fsctl shutdown` FreeSWITCH has hung every session up already; at `unload`
/// it refuses while an application of ours runs, but leg threads may still be finishing.
pub fn shutdown() -> bool {
    for call in DRIVER.calls() {
        call.caller.hangup(ffi::SWITCH_CAUSE_SYSTEM_SHUTDOWN);
    }
    // The shared store's thread runs as long as the module.
    DRIVER.stop_store();
    if !module::THREADS.wait_until_idle(0, DRAIN_TIME) {
        return false;
    }
    channel_events::unbind();
    presence::unbind();
    events::free();
    if let Some(mut service) = DRIVER.remove() {
        if let Err(e) = service.compact() {
            log::warn!("{}", e);
        }
    }
    true
}
