//! The twinned call: a sans-IO state machine per call. The host feeds it what happened to
//! the caller and each leg (and the time); it answers with commands (dial, cancel, prompt,
//! bridge, notify, finish) and the next moment it needs to be woken. It never reads a clock,
//! touches a channel or blocks, so every decision is testable without a PBX.

mod cap;
mod command;
mod dtmf_codes;
mod engine;
mod event;
mod leg;
mod options;
mod setup;

pub use cap::{ConcurrencyCap, MobileSlots};
pub use command::{
    CallStatus, CallerId, Command, ConferenceResult, ConsultResult, DialTarget, HandoverResult,
    HandoverTrigger, LegNotice, Notification, Prompt, RefusalReason, TransferKind,
};
pub use dtmf_codes::{CodeAction, CodeKind, DtmfCodeMatcher, Keyed, CODE_DIGIT_TIMEOUT};
pub use engine::{TwinnedCall, CONFIRM_TIMEOUT};
pub use event::{Event, LegFailure, MobileFeature};
pub use leg::{LegId, LegKind, MAX_DESTINATIONS};
pub use options::CallOptions;
pub use setup::{CallSetup, LocalTime};
