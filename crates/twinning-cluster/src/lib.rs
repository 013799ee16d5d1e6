//! Settings and the mobile cap shared by several PBX nodes through PostgreSQL
//! (`settings_store = postgresql`).
//!
//! The database is the authority for runtime changes: a change is acknowledged once its
//! transaction commits, and every node applies it from a LISTEN/NOTIFY on the change's
//! sequence number, or from a whole resync after a reconnect. Calls never wait on the
//! database for settings: each node applies changes to the settings in its memory (and a
//! local cache, so it can start without the database). The cap is counted in leases the
//! nodes renew ([`leases`]).
//!
//! All database work runs on the store's own thread ([`Cluster::run`]), which the module
//! starts like its other threads: a PBX thread must never run the client, whose runtime
//! leaves thread-local state behind (see `twinning_driver::threads`). Other threads hand
//! it jobs and wait for the answer, a bounded time.

pub mod audit;
pub mod changes;
pub mod dsn;
pub mod leases;
mod link;
mod reply;
pub mod schema;
pub mod status;

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

pub use audit::{AuditQuery, AuditRecord, AuditRow, Outcome};
pub use changes::{ChangeWrite, StoredOverride};
pub use dsn::Dsn;
pub use status::StoreStatus;

use reply::Reply;

/// The words every refusal for want of the database starts with.
pub const UNAVAILABLE: &str = "settings store unavailable";

/// How long a change waits for the store's thread to commit it.
const WRITE_WAIT: Duration = Duration::from_secs(5);
/// How long a call waits for a lease before the node counts alone.
const LEASE_WAIT: Duration = Duration::from_secs(2);
/// Refusals kept for the audit table while the database is away.
const PENDING_AUDIT_MAX: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// The database could not be reached (or did not answer in time): nothing was
    /// written.
    Unavailable(String),
    /// The database refused the change.
    Failed(String),
    /// No answer in time: the change may or may not have been committed. If it was, every
    /// node (this one too) applies it from the database.
    Unconfirmed(String),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Unavailable(why) => write!(f, "{UNAVAILABLE} ({why}); nothing was changed"),
            StoreError::Failed(why) => write!(f, "the settings store refused the change: {why}"),
            StoreError::Unconfirmed(why) => write!(
                f,
                "{UNAVAILABLE} ({why}); the change is not confirmed: it takes effect only if the database \
                 committed it, and then on every node"
            ),
        }
    }
}

/// What the store's thread hands the node's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Update {
    /// Every override in force (after a connect): the node's overrides become exactly
    /// these.
    Full(Vec<StoredOverride>),
    /// Changes committed since the last update, in order (this node's own excluded).
    Changes(Vec<StoredOverride>),
}

/// Where the store's thread delivers updates: the node's settings.
pub trait Sink: Send + Sync {
    fn apply(&self, update: Update);
}

/// A lease request's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseAnswer {
    Granted,
    /// The site holds `max` already.
    Full,
    /// The database is away: the node counts its own legs against the bound meanwhile.
    Unavailable,
    /// The database is connected but did not answer in time (a lock held, a stalled
    /// server): refused, since counting alone here would lift the site's bound while every
    /// other node still counts it.
    TooSlow,
}

/// How the first connection attempt went, for the module's load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirstContact {
    /// Connected, schema in place, settings in sync.
    Synced,
    /// Not reachable now: the node starts on its cached settings and keeps trying.
    Unavailable(String),
    /// Reached, but it will never work as configured (wrong password, no such database,
    /// a schema newer than this module): the load fails.
    Refused(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    Connecting,
    Connected { since: SystemTime },
    Unavailable { since: SystemTime, error: String },
}

enum Job {
    Write(Box<ChangeWrite>, Arc<Reply<Result<i64, StoreError>>>),
    Acquire(u32, Arc<Reply<LeaseAnswer>>),
    /// A stored value rewritten in another form of the same setting (a PIN an older
    /// version stored in clear, now its hash): no new sequence number, no notification,
    /// since every node already holds the same setting.
    Rewrite {
        user: String,
        field: String,
        old: String,
        new: String,
    },
}

