//! The store's thread: one connection, kept up, serving the jobs of other threads, the
//! notifications of other nodes' changes, the leases' renewal and the audit records held
//! while the database was away.
//!
//! Any error that leaves the connection closed drops it; the next connection starts with
//! a whole resync, so a missed notification can never leave a node behind.

use std::collections::HashSet;
use std::time::{Duration, Instant, SystemTime};

use postgres::error::SqlState;
use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, NoTls};

use crate::{
    audit, changes, leases, lock, schema, Connection, FirstContact, Inner, Job, LeaseAnswer, Sink, State,
    StoreError, Update,
};

/// How long the thread waits for work before it looks at the connection's notifications:
/// the bound on how late a node hears of another's change.
const POLL: Duration = Duration::from_millis(50);
/// How long each look at the connection for notifications may wait.
const NOTIFICATION_LOOK: Duration = Duration::from_millis(1);
/// A link up this long has proved itself: the next loss retries quickly again.
const HEALTHY: Duration = Duration::from_secs(10);
/// Reconnection attempts back off to this.
const RETRY_MAX: Duration = Duration::from_secs(4);

struct Link {
    client: Client,
    /// The newest change this node has applied.
    last_seq: i64,
    /// This node's own commits, not to be applied a second time when their notification
    /// comes back.
    own: HashSet<i64>,
    next_renewal: Instant,
    /// When it connected.
    since: Instant,
}

pub fn run(inner: &Inner, sink: &dyn Sink) {
    let mut link: Option<Link> = None;
    let mut retry = Duration::from_millis(500);
    let mut next_attempt = Instant::now();
    loop {
        if lock(&inner.state).stop {
            break;
        }
        if link.is_none() && Instant::now() >= next_attempt {
            match connect(inner, sink) {
                Ok(l) => {
                    link = Some(l);
                    {
                        let mut state = lock(&inner.state);
                        if state.first_contact.is_some() {
                            state.reconnects += 1;
                        }
                    }
                    set_connection(
                        inner,
                        Connection::Connected { since: SystemTime::now() },
                        FirstContact::Synced,
                    );
                    log::info!(
                        "twinning: settings store {} connected as node {}",
                        inner.dsn.shown(),
                        inner.node
                    );
                }
                Err(e) => {
                    let (message, first) = e.describe();
                    let was = matches!(lock(&inner.state).connection, Connection::Unavailable { .. });
                    if !was {
                        log::error!(
                            "twinning: {}: {message}; running on the last known settings",
                            crate::UNAVAILABLE
                        );
                    }
                    set_connection(
                        inner,
                        Connection::Unavailable { since: SystemTime::now(), error: message.clone() },
                        first,
                    );
                    next_attempt = Instant::now() + retry;
                    retry = (retry * 2).min(RETRY_MAX);
                }
            }
        }
        wait_for_work(inner, link.is_some(), next_attempt);
        if let Some(l) = link.as_mut() {
            if let Err(e) = serve(inner, sink, l) {
                if l.client.is_closed() || is_connection_error(&e) {
                    let message = LinkError::Pg(e).describe().0;
                    log::error!(
                        "twinning: {}: {message}; running on the last known settings, changes are refused",
                        crate::UNAVAILABLE
                    );
                    // A link that dropped soon after it came up keeps backing off: a server
                    // or pooler that cuts sessions must not cost a resync every half second.
                    if link.as_ref().is_some_and(|l| l.since.elapsed() > HEALTHY) {
                        retry = Duration::from_millis(500);
                    }
                    link = None;
                    set_connection(
                        inner,
                        Connection::Unavailable { since: SystemTime::now(), error: message },
                        FirstContact::Synced,
                    );
                    next_attempt = Instant::now() + retry;
                    retry = (retry * 2).min(RETRY_MAX);
                } else {
                    log::warn!("twinning: settings store: {e}");
                }
            }
        } else {
            refuse_jobs(inner);
        }
    }
    refuse_jobs(inner);
    if let Some(mut l) = link {
        // A clean stop gives the site its slots back at once (there are none unless the
        // module is stopped with calls up, which the hosts refuse).
        let _ = l.client.execute("DELETE FROM twinning_leases WHERE node = $1", &[&inner.node]);
        let _ = l.client.execute("UNLISTEN *", &[]);
    }
}

