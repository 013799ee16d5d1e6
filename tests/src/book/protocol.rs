//! The AMI and ESL vocabulary, listed once: every AMI action with its class, every event
//! with its class, FreeSWITCH subclass and fields, and every word of FreeSWITCH's
//! `twinning` API. The book's AMI and ESL chapters are rendered from these lists, and
//! `tests/tests/book.rs` checks the lists against the code: the actions and classes in
//! `asterisk-module/src/ami.rs`, the events and fields `twinning_service::call_events`
//! builds, its reserved subclasses, and `twinning_service::api_command::USAGE`.

/// An AMI action of app_twinning.
pub struct Action {
    pub name: &'static str,
    /// The class an AMI account needs to be allowed to write (manager.conf `write =`).
    pub class: &'static str,
    pub summary: &'static str,
    /// Headers: name, required, meaning.
    pub headers: &'static [(&'static str, bool, &'static str)],
    pub response: &'static str,
}

/// An event, as AMI names it and as FreeSWITCH fires it (`CUSTOM` with this subclass).
pub struct Event {
    pub ami: &'static str,
    /// `None` for AMI-only events (the answers to `TwinningStatus`).
    pub subclass: Option<&'static str>,
    /// The AMI class an account needs to read it (manager.conf `read =`).
    pub class: &'static str,
    pub summary: &'static str,
    /// Fields the module sets: name, meaning. Asterisk adds the caller's channel headers
    /// (`Channel`, `Uniqueid`) to call events; FreeSWITCH its own channel headers.
    pub fields: &'static [(&'static str, &'static str)],
}

/// One form of FreeSWITCH's `twinning` API command, as `USAGE` writes it.
pub struct ApiForm {
    pub usage: &'static str,
    pub summary: &'static str,
}

pub const ACTIONS: &[Action] = &[
    Action {
        name: "TwinningStatus",
        class: "reporting",
        summary: "List twinning users and the settings in force.",
        headers: &[("User", false, "Only this user; without it, every user.")],
        response: "One `TwinningUser` event per user, then `TwinningStatusComplete`. An unknown `User` is an error response.",
    },
    Action {
        name: "TwinningSet",
        class: "config",
        summary: "Change one setting of a user, validated, durable and audited like every surface.",
        headers: &[
            ("User", true, "The twinning user."),
            ("Field", true, "A field name (see the configuration reference); `desk` is admin-only."),
            ("Value", false, "The new value; empty clears `mobile`, `mobile<n>` or `pin`."),
            ("Source", false, "A control plane acting for one of its users: `console:<login>` or `web:<login>`; the change is audited under that name."),
        ],
        response: "Success once the change is durable (with `settings_store = postgresql`: committed to the shared database); otherwise an error saying what was wrong, and nothing changes. While the shared database cannot be reached the error starts `settings store unavailable`.",
    },
    Action {
        name: "TwinningHandover",
        class: "call",
        summary: "Move a user's answered twinned call to the desk or a remote destination.",
        headers: &[
            ("User", true, "The twinning user."),
            ("To", true, "`desk`, `mobile` (the remote destination that answered last, or `mobile`), or `mobile2` … `mobile10`."),
            ("Source", false, "A control plane acting for one of its users: `console:<login>` or `web:<login>`; the handover's events name it."),
        ],
        response: "Whether the handover started; its outcome follows as `TwinningHandover` events.",
    },
    Action {
        name: "TwinningCalls",
        class: "reporting",
        summary: "List the twinned calls in progress, with each leg's state.",
        headers: &[],
        response: "One `TwinningCall` event per call, then `TwinningCallsComplete`.",
    },
    Action {
        name: "TwinningStore",
        class: "reporting",
        summary: "The settings store's state, as `twinning show store` shows it.",
        headers: &[],
        response: "Success with one header per line of `twinning show store` (spaces removed from the names): `Backend`, `Journal` or `Node`, `State`, `Leases` …",
    },
    Action {
        name: "TwinningMetrics",
        class: "reporting",
        summary: "Every metric the module counts (see Performance: metrics).",
        headers: &[],
        response: "One `TwinningMetric` event per sample, then `TwinningMetricsComplete`.",
    },
    Action {
        name: "TwinningCheckPin",
        class: "config",
        summary: "Check a user's PIN through the same guard and lockout as the phone (for a login page).",
        headers: &[
            ("User", true, "The twinning user."),
            ("Pin", false, "The PIN to check."),
            ("Source", false, "`console:<login>` or `web:<login>`, for the log."),
        ],
        response: "Success with `Result`: `OK`, `WRONG`, `LOCKED` (locked out: even the right PIN is refused) or `NOPIN`. Every answer but `OK` raises `TwinningAuthFailed`.",
    },
];