struct State {
    jobs: VecDeque<Job>,
    stop: bool,
    connection: Connection,
    first_contact: Option<FirstContact>,
    last_sync: Option<SystemTime>,
    schema_version: Option<i32>,
    /// Remote legs this node holds slots for, leased or taken while the database was away.
    held: u32,
    /// The leases behind `held` (fewer while the database is away).
    lease_ids: Vec<i64>,
    /// The site's bound, as last asked for: a top-up never leases beyond it.
    max: u32,
    /// Leases given back, to delete.
    released: Vec<i64>,
    pending_audit: VecDeque<AuditRecord>,
    dropped_audit: u64,
    site_leases: Option<i64>,
    applied_remote: u64,
    /// Connections made again after the first (for `twinning_store_reconnects_total`).
    reconnects: u64,
}

struct Inner {
    node: String,
    dsn: Dsn,
    state: Mutex<State>,
    /// A job, a release, an audit record or the stop arrived.
    wake: Condvar,
    /// The connection state changed.
    changed: Condvar,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The node's handle on the shared store. Cheap to clone.
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
}

impl Cluster {
    /// The store for `node`, not yet connected (see [`Cluster::run`]).
    pub fn new(dsn: Dsn, node: String) -> Cluster {
        Cluster {
            inner: Arc::new(Inner {
                node,
                dsn,
                state: Mutex::new(State {
                    jobs: VecDeque::new(),
                    stop: false,
                    connection: Connection::Connecting,
                    first_contact: None,
                    last_sync: None,
                    schema_version: None,
                    held: 0,
                    lease_ids: Vec::new(),
                    max: u32::MAX,
                    released: Vec::new(),
                    pending_audit: VecDeque::new(),
                    dropped_audit: 0,
                    site_leases: None,
                    applied_remote: 0,
                    reconnects: 0,
                }),
                wake: Condvar::new(),
                changed: Condvar::new(),
            }),
        }
    }

    pub fn node(&self) -> &str {
        &self.inner.node
    }