/// Connects, migrates, listens, re-registers the node's leases and resyncs.
fn connect(inner: &Inner, sink: &dyn Sink) -> Result<Link, LinkError> {
    let mut client = inner.dsn.config().connect(NoTls)?;
    let version = schema::migrate(&mut client)?;
    lock(&inner.state).schema_version = Some(version);
    if version > schema::VERSION {
        return Err(LinkError::Refused(format!(
            "the database's twinning schema is version {version}, newer than this module's {}: upgrade the module",
            schema::VERSION
        )));
    }
    // Listening before the snapshot: a change committed in between is in one or the other
    // (or both, which applying by sequence number makes harmless).
    client.batch_execute(&format!("LISTEN {}", changes::CHANNEL))?;
    leases::register_node(&mut client, &inner.node)?;
    let held = lock(&inner.state).held;
    let ids = leases::replace(&mut client, &inner.node, held)?;
    let snapshot = changes::snapshot(&mut client)?;
    let last_seq = snapshot.iter().map(|o| o.seq).max().unwrap_or(0);
    {
        let mut state = lock(&inner.state);
        // Slots given back while connecting are released from the fresh set.
        let mut ids = ids;
        while ids.len() as u32 > state.held {
            if let Some(id) = ids.pop() {
                state.released.push(id);
            }
        }
        state.lease_ids = ids;
        state.last_sync = Some(SystemTime::now());
    }
    sink.apply(Update::Full(snapshot));
    Ok(Link { client, last_seq, own: HashSet::new(), next_renewal: Instant::now(), since: Instant::now() })
}

enum LinkError {
    Pg(postgres::Error),
    /// Reached, but unusable by this module.
    Refused(String),
}

impl From<postgres::Error> for LinkError {
    fn from(e: postgres::Error) -> LinkError {
        LinkError::Pg(e)
    }
}

impl LinkError {
    /// The message, and what it means for a first attempt: a database that will never
    /// accept this configuration fails the load; one that is only away does not.
    fn describe(&self) -> (String, FirstContact) {
        match self {
            LinkError::Refused(m) => (m.clone(), FirstContact::Refused(m.clone())),
            LinkError::Pg(e) => {
                let message = message(e);
                let fatal = e.code().is_some_and(|c| {
                    [
                        SqlState::INVALID_PASSWORD,
                        SqlState::INVALID_AUTHORIZATION_SPECIFICATION,
                        SqlState::INVALID_CATALOG_NAME,
                        SqlState::INSUFFICIENT_PRIVILEGE,
                    ]
                    .contains(c)
                });
                if fatal {
                    (message.clone(), FirstContact::Refused(message))
                } else {
                    (message.clone(), FirstContact::Unavailable(message))
                }
            }
        }
    }
}

/// What went wrong, for the log and `twinning show store`: the server's message, or the
/// client's own with the OS's reason under it.
fn message(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => {
            let mut m = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                m = format!("{m}: {s}");
                source = s.source();
            }
            m
        }
    }
}

/// Errors after which the connection cannot be trusted (as opposed to one statement's
/// failure).
fn is_connection_error(e: &postgres::Error) -> bool {
    match e.code() {
        // The client's own errors without a server code: the link is gone when the cause is
        // the socket (or the connection is closed, which the callers check); a value it
        // could not convert, a row count, is one statement's.
        None => std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>()),
        Some(c) => {
            c.code().starts_with("08") || c.code().starts_with("57P") || *c == SqlState::ADMIN_SHUTDOWN
        }
    }
}

fn set_connection(inner: &Inner, connection: Connection, first: FirstContact) {
    let mut state = lock(&inner.state);
    state.connection = connection;
    if state.first_contact.is_none() {
        state.first_contact = Some(first);
    }
    drop(state);
    inner.changed.notify_all();
}

/// Sleeps until there is something to do: a job, a release, an audit record, the stop,
/// the next look at the notifications or the next connection attempt.
fn wait_for_work(inner: &Inner, connected: bool, next_attempt: Instant) {
    let until = if connected {
        Instant::now() + POLL
    } else {
        next_attempt.min(Instant::now() + Duration::from_secs(1))
    };
    let mut state = lock(&inner.state);
    loop {
        let busy = !state.jobs.is_empty()
            || state.stop
            || (connected && (!state.released.is_empty() || !state.pending_audit.is_empty()));
        let left = until.saturating_duration_since(Instant::now());
        if busy || left.is_zero() {
            return;
        }
        state = inner.changed_or_wake(state, left);
    }
}

impl Inner {
    fn changed_or_wake<'a>(
        &self,
        state: std::sync::MutexGuard<'a, State>,
        left: Duration,
    ) -> std::sync::MutexGuard<'a, State> {
        self.wake.wait_timeout(state, left).unwrap_or_else(std::sync::PoisonError::into_inner).0
    }
}

