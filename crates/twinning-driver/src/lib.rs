//! The call driver: everything between the sans-IO engine of `twinning-core` and a PBX,
//! written once for every host, as quinn drives quinn-proto.
//!
//! It owns each live call's engine and the registry of live calls (found by user), the
//! one lock discipline (see [`call`]), the system-wide mobile cap, the PIN guard and the
//! settings service with its audit path. It reaches the PBX only through [`Host`]; the
//! Asterisk and FreeSWITCH modules implement that trait and translate their callbacks into
//! driver calls, and nothing else.
//!
//! Layers: the core decides, the driver orchestrates, the host adapters translate.

pub mod access;
pub mod button;
pub mod call;
pub mod caller_thread;
pub mod cap;
pub mod host;
pub mod identity;
pub mod lamps;
pub mod metrics;
pub mod pin_entry;
pub mod settings;
pub mod store;
pub mod threads;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use twinning_core::call::{CallSetup, CallerId, Command, HandoverTrigger, LegKind, LocalTime, TwinnedCall};
use twinning_core::pin_guard::{PinGuard, PinPolicy};
use twinning_core::{printable, Change, Field};
use twinning_service::calls::LiveCalls;
use twinning_service::{Service, SetError, Source};

pub use button::{ButtonPhone, ButtonResult, Confirmation};
pub use call::{codes_for, consult_codes, Call, CallState, CodeRequest, Outcome};
pub use caller_thread::CallerThread;
pub use host::Host;

/// The module's state while it is loaded: one per host module, usually a `static`.
pub struct Driver<H: Host> {
    pub host: H,
    /// What a loaded module calls itself in errors ("app_twinning is not loaded").
    module_name: &'static str,
    service: Mutex<Option<Service>>,
    cap: Mutex<cap::Cap>,
    /// The shared settings store, with `settings_store = postgresql` (see [`store`]).
    store: Mutex<Option<twinning_cluster::Cluster>>,
    live: Mutex<LiveCalls>,
    pins: Mutex<Option<PinGuard>>,
    /// Access and callback calls per user in the last hour (see [`access`]).
    access_rate: Mutex<Option<twinning_core::access::AccessRate>>,
    /// Users with a Mobile Callback pending (asked for, not yet answered or failed).
    callbacks: Mutex<std::collections::BTreeSet<String>>,
    calls: Mutex<Vec<Arc<Call<H>>>>,
    /// What the host was last told of each lamp (see [`lamps`]).
    lamps: Mutex<lamps::Shown>,
    /// Right PINs entered on live channels (see [`identity`]).
    pin_proofs: Mutex<identity::PinProofs>,
    /// One settings writer at a time, from validation to commit; the journal's `fsync`
    /// runs under this, never under the service's lock.
    settings_writer: Mutex<()>,
    /// What the module counts (see [`metrics`]).
    pub metrics: metrics::Counters,
}

/// A desk's pickup under way (see [`Driver::pickup`]).
pub struct Pickup<H: Host> {
    pub call: Arc<Call<H>>,
    /// The desk's leg in the call.
    pub leg: twinning_core::call::LegId,
    /// What the desk's own thread is to perform (the swap, or the unpark).
    pub rest: Vec<Command>,
}