pub const EVENTS: &[Event] = &[
    Event {
        ami: "TwinningStart",
        subclass: Some("twinning::start"),
        class: "call",
        summary: "A twinned call started.",
        fields: &[("User", "The twinning user."), ("Mobile", "The user's mobile number, if any.")],
    },
    Event {
        ami: "TwinningLeg",
        subclass: Some("twinning::leg"),
        class: "call",
        summary: "A leg changed state.",
        fields: &[
            ("User", "The twinning user."),
            ("Leg", "`desk`, `mobile`, or `mobile2` … `mobile10`."),
            ("State", "`dialing`, `ringing`, `answered`, `guarded` (answered inside the answer guard: taken for voicemail and dropped), `confirmed`, `declined`, `cancelled`, `failed`, `hungup` (after answering, before the bridge), `released` (the call moved away from it), `noanswer` (its destination's own ring time passed), `retried` (refused at once by the trunk and dialed once more with `caller_id_fallback`)."),
            ("Destination", "With `dialing`: where the leg is dialed."),
            ("AnsweredAfter", "With `guarded`: ms from the leg's start to its answer."),
            ("Cause", "With `declined`: `key` or `timeout`; with `failed` or `retried`: `busy`, `unavailable`, `congestion` or `rejected`."),
            ("Reason", "With `retried`: `caller_id_fallback`."),
            ("RetryCallerId", "With `retried`: the caller ID the leg is dialed with again."),
        ],
    },
    Event {
        ami: "TwinningRefused",
        subclass: Some("twinning::refused"),
        class: "call",
        summary: "A remote destination was not rung.",
        fields: &[
            ("User", "The twinning user."),
            ("Reason", "`dnd` (then nothing rings), `disabled`, `schedule`, `eligibility` (a hunt-group or forwarded call the user does not twin), `caller` (`block_callers` / `allow_callers`), `policy` (the destination policy, checked again at call time) or `cap` (`max_concurrent`)."),
            ("Detail", "The reason in words."),
            ("Leg", "The destination: `mobile`, or `mobile2` … `mobile10`."),
        ],
    },
    Event {
        ami: "TwinningBridged",
        subclass: Some("twinning::bridged"),
        class: "call",
        summary: "A leg won and was bridged with the caller.",
        fields: &[("User", "The twinning user."), ("Leg", "`desk`, `mobile`, or `mobile2` … `mobile10`.")],
    },
    Event {
        ami: "TwinningHandover",
        subclass: Some("twinning::handover"),
        class: "call",
        summary: "A call is being, or was, moved between the desk and a remote destination.",
        fields: &[
            ("User", "The twinning user."),
            ("From", "Where the call was."),
            ("To", "Where it is going."),
            ("Trigger", "`dtmf` (a code keyed during the call), `ami` (or the ESL `twinning handover`), `featurecode` (the desk's pickup, `*27`), `button` (the twinning key) or `hangup` (the mobile hung up and the desk took the held caller)."),
            ("Result", "`started`, `completed`, `noanswer`, `guarded`, `failed` or `refused`."),
            ("Detail", "Why, for results other than `started` and `completed`."),
            ("Source", "Only when a control plane asked for the handover (trigger `ami`): `console:<login>` or `web:<login>`."),
        ],
    },
    Event {
        ami: "TwinningHold",
        subclass: Some("twinning::hold"),
        class: "call",
        summary: "The mobile put the caller on hold, or took them off it.",
        fields: &[("User", "The twinning user."), ("State", "`on` or `off`.")],
    },
    Event {
        ami: "TwinningTransfer",
        subclass: Some("twinning::transfer"),
        class: "call",
        summary: "The mobile transferred the caller: blind (`transfer_code` and an extension), or attended (after a consult, by `attended_code` or by hanging up while consulting, or by `attended_code` in a conference).",
        fields: &[
            ("User", "The twinning user."),
            ("Context", "`transfer_context` (blind) or `consult_context` (attended)."),
            ("Exten", "The extension keyed after `transfer_code`, or the number consulted."),
            ("Kind", "`blind` or `attended`."),
        ],
    },
    Event {
        ami: "TwinningConsult",
        subclass: Some("twinning::consult"),
        class: "call",
        summary: "A consult from the mobile (`consult_code`, a number and `#`): the caller is held while the user calls a third party as their own extension, through `consult_context`.",
        fields: &[
            ("User", "The twinning user."),
            ("Result", "`started` (the caller is held, the number dialed), `answered`, `refused` (not placed: no `consult_context`, the destination policy, a handover or conference under way), `failed` (busy, unreachable, rejected), `dropped` (`drop_code`), `ended` (the third party hung up), `cancelled` (the call ended, or the mobile hung up before the answer). After `dropped`, `ended` and `failed` the mobile is back with the caller."),
            ("Context", "`consult_context`."),
            ("Exten", "The number keyed after `consult_code`."),
            ("Detail", "Why, for `refused`, `failed`, `ended` and `cancelled`."),
        ],
    },
    Event {
        ami: "TwinningConference",
        subclass: Some("twinning::conference"),
        class: "call",
        summary: "The caller, the mobile and a consulted third party in one bridge (`conference_code` while consulting), and its end.",
        fields: &[
            ("User", "The twinning user."),
            ("Result", "`started`, `refused` (no consult answered), or `ended` (someone left, or the mobile dropped the third party with `drop_code`)."),
            ("Detail", "The third party (`number@context`) for `started`; who left for `ended`."),
        ],
    },
    Event {
        ami: "TwinningEnd",
        subclass: Some("twinning::end"),
        class: "call",
        summary: "A twinned call ended. Exactly one follows each `TwinningStart`, and nothing of the call follows it.",
        fields: &[
            ("User", "The twinning user."),
            ("Status", "As `TWINNINGSTATUS`: `ANSWERED`, `NOANSWER`, `BUSY`, `CHANUNAVAIL`, `DND`, `CANCEL`, `FAILED`."),
            ("AnsweredBy", "`desk`, `mobile`, `mobile2` … `mobile10`, or empty."),
            ("Duration", "Milliseconds from start to end."),
        ],
    },
    Event {
        ami: "TwinningSettingsChanged",
        subclass: Some("twinning::settings"),
        class: "config",
        summary: "A setting changed, on any surface or (with a shared store) on another node.",
        fields: &[
            ("User", "The user."),
            ("Field", "The field."),
            ("Value", "The new value; a PIN shows as `****`."),
            ("OldValue", "The value before."),
            ("Source", "`dialplan`, `cli`, `ami`, `esl`, or `cluster` for another node's change."),
            ("Channel", "The channel, when `Source` is `dialplan`."),
            ("Node", "The node a `cluster` change was made on; empty otherwise."),
        ],
    },
    Event {
        ami: "TwinningSettingsRefused",
        subclass: Some("twinning::settings_refused"),
        class: "security",
        summary: "A change was refused (nothing changed), or a reloaded configuration file was refused as a whole.",
        fields: &[
            ("User", "The user named (empty for a reload)."),
            ("Field", "The field named (empty for a reload)."),
            ("Source", "`dialplan`, `cli`, `ami`, `esl` or `reload`."),
            ("Channel", "The channel, when `Source` is `dialplan`."),
            ("Reason", "Why; for a reload, every bad line."),
        ],
    },
    Event {
        ami: "TwinningRequestRefused",
        subclass: Some("twinning::request_refused"),
        class: "security",
        summary: "An application refused its arguments (an unknown user, bad options), or a request came from a device that is not the user's desk.",
        fields: &[
            ("Application", "The application, or for a device refusal the request: `change of <field>`, `pickup`, `TwinningButton`, `PIN entry`."),
            ("Arguments", "The arguments as given (control characters escaped), or the user."),
            ("Reason", "Why; also in `TWINNINGERROR` / `twinning_error`."),
            ("User", "A device refusal: the user the request was for."),
            ("Device", "A device refusal: the device the PBX proved (`PJSIP/desk1002`, `user/1002`, `sofia/internal/192.0.2.9`)."),
            ("RequestChannel", "A device refusal: the channel the request came on."),
        ],
    },
    Event {
        ami: "TwinningAuthFailed",
        subclass: Some("twinning::auth_failed"),
        class: "security",
        summary: "A wrong PIN, or a PIN entered during a lockout.",
        fields: &[
            ("User", "The user whose PIN was tried."),
            ("Reason", "`incorrect`, `lockout` (a wrong PIN that locked the user out) or `locked` (entered during a lockout; not checked)."),
            ("Attempts", "Wrong or refused entries since the user's last right PIN."),
            ("LockedFor", "Seconds the user stays locked out; 0 when not."),
        ],
    },
    Event {
        ami: "TwinningAccess",
        subclass: Some("twinning::access"),
        class: "security",
        summary: "A Mobile Direct Access or Mobile Callback call granted or refused (the caller ID that picked the user may be spoofed).",
        fields: &[
            ("Feature", "`access` (`TwinningAccess`, `twinning_access`) or `callback`."),
            ("Result", "`granted` or `refused`."),
            ("Reason", "For a grant `pin`. Refusals: `unknown_caller`, `not_enabled`, `ambiguous` (the number is more than one such user's), `no_route` (no `access_context`), `no_pin`, `wrong_pin`, `locked`, `rate` (`access_rate` used up), `no_number`, `policy` (the destination policy refused the number); for callbacks also `busy`, `pending`, `window`, `no_answer`, `failed` (the callback could not be carried out; the user may ask again); and `hung_up` (the caller hung up after a right PIN, or once called back)."),
            ("User", "The user the calling number belongs to; empty when none."),
            ("CallerNumber", "The calling number as the trunk gave it (control characters escaped)."),
            ("Number", "The number dialed as the user; empty when refused before one was accepted."),
        ],
    },
    Event {
        ami: "TwinningUser",
        subclass: None,
        class: "reporting",
        summary: "One user's settings in force, in answer to `TwinningStatus`.",
        fields: &[
            ("User", "The user."),
            ("<Field>", "One header per field, the field's name in CamelCase (`dial_delay` is `DialDelay`, `mobile3_ring_time` is `Mobile3RingTime`); destinations 2 … 10 only when in use. `Pin` is `****` when set, else empty."),
            ("RuntimeFields", "Where the values come from: the fields (by their names, `ring_time,mobile2`) whose value a runtime change set (AMI, ESL, the dialplan, a feature code, twinctl, the web pages, or the shared store); every other value is twinning.conf's. Empty when all are."),
        ],
    },
    Event {
        ami: "TwinningStatusComplete",
        subclass: None,
        class: "reporting",
        summary: "Ends a `TwinningStatus` list.",
        fields: &[("EventList", "`Complete`."), ("ListItems", "How many `TwinningUser` events were sent.")],
    },
    Event {
        ami: "TwinningCall",
        subclass: None,
        class: "reporting",
        summary: "One twinned call in progress, in answer to `TwinningCalls`.",
        fields: &[
            ("User", "The twinning user."),
            ("Channel", "The caller's channel."),
            ("Uniqueid", "The caller's unique id, as the call's own events carry it."),
            ("Seconds", "Since the call started."),
            ("Legs", "Each leg and its state: `desk:ringing mobile:dialing`."),
        ],
    },
    Event {
        ami: "TwinningCallsComplete",
        subclass: None,
        class: "reporting",
        summary: "Ends a `TwinningCalls` list.",
        fields: &[("EventList", "`Complete`."), ("ListItems", "How many `TwinningCall` events were sent.")],
    },
    Event {
        ami: "TwinningMetric",
        subclass: None,
        class: "reporting",
        summary: "One metric sample, in answer to `TwinningMetrics`.",
        fields: &[
            ("Name", "The metric: `twinning_calls_total`, `twinning_answered_calls_total`, `twinning_legs_total`, `twinning_handovers_total`, `twinning_consults_total`, `twinning_transfers_total`, `twinning_conferences_total`, `twinning_settings_changes_total`, `twinning_settings_refusals_total`, `twinning_pin_failures_total`, `twinning_pin_lockouts_total`, `twinning_cap_refusals_total`, `twinning_store_reconnects_total`, `twinning_live_calls`, `twinning_ringing_legs`, `twinning_store_up`."),
            ("Type", "`counter` or `gauge`."),
            ("Help", "What it counts."),
            ("Labels", "As Prometheus writes them, without braces: `status=\"answered\"`; never a number or a user."),
            ("Value", "The value."),
        ],
    },
    Event {
        ami: "TwinningMetricsComplete",
        subclass: None,
        class: "reporting",
        summary: "Ends a `TwinningMetrics` list.",
        fields: &[("EventList", "`Complete`."), ("ListItems", "How many `TwinningMetric` events were sent.")],
    },
];

