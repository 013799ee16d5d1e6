//! DTMF codes during the bridge: FreeSWITCH hands every key to the module, so the codes
//! (on the desk the push code; on the mobile the desk, hold, transfer and consult codes,
//! and while it consults the attended transfer, conference and drop codes) are
//! matched by the core's [`DtmfCodeMatcher`]: keys that start no code go on to the far
//! end unchanged, in order. What a code does is the engine's decision, through the driver.
//!
//! A key held because it may start a code (a lone `*`) is sent on once the code can no
//! longer complete: the bridge only runs the filter when a key arrives, so a thread of
//! the module's waits for the code timeout and lets the held keys through.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use twinning_core::call::{CodeAction, CodeKind, DtmfCodeMatcher, LegKind};
use twinning_core::DtmfCode;
use twinning_driver::{codes_for, consult_codes, CodeRequest};

use crate::host::bridge::{FarEnd, KeyFilter, Keys};
use crate::host::session::Session;
use crate::host::{guard, keys, module};
use crate::pbx::{Here, TwinnedCall};

/// A side's matcher, and whether a thread is waiting to let its held keys through.
struct Keyer {
    matcher: DtmfCodeMatcher<CodeRequest>,
    flusher: bool,
}

type Shared = Arc<Mutex<Keyer>>;

fn lock(keyer: &Mutex<Keyer>) -> MutexGuard<'_, Keyer> {
    keyer.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The key filter of the leg of `kind` in the caller's bridge.
pub fn key_filter(call: &Arc<TwinnedCall>, kind: LegKind) -> KeyFilter {
    filter(call, codes_for(&call.call_control, kind))
}

/// The mobile's key filter in its bridge with the third party of a consult: the attended
/// transfer, conference and drop codes; other keys go on to the third party.
pub fn consult_key_filter(call: &Arc<TwinnedCall>) -> KeyFilter {
    filter(call, consult_codes(&call.call_control))
}

fn filter(call: &Arc<TwinnedCall>, codes: Vec<(&DtmfCode, CodeRequest, CodeKind)>) -> KeyFilter {
    let codes = codes.into_iter().map(|(code, request, how)| (code.as_str().to_owned(), request, how));
    let keyer: Shared = Arc::new(Mutex::new(Keyer { matcher: DtmfCodeMatcher::new(codes), flusher: false }));
    let call = call.clone();
    Box::new(move |key, far| {
        // Decided under the lock, started after it is released: a thread that cannot be
        // started runs its failure path (which takes this lock) at once, on this thread.
        let (keyed, start_flusher) = {
            let mut k = lock(&keyer);
            let keyed = k.matcher.feed(key, Instant::now());
            let start = k.matcher.flush_due().is_some() && !k.flusher;
            if start {
                k.flusher = true;
            }
            (keyed, start)
        };
        if start_flusher {
            flush_when_due(keyer.clone(), far.clone(), call.user.clone());
        }
        let keys = if keyed.pass.len() == 1 && keyed.pass.starts_with(key) {
            Keys::Pass
        } else {
            Keys::Send(keyed.pass)
        };
        let request = match keyed.action {
            Some(CodeAction::Code(r)) => Some((r, None)),
            Some(CodeAction::CodeWithDigits(r, digits)) if r.collects_digits() => Some((r, Some(digits))),
            _ => None,
        };
        if let Some((request, digits)) = request {
            for c in call.code_pressed(request, digits, Here::Anywhere) {
                log::error!("twinning {}: code left a command unperformed: {c:?}", call.user);
            }
        }
        keys
    })
}

/// Waits until the held keys fall due (later keys move that on) and sends them to the far
/// end, unless a key completed or released them first. The keys are sent under the
/// matcher's lock, so a key arriving meanwhile goes after them, never before. Called
/// without the matcher's lock held (its failure path takes it). If the thread cannot be
/// started, or fails, the next held key starts another.
fn flush_when_due(keyer: Shared, far: FarEnd, user: String) {
    let failed = keyer.clone();
    module::THREADS.spawn(
        "twinning-keys".into(),
        move || {
            let ended = guard::catch("held keys", false, || loop {
                let due = {
                    let mut k = lock(&keyer);
                    let Some(due) = k.matcher.flush_due() else {
                        // Released or completed by a key; the filter starts another
                        // thread (under this lock) when one is held again.
                        k.flusher = false;
                        return true;
                    };
                    due
                };
                std::thread::sleep(due.saturating_duration_since(Instant::now()));
                let mut k = lock(&keyer);
                if k.matcher.flush_due().is_some_and(|d| d <= Instant::now()) {
                    let keys = k.matcher.expire(Instant::now());
                    if !keys.is_empty() && !far.send(&keys) {
                        log::debug!("twinning {user}: held keys {keys:?} not sent, the far end is gone");
                    }
                }
            });
            if !ended {
                lock(&keyer).flusher = false;
            }
        },
        move || lock(&failed).flusher = false,
    );
}

/// The mobile's codes while it is in a conference (mod_conference reads its media, so no
/// bridge of ours sees its keys): the attended-transfer code makes it leave, the drop code
/// drops the third party. Every key is kept from the conference, whose own key controls
/// are not the user's.
pub fn watch_conference_keys(call: &Arc<TwinnedCall>, mobile: Session, kind: LegKind) {
    watch_parked_keys(call, mobile, codes_for(&call.call_control, kind));
}

/// The mobile's consult codes while the third party rings (the mobile is parked, out of
/// any bridge): the drop code gives up the consult. Its other keys have nowhere to go.
pub fn watch_ringing_consult_keys(call: &Arc<TwinnedCall>, mobile: Session) {
    watch_parked_keys(call, mobile, consult_codes(&call.call_control));
}

fn watch_parked_keys(
    call: &Arc<TwinnedCall>,
    mobile: Session,
    codes: Vec<(&DtmfCode, CodeRequest, CodeKind)>,
) {
    let codes = codes.into_iter().map(|(code, request, how)| (code.as_str().to_owned(), request, how));
    let matcher = Mutex::new(DtmfCodeMatcher::new(codes));
    let call = call.clone();
    keys::watch(
        mobile,
        Arc::new(move |key| {
            let keyed = matcher.lock().unwrap_or_else(PoisonError::into_inner).feed(key, Instant::now());
            if let Some(CodeAction::Code(request)) = keyed.action {
                for c in call.code_pressed(request, None, Here::Anywhere) {
                    log::error!("twinning {}: code left a command unperformed: {c:?}", call.user);
                }
            }
            true
        }),
    );
}
