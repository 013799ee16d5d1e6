//! The web pages on `twinctl serve`: each user's own page (log in with extension and PIN,
//! checked by the module so lockouts are shared with the phone; see and change what the
//! user may change; the lamps and the call live; send the call to the mobile or take it
//! back) and the admin's pages (nodes and stores, live calls as a timeline per leg, users,
//! the audit trail).
//!
//! Templates are maud's `html!`: checked by the compiler like any Rust, and every value
//! interpolated into them is HTML-escaped (nothing here uses `PreEscaped`). Pages work
//! without JavaScript; `/static/twinning.js` (a file, never an inline script, as the
//! Content-Security-Policy requires) only follows the live parts over SSE.
//!
//! Every page and form checks the session on the server: a user's session reads and
//! changes only that user, whatever the URL or the form says; an admin's reaches every
//! user. Every POST carries the session's CSRF token (the login forms a token of their own,
//! in a cookie and the form alike), and the session cookie is HttpOnly, SameSite=Strict,
//! Secure with TLS, and expires.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::sse::{KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use futures_util::StreamExt;
use maud::{html, Markup, DOCTYPE};
use serde::Deserialize;
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;

use crate::auth::{new_token, sha256};
use crate::console::{CallEntry, UserEntry};
use crate::event::{Event, EventKind};
use crate::node::PinResult;
use crate::server::AppState;
use crate::OpError;

const SESSION_COOKIE: &str = "twinning_session";
const LOGIN_COOKIE: &str = "twinning_login";
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
const CSS: &str = include_str!("web/twinning.css");
const JS: &str = include_str!("web/twinning.js");
const AUDIT_KEEP: usize = 5000;
const TIMELINES_KEEP: usize = 200;

/// Who a web session is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    /// A twinning user, by extension, logged in with the PIN.
    User(String),
    /// An `[[admin]]`, by login.
    Admin(String),
}

impl Who {
    /// The source changes are audited with: `web:<login>`.
    pub fn source(&self) -> String {
        match self {
            Who::User(u) | Who::Admin(u) => format!("web:{u}"),
        }
    }

    fn may_see(&self, user: &str) -> bool {
        match self {
            Who::User(u) => u == user,
            Who::Admin(_) => true,
        }
    }
}

#[derive(Clone)]
struct Session {
    who: Who,
    csrf: String,
    expires: Instant,
    /// Messages for the next page (a handover's result, "saved").
    flash: Vec<String>,
}

/// One line of the audit trail: a change, a refusal, a PIN failure or a handover.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub at_ms: u64,
    pub node: String,
    pub kind: &'static str,
    pub user: String,
    pub field: String,
    pub value: String,
    pub old_value: String,
    pub source: String,
    pub reason: String,
}

/// One leg's states in order, for the admin's timeline.
#[derive(Debug, Clone, Default)]
struct Timeline {
    node: String,
    user: String,
    started_ms: u64,
    ended: Option<String>,
    legs: BTreeMap<String, Vec<(u64, String)>>,
    /// The caller's channel.
    channel: String,
    /// At the end: the call's status, the leg that had it last, and how long it lasted.
    status: String,
    answered_by: String,
    duration_ms: u64,
    /// Each handover and its result, in order.
    handovers: Vec<HandoverStep>,
}

/// One handover of a call, as the module reported its result.
#[derive(Debug, Clone, Default)]
struct HandoverStep {
    at_ms: u64,
    from: String,
    to: String,
    trigger: String,
    result: String,
    detail: String,
}

impl HandoverStep {
    /// `Handover from desk to mobile: completed`, as the page shows it (and the script).
    fn words(&self) -> String {
        let mut s = format!("Handover from {} to {}: {}", self.from, self.to, self.result);
        if !self.detail.is_empty() {
            s.push_str(&format!(" ({})", self.detail));
        }
        s
    }
}

/// The web pages' own state: sessions, and what the console has seen (audit, timelines).
pub struct WebState {
    sessions: Mutex<HashMap<[u8; 32], Session>>,
    session_length: Duration,
    secure: bool,
    audit: Arc<Mutex<VecDeque<AuditEntry>>>,
    timelines: Arc<Mutex<VecDeque<(String, Timeline)>>>,
    live: Arc<Live>,
    /// `[store] dsn`: the audit trail is read from the store's `twinning_audit` when set.
    store_dsn: Option<crate::config::Secret>,
    /// The nodes' counters scraped now and then, for the charts.
    charts: Arc<Mutex<crate::charts::History>>,
}

/// How often the console scrapes every node's metrics for the charts (and at each view
/// of the charts' page).
const CHART_SCRAPE: Duration = Duration::from_secs(20);

/// Scrapes every node's metrics into the charts' history, now and every `CHART_SCRAPE`,
/// while the server lives.
pub fn start_scraping(state: &Arc<AppState>) {
    if tokio::runtime::Handle::try_current().is_err() {
        return;
    }
    let weak = Arc::downgrade(state);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(CHART_SCRAPE);
        loop {
            tick.tick().await;
            let Some(state) = weak.upgrade() else { return };
            scrape(&state).await;
        }
    });
}

async fn scrape(state: &AppState) {
    let nodes: Vec<crate::metrics::NodeMetrics> =
        state.console.metrics().await.into_iter().map(|(m, _)| m).collect();
    let point = crate::charts::Point::from_metrics(crate::event::now_ms(), &nodes);
    state.web.charts.lock().unwrap_or_else(|e| e.into_inner()).push(point);
}

/// The events the pages follow, numbered as `follow` records them. A page is rendered from
/// what was recorded up to a number, and its stream starts after it (`?after=`), so an
/// event that came between the page and its stream is not lost.
struct Live {
    ring: Mutex<(u64, VecDeque<(u64, Event)>)>,
    tx: broadcast::Sender<(u64, Event)>,
}

const LIVE_KEEP: usize = 1000;

impl Live {
    /// The number of the last event recorded.
    fn last(&self) -> u64 {
        self.ring.lock().unwrap_or_else(|e| e.into_inner()).0
    }

    fn record(&self, e: Event) {
        let mut r = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        r.0 += 1;
        let n = r.0;
        r.1.push_back((n, e.clone()));
        while r.1.len() > LIVE_KEEP {
            r.1.pop_front();
        }
        let _ = self.tx.send((n, e));
    }
}

impl WebState {
    /// Starts following `events` for the audit trail and the timelines (inside tokio).
    pub fn new(
        session_length: Duration,
        secure: bool,
        events: broadcast::Receiver<Event>,
        store_dsn: Option<crate::config::Secret>,
    ) -> WebState {
        let web = WebState {
            store_dsn,
            sessions: Mutex::new(HashMap::new()),
            session_length,
            secure,
            audit: Arc::new(Mutex::new(VecDeque::new())),
            timelines: Arc::new(Mutex::new(VecDeque::new())),
            live: Arc::new(Live { ring: Mutex::new((0, VecDeque::new())), tx: broadcast::channel(1024).0 }),
            charts: Arc::new(Mutex::new(crate::charts::History::default())),
        };
        if tokio::runtime::Handle::try_current().is_ok() {
            tokio::spawn(follow(events, web.audit.clone(), web.timelines.clone(), web.live.clone()));
        }
        web
    }

    fn new_session(&self, who: Who) -> String {
        let token = new_token();
        let now = Instant::now();
        let mut s = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        s.retain(|_, v| v.expires > now);
        s.insert(
            sha256(token.as_bytes()),
            Session { who, csrf: new_token(), expires: now + self.session_length, flash: vec![] },
        );
        token
    }

    fn session(&self, headers: &HeaderMap) -> Option<Session> {
        let token = cookie(headers, SESSION_COOKIE)?;
        let key = sha256(token.as_bytes());
        let mut s = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        match s.get_mut(&key) {
            Some(v) if v.expires > Instant::now() => {
                let out = v.clone();
                v.flash.clear();
                Some(out)
            }
            Some(_) => {
                s.remove(&key);
                None
            }
            None => None,
        }
    }

    fn flash(&self, headers: &HeaderMap, message: String) {
        if let Some(token) = cookie(headers, SESSION_COOKIE) {
            if let Some(v) =
                self.sessions.lock().unwrap_or_else(|e| e.into_inner()).get_mut(&sha256(token.as_bytes()))
            {
                v.flash.push(message);
            }
        }
    }

    fn end(&self, headers: &HeaderMap) {
        if let Some(token) = cookie(headers, SESSION_COOKIE) {
            self.sessions.lock().unwrap_or_else(|e| e.into_inner()).remove(&sha256(token.as_bytes()));
        }
    }