/// Answers every waiting job: the database is away.
fn refuse_jobs(inner: &Inner) {
    let jobs: Vec<Job> = lock(&inner.state).jobs.drain(..).collect();
    for job in jobs {
        match job {
            Job::Write(_, reply) => {
                reply.send(Err(StoreError::Unavailable("the database connection is down".into())));
            }
            Job::Acquire(_, reply) => answer_unavailable(inner, &reply),
            // Done again at the next resync.
            Job::Rewrite { .. } => {}
        }
    }
}

/// Answers a lease request "count it alone". The slot is counted before the answer, so a
/// release that follows the answer at once finds it; a caller that gave up counted it
/// itself.
fn answer_unavailable(inner: &Inner, reply: &crate::Reply<LeaseAnswer>) {
    lock(&inner.state).held += 1;
    if !reply.send(LeaseAnswer::Unavailable) {
        let mut state = lock(&inner.state);
        state.held = state.held.saturating_sub(1);
    }
}

/// Answers a granted lease. Recorded before the answer, for the same reason; if the caller
/// gave up (and counted the slot alone), the lease is taken back.
fn answer_granted(inner: &Inner, reply: &crate::Reply<LeaseAnswer>, id: i64) {
    {
        let mut state = lock(&inner.state);
        state.held += 1;
        state.lease_ids.push(id);
    }
    if !reply.send(LeaseAnswer::Granted) {
        let mut state = lock(&inner.state);
        state.held = state.held.saturating_sub(1);
        if let Some(at) = state.lease_ids.iter().position(|i| *i == id) {
            state.lease_ids.remove(at);
            state.released.push(id);
        }
    }
}

/// One round of work on a live connection.
fn serve(inner: &Inner, sink: &dyn Sink, l: &mut Link) -> Result<(), postgres::Error> {
    loop {
        let job = lock(&inner.state).jobs.pop_front();
        let Some(job) = job else { break };
        match job {
            Job::Write(write, reply) => {
                if reply.is_abandoned() {
                    continue;
                }
                match changes::write(&mut l.client, &inner.node, &write) {
                    Ok(seq) => {
                        // The writer applies its change itself once it hears of the commit;
                        // if it stopped waiting, the change arrives here like another node's.
                        if reply.send(Ok(seq)) {
                            l.own.insert(seq);
                        }
                    }
                    Err(e) => {
                        let closed = l.client.is_closed() || is_connection_error(&e);
                        // A lock or statement timeout: another node holds the write lock
                        // too long (frozen mid-transaction); nothing was written.
                        let busy = e.code().is_some_and(|c| {
                            *c == SqlState::LOCK_NOT_AVAILABLE || *c == SqlState::QUERY_CANCELED
                        });
                        reply.send(Err(if closed {
                            // Cut off: the commit may have gone through (the resync says).
                            StoreError::Unconfirmed(message(&e))
                        } else if busy {
                            StoreError::Unavailable(format!("the database is busy: {}", message(&e)))
                        } else {
                            StoreError::Failed(message(&e))
                        }));
                        if closed {
                            return Err(e);
                        }
                    }
                }
            }
            Job::Rewrite { user, field, old, new } => {
                changes::rewrite(&mut l.client, &user, &field, &old, &new)?;
            }
            Job::Acquire(max, reply) => {
                if reply.is_abandoned() {
                    continue;
                }
                let answer = match leases::acquire(&mut l.client, &inner.node, max) {
                    Ok(a) => a,
                    // The database is there but did not take the lease in time (the lock
                    // or statement timeout, a lock held elsewhere): refused, not counted
                    // alone, or a stalled lock would lift the site's cap.
                    Err(e) if !(l.client.is_closed() || is_connection_error(&e)) => {
                        log::warn!("twinning: a lease request failed: {}", message(&e));
                        reply.send(LeaseAnswer::TooSlow);
                        continue;
                    }
                    Err(e) => {
                        // The caller counts alone; the connection is looked at by the loop.
                        answer_unavailable(inner, &reply);
                        return Err(e);
                    }
                };
                match answer {
                    Some(id) => answer_granted(inner, &reply, id),
                    None => {
                        reply.send(LeaseAnswer::Full);
                    }
                }
            }
        }
    }
    let released: Vec<i64> = std::mem::take(&mut lock(&inner.state).released);
    for (i, id) in released.iter().enumerate() {
        if let Err(e) = leases::release(&mut l.client, *id) {
            // Kept for the next round; the reconnect's replace covers a lost connection.
            lock(&inner.state).released.extend_from_slice(&released[i..]);
            return Err(e);
        }
    }
    // Renewal before anything that may fail on its own: the leases must not lapse because
    // one audit record cannot be written. Its time moves on first, so a failing renewal is
    // retried in a few seconds, not in a loop.
    if Instant::now() >= l.next_renewal {
        l.next_renewal = Instant::now() + leases::RENEW_EVERY;
        top_up(inner, l)?;
        let site = leases::renew(&mut l.client, &inner.node)?;
        lock(&inner.state).site_leases = Some(site);
        // The notifications are the fast path; this catches anything they missed.
        pull(inner, sink, l)?;
    }
    pull_changes(inner, sink, l)?;
    flush_audit(inner, l)?;
    Ok(())
}