/// A poisoned lock is taken over everywhere: every structure here is changed in one
/// step (settings on a copy that is swapped in, counters by one), so a panic cannot leave
/// one half-changed.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<H: Host> Driver<H> {
    pub const fn new(host: H, module_name: &'static str) -> Driver<H> {
        Driver {
            host,
            module_name,
            service: Mutex::new(None),
            cap: Mutex::new(cap::Cap::new()),
            store: Mutex::new(None),
            live: Mutex::new(LiveCalls::new()),
            pins: Mutex::new(None),
            access_rate: Mutex::new(None),
            callbacks: Mutex::new(std::collections::BTreeSet::new()),
            calls: Mutex::new(Vec::new()),
            lamps: Mutex::new(lamps::Shown::new()),
            pin_proofs: Mutex::new(identity::PinProofs::new()),
            settings_writer: Mutex::new(()),
            metrics: metrics::Counters::new(),
        }
    }

    /// Puts a freshly started service in place (module load). The host then publishes
    /// the lamps with [`Driver::refresh_all_lamps`], once whatever answers its queries for
    /// them (a device state provider) is registered.
    pub fn install(&self, service: Service) {
        self.cap().set_max(service.settings().general().max_concurrent);
        *lock(&self.service) = Some(service);
    }

    /// Takes the service out (module unload), and lets go of every allocation the module's
    /// statics hold: once the PBX unmaps the module, memory only they pointed to would be
    /// lost for good (the PIN guard's counts go with it; a config reload keeps them).
    pub fn remove(&self) -> Option<Service> {
        self.stop_store();
        *lock(&self.calls) = Vec::new();
        *self.live() = LiveCalls::new();
        *lock(&self.pins) = None;
        *lock(&self.access_rate) = None;
        *lock(&self.callbacks) = std::collections::BTreeSet::new();
        *lock(&self.lamps) = lamps::Shown::new();
        *lock(&self.pin_proofs) = identity::PinProofs::new();
        self.metrics.clear();
        lock(&self.service).take()
    }

    /// The settings service, if the module is loaded. Lock order: the service before a
    /// call's lock, a call's lock before the cap, the PIN guard or the live-call list.
    pub fn service(&self) -> MutexGuard<'_, Option<Service>> {
        lock(&self.service)
    }

    /// Runs `f` on the service, or says the module is not loaded.
    pub fn with_service<R>(&self, f: impl FnOnce(&mut Service) -> Result<R, String>) -> Result<R, String> {
        let mut guard = self.service();
        let service = guard.as_mut().ok_or_else(|| format!("{} is not loaded", self.module_name))?;
        f(service)
    }

    pub fn cap(&self) -> MutexGuard<'_, cap::Cap> {
        lock(&self.cap)
    }

    pub fn live(&self) -> MutexGuard<'_, LiveCalls> {
        lock(&self.live)
    }

    /// Wrong PINs per user across calls. Kept in memory: a module reload keeps it, a
    /// restart of the PBX clears it.
    pub fn with_pin_guard<R>(&self, f: impl FnOnce(&mut PinGuard) -> R) -> R {
        let mut g = lock(&self.pins);
        f(g.get_or_insert_with(|| PinGuard::new(PinPolicy::default())))
    }

    /// Applies a settings change from `source` with its audit trail: validated and made
    /// durable (committed, with a shared store) before anything else sees it; on any error
    /// nothing changes.
    pub fn apply_change(
        &self,
        source: &Source,
        user: &str,
        field: &str,
        value: &str,
    ) -> Result<Change, SetError> {
        // A PIN is hashed here, before any lock: the hash takes tens of milliseconds.
        let prepared =
            Field::parse(field).and_then(|f| twinning_core::settings::prepare_value(f, value).ok());
        let value = prepared.as_deref().unwrap_or(value);
        let result = match self.authorise_change(source, user, field) {
            Err(e) => Err(e),
            Ok(()) => match self.shared_store() {
                Some(store) => self.apply_shared_change(&store, source, user, field, value),
                None => self.apply_file_change(user, field, value).map(|c| (c, true)),
            },
        };
        let result = match result {
            Ok((change, in_force)) => {
                if in_force {
                    self.changed(&change, source);
                }
                self.metrics.add(metrics::CHANGES, vec![("surface", source.name().to_string())]);
                Ok(change)
            }
            Err(e) => {
                self.metrics.add(metrics::REFUSALS, vec![("surface", source.name().to_string())]);
                Err(e)
            }
        };
        match &result {
            Ok(_) => {}
            Err(e) => {
                log::warn!(
                    "twinning: refused change of {}.{} by {}: {e}",
                    printable(user),
                    printable(field),
                    source.name()
                );
                if let Some(store) = self.shared_store() {
                    store.audit_refusal(store::refusal(source, user, field, value, &e.to_string()));
                }
                self.host.settings_refused(user, field, source, &e.to_string());
            }
        }
        result
    }

    /// A change from a phone acts for the user only from the user's desk, and a number
    /// change only after the user's PIN on the same channel (see [`identity`]).
    fn authorise_change(&self, source: &Source, user: &str, field: &str) -> Result<(), SetError> {
        let Source::Dialplan { device, channel } = source else { return Ok(()) };
        if matches!(device, twinning_core::identity::Device::Internal) {
            return Ok(());
        }
        let channel = channel.as_deref().unwrap_or_default();
        let request = format!("change of {}", printable(field));
        self.check_device(&request, user, device, channel).map_err(SetError::Forbidden)?;
        self.check_pin_proof(user, field, channel).map_err(|e| {
            self.host.security_event(&twinning_service::call_events::device_refused(
                &request,
                user,
                &device.describe(),
                channel,
                &e,
            ));
            SetError::Forbidden(e)
        })
    }

    /// The file store's change: validated under the service's lock, made durable under
    /// the journal's alone (so its `fsync` holds up no call), then applied.
    fn apply_file_change(&self, user: &str, field: &str, value: &str) -> Result<Change, SetError> {
        let _one_writer = lock(&self.settings_writer);
        let not_loaded = || SetError::Storage(format!("{} is not loaded", self.module_name));
        let (checked, journal) = {
            let guard = self.service();
            let service = guard.as_ref().ok_or_else(not_loaded)?;
            (service.check(user, field, value)?, service.journal())
        };
        lock(&journal)
            .append(&twinning_service::journal_entry(&checked))
            .map_err(|e| SetError::Storage(e.to_string()))?;
        self.service().as_mut().ok_or_else(not_loaded)?.commit(&checked)
    }

    /// What follows a change in force, from this node or another: the PIN guard, the log,
    /// the host's event and mirrors, the lamps.
    fn changed(&self, change: &Change, source: &Source) {
        if change.field == Field::Pin {
            // Wrong guesses at the old PIN say nothing about the new one; an admin
            // setting a new PIN also lifts a lockout.
            self.with_pin_guard(|pins| pins.reset(&change.user));
        }
        let (old, new) = change.shown();
        let channel = source.channel();
        let node = source.node();
        log::info!(
            "twinning: {}.{} changed from '{old}' to '{new}' by {}{}{}",
            change.user,
            change.field,
            source.name(),
            if channel.is_empty() { String::new() } else { format!(" ({channel})") },
            if node.is_empty() { String::new() } else { format!(" on node {node}") }
        );
        self.host.settings_changed(change, source);
        self.refresh_lamps(change.user.as_str());
    }

    /// Everything the engine needs for a call to `user` now; also brings the cap's size up
    /// to date (`max_concurrent` may have changed at a reload).
    pub fn prepare_call(
        &self,
        user: &str,
        options: &str,
        caller: CallerId,
        dialed: Option<String>,
        local_time: LocalTime,
    ) -> Result<CallSetup, String> {
        let (setup, max) = self.with_service(|s| s.call_setup(user, options, caller, dialed, local_time))?;
        self.cap().set_max(max);
        Ok(setup)
    }

    /// Starts a call and registers it, so mid-call requests find it; returns it with the
    /// engine's first commands, for the caller's thread to carry out. The caller's thread
    /// must [`Driver::unregister`] it however the call ends ([`Driver::run_call`] does).
    pub fn start_call(&'static self, caller: H::Caller, setup: CallSetup) -> (Arc<Call<H>>, Vec<Command>) {
        let user = setup.user.to_string();
        let call_control = setup.call_control.clone();
        let now = self.host.now();
        // The site's leases first, with no lock held (see cap::Prefetched): one per
        // remote destination the call may ring.
        let wanted = setup.settings.destinations().count() as u32;
        let mut leases = self.prefetch_leases(wanted);
        let mut engine = {
            let mut cap = self.cap();
            TwinnedCall::start(setup, &mut cap::StepSlots { cap: &mut cap, leases: &mut leases }, now)
        };
        drop(leases);
        let mut first = Vec::new();
        let mut notices = Vec::new();
        while let Some(c) = engine.poll_command() {
            match c {
                Command::Notify(n) => notices.push(n),
                other => first.push(other),
            }
        }
        let id = {
            let mut live = self.live();
            let (name, uniqueid) = (self.host.caller_name(&caller), self.host.caller_uniqueid(&caller));
            let id = live.begin(&user, &name, &uniqueid, engine.started());
            live.update(id, engine.leg_states(), engine.activity());
            id
        };
        let call = Arc::new(Call::new(self, id, user, caller, call_control, engine));
        for n in notices {
            self.metrics.observe(&n);
            let e = twinning_service::call_events::call_event(&call.user, &n);
            self.host.emit_call_event(&call.caller, &e);
        }
        lock(&self.calls).push(call.clone());
        self.refresh_lamps(&call.user);
        (call, first)
    }

    /// Runs a call on the caller's thread from start to end (see [`caller_thread`]).
    pub fn run_call(
        &'static self,
        caller: H::Caller,
        setup: CallSetup,
        thread: &mut impl CallerThread<H>,
    ) -> Outcome {
        let (call, first) = self.start_call(caller, setup);
        // Unregisters (and gives back anything still held) however the call ends, a panic
        // included.
        struct Registered<'a, H: Host>(&'a Driver<H>, &'a Arc<Call<H>>);
        impl<H: Host> Drop for Registered<'_, H> {
            fn drop(&mut self) {
                self.0.unregister(self.1);
            }
        }
        let registered = Registered(self, &call);
        caller_thread::run(&call, thread, first);
        drop(registered);
        self.host.released(&call);
        call.outcome().unwrap_or(Outcome::FAILED)
    }

    /// Takes the call out of the registry and has the host stop whatever it still holds;
    /// gives back the remote legs' slots if the engine never did (the call was abandoned).
    pub fn unregister(&self, call: &Arc<Call<H>>) {
        lock(&self.calls).retain(|c| !Arc::ptr_eq(c, call));
        self.live().end(call.id);
        {
            let state = call.lock();
            if !state.engine.is_finished() {
                let mut cap = self.cap();
                for _ in 0..state.engine.mobile_slots_held() {
                    cap.release();
                }
            }
        }
        self.host.abandon(call);
        self.refresh_lamps(&call.user);
    }

    /// The user's most recent answered call: a leg bridged with the caller, or the caller
    /// held for the desk after the mobile hung up.
    pub fn find_answered(&self, user: &str) -> Option<Arc<Call<H>>> {
        lock(&self.calls).iter().rev().find(|c| c.user == user && c.is_answered()).cloned()
    }

    /// Asks the shared store for `wanted` site leases, with no lock held: the cap's lock is
    /// taken only to read the bound.
    pub(crate) fn prefetch_leases(&self, wanted: u32) -> cap::Prefetched {
        let cluster = self.shared_store();
        let max = self.cap().max();
        cap::Prefetched::take(cluster, max, wanted)
    }

    /// Every metric now: the counters, and the gauges read at this moment.
    pub fn metric_samples(&self) -> Vec<metrics::Sample> {
        let live = lock(&self.calls).len() as f64;
        let ringing = self.live().ringing_legs() as f64;
        let (store_up, reconnects) = match self.shared_store() {
            Some(store) => {
                let status = store.status();
                (f64::from(u8::from(store.is_connected())), status.reconnects)
            }
            None => (1.0, 0),
        };
        self.metrics.samples(&[
            (metrics::LIVE_CALLS, live),
            (metrics::RINGING_LEGS, ringing),
            (metrics::STORE_UP, store_up),
            (metrics::STORE_RECONNECTS, reconnects as f64),
        ])
    }

    /// The metrics in Prometheus' text format (ESL `twinning metrics`).
    pub fn metrics_text(&self) -> String {
        metrics::render(&self.metric_samples(), &[])
    }

    /// Calls in progress.
    pub fn call_count(&self) -> usize {
        lock(&self.calls).len()
    }

    /// Every call in progress (for shutdown: hang them all up).
    pub fn calls(&self) -> Vec<Arc<Call<H>>> {
        lock(&self.calls).clone()
    }

    /// `TwinningHandover` / `twinning handover`: moves the user's answered call to `to`.
    /// Moves `user`'s answered call to `to` for AMI or ESL; `source` names the control
    /// plane's user when one asked (`console:<login>`, `web:<login>`), and the handover's
    /// events then carry it as `Source`.
    pub fn handover(&self, user: &str, to: LegKind, source: &Source) -> Result<(), String> {
        let call =
            self.find_answered(user).ok_or_else(|| format!("user {user} has no answered twinned call"))?;
        let agent = matches!(source, Source::Agent { .. }).then(|| source.label());
        *call.handover_requested_by.lock().unwrap_or_else(PoisonError::into_inner) = agent;
        call.request_handover(to, HandoverTrigger::Ami, H::Here::default())
    }

    /// The desk takes the user's answered call (`TwinningPickup`, `twinning_pickup`, the
    /// twinning button; `trigger` says which): the
    /// engine adopts the desk as a new leg, which `adopt` records in the host's state in the
    /// same step. Returns the call, the desk's leg and the commands the host gave back (the
    /// swap or unpark the desk's own thread performs). The step's events are out before the
    /// desk is answered, which can take a while: the caller's thread may end the call
    /// meanwhile, and its end must come after them.
    ///
    /// Only the user's own desk takes the call: `device` is what the PBX proved of the
    /// phone asking (see [`identity`]).
    pub fn pickup(
        &self,
        user: &str,
        device: &twinning_core::identity::Device,
        desk_channel: &str,
        trigger: HandoverTrigger,
        here: H::Here,
        adopt: impl FnOnce(&mut CallState<H>, twinning_core::call::LegId),
    ) -> Result<Pickup<H>, String> {
        self.check_device("pickup", user, device, desk_channel)?;
        let call =
            self.find_answered(user).ok_or_else(|| format!("user {user} has no answered twinned call"))?;
        let now = self.host.now();
        let (result, commands) = call.step(|s| {
            let r = s.engine.pickup_by(trigger, now);
            if let Ok(leg) = r {
                adopt(s, leg);
            }
            r
        });
        let rest = call.execute(commands, here);
        let leg = result?;
        Ok(Pickup { call, leg, rest })
    }

    /// `twinning show calls`.
    pub fn calls_report(&self) -> String {
        self.live().render(self.host.now())
    }
}