    fn cookie(&self, name: &str, value: &str, max_age: u64) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
        ))
        .unwrap_or(HeaderValue::from_static(""))
    }

    /// The calls seen of `user` (newest first): the ones still going, then the ended.
    fn calls_of(&self, user: &str) -> Vec<(String, Timeline)> {
        self.timelines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .rev()
            .filter(|(_, t)| t.user == user)
            .cloned()
            .collect()
    }

    /// The audit trail, newest first.
    pub fn audit(&self) -> Vec<AuditEntry> {
        self.audit.lock().unwrap_or_else(|e| e.into_inner()).iter().rev().cloned().collect()
    }
}

async fn follow(
    mut events: broadcast::Receiver<Event>,
    audit: Arc<Mutex<VecDeque<AuditEntry>>>,
    timelines: Arc<Mutex<VecDeque<(String, Timeline)>>>,
    live: Arc<Live>,
) {
    loop {
        let e = match events.recv().await {
            Ok(e) => e,
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => return,
        };
        record(&e, &audit, &timelines);
        live.record(e);
    }
}

/// Adds an event to the audit trail and the calls' timelines.
fn record(e: &Event, audit: &Mutex<VecDeque<AuditEntry>>, timelines: &Mutex<VecDeque<(String, Timeline)>>) {
    let entry =
        |kind, user: &str, field: &str, value: &str, old: &str, source: &str, reason: &str| AuditEntry {
            at_ms: e.at_ms,
            node: e.node.clone(),
            kind,
            user: user.into(),
            field: field.into(),
            value: value.into(),
            old_value: old.into(),
            source: source.into(),
            reason: reason.into(),
        };
    let item = match &e.kind {
        EventKind::Settings { user, field, value, old_value, source, .. } => {
            Some(entry("changed", user, field, value, old_value, source, ""))
        }
        EventKind::SettingsRefused { user, field, source, reason } => {
            Some(entry("refused", user, field, "", "", source, reason))
        }
        EventKind::AuthFailed { user, reason, attempts, locked_for } => Some(entry(
            "pin",
            user,
            "",
            "",
            "",
            "",
            &format!(
                "{reason} (attempt {attempts}{})",
                if *locked_for > 0 { format!(", locked for {locked_for} s") } else { String::new() }
            ),
        )),
        EventKind::Handover { user, from, to, trigger, result, detail, .. } => {
            Some(entry("handover", user, &format!("{from} to {to}"), result, "", trigger, detail))
        }
        _ => None,
    };
    if let Some(item) = item {
        let mut a = audit.lock().unwrap_or_else(|e| e.into_inner());
        a.push_back(item);
        while a.len() > AUDIT_KEEP {
            a.pop_front();
        }
    }
    let (user, call, channel, leg, state) = match &e.kind {
        EventKind::Start { user, call, channel, .. } => (user, call, channel, None, "start".to_owned()),
        EventKind::Leg { user, call, channel, leg, state, .. } => {
            (user, call, channel, Some(leg.clone()), state.clone())
        }
        EventKind::Bridged { user, call, channel, leg } => {
            (user, call, channel, Some(leg.clone()), "bridged".into())
        }
        EventKind::Handover { user, call, channel, to, result, .. } => {
            (user, call, channel, Some(to.clone()), format!("handover {result}"))
        }
        EventKind::End { user, call, channel, status, .. } => {
            (user, call, channel, None, format!("end {status}"))
        }
        // What the mobile did with the call: on the call's timeline beside its legs.
        EventKind::Consult { user, call, channel, result, exten, .. } => {
            (user, call, channel, Some("consult".into()), format!("consult {exten} {result}"))
        }
        // A blind transfer is the mobile's act; an attended one ends the consult.
        EventKind::Transfer { user, call, channel, exten, kind, .. } => {
            let row = if kind == "attended" { "consult" } else { "mobile" };
            (user, call, channel, Some(row.into()), format!("transfer {kind} to {exten}").replace("  ", " "))
        }
        EventKind::Conference { user, call, channel, result, .. } => {
            (user, call, channel, Some("consult".into()), format!("conference {result}"))
        }
        _ => return,
    };
    let key = format!("{}/{}", e.node, call);
    let mut t = timelines.lock().unwrap_or_else(|e| e.into_inner());
    if !t.iter().any(|(k, _)| *k == key) {
        t.push_back((
            key.clone(),
            Timeline { node: e.node.clone(), user: user.clone(), started_ms: e.at_ms, ..Timeline::default() },
        ));
        while t.len() > TIMELINES_KEEP {
            t.pop_front();
        }
    }
    if let Some((_, tl)) = t.iter_mut().find(|(k, _)| *k == key) {
        if tl.channel.is_empty() {
            tl.channel = channel.clone();
        }
        match &e.kind {
            EventKind::Handover { from, to, trigger, result, detail, .. } => {
                // A result takes the place of the `started` before it.
                if tl.handovers.last().is_some_and(|h| {
                    h.result == "started" && h.from == *from && h.to == *to && result != "started"
                }) {
                    tl.handovers.pop();
                }
                tl.handovers.push(HandoverStep {
                    at_ms: e.at_ms,
                    from: from.clone(),
                    to: to.clone(),
                    trigger: trigger.clone(),
                    result: result.clone(),
                    detail: detail.clone(),
                })
            }
            EventKind::End { status, answered_by, duration_ms, .. } => {
                tl.status = status.clone();
                tl.answered_by = answered_by.clone();
                tl.duration_ms = *duration_ms;
            }
            _ => {}
        }
        match leg {
            Some(leg) => tl.legs.entry(leg).or_default().push((e.at_ms, state)),
            None if state != "start" => tl.ended = Some(state),
            None => {}
        }
    }
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
        .filter(|v| !v.is_empty())
}

/// Comparison that takes as long whatever the first difference.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

// ---------------------------------------------------------------------------------------
// What a user may change, and how the page shows it.

/// The fields a user changes on their own page: never the desk, the PIN, the billing or
/// the hunt-group and forwarding rules (an admin's).
pub fn user_fields() -> Vec<String> {
    let mut out: Vec<String> = [
        "enabled",
        "dnd",
        "mobile",
        "dial_delay",
        "answer_guard",
        "ring_time",
        "confirm",
        "caller_id",
        "schedule",
        "block_callers",
        "allow_callers",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for n in 2..=10 {
        for f in ["", "_enabled", "_dial_delay", "_answer_guard", "_ring_time"] {
            out.push(format!("mobile{n}{f}"));
        }
    }
    out
}

/// The fields an admin changes besides the user's. Mobile access, callback and their
/// hourly cap open outside calls from a mobile: the admin's to grant, never the user's.
const ADMIN_FIELDS: [&str; 8] = [
    "hunt_group_calls",
    "forwarded_calls",
    "accountcode",
    "caller_id_fallback",
    "pin",
    "mobile_access",
    "mobile_callback",
    "access_rate",
];

fn may_change(who: &Who, field: &str) -> bool {
    user_fields().iter().any(|f| f == field)
        || (matches!(who, Who::Admin(_)) && ADMIN_FIELDS.contains(&field))
}

fn lamp_words(state: &str) -> &'static str {
    match state {
        "INUSE" | "BUSY" | "ONHOLD" => "on",
        "RINGING" | "RINGINUSE" => "flashing",
        "NOT_INUSE" | "IDLE" => "off",
        _ => "unknown",
    }
}

/// The twinning key's lamp: the PBX's when known, else as the settings make it.
fn key_lamp(u: &UserEntry) -> String {
    if let Some(l) = u.user.lamps.get("twinning") {
        return l.clone();
    }
    let s = &u.user.settings;
    let on = s.get("enabled").is_some_and(|v| v == "yes")
        && s.get("mobile").is_some_and(|v| !v.is_empty())
        && s.get("dnd").is_none_or(|v| v != "yes");
    if on { "INUSE" } else { "NOT_INUSE" }.into()
}

// ---------------------------------------------------------------------------------------
// The schedule: the weekly editor and the rules in words.

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const DAY_NAMES: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

/// A time range, `("08:00", "18:00")`.
type Hours = (String, String);

/// A rule as the module shows it back: days (first, last) and a time range, if any.
fn parse_rule(rule: &str) -> Option<(u8, u8, Option<Hours>)> {
    let mut days = (0u8, 6u8);
    let mut time = None;
    for word in rule.split_whitespace() {
        if let Some((a, b)) = word.split_once('-').filter(|(a, _)| a.contains(':')) {
            time = Some((a.to_owned(), b.to_owned()));
        } else if word == "daily" {
            days = (0, 6);
        } else {
            let day = |d: &str| DAYS.iter().position(|x| *x == d).map(|i| i as u8);
            days = match word.split_once('-') {
                Some((a, b)) => (day(a)?, day(b)?),
                None => (day(word)?, day(word)?),
            };
        }
    }
    Some((days.0, days.1, time))
}

