//! Every leg on the bill: the CDR side of the legs this module places.
//!
//! Each leg's dial is published as app_dial publishes it (see [`super::channel::Leg`]),
//! so the CDR engine writes one row per leg. One case the engine cannot express: a leg
//! that answered and was then dropped without ever meeting the caller (carrier voicemail
//! inside the answer guard, a declined press-1, a leg that answered just after another
//! won). The carrier bills that call; the CDR engine, which takes a row's answer time from
//! the caller, would not. Such a leg's dial is ended as a cancel, and this modifier, which
//! Asterisk runs on every row before any backend sees it, rewrites that one row (matched by
//! the caller's uniqueid and the leg's channel) as ANSWERED, with the leg's own answer and
//! end and their billsec. The same modifier puts the twinning user's account code on the
//! rows of the remote legs: Asterisk's accountcode column is the caller's (party A's), and
//! the user, not the caller, pays for the trunk leg.

use std::ffi::{c_int, CStr};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use asterisk_sys as sys;

use super::guard;

/// What a leg's row needs that the CDR engine does not give it, waiting for the row.
struct LegBill {
    caller_uniqueid: String,
    peer: String,
    at: SystemTime,
    /// The twinning user's account code: the row's accountcode (and peeraccount).
    account_code: Option<String>,
    /// Answered and dropped unbridged: the leg's own answer and end.
    dropped: Option<(SystemTime, SystemTime)>,
    /// When the first row of this leg came. A leg can have more than one row (a pushed
    /// leg has its dial row and then the row of its bridge with the caller), and the
    /// engine dispatches all rows of a caller together: the entry stays a little while
    /// for the rows after the first.
    first_row: Option<SystemTime>,
}

/// Rows are written when the caller's channel ends, which may be hours after the leg:
/// an entry waits until its row comes, and is forgotten after this long if none does
/// (CDRs disabled, a backend that filters the row out before the modifiers).
const KEEP: Duration = Duration::from_secs(6 * 3600);
/// How long an entry waits, after its first row, for the other rows of the same dispatch.
const KEEP_AFTER_FIRST_ROW: Duration = Duration::from_secs(60);
/// A bound on what a PBX with CDRs disabled can make the module hold.
const MOST: usize = 100_000;

static BILLS: Mutex<Vec<LegBill>> = Mutex::new(Vec::new());

fn bills() -> std::sync::MutexGuard<'static, Vec<LegBill>> {
    BILLS.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn entry<'a>(all: &'a mut Vec<LegBill>, caller_uniqueid: &str, peer: &str) -> &'a mut LegBill {
    match all.iter().position(|b| b.peer == peer && b.caller_uniqueid == caller_uniqueid) {
        Some(i) => &mut all[i],
        None => {
            let now = SystemTime::now();
            forget_old(all, now);
            if all.len() >= MOST {
                log::warn!("twinning: {MOST} legs wait for their CDR rows; the oldest is dropped");
                all.remove(0);
            }
            all.push(LegBill {
                caller_uniqueid: caller_uniqueid.to_owned(),
                peer: peer.to_owned(),
                at: now,
                account_code: None,
                dropped: None,
                first_row: None,
            });
            all.last_mut().expect("just pushed")
        }
    }
}

fn forget_old(all: &mut Vec<LegBill>, now: SystemTime) {
    let young = |since: SystemTime, keep: Duration| now.duration_since(since).map_or(true, |age| age < keep);
    all.retain(|b| match b.first_row {
        Some(first) => young(first, KEEP_AFTER_FIRST_ROW),
        None => young(b.at, KEEP),
    });
}

/// The row of `peer`, dialed from the caller `caller_uniqueid`, is billed to `account_code`.
pub fn bill_to(caller_uniqueid: &str, peer: &str, account_code: &str) {
    entry(&mut bills(), caller_uniqueid, peer).account_code = Some(account_code.to_owned());
}

/// `peer` answered at `answered` and was dropped at `ended` without being bridged.
pub fn bill_dropped(caller_uniqueid: &str, peer: &str, answered: SystemTime, ended: SystemTime) {
    entry(&mut bills(), caller_uniqueid, peer).dropped = Some((answered, ended));
}

const NAME: &CStr = c"twinning";

pub fn register() -> Result<(), String> {
    // SAFETY: static strings and a callback that lives as long as the module, which
    // unregisters it at unload.
    let rc = unsafe {
        sys::ast_cdr_modifier_register(
            NAME.as_ptr(),
            c"Bills twinned legs answered and dropped before they were bridged".as_ptr(),
            Some(modify),
        )
    };
    if rc != 0 {
        return Err("could not register the CDR modifier".into());
    }
    Ok(())
}

pub fn unregister() {
    // SAFETY: registered by `register`; Asterisk waits for a running callback to finish.
    unsafe {
        sys::ast_cdr_modifier_unregister(NAME.as_ptr());
    }
    *bills() = Vec::new();
}

unsafe extern "C" fn modify(cdr: *mut sys::ast_cdr) -> c_int {
    guard::catch("CDR modifier", 0, || {
        // SAFETY: Asterisk passes one public record, ours to change until we return.
        let Some(cdr) = (unsafe { cdr.as_mut() }) else { return 0 };
        let (uniqueid, dstchannel) = (text(&cdr.uniqueid), text(&cdr.dstchannel));
        if dstchannel.is_empty() {
            return 0;
        }
        let (account_code, dropped) = {
            let mut all = bills();
            let now = SystemTime::now();
            forget_old(&mut all, now);
            let Some(bill) = all.iter_mut().find(|b| b.peer == dstchannel && b.caller_uniqueid == uniqueid)
            else {
                return 0;
            };
            bill.first_row.get_or_insert(now);
            // A dropped leg never met the caller, so it has one row; the account code
            // belongs on every row of the leg.
            (bill.account_code.clone(), bill.dropped.take())
        };
        if let Some(code) = &account_code {
            copy(&mut cdr.accountcode, code);
            copy(&mut cdr.peeraccount, code);
        }
        if let Some((answered, ended)) = dropped {
            cdr.disposition = sys::ast_cdr_disposition::AST_CDR_ANSWERED as std::ffi::c_long;
            cdr.answer = timeval(answered);
            cdr.end = timeval(ended);
            // As Asterisk counts billsec: whole seconds from answer to end.
            cdr.billsec = ended.duration_since(answered).unwrap_or_default().as_secs() as std::ffi::c_long;
        }
        0
    })
}

/// Writes `value` into a fixed CDR field, cut to fit with its NUL.
fn copy(field: &mut [std::ffi::c_char], value: &str) {
    let n = value.len().min(field.len() - 1);
    for (dst, src) in field.iter_mut().zip(value.as_bytes()[..n].iter()) {
        *dst = *src as std::ffi::c_char;
    }
    field[n] = 0;
}

fn text(field: &[std::ffi::c_char]) -> String {
    let bytes: Vec<u8> = field.iter().take_while(|c| **c != 0).map(|c| *c as u8).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn timeval(t: SystemTime) -> sys::timeval {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    sys::timeval { tv_sec: d.as_secs() as _, tv_usec: d.subsec_micros() as _ }
}