pub const API: &[ApiForm] = &[
    ApiForm {
        usage: "status [user]",
        summary: "Every user as a table, or one user's fields (a PIN as `****`).",
    },
    ApiForm {
        usage: "set <user> <field> <value>",
        summary: "Change a setting; the value is the rest of the line, empty clears. From fs_cli or ESL it is audited with `Source: esl`; as `${twinning(set ...)}` from a channel, with `Source: dialplan`, and only from the user's desk (and, for a number, after the user's PIN on the same call).",
    },
    ApiForm {
        usage: "set-as console:<login>|web:<login> <user> <field> <value>",
        summary: "As `set`, for a control plane acting for one of its users; audited with `Source: console:<login>` or `web:<login>`.",
    },
    ApiForm {
        usage: "handover <user> desk|mobile|mobile2..10 [console:<login>|web:<login>]",
        summary: "As AMI `TwinningHandover`; a control plane names the user it acts for, whom the handover's events name (`Source`).",
    },
    ApiForm {
        usage: "state <user>",
        summary: "The two lamps: `twinning+1001: INUSE`, `twinningcall+1001: NOT_INUSE`; an unknown user is `-ERR`.",
    },
    ApiForm { usage: "calls", summary: "Calls in progress, each leg's state." },
    ApiForm {
        usage: "store",
        summary: "The settings store: backend, node, connection state, last sync, leases (see Several nodes).",
    },
    ApiForm { usage: "metrics", summary: "Every metric, in Prometheus' text format (names `twinning_*`)." },
    ApiForm {
        usage: "checkpin <user> <pin>",
        summary: "As AMI `TwinningCheckPin`: `+OK OK`, `+OK WRONG`, `+OK LOCKED` or `+OK NOPIN`; an optional third word names the control plane's user (`console:<login>`).",
    },
    ApiForm {
        usage: "reload",
        summary: "Re-read `twinning.conf.xml` after `reloadxml`; a broken file changes nothing and the reply names the `<user id=\"...\"> param`.",
    },
    ApiForm { usage: "help", summary: "The usage line." },
];

/// The event with this AMI name.
pub fn event(ami: &str) -> Option<&'static Event> {
    EVENTS.iter().find(|e| e.ami == ami)
}