/// The schedule in words, from its canonical form (`mon-fri 08:00-18:00, sat`).
pub fn schedule_words(schedule: &str) -> String {
    let s = schedule.trim();
    if s.is_empty() || s == "always" {
        return "The mobiles may ring at any time.".into();
    }
    let mut out = Vec::new();
    for rule in s.split(',').map(str::trim).filter(|r| !r.is_empty()) {
        let Some((a, b, time)) = parse_rule(rule) else {
            out.push(rule.to_owned());
            continue;
        };
        let days = if (a, b) == (0, 6) {
            "every day".to_owned()
        } else if a == b {
            format!("on {}", DAY_NAMES[a as usize])
        } else {
            format!("{} to {}", DAY_NAMES[a as usize], DAY_NAMES[b as usize])
        };
        out.push(match time {
            None => format!("{days}, all day"),
            Some((from, to)) if to < from => format!("{days}, from {from} to {to} the next morning"),
            Some((from, to)) => format!("{days}, from {from} to {to}"),
        });
    }
    format!("The mobiles may ring {}.", out.join("; "))
}

/// Each day's (from, to) for the weekly editor, or None where the rules say more than
/// one range for a day (then only the text shows them).
fn schedule_days(schedule: &str) -> Option<[Option<(String, String)>; 7]> {
    let mut days: [Option<(String, String)>; 7] = Default::default();
    let s = schedule.trim();
    if s.is_empty() || s == "always" {
        return Some(days);
    }
    for rule in s.split(',').map(str::trim).filter(|r| !r.is_empty()) {
        let (a, b, time) = parse_rule(rule)?;
        let time = time.unwrap_or(("00:00".into(), "00:00".into()));
        let mut d = a;
        loop {
            if days[d as usize].is_some() {
                return None;
            }
            days[d as usize] = Some(time.clone());
            if d == b {
                break;
            }
            d = (d + 1) % 7;
        }
    }
    Some(days)
}

fn is_time(t: &str) -> bool {
    let b = t.as_bytes();
    b.len() == 5 && b[2] == b':' && b.iter().enumerate().all(|(i, c)| i == 2 || c.is_ascii_digit())
}

/// The `schedule` the weekly editor's form says: consecutive days of the same hours become
/// one rule (`mon-fri 08:00-18:00`); a day from 00:00 to 00:00 is the whole day.
pub fn schedule_from_form(form: &[(String, String)]) -> Result<String, String> {
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.trim().to_owned());
    if get("sched_mode").as_deref() != Some("times") {
        return Ok("always".into());
    }
    let mut days: Vec<Option<(String, String)>> = Vec::new();
    for d in DAYS {
        if get(&format!("sd_{d}")).is_some() {
            let from = get(&format!("sf_{d}")).filter(|s| !s.is_empty()).unwrap_or("00:00".into());
            let to = get(&format!("st_{d}")).filter(|s| !s.is_empty()).unwrap_or("00:00".into());
            if !is_time(&from) || !is_time(&to) {
                return Err(format!("{d}: times are HH:MM"));
            }
            days.push(Some((from, to)));
        } else {
            days.push(None);
        }
    }
    if days.iter().all(Option::is_none) {
        return Err("choose at least one day, or \"at any time\"".into());
    }
    let mut rules = Vec::new();
    let mut i = 0;
    while i < 7 {
        let Some(t) = &days[i] else {
            i += 1;
            continue;
        };
        let mut j = i;
        while j + 1 < 7 && days[j + 1].as_ref() == Some(t) {
            j += 1;
        }
        let d = if (i, j) == (0, 6) {
            "daily".to_owned()
        } else if i == j {
            DAYS[i].to_owned()
        } else {
            format!("{}-{}", DAYS[i], DAYS[j])
        };
        rules.push(if t.0 == t.1 && t.0 == "00:00" { d } else { format!("{d} {}-{}", t.0, t.1) });
        i = j + 1;
    }
    Ok(rules.join(", "))
}

// ---------------------------------------------------------------------------------------
// Pages.

struct Frame<'a> {
    title: &'a str,
    who: Option<&'a Who>,
    csrf: &'a str,
    live: Option<String>,
    flash: &'a [String],
}

fn page(f: Frame<'_>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (f.title) " · twinning" }
                link rel="stylesheet" href="/static/twinning.css";
                script src="/static/twinning.js" defer {}
            }
            body data-live=[f.live] {
                header {
                    nav aria-label="Main" {
                        span.brand { "twinning" }
                        @match f.who {
                            Some(Who::Admin(login)) => {
                                a href="/admin" { "Nodes" }
                                a href="/admin/calls" { "Live calls" }
                                a href="/admin/users" { "Users" }
                                a href="/admin/audit" { "Audit" }
                                a href="/admin/charts" { "Charts" }
                                span.who { "admin " (login) }
                            }
                            Some(Who::User(u)) => {
                                a href={ "/users/" (u) } { "My twinning" }
                                span.who { "extension " (u) }
                            }
                            None => {}
                        }
                        @if f.who.is_some() {
                            form.inline method="post" action="/logout" {
                                input type="hidden" name="csrf" value=(f.csrf);
                                button type="submit" { "Log out" }
                            }
                        }
                    }
                }
                main {
                    h1 { (f.title) }
                    @for m in f.flash {
                        p.flash role="status" { (m) }
                    }
                    (body)
                }
            }
        }
    }
}

fn html_response(status: StatusCode, m: Markup) -> Response {
    (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], m.into_string()).into_response()
}

/// A page for a logged-in session: its frame (who, the logout form's token, the flash)
/// around `body`, following `live` when given.
fn session_page(
    s: &Session,
    status: StatusCode,
    title: &str,
    live: Option<String>,
    body: Markup,
) -> Response {
    html_response(
        status,
        page(Frame { title, who: Some(&s.who), csrf: &s.csrf, live, flash: &s.flash }, body),
    )
}

fn error_page(status: StatusCode, message: &str) -> Response {
    html_response(
        status,
        page(
            Frame { title: "Not allowed", who: None, csrf: "", live: None, flash: &[] },
            html! { p.error role="alert" { (message) } p { a href="/" { "Back" } } },
        ),
    )
}

/// Adds the security headers to every page.
async fn headers(req: Request, next: Next) -> Response {
    let mut r = next.run(req).await;
    let h = r.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    r
}

async fn stylesheet() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "max-age=300")], CSS)
}

async fn script() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "max-age=300")], JS)
}

async fn home(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    match state.web.session(&headers).map(|s| s.who) {
        Some(Who::User(u)) => Redirect::to(&format!("/users/{}", url_part(&u))).into_response(),
        Some(Who::Admin(_)) => Redirect::to("/admin").into_response(),
        None => Redirect::to("/login").into_response(),
    }
}