    /// The store's thread: connects, keeps the node in sync and serves jobs until
    /// [`Cluster::stop`]. Run it on a thread of the module's own.
    pub fn run(&self, sink: &dyn Sink) {
        // A panic here must neither end the store silently (changes would wait for a
        // thread that is gone) nor leave the thread: the store counts as unavailable and
        // starts again with a fresh connection and a resync.
        loop {
            let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| link::run(&self.inner, sink)));
            if run.is_ok() || lock(&self.inner.state).stop {
                return;
            }
            log::error!("twinning: the settings store's thread failed; starting it again");
            {
                let mut state = lock(&self.inner.state);
                state.connection = Connection::Unavailable {
                    since: SystemTime::now(),
                    error: "internal error; restarting".into(),
                };
                if state.first_contact.is_none() {
                    state.first_contact = Some(FirstContact::Unavailable("internal error".into()));
                }
            }
            self.inner.changed.notify_all();
            std::thread::sleep(Duration::from_secs(1));
        }
    }

    /// Ends [`Cluster::run`] (within a second or two: a connection attempt under way is
    /// bounded by [`dsn::CONNECT_TIMEOUT`]). Waiting jobs are answered unavailable.
    pub fn stop(&self) {
        lock(&self.inner.state).stop = true;
        self.inner.wake.notify_all();
    }

    /// Waits for the first connection attempt to end, `timeout` at most.
    pub fn first_contact(&self, timeout: Duration) -> FirstContact {
        let until = Instant::now() + timeout;
        let mut state = lock(&self.inner.state);
        loop {
            if let Some(c) = &state.first_contact {
                return c.clone();
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return FirstContact::Unavailable("no answer from the database yet".into());
            }
            state = self.inner.changed.wait_timeout(state, left).unwrap_or_else(PoisonError::into_inner).0;
        }
    }

    /// The store's thread could not be started: the store stays unavailable.
    pub fn fail(&self, why: &str) {
        let mut state = lock(&self.inner.state);
        state.connection = Connection::Unavailable { since: SystemTime::now(), error: why.into() };
        if state.first_contact.is_none() {
            state.first_contact = Some(FirstContact::Unavailable(why.into()));
        }
        drop(state);
        self.inner.changed.notify_all();
    }

    pub fn is_connected(&self) -> bool {
        matches!(lock(&self.inner.state).connection, Connection::Connected { .. })
    }

    /// Writes a change and its audit row; its sequence number once committed. Refused at
    /// once while the database is away.
    pub fn write_change(&self, write: ChangeWrite) -> Result<i64, StoreError> {
        let reply = Reply::new();
        {
            let mut state = lock(&self.inner.state);
            if let Connection::Unavailable { error, .. } = &state.connection {
                return Err(StoreError::Unavailable(error.clone()));
            }
            if state.stop {
                return Err(StoreError::Unavailable("the module is stopping".into()));
            }
            state.jobs.push_back(Job::Write(Box::new(write), reply.clone()));
        }
        self.inner.wake.notify_all();
        reply.wait(WRITE_WAIT).unwrap_or_else(|| {
            Err(StoreError::Unconfirmed(format!("no answer from the database in {} s", WRITE_WAIT.as_secs())))
        })
    }

    /// Records a refusal in the audit table: now, or when the database is back.
    pub fn audit_refusal(&self, record: AuditRecord) {
        let mut state = lock(&self.inner.state);
        if state.pending_audit.len() >= PENDING_AUDIT_MAX {
            state.pending_audit.pop_front();
            state.dropped_audit += 1;
        }
        state.pending_audit.push_back(record);
        drop(state);
        self.inner.wake.notify_all();
    }

    /// Takes one slot of the site-wide cap of `max` for a remote leg.
    pub fn acquire_lease(&self, max: u32) -> LeaseAnswer {
        let reply = Reply::new();
        {
            let mut state = lock(&self.inner.state);
            state.max = max;
            if !matches!(state.connection, Connection::Connected { .. }) || state.stop {
                state.held += 1;
                return LeaseAnswer::Unavailable;
            }
            state.jobs.push_back(Job::Acquire(max, reply.clone()));
        }
        self.inner.wake.notify_all();
        match reply.wait(LEASE_WAIT) {
            Some(answer) => answer,
            // The thread takes the lease back if it is granted after all (see link).
            None => LeaseAnswer::TooSlow,
        }
    }

    /// Replaces the stored `old` value of `user`'s `field` with `new`, the same setting
    /// kept another way, if the row still holds `old` (a newer change wins). Best effort,
    /// never waits: a node that misses it does it again at its next resync.
    pub fn rewrite_value(&self, user: &str, field: &str, old: &str, new: &str) {
        let job = Job::Rewrite { user: user.into(), field: field.into(), old: old.into(), new: new.into() };
        lock(&self.inner.state).jobs.push_back(job);
        self.inner.wake.notify_all();
    }

    /// Gives back a slot taken with [`Cluster::acquire_lease`] (granted or not counted by
    /// the database). Never waits.
    pub fn release_lease(&self) {
        let mut state = lock(&self.inner.state);
        state.held = state.held.saturating_sub(1);
        if state.lease_ids.len() as u32 > state.held {
            if let Some(id) = state.lease_ids.pop() {
                state.released.push(id);
            }
        }
        drop(state);
        self.inner.wake.notify_all();
    }

    pub fn status(&self) -> StoreStatus {
        let state = lock(&self.inner.state);
        StoreStatus {
            node: self.inner.node.clone(),
            dsn: self.inner.dsn.shown().to_string(),
            connection: state.connection.clone(),
            last_sync: state.last_sync,
            schema_version: state.schema_version,
            held: state.held,
            leased: state.lease_ids.len() as u32,
            site_leases: state.site_leases,
            pending_audit: state.pending_audit.len(),
            dropped_audit: state.dropped_audit,
            applied_remote: state.applied_remote,
            reconnects: state.reconnects,
        }
    }
}