/// Leases the slots this node counted alone while the database was away, so the site's
/// count is exact again, each through the bounded acquire: the site never holds more than
/// `max` leases, however many slots the nodes counted alone meanwhile.
fn top_up(inner: &Inner, l: &mut Link) -> Result<(), postgres::Error> {
    let (missing, max) = {
        let state = lock(&inner.state);
        (state.held.saturating_sub(state.lease_ids.len() as u32), state.max)
    };
    if missing == 0 {
        return Ok(());
    }
    let mut ids = Vec::new();
    for _ in 0..missing {
        match leases::acquire(&mut l.client, &inner.node, max)? {
            Some(id) => ids.push(id),
            None => {
                log::warn!("twinning: the site holds its {max} leases already; this node's legs counted alone stay unleased until they end");
                break;
            }
        }
    }
    let mut state = lock(&inner.state);
    state.lease_ids.extend(ids);
    // Slots given back meanwhile release the surplus.
    while state.lease_ids.len() as u32 > state.held {
        if let Some(id) = state.lease_ids.pop() {
            state.released.push(id);
        }
    }
    Ok(())
}

/// Writes the audit records held back, oldest first.
fn flush_audit(inner: &Inner, l: &mut Link) -> Result<(), postgres::Error> {
    loop {
        let record = lock(&inner.state).pending_audit.front().cloned();
        let Some(record) = record else { return Ok(()) };
        match audit::insert(&mut l.client, &inner.node, &record, None) {
            Ok(()) => {}
            // One the database will never take (a value its encoding refuses, a revoked
            // privilege): dropped and counted, not retried forever.
            Err(e) if !(l.client.is_closed() || is_connection_error(&e)) => {
                log::warn!("twinning: an audit record could not be written and was dropped: {}", message(&e));
                lock(&inner.state).dropped_audit += 1;
            }
            Err(e) => return Err(e),
        }
        lock(&inner.state).pending_audit.pop_front();
    }
}

/// Applies other nodes' changes if a notification came.
fn pull_changes(inner: &Inner, sink: &dyn Sink, l: &mut Link) -> Result<(), postgres::Error> {
    let mut notified = false;
    {
        // A wait of a millisecond, not the non-blocking `iter`: only a wait lets the
        // client's runtime look at the socket, so `iter` alone never sees a new one.
        let mut pending = l.client.notifications();
        let mut iter = pending.timeout_iter(NOTIFICATION_LOOK);
        while iter.next()?.is_some() {
            notified = true;
        }
    }
    if l.client.is_closed() {
        // The server went away between statements: a statement says how.
        l.client.simple_query("SELECT 1")?;
    }
    if notified {
        pull(inner, sink, l)?;
    }
    Ok(())
}

fn pull(inner: &Inner, sink: &dyn Sink, l: &mut Link) -> Result<(), postgres::Error> {
    let rows = changes::since(&mut l.client, l.last_seq)?;
    if rows.is_empty() {
        return Ok(());
    }
    l.last_seq = rows.iter().map(|o| o.seq).max().unwrap_or(l.last_seq);
    let others: Vec<_> = rows.into_iter().filter(|o| !l.own.remove(&o.seq)).collect();
    {
        let mut state = lock(&inner.state);
        state.last_sync = Some(SystemTime::now());
        state.applied_remote += others.len() as u64;
    }
    // Own commits older than anything seen are never coming back (overwritten since).
    let last = l.last_seq;
    l.own.retain(|s| *s > last);
    if !others.is_empty() {
        sink.apply(Update::Changes(others));
    }
    Ok(())
}