/// A path segment: only the characters a user name has, the rest percent-encoded.
fn url_part(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn login_form(state: &AppState, admin: bool, error: Option<&str>, status: StatusCode) -> Response {
    let token = new_token();
    let (title, action) = if admin { ("Admin log in", "/admin/login") } else { ("Log in", "/login") };
    let body = html! {
        @if let Some(e) = error { p.error role="alert" id="login-error" { (e) } }
        form.card method="post" action=(action) {
            input type="hidden" name="csrf" value=(token);
            @if admin {
                label for="login" { "Login" }
                input id="login" name="login" autocomplete="username" required;
                label for="password" { "Password" }
                input id="password" name="password" type="password" autocomplete="current-password" required;
            } @else {
                label for="extension" { "Extension" }
                input id="extension" name="extension" inputmode="numeric" autocomplete="username" required;
                label for="pin" { "PIN" }
                input id="pin" name="pin" type="password" inputmode="numeric" autocomplete="current-password" required;
                p.hint { "The same PIN your desk phone asks for. Wrong PINs here count towards the phone's lockout." }
            }
            button type="submit" { "Log in" }
        }
        @if admin { p { a href="/login" { "User log in" } } } @else { p { a href="/admin/login" { "Admin log in" } } }
    };
    let mut r =
        html_response(status, page(Frame { title, who: None, csrf: "", live: None, flash: &[] }, body));
    r.headers_mut().append(header::SET_COOKIE, state.web.cookie(LOGIN_COOKIE, &token, 900));
    r
}

async fn login_page(State(state): State<Arc<AppState>>) -> Response {
    login_form(&state, false, None, StatusCode::OK)
}

async fn admin_login_page(State(state): State<Arc<AppState>>) -> Response {
    login_form(&state, true, None, StatusCode::OK)
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    extension: String,
    #[serde(default)]
    pin: String,
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
}

fn login_csrf_ok(headers: &HeaderMap, form: &LoginForm) -> bool {
    cookie(headers, LOGIN_COOKIE).is_some_and(|c| same(&c, &form.csrf))
}

fn logged_in(state: &AppState, who: Who, to: String) -> Response {
    let token = state.web.new_session(who);
    let mut r = Redirect::to(&to).into_response();
    r.headers_mut().append(
        header::SET_COOKIE,
        state.web.cookie(SESSION_COOKIE, &token, state.web.session_length.as_secs()),
    );
    r.headers_mut().append(header::SET_COOKIE, state.web.cookie(LOGIN_COOKIE, "", 0));
    r
}

/// What both logins check before any credential: the form's own CSRF token, then the
/// address's rate limit. The response that ends the request, if one does.
fn login_gate(
    state: &AppState,
    addr: SocketAddr,
    headers: &HeaderMap,
    form: &LoginForm,
    admin: bool,
) -> Option<Response> {
    if !login_csrf_ok(headers, form) {
        return Some(login_form(
            state,
            admin,
            Some("The form expired; please log in again."),
            StatusCode::FORBIDDEN,
        ));
    }
    if !state.limiter.spend(addr.ip(), Instant::now()) {
        let wait = state.limiter.retry_after(addr.ip(), Instant::now()).max(1);
        let msg = format!("Too many attempts from this address: wait {wait} s.");
        return Some(login_form(state, admin, Some(&msg), StatusCode::TOO_MANY_REQUESTS));
    }
    None
}

fn plausible_extension(e: &str) -> bool {
    (1..=64).contains(&e.len()) && e.chars().all(|c| c.is_ascii_alphanumeric() || "._-+@".contains(c))
}

async fn login(
    State(state): State<Arc<AppState>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    if let Some(refused) = login_gate(&state, addr, &headers, &form, false) {
        return refused;
    }
    let ext = form.extension.trim();
    let wrong = "Wrong extension or PIN.";
    if !plausible_extension(ext) || form.pin.is_empty() || form.pin.len() > 32 {
        return login_form(&state, false, Some(wrong), StatusCode::UNAUTHORIZED);
    }
    let who = Who::User(ext.to_owned());
    match state.console.check_pin(ext, &form.pin, &who.source(), None).await {
        Ok(PinResult::Ok) => logged_in(&state, who, format!("/users/{}", url_part(ext))),
        Ok(PinResult::Wrong) | Err(OpError::UnknownUser(_)) => {
            login_form(&state, false, Some(wrong), StatusCode::UNAUTHORIZED)
        }
        Err(OpError::Refused { message, .. }) if message.contains("unknown") => {
            login_form(&state, false, Some(wrong), StatusCode::UNAUTHORIZED)
        }
        Ok(PinResult::Locked) => login_form(
            &state,
            false,
            Some("Too many wrong PINs: this extension is locked out for now, here and on the phone alike. Try again later."),
            StatusCode::UNAUTHORIZED,
        ),
        Ok(PinResult::Nopin) => login_form(
            &state,
            false,
            Some(
                "This extension has no PIN yet, and the page needs one. Please ask your administrator to \
                 set a PIN for you (there is no phone code for it); then log in here with it.",
            ),
            StatusCode::UNAUTHORIZED,
        ),
        Err(e) => login_form(&state, false, Some(&format!("The PBX could not check the PIN: {e}")), StatusCode::SERVICE_UNAVAILABLE),
    }
}

async fn admin_login(
    State(state): State<Arc<AppState>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    if let Some(refused) = login_gate(&state, addr, &headers, &form, true) {
        return refused;
    }
    let (state2, login, password) = (state.clone(), form.login.clone(), form.password.clone());
    let ok = tokio::task::spawn_blocking(move || state2.auth.check_admin(&login, &password))
        .await
        .unwrap_or(false);
    if ok {
        logged_in(&state, Who::Admin(form.login), "/admin".into())
    } else {
        login_form(&state, true, Some("Wrong login or password."), StatusCode::UNAUTHORIZED)
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn logout(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    match state.web.session(&headers) {
        Some(s) if same(&s.csrf, &form.csrf) => {
            state.web.end(&headers);
            let mut r = Redirect::to("/login").into_response();
            r.headers_mut().append(header::SET_COOKIE, state.web.cookie(SESSION_COOKIE, "", 0));
            r
        }
        Some(_) => error_page(
            StatusCode::FORBIDDEN,
            "This form is not from this session (CSRF token missing or wrong).",
        ),
        None => Redirect::to("/login").into_response(),
    }
}

/// The session, or the response that ends the request: to the login without one.
#[allow(clippy::result_large_err)]
fn need_session(state: &AppState, headers: &HeaderMap) -> Result<Session, Response> {
    state.web.session(headers).ok_or_else(|| Redirect::to("/login").into_response())
}

#[allow(clippy::result_large_err)]
fn need_admin(state: &AppState, headers: &HeaderMap) -> Result<Session, Response> {
    let s = state.web.session(headers).ok_or_else(|| Redirect::to("/admin/login").into_response())?;
    match s.who {
        Who::Admin(_) => Ok(s),
        Who::User(_) => Err(error_page(StatusCode::FORBIDDEN, "These pages are for administrators.")),
    }
}

#[derive(Deserialize)]
struct NodeQuery {
    node: Option<String>,
}

fn node_for<'a>(s: &Session, asked: &'a Option<String>) -> Option<&'a str> {
    match s.who {
        Who::Admin(_) => asked.as_deref().filter(|n| !n.is_empty()),
        Who::User(_) => None,
    }
}

fn now_words(at_ms: u64) -> String {
    let secs = at_ms / 1000;
    format!("{:02}:{:02}:{:02} UTC", (secs / 3600) % 24, (secs / 60) % 60, secs % 60)
}

fn field_input(
    name: &str,
    label: &str,
    value: &str,
    kind: &str,
    errors: &BTreeMap<String, (String, String)>,
    runtime: &std::collections::BTreeSet<String>,
) -> Markup {
    let id = format!("f-{name}");
    let err = errors.get(name);
    let described = format!("{id}-now");
    let (origin, origin_words) = if runtime.contains(name) {
        ("runtime", "changed at runtime")
    } else {
        ("file", "from the configuration file")
    };
    html! {
        div.field.refused[err.is_some()] {
            label for=(id) { (label) }
            @match kind {
                "yesno" => {
                    select id=(id) name=(name) aria-describedby=(described) {
                        @if value.is_empty() { option value="" selected { "not set" } }
                        option value="yes" selected[value == "yes"] { "on" }
                        option value="no" selected[value == "no"] { "off" }
                    }
                }
                "number" => { input id=(id) name=(name) value=(value) inputmode="numeric" aria-describedby=(described); }
                "secret" => { input id=(id) name=(name) type="password" value="" autocomplete="new-password" placeholder="unchanged" aria-describedby=(described); }
                _ => { input id=(id) name=(name) value=(value) aria-describedby=(described); }
            }
            small.now id=(described) {
                "in force: " span.inforce id={ (id) "-value" } { @if value.is_empty() { em { "not set" } } @else { code { (value) } } }
                " · " span.origin id={ (id) "-origin" } data-origin=(origin) { (origin_words) }
            }
            @if let Some((typed, reason)) = err {
                p.error role="alert" id={ (id) "-error" } { "Refused: " (reason) @if !typed.is_empty() { " (you typed " code { (typed) } ")" } }
            }
        }
    }
}

fn calls_of(state: &AppState, user: &str) -> Vec<CallEntry> {
    state.console.calls().into_iter().filter(|c| c.call.user == user).collect()
}

fn user_page(
    state: &AppState,
    s: &Session,
    u: &UserEntry,
    node: Option<&str>,
    errors: &BTreeMap<String, (String, String)>,
    status: StatusCode,
) -> Response {
    let user = &u.user.user;
    let v = |f: &str| u.user.settings.get(f).cloned().unwrap_or_default();
    let lamp = key_lamp(u);
    let busy = u.user.lamps.get("twinningcall").cloned().unwrap_or_else(|| "NOT_INUSE".into());
    let calls = calls_of(state, user);
    let answered = calls.iter().any(|c| c.call.state == "answered");
    let action = format!("/users/{}", url_part(user));
    let schedule = v("schedule");
    let days = schedule_days(&schedule);
    let admin = matches!(s.who, Who::Admin(_));
    let derived = !u.user.lamps.contains_key("twinning");
    let runtime = &u.user.runtime;
    // Read before what the page shows: the stream gives what came after.
    let after = state.web.live.last();
    let seen = state.web.calls_of(user);
    let handovers_of = |key: &str| -> Vec<HandoverStep> {
        seen.iter().find(|(k, _)| k == key).map(|(_, t)| t.handovers.clone()).unwrap_or_default()
    };
    // The last handover of a call still going: its result stays shown after the page the
    // button led to, whether or not its event came before this page's live stream.
    let last_handover = calls
        .iter()
        .flat_map(|c| handovers_of(&format!("{}/{}", c.node, c.call.call)))
        .max_by_key(|h| h.at_ms);
    let recent: Vec<&Timeline> = seen.iter().map(|(_, t)| t).filter(|t| t.ended.is_some()).take(10).collect();
    let body = html! {
        section.card aria-labelledby="h-live" {
            h2 id="h-live" { "Now" }
            p {
                "Twinning key lamp: "
                span.lamp id="lamp-twinning" data-state=(lamp) data-derived=(if derived { "yes" } else { "no" })
                    data-enabled=(v("enabled")) data-dnd=(v("dnd")) data-mobile=(v("mobile")) { (lamp_words(&lamp)) }
                " · Busy lamp: "
                span.lamp id="lamp-busy" data-state=(busy) { (lamp_words(&busy)) }
            }
            div id="calls" data-user=(user) {
                @if calls.is_empty() { p.quiet id="no-call" { "No twinned call right now." } }
                @for c in &calls {
                    @let key = format!("{}/{}", c.node, c.call.call);
                    div.call data-call=(key) {
                        p { "Call from " code { (c.call.channel) } ": " strong.state { (c.call.state) } }
                        ul.legs {
                            @for (leg, st) in &c.call.legs {
                                li data-leg=(leg) { (leg) ": " span.legstate { (st) } }
                            }
                        }
                        ul.handovers {
                            @for h in handovers_of(&key) {
                                li data-from=(h.from) data-to=(h.to) data-trigger=(h.trigger) data-result=(h.result) data-at=(h.at_ms) { (h.words()) }
                            }
                        }
                    }
                }
            }
            p id="handover-result" role="status" { @if let Some(h) = &last_handover { (h.words()) } }
            // Which leg has the call: the button that would move it where it is is hidden.
            @let on_leg = calls.iter().find(|c| c.call.state == "answered").map_or("", |c| c.call.answered_by.as_str());
            div id="handover" hidden[!answered] data-leg=(on_leg) {
                form.inline.to-mobile method="post" action={ (action) "/handover" } {
                    input type="hidden" name="csrf" value=(s.csrf);
                    @if let Some(n) = node { input type="hidden" name="node" value=(n); }
                    input type="hidden" name="to" value="mobile";
                    button type="submit" id="send-to-mobile" { "Send to mobile" }
                }
                form.inline.to-desk method="post" action={ (action) "/handover" } {
                    input type="hidden" name="csrf" value=(s.csrf);
                    @if let Some(n) = node { input type="hidden" name="node" value=(n); }
                    input type="hidden" name="to" value="desk";
                    button type="submit" id="take-back" { "Take back to desk" }
                }
            }
        }
        section.card aria-labelledby="h-recent" {
            h2 id="h-recent" { "Recent twinned calls" }
            table id="recent" {
                thead { tr { th scope="col" { "Started" } th scope="col" { "Caller" } th scope="col" { "Result" } th scope="col" { "Answered by" } th scope="col" { "Lasted" } th scope="col" { "Handovers" } } }
                tbody {
                    @for t in &recent {
                        tr {
                            td { (now_words(t.started_ms)) }
                            td { code { (t.channel) } }
                            td.status { (t.status) }
                            td.answered { (if t.answered_by.is_empty() { "nobody" } else { t.answered_by.as_str() }) }
                            td { (format!("{:.0} s", t.duration_ms as f64 / 1000.0)) }
                            td.handovers {
                                @if t.handovers.is_empty() { "none" }
                                @for h in &t.handovers { span.step title=(now_words(h.at_ms)) { (h.from) " to " (h.to) " by " (h.trigger) ": " (h.result) } }
                            }
                        }
                    }
                }
            }
            @if recent.is_empty() { p.quiet id="no-recent" { "No twinned call of yours seen yet." } }
            p.hint { "The calls twinctl has seen since it started, from the PBX's events (the settings store keeps changes, not calls)." }
        }
        form method="post" action=(action) id="settings" {
            input type="hidden" name="csrf" value=(s.csrf);
            @if let Some(n) = node { input type="hidden" name="node" value=(n); }
            section.card aria-labelledby="h-twin" {
                h2 id="h-twin" { "Twinning" }
                (field_input("enabled", "Twinning", &v("enabled"), "yesno", errors, runtime))
                (field_input("dnd", "Do not disturb", &v("dnd"), "yesno", errors, runtime))
                (field_input("confirm", "Press 1 to accept on the mobile", &v("confirm"), "yesno", errors, runtime))
                (field_input("caller_id", "Caller ID shown on the mobile (original, did, extension or a number)", &v("caller_id"), "text", errors, runtime))
            }
            section.card aria-labelledby="h-numbers" {
                h2 id="h-numbers" { "Numbers" }
                fieldset {
                    legend { "Mobile" }
                    (field_input("mobile", "Number", &v("mobile"), "text", errors, runtime))
                    (field_input("dial_delay", "Delay before it rings (s)", &v("dial_delay"), "number", errors, runtime))
                    (field_input("answer_guard", "Answer guard (s)", &v("answer_guard"), "number", errors, runtime))
                    (field_input("ring_time", "Ring time (s)", &v("ring_time"), "number", errors, runtime))
                }
                @for n in 2..=10u8 {
                    @let p = format!("mobile{n}");
                    @let used = !v(&p).is_empty() || errors.keys().any(|k| k.starts_with(&format!("{p}_")) || *k == p);
                    details open[used] {
                        summary { "Mobile " (n) @if used { ": " (v(&p)) } }
                        fieldset {
                            legend { "Mobile " (n) }
                            (field_input(&p, "Number", &v(&p), "text", errors, runtime))
                            (field_input(&format!("{p}_enabled"), "Rings", &v(&format!("{p}_enabled")), "yesno", errors, runtime))
                            (field_input(&format!("{p}_dial_delay"), "Delay before it rings (s)", &v(&format!("{p}_dial_delay")), "number", errors, runtime))
                            (field_input(&format!("{p}_answer_guard"), "Answer guard (s)", &v(&format!("{p}_answer_guard")), "number", errors, runtime))
                            (field_input(&format!("{p}_ring_time"), "Ring time (s)", &v(&format!("{p}_ring_time")), "number", errors, runtime))
                        }
                    }
                }
            }
            section.card aria-labelledby="h-callers" {
                h2 id="h-callers" { "Callers" }
                (field_input("block_callers", "Never ring my mobiles for (numbers or prefixes*, comma-separated)", &v("block_callers"), "text", errors, runtime))
                (field_input("allow_callers", "Ring my mobiles only for (empty: everyone)", &v("allow_callers"), "text", errors, runtime))
                (field_input("schedule", "Schedule (as text)", &schedule, "text", errors, runtime))
                p.words id="schedule-words" { (schedule_words(&schedule)) }
            }
            @if admin {
                section.card aria-labelledby="h-admin" {
                    h2 id="h-admin" { "Administrator's fields" }
                    (field_input("hunt_group_calls", "Hunt-group calls ring the mobiles", &v("hunt_group_calls"), "yesno", errors, runtime))
                    (field_input("forwarded_calls", "Forwarded calls ring the mobiles", &v("forwarded_calls"), "yesno", errors, runtime))
                    (field_input("accountcode", "Account code", &v("accountcode"), "text", errors, runtime))
                    (field_input("caller_id_fallback", "Caller ID fallback", &v("caller_id_fallback"), "text", errors, runtime))
                    (field_input("pin", "New PIN", "", "secret", errors, runtime))
                    (field_input("mobile_access", "Mobile Direct Access (dial out from the mobile, with the PIN)", &v("mobile_access"), "yesno", errors, runtime))
                    (field_input("mobile_callback", "Mobile Callback", &v("mobile_callback"), "yesno", errors, runtime))
                    (field_input("access_rate", "Access and callback calls an hour, at most", &v("access_rate"), "number", errors, runtime))
                    p.hint { "Desk: " code { (v("desk")) } " (set in the configuration file only)" }
                }
            }
            p { button type="submit" id="save" { "Save changes" } }
        }
        form.card method="post" action=(action) id="schedule-editor" {
            h2 { "Weekly schedule" }
            input type="hidden" name="csrf" value=(s.csrf);
            @if let Some(n) = node { input type="hidden" name="node" value=(n); }
            @let always = schedule.is_empty() || schedule == "always";
            fieldset {
                legend { "When may the mobiles ring?" }
                label { input type="radio" name="sched_mode" value="always" checked[always]; " At any time" }
                label { input type="radio" name="sched_mode" value="times" checked[!always]; " Only at these times" }
            }
            @if days.is_none() { p.hint { "The schedule has more than one range on a day: change it as text above." } }
            table {
                thead { tr { th scope="col" { "Day" } th scope="col" { "From" } th scope="col" { "To" } } }
                tbody {
                    @for (i, d) in DAYS.iter().enumerate() {
                        @let t = days.as_ref().and_then(|x| x[i].clone());
                        tr {
                            td { label { input type="checkbox" name={ "sd_" (d) } value="1" checked[t.is_some() && !always]; " " (DAY_NAMES[i]) } }
                            td { input type="time" name={ "sf_" (d) } aria-label={ (DAY_NAMES[i]) " from" } value=(t.as_ref().map_or("09:00".to_owned(), |t| t.0.clone())); }
                            td { input type="time" name={ "st_" (d) } aria-label={ (DAY_NAMES[i]) " to" } value=(t.as_ref().map_or("17:00".to_owned(), |t| t.1.clone())); }
                        }
                    }
                }
            }
            p.hint { "00:00 to 00:00 is the whole day; a range that ends before it starts runs into the next morning." }
            button type="submit" id="save-schedule" { "Save schedule" }
        }
    };
    let title = format!("Twinning for {user}");
    let live = Some(format!("{action}/live?after={after}"));
    session_page(s, status, &title, live, body)
}

fn forbidden_user() -> Response {
    error_page(StatusCode::FORBIDDEN, "You may see and change only your own twinning.")
}

async fn show_user(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(user): Path<String>,
    Query(q): Query<NodeQuery>,
) -> Response {
    let s = match need_session(&state, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    if !s.who.may_see(&user) {
        return forbidden_user();
    }
    let node = node_for(&s, &q.node);
    match state.console.status(&user, node).await {
        Ok(u) => user_page(&state, &s, &u, node, &BTreeMap::new(), StatusCode::OK),
        Err(e) => error_page(crate::server::status_of(&e), &e.to_string()),
    }
}

async fn change_user(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(user): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let s = match need_session(&state, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    if !s.who.may_see(&user) {
        return forbidden_user();
    }
    let csrf = form.iter().find(|(k, _)| k == "csrf").map(|(_, v)| v.as_str()).unwrap_or("");
    if !same(&s.csrf, csrf) {
        return error_page(
            StatusCode::FORBIDDEN,
            "This form is not from this session (CSRF token missing or wrong): nothing changed.",
        );
    }
    let asked_node = form.iter().find(|(k, _)| k == "node").map(|(_, v)| v.clone());
    let node = node_for(&s, &asked_node);
    let current = match state.console.status(&user, node).await {
        Ok(u) => u,
        Err(e) => return error_page(crate::server::status_of(&e), &e.to_string()),
    };
    let mut wanted: Vec<(String, String)> = Vec::new();
    let mut errors = BTreeMap::new();
    if form.iter().any(|(k, _)| k == "sched_mode") {
        match schedule_from_form(&form) {
            Ok(v) => wanted.push(("schedule".into(), v)),
            Err(e) => {
                errors.insert("schedule".to_owned(), (String::new(), e));
            }
        }
    } else {
        for (k, v) in &form {
            if k == "csrf" || k == "node" {
                continue;
            }
            if !may_change(&s.who, k) {
                return error_page(
                    StatusCode::FORBIDDEN,
                    &format!("'{k}' is not yours to change: nothing changed."),
                );
            }
            if k == "pin" && v.is_empty() {
                continue;
            }
            let now = current.user.settings.get(k).map(String::as_str).unwrap_or("");
            if v.trim() != now {
                wanted.push((k.clone(), v.trim().to_owned()));
            }
        }
    }
    let source = s.who.source();
    let mut changed = Vec::new();
    for (field, value) in wanted {
        match state.console.set(&user, &field, &value, &source, node).await {
            Ok(_) => changed.push(field),
            Err(OpError::Refused { message, .. }) => {
                errors.insert(field, (value, message));
            }
            Err(OpError::Usage(message)) => {
                errors.insert(field, (value, message));
            }
            Err(e) => return error_page(crate::server::status_of(&e), &e.to_string()),
        }
    }
    if errors.is_empty() {
        let m = if changed.is_empty() {
            "Nothing to change.".into()
        } else {
            format!("Saved: {}.", changed.join(", "))
        };
        state.web.flash(&headers, m);
        let to = match node {
            Some(n) => format!("/users/{}?node={}", url_part(&user), url_part(n)),
            None => format!("/users/{}", url_part(&user)),
        };
        return Redirect::to(&to).into_response();
    }
    let mut s = s;
    if !changed.is_empty() {
        s.flash.push(format!("Saved: {}.", changed.join(", ")));
    }
    s.flash.push("Some values were refused and not changed: see below.".into());
    match state.console.status(&user, node).await {
        Ok(u) => user_page(&state, &s, &u, node, &errors, StatusCode::UNPROCESSABLE_ENTITY),
        Err(e) => error_page(crate::server::status_of(&e), &e.to_string()),
    }
}

#[derive(Deserialize)]
struct HandoverForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    to: String,
    node: Option<String>,
}

async fn handover(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(user): Path<String>,
    Form(form): Form<HandoverForm>,
) -> Response {
    let s = match need_session(&state, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    if !s.who.may_see(&user) {
        return forbidden_user();
    }
    if !same(&s.csrf, &form.csrf) {
        return error_page(
            StatusCode::FORBIDDEN,
            "This form is not from this session (CSRF token missing or wrong): nothing changed.",
        );
    }
    let node = node_for(&s, &form.node);
    let m = match state.console.handover(&user, &form.to, &s.who.source(), node).await {
        Ok(d) => format!("Handover to {}: {}", form.to, d.message),
        Err(e) => format!("Handover to {} failed: {e}", form.to),
    };
    state.web.flash(&headers, m);
    Redirect::to(&format!("/users/{}", url_part(&user))).into_response()
}

/// The live stream of a page: the events recorded after `after` (the number the page was
/// rendered at) first, then each as it comes; only `only`'s, for a user's page.
fn sse(state: &AppState, only: Option<String>, after: Option<u64>) -> Response {
    let live = &state.web.live;
    // Subscribed before the backlog is read: an event recorded in between comes both ways,
    // and its number says to send it once.
    let rx = live.tx.subscribe();
    let backlog: Vec<(u64, Event)> = match after {
        Some(after) => live
            .ring
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .1
            .iter()
            .filter(|(n, _)| *n > after)
            .cloned()
            .collect(),
        None => Vec::new(),
    };
    let sent = backlog.last().map_or(after.unwrap_or(0), |(n, _)| *n);
    // The backlog is sent whole; a live event is sent unless the backlog had it.
    let backlog = futures_util::stream::iter(backlog.into_iter().map(|x| (true, Ok(x))));
    let live_events = BroadcastStream::new(rx).map(|x| (false, x));
    let stream = backlog.chain(live_events).filter_map(move |(from_backlog, item)| {
        let only = only.clone();
        async move {
            let (n, e) = match item {
                Ok((n, _)) if !from_backlog && n <= sent => return None,
                Ok(x) => x,
                Err(_) => {
                    return Some(Ok::<_, Infallible>(
                        axum::response::sse::Event::default().event("lagged").data("-"),
                    ))
                }
            };
            if let Some(u) = &only {
                if user_page_event(&e.kind) != Some(u.as_str()) {
                    return None;
                }
            }
            Some(Ok(axum::response::sse::Event::default()
                .event(e.kind.type_name())
                .id(n.to_string())
                .json_data(&e)
                .unwrap_or_else(|_| axum::response::sse::Event::default().comment("-"))))
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default()).into_response()
}

/// Where a page's stream starts: after the last event it had, when the browser reconnects
/// (`Last-Event-ID`), else after the number the page was rendered at.
fn stream_start(headers: &HeaderMap, q: &LiveQuery) -> Option<u64> {
    headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok()).or(q.after)
}

#[derive(Deserialize)]
struct LiveQuery {
    after: Option<u64>,
}

/// The user whose page an event belongs on. A refused request is the security log's, not
/// the page of the user it named (who may not have made it).
fn user_page_event(k: &EventKind) -> Option<&str> {
    match k {
        EventKind::RequestRefused { .. } => None,
        other => other.user(),
    }
}

async fn user_live(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(user): Path<String>,
    Query(q): Query<LiveQuery>,
) -> Response {
    let s = match need_session(&state, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    if !s.who.may_see(&user) {
        return forbidden_user();
    }
    sse(&state, Some(user), stream_start(&headers, &q))
}

async fn admin_live(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<LiveQuery>,
) -> Response {
    match need_admin(&state, &headers) {
        Ok(_) => sse(&state, None, stream_start(&headers, &q)),
        Err(r) => r,
    }
}

async fn admin_nodes(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let s = match need_admin(&state, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let _ = state.console.store().await;
    let nodes = state.console.nodes();
    let body = html! {
        table id="nodes" {
            caption { "Every node of the configuration" }
            thead { tr { th scope="col" { "Node" } th scope="col" { "PBX" } th scope="col" { "Address" } th scope="col" { "State" } th scope="col" { "Users" } th scope="col" { "Calls" } th scope="col" { "Store" } } }
            tbody {
                @for n in &nodes {
                    tr {
                        th scope="row" { (n.name) }
                        td { (format!("{:?}", n.pbx).to_lowercase()) }
                        td { code { (n.address) } }
                        td { span.state data-state=(format!("{:?}", n.state).to_lowercase()) { (format!("{:?}", n.state).to_lowercase()) } @if let Some(e) = &n.error { br; small.error { (e) } } }
                        td { (n.users) }
                        td { (n.calls) }
                        td { dl.store { @for (k, v) in &n.store { dt { (k) } dd { (v) } } } }
                    }
                }
            }
        }
    };
    session_page(&s, StatusCode::OK, "Nodes and stores", None, body)
}

async fn admin_calls(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let s = match need_admin(&state, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let after = state.web.live.last();
    let live = state.console.calls();
    let timelines: Vec<(String, Timeline)> = state
        .web
        .timelines
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .rev()
        .take(50)
        .cloned()
        .collect();
    let body = html! {
        p.hint { "Each call's legs, as the events came (newest call first); the page follows them live." }
        div id="timelines" {
            @for c in &live {
                @let key = format!("{}/{}", c.node, c.call.call);
                @if !timelines.iter().any(|(k, _)| *k == key) {
                    section.card.call data-call=(key) {
                        h2 { (c.node) " · user " (c.call.user) " · " code { (c.call.channel) } " · " span.callstate { (c.call.state) } }
                        ul.legs { @for (leg, st) in &c.call.legs { li data-leg=(leg) { strong { (leg) } ": " span.steps { span.step { (st) } } } } }
                    }
                }
            }
            @for (key, t) in &timelines {
                section.card.call data-call=(key) {
                    h2 { (t.node) " · user " (t.user) " · from " (now_words(t.started_ms)) " · " span.callstate { (t.ended.clone().unwrap_or_else(|| "in progress".into())) } }
                    ul.legs {
                        @for (leg, steps) in &t.legs {
                            li data-leg=(leg) { strong { (leg) } ": " span.steps { @for (at, st) in steps { span.step title=(now_words(*at)) { (st) } } } }
                        }
                    }
                }
            }
        }
        @if live.is_empty() && timelines.is_empty() { p.quiet id="no-calls" { "No twinned call seen yet." } }
    };
    session_page(&s, StatusCode::OK, "Live calls", Some(format!("/admin/live?after={after}")), body)
}

async fn admin_users(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let s = match need_admin(&state, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let users = state.console.users();
    let body = html! {
        table id="users" {
            caption { "Every user of every node that is up" }
            thead { tr { th scope="col" { "User" } th scope="col" { "Node" } th scope="col" { "Twinning" } th scope="col" { "DND" } th scope="col" { "Mobile" } th scope="col" { "Key lamp" } th scope="col" { "Schedule" } } }
            tbody {
                @for u in &users {
                    @let v = |f: &str| u.user.settings.get(f).cloned().unwrap_or_default();
                    @let lamp = key_lamp(u);
                    tr {
                        th scope="row" { a href={ "/users/" (url_part(&u.user.user)) "?node=" (url_part(&u.node)) } { (u.user.user) } }
                        td { (u.node) }
                        td { (v("enabled")) }
                        td { (v("dnd")) }
                        td { (v("mobile")) }
                        td { span.lamp data-state=(lamp) { (lamp_words(&lamp)) } }
                        td { (schedule_words(&v("schedule"))) }
                    }
                }
            }
        }
    };
    session_page(&s, StatusCode::OK, "Users", None, body)
}

#[derive(Deserialize, Default)]
struct AuditQuery {
    #[serde(default)]
    user: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    field: String,
}

async fn admin_audit(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<AuditQuery>,
) -> Response {
    let s = match need_admin(&state, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    // The store keeps every node's changes and refusals; PIN failures and handovers, and
    // everything where there is no store, come from the events this console has seen.
    let from_store =
        state.web.store_dsn.clone().filter(|_| ["", "changed", "refused"].contains(&q.kind.as_str()));
    let mut store_error = None;
    let mut rows: Option<Vec<AuditEntry>> = None;
    if let Some(dsn) = from_store {
        let query = twinning_cluster::AuditQuery {
            user: q.user.clone(),
            surface: q.source.clone(),
            outcome: q.kind.clone(),
            field: q.field.clone(),
            limit: 500,
        };
        let read =
            tokio::task::spawn_blocking(move || twinning_cluster::audit::read(dsn.expose(), &query)).await;
        match read {
            Ok(Ok(found)) => rows = Some(found.into_iter().map(audit_entry_of_row).collect()),
            Ok(Err(e)) => store_error = Some(e),
            Err(_) => store_error = Some("the store's read failed".into()),
        }
    }
    let stored = rows.is_some();
    let rows: Vec<AuditEntry> = rows.unwrap_or_else(|| {
        state
            .web
            .audit()
            .into_iter()
            .filter(|a| q.user.is_empty() || a.user == q.user)
            .filter(|a| q.kind.is_empty() || a.kind == q.kind)
            .filter(|a| q.source.is_empty() || a.source.contains(&q.source))
            .filter(|a| q.field.is_empty() || a.field == q.field)
            .take(500)
            .collect()
    });
    let body = html! {
        form.card.filters method="get" action="/admin/audit" {
            div { label for="a-user" { "User" } input id="a-user" name="user" value=(q.user); }
            div {
                label for="a-kind" { "What" }
                select id="a-kind" name="kind" {
                    @for (k, w) in [("", "everything"), ("changed", "changes"), ("refused", "refusals"), ("pin", "PIN failures"), ("handover", "handovers")] {
                        option value=(k) selected[q.kind == k] { (w) }
                    }
                }
            }
            div { label for="a-source" { "Surface (source) contains" } input id="a-source" name="source" value=(q.source); }
            div { label for="a-field" { "Field" } input id="a-field" name="field" value=(q.field); }
            button type="submit" { "Filter" }
        }
        @if let Some(e) = &store_error { p.error role="alert" id="store-error" { "The store's audit could not be read: " (e) } }
        @if stored {
            p.hint id="audit-from" data-from="store" { "From the shared store's twinning_audit table: every node's changes and refusals, newest first." }
        } @else {
            p.hint id="audit-from" data-from="events" { "From the events this console has seen since it started (the module's own audit events)." }
        }
        table id="audit" {
            thead { tr { th scope="col" { "When" } th scope="col" { "Node" } th scope="col" { "What" } th scope="col" { "User" } th scope="col" { "Field" } th scope="col" { "Value" } th scope="col" { "Was" } th scope="col" { "Source" } th scope="col" { "Reason" } } }
            tbody {
                @for a in &rows {
                    tr.(a.kind) {
                        td { (now_words(a.at_ms)) } td { (a.node) } td { (a.kind) } td { (a.user) } td { (a.field) }
                        td { code { (a.value) } } td { code { (a.old_value) } } td { (a.source) } td { (a.reason) }
                    }
                }
            }
        }
        @if rows.is_empty() { p.quiet { "Nothing matches." } }
    };
    session_page(&s, StatusCode::OK, "Audit trail", None, body)
}

/// A row of the store's audit table as the page shows it.
fn audit_entry_of_row(r: twinning_cluster::AuditRow) -> AuditEntry {
    AuditEntry {
        at_ms: r
            .at
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        node: r.node,
        kind: if r.outcome == "refused" { "refused" } else { "changed" },
        user: r.user,
        field: r.field,
        value: r.new_value.unwrap_or_default(),
        old_value: r.old_value.unwrap_or_default(),
        source: r.surface,
        reason: r.reason.unwrap_or_default(),
    }
}

async fn admin_charts(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    use crate::charts::{bars, Stack};
    let s = match need_admin(&state, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let now = crate::event::now_ms();
    // Scraped again when the last scrape is old, or lacks a node that is up now (it came up
    // since): a node's counters count from the first scrape that has it.
    let up: Vec<String> = state
        .console
        .nodes()
        .into_iter()
        .filter(|n| n.state == crate::model::NodeState::Up)
        .map(|n| n.name)
        .collect();
    let stale = {
        let h = state.web.charts.lock().unwrap_or_else(|e| e.into_inner());
        h.last_at().is_none_or(|t| now.saturating_sub(t) > 2000) || up.iter().any(|n| !h.last_has(n))
    };
    if stale {
        scrape(&state).await;
    }
    let minutes = state.web.charts.lock().unwrap_or_else(|e| e.into_inner()).minutes(crate::event::now_ms());
    // Each counter of a family, per minute: its label values and their stacks.
    let stacks = |prefix: &str| -> (Vec<String>, Vec<(u64, Stack)>) {
        let mut names: Vec<String> = minutes
            .iter()
            .flat_map(|m| m.counts.keys())
            .filter_map(|k| k.strip_prefix(prefix))
            .map(str::to_owned)
            .collect();
        names.sort();
        names.dedup();
        let per_minute = minutes
            .iter()
            .map(|m| {
                let stack = names
                    .iter()
                    .map(|n| (n.clone(), m.counts.get(&format!("{prefix}{n}")).copied().unwrap_or(0.0)))
                    .collect();
                (m.minute, stack)
            })
            .collect();
        (names, per_minute)
    };
    let (statuses, by_status) = stacks("calls|");
    let answers: Vec<(u64, Stack)> = minutes
        .iter()
        .map(|m| {
            let get = |k: &str| m.counts.get(k).copied().unwrap_or(0.0);
            (
                m.minute,
                vec![
                    ("answered".to_owned(), get("legs|answered")),
                    ("guarded".to_owned(), get("legs|guarded")),
                ],
            )
        })
        .collect();
    let (answered, guarded) = answers.iter().fold((0.0, 0.0), |(a, g), (_, s)| (a + s[0].1, g + s[1].1));
    let rate = if answered + guarded > 0.0 {
        format!(
            "{:.0} % of the answers were guarded (taken for voicemail and dropped): {guarded} of {}.",
            guarded * 100.0 / (answered + guarded),
            answered + guarded
        )
    } else {
        "No leg answered in the last 30 minutes.".to_owned()
    };
    // The answering leg: the counter by the leg that had each answered call at its end.
    let (legs, by_leg) = stacks("answered|");
    let status_names: Vec<&str> = statuses.iter().map(String::as_str).collect();
    let leg_names: Vec<&str> = legs.iter().map(String::as_str).collect();
    let body = html! {
        p.hint { "Per minute, over the last 30 minutes, from every node's metrics (twinning_calls_total, twinning_legs_total, twinning_answered_calls_total), scraped by this console every 20 s and when this page is asked for." }
        section.card { (bars("chart-calls", "Calls ended per minute, by outcome", &by_status, &status_names, "calls")) }
        section.card {
            (bars("chart-guarded", "Answers per minute: real (answered) and guarded (taken for voicemail and dropped)", &answers, &["answered", "guarded"], "answers"))
            p id="guarded-rate" { (rate) }
        }
        section.card {
            (bars("chart-legs", "Answered calls per minute, by the leg that had the call at its end", &by_leg, &leg_names, "calls"))
        }
    };
    session_page(&s, StatusCode::OK, "Charts", None, body)
}

async fn me(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    home(State(state), headers).await
}

/// The pages' routes (merged into the API's router by `server::router`).
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/me", get(me))
        .route("/login", get(login_page).post(login))
        .route("/admin/login", get(admin_login_page).post(admin_login))
        .route("/logout", post(logout))
        .route("/users/{user}", get(show_user).post(change_user))
        .route("/users/{user}/handover", post(handover))
        .route("/users/{user}/live", get(user_live))
        .route("/admin", get(admin_nodes))
        .route("/admin/calls", get(admin_calls))
        .route("/admin/users", get(admin_users))
        .route("/admin/audit", get(admin_audit))
        .route("/admin/charts", get(admin_charts))
        .route("/admin/live", get(admin_live))
        .route("/static/twinning.css", get(stylesheet))
        .route("/static/twinning.js", get(script))
        .layer(axum::middleware::from_fn(headers))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_weekly_editor_writes_the_schedule_syntax() {
        let f = |pairs: &[(&str, &str)]| {
            pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect::<Vec<_>>()
        };
        let mut form = f(&[("sched_mode", "times")]);
        for d in ["mon", "tue", "wed", "thu", "fri"] {
            form.extend(f(&[
                (&format!("sd_{d}"), "1"),
                (&format!("sf_{d}"), "08:00"),
                (&format!("st_{d}"), "18:00"),
            ]));
        }
        form.extend(f(&[("sd_sat", "1"), ("sf_sat", "00:00"), ("st_sat", "00:00")]));
        let s = schedule_from_form(&form).unwrap();
        assert_eq!(s, "mon-fri 08:00-18:00, sat");
        assert!(twinning_core::settings::Schedule::parse(&s).is_ok());
        assert_eq!(
            schedule_words(&s),
            "The mobiles may ring Monday to Friday, from 08:00 to 18:00; on Saturday, all day."
        );
        assert_eq!(schedule_from_form(&f(&[("sched_mode", "always")])).unwrap(), "always");
        assert!(schedule_from_form(&f(&[("sched_mode", "times")])).is_err());
        assert!(
            schedule_from_form(&f(&[("sched_mode", "times"), ("sd_mon", "1"), ("sf_mon", "8<b>")])).is_err()
        );
        let days = schedule_days("mon-fri 08:00-18:00, sat").unwrap();
        assert_eq!(days[0], Some(("08:00".into(), "18:00".into())));
        assert_eq!(days[5], Some(("00:00".into(), "00:00".into())));
        assert_eq!(days[6], None);
        assert!(schedule_days("mon 08:00-09:00, mon 10:00-11:00").is_none());
        assert_eq!(
            schedule_words("daily 22:00-06:00"),
            "The mobiles may ring every day, from 22:00 to 06:00 the next morning."
        );
        assert_eq!(schedule_words("always"), "The mobiles may ring at any time.");
    }

    #[test]
    fn users_never_get_the_admins_fields() {
        let u = Who::User("1001".into());
        assert!(may_change(&u, "mobile7_ring_time") && may_change(&u, "schedule"));
        for f in ["desk", "pin", "accountcode", "hunt_group_calls", "mobile11", "user"] {
            assert!(!may_change(&u, f), "{f}");
        }
        assert!(may_change(&Who::Admin("a".into()), "pin"));
        assert!(!may_change(&Who::Admin("a".into()), "desk"));
        assert!(u.may_see("1001") && !u.may_see("1002") && Who::Admin("a".into()).may_see("1002"));
        assert_eq!(u.source(), "web:1001");
    }

    /// The events of a page's stream, by type, until `want` of them came.
    async fn streamed(r: Response, want: usize) -> Vec<String> {
        use http_body_util::BodyExt;
        let mut body = r.into_body();
        let mut text = String::new();
        let mut out = Vec::new();
        while out.len() < want {
            let frame = tokio::time::timeout(Duration::from_secs(5), body.frame())
                .await
                .expect("the stream went quiet")
                .expect("the stream ended")
                .unwrap();
            if let Ok(data) = frame.into_data() {
                text.push_str(&String::from_utf8_lossy(&data));
            }
            out = text
                .lines()
                .filter_map(|l| l.strip_prefix("data: "))
                .map(|d| {
                    serde_json::from_str::<serde_json::Value>(d).unwrap()["field"]
                        .as_str()
                        .unwrap()
                        .to_owned()
                })
                .collect();
        }
        out
    }

    #[tokio::test]
    async fn a_page_streams_every_event_after_the_one_it_was_rendered_at() {
        let fake = crate::fake::FakeAmi::start().await;
        let text = format!(
            "[[node]]\nname='pbx1'\nkind='asterisk'\naddress='{}'\nusername='u'\nsecret='right'\n",
            fake.address
        );
        let config = crate::config::Config::parse(&text, std::path::Path::new(".")).unwrap();
        let console = Arc::new(crate::console::Console::start(&config));
        let state = AppState::new(&config, console);
        let change = |field: &str| {
            Event::new(
                "pbx1",
                crate::config::Pbx::Asterisk,
                EventKind::Settings {
                    user: "1001".into(),
                    field: field.into(),
                    value: "yes".into(),
                    old_value: "no".into(),
                    source: "ami".into(),
                    channel: String::new(),
                    origin_node: String::new(),
                },
            )
        };
        state.web.live.record(change("one"));
        let rendered_at = state.web.live.last();
        // Two events come between the page and its stream, one after it connected.
        state.web.live.record(change("two"));
        state.web.live.record(change("three"));
        let r = sse(&state, Some("1001".into()), Some(rendered_at));
        state.web.live.record(change("four"));
        assert_eq!(streamed(r, 3).await, ["two", "three", "four"]);
        // A browser reconnecting after "three" (Last-Event-ID) gets "four" only, once.
        let mut h = HeaderMap::new();
        h.insert("last-event-id", HeaderValue::from_static("3"));
        let r = sse(&state, Some("1001".into()), stream_start(&h, &LiveQuery { after: Some(rendered_at) }));
        state.web.live.record(change("five"));
        assert_eq!(streamed(r, 2).await, ["four", "five"]);
        // Another user's page gets none of them.
        let r = sse(&state, Some("1002".into()), Some(0));
        let quiet = tokio::time::timeout(Duration::from_millis(300), streamed(r, 1)).await;
        assert!(quiet.is_err(), "{quiet:?}");
    }

    #[test]
    fn cookies_are_read_by_name() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("a=1; twinning_session=tok; b=2"));
        assert_eq!(cookie(&h, SESSION_COOKIE).as_deref(), Some("tok"));
        assert_eq!(cookie(&h, "c"), None);
        assert_eq!(url_part("10 01/../x"), "10%2001%2F..%2Fx");
    }
}
