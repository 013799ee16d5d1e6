//! The web pages of `twinctl serve` in a real browser (Debian's chromium over WebDriver)
//! against a real Asterisk: a user logs in with extension and PIN, changes the mobile and
//! switches twinning on (TwinningStatus shows it, the key lamp in the page turns on, and
//! follows a change made elsewhere live); refused values show the module's reason and
//! change nothing; an XSS payload is shown escaped and runs nothing; user A cannot read or
//! change user B by URL or form; a POST without the CSRF token changes nothing; wrong PINs
//! lock the user out of the page and the phone alike; the admin's pages list the nodes,
//! users, calls and the audit trail with the `web:<login>` source. Screenshots of each
//! page go to target/web-screenshots/.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use twinning_tests::browser::{screenshot_dir, Browser};
use twinning_tests::console::{ConsoleConfig, NodeSpec};
use twinning_tests::esl::Esl;
use twinning_tests::freeswitch::{FreeSwitch, FsPorts, FsSettings};
use twinning_tests::pbx::{self, PhonePorts};
use twinning_tests::sipp::{Answer, Caller, Phone, SipSite};
use twinning_tests::status::twinning_field;
use twinning_tests::Ami;

const CONF: &str = "\
[general]
mobile_dial = PJSIP/{number}@mobile-trunk
blocked_prefixes = 09
answer_guard = 0
pin_max_attempts = 3
pin_lockout = 600

[1001]
desk = PJSIP/desk1001
pin = 1234
enabled = no

[1002]
desk = PJSIP/desk1002
mobile = 07700900456
enabled = yes
pin = 5678

[1003]
desk = PJSIP/desk1003
pin = 4826

[1004]
desk = PJSIP/desk1004
";

const XSS: &str = "<script>window.__xss=1</script>\"><img src=x onerror=\"window.__xss=2\">";

async fn browser(b: &Browser) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({ "binary": twinning_tests::browser::CHROMIUM, "args": b.chromium_args() }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&b.webdriver())
        .await
        .expect("a WebDriver session")
}

/// The page's screenshot, as tall as its content (the body), under target/.
async fn shot(c: &Client, name: &str) {
    let png = match c.find(Locator::Css("body")).await {
        Ok(body) => body.screenshot().await.expect("a screenshot"),
        Err(_) => c.screenshot().await.expect("a screenshot"),
    };
    std::fs::write(screenshot_dir().join(format!("{name}.png")), png).unwrap();
}

/// A screenshot of one part of the page (the first element `css` finds).
async fn shot_of(c: &Client, css: &str, name: &str) {
    let e = c.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("no {css}: {e}"));
    let png = e.screenshot().await.expect("a screenshot");
    std::fs::write(screenshot_dir().join(format!("{name}.png")), png).unwrap();
}

async fn text(c: &Client, id: &str) -> String {
    // The live script replaces elements as events come: one found a moment ago may be gone
    // (stale) when read, so it is looked up again.
    for _ in 0..10 {
        // A click returns before the page it leads to has loaded: wait for the element.
        let e = c
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Id(id))
            .await
            .unwrap_or_else(|e| panic!("no #{id}: {e}"));
        if let Ok(t) = e.text().await {
            return t;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("#{id} kept being replaced while read")
}

async fn fill(c: &Client, id: &str, value: &str) {
    let e = c.find(Locator::Id(id)).await.unwrap_or_else(|e| panic!("no #{id}: {e}"));
    e.clear().await.unwrap();
    e.send_keys(value).await.unwrap();
}

async fn login(c: &Client, base: &str, ext: &str, pin: &str) {
    c.goto(&format!("{base}/login")).await.unwrap();
    fill(c, "extension", ext).await;
    fill(c, "pin", pin).await;
    c.find(Locator::Css("form.card button[type=submit]")).await.unwrap().click().await.unwrap();
}

/// Polls until `f` holds (the page follows events live).
async fn eventually(c: &Client, id: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let t = text(c, id).await;
        if t == want {
            return;
        }
        if Instant::now() >= deadline {
            let page = c.source().await.unwrap_or_default();
            let main = page.split("<main>").nth(1).unwrap_or("").split("<form method").next().unwrap_or("");
            panic!("#{id} is '{t}', never '{want}'; the page: {main}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A raw form POST (as another site, or a forged form, would send it): the status and body.
fn post(port: u16, path: &str, cookie: Option<&str>, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nOrigin: http://evil.example\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(c) = cookie {
        req.push_str(&format!("Cookie: twinning_session={c}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let status = out.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, out)
}

fn get(port: u16, path: &str, cookie: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nCookie: twinning_session={cookie}\r\n\r\n")
            .as_bytes(),
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    (out.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0), out)
}

fn field(ami: &mut Ami, user: &str, f: &str) -> String {
    twinning_field(ami, user, f)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_user_and_admin_pages_in_a_real_browser() {
    let b = Browser::start();
    let pbx = pbx::start(CONF, "", PhonePorts::new());
    let hash = ConsoleConfig::new(&[], "").run_with_input(&["hash-password"], "admin-pw\n");
    assert_eq!(hash.code, 0, "{hash:?}");
    let config = ConsoleConfig::new(
        &[NodeSpec::asterisk("pbx1", pbx.ami_port)],
        &format!(
            "auth_attempts_per_minute = 200\n\n[[admin]]\nlogin = \"admin\"\npassword_hash = \"{}\"\n",
            hash.stdout.trim()
        ),
    );
    let serve = config.serve();
    let base = format!("http://127.0.0.1:{}", serve.port);
    let mut ami = pbx.ami();
    let c = browser(&b).await;

    // The login page, with the security headers.
    c.goto(&format!("{base}/login")).await.unwrap();
    shot(&c, "login").await;
    let (_, head) = get(serve.port, "/login", "none");
    assert!(head.contains("content-security-policy: default-src 'none'; script-src 'self'"), "{head}");
    assert!(!head.contains("<script>"), "no inline script: {head}");

    // Log in; change the mobile and switch twinning on.
    login(&c, &base, "1001", "1234").await;
    c.wait().for_element(Locator::Id("lamp-twinning")).await.unwrap();
    assert!(c.current_url().await.unwrap().path().ends_with("/users/1001"));
    assert_eq!(text(&c, "lamp-twinning").await, "off");
    fill(&c, "f-mobile", "07700900123").await;
    c.find(Locator::Id("f-enabled")).await.unwrap().select_by_value("yes").await.unwrap();
    c.find(Locator::Id("save")).await.unwrap().click().await.unwrap();
    // Read again until it says something: the live script may replace it as it is read.
    let flash = until_css(&c, "p.flash", "a flash", |t| !t.is_empty()).await;
    assert!(flash.starts_with("Saved: "), "{flash}");
    assert_eq!(field(&mut ami, "1001", "mobile"), "07700900123");
    assert_eq!(field(&mut ami, "1001", "enabled"), "yes");
    eventually(&c, "lamp-twinning", "on").await;
    // Each field says where its value comes from, as the module tells it.
    assert_eq!(text(&c, "f-mobile-origin").await, "changed at runtime");
    assert_eq!(text(&c, "f-enabled-origin").await, "changed at runtime");
    assert_eq!(text(&c, "f-ring_time-origin").await, "from the configuration file");
    assert_eq!(text(&c, "f-dnd-origin").await, "from the configuration file");
    let status = twinning_tests::status::twinning_user(&mut ami, "1001");
    assert_eq!(status.get("RuntimeFields"), Some("mobile,enabled"), "{status:?}");
    shot(&c, "user").await;
    // On a phone's screen: nothing wider than the screen (no sideways scrolling).
    c.set_window_size(390, 844).await.unwrap();
    let fits =
        c.execute("return document.documentElement.scrollWidth <= window.innerWidth;", vec![]).await.unwrap();
    let wide = c
        .execute(
            "var w = window.innerWidth, out = [];\
             document.querySelectorAll('body *').forEach(function (e) {\
               var r = e.getBoundingClientRect();\
               if (r.right > w + 1) { out.push(e.tagName + '#' + e.id + '.' + e.className + ' ' + Math.round(r.right)); }\
             });\
             return w + ': ' + out.slice(0, 12).join(', ');",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(fits, serde_json::json!(true), "the page is wider than a phone's screen: {wide}");
    shot(&c, "user-phone").await;
    c.set_window_size(1100, 1400).await.unwrap();

    // Live: a change made elsewhere (AMI) turns the lamp off and on without a reload, and
    // the field shows its new value and origin.
    let r = ami.action("TwinningSet", &[("User", "1001"), ("Field", "dnd"), ("Value", "yes")]);
    assert_eq!(r.get("Response"), Some("Success"), "{r:?}");
    eventually(&c, "lamp-twinning", "off").await;
    eventually(&c, "f-dnd-origin", "changed at runtime").await;
    eventually(&c, "f-dnd-value", "yes").await;
    ami.action("TwinningSet", &[("User", "1001"), ("Field", "dnd"), ("Value", "no")]);
    eventually(&c, "lamp-twinning", "on").await;

    // A toll-fraud number and an XSS payload: refused with the module's reason next to the
    // field, shown escaped, nothing changed, no script run.
    fill(&c, "f-mobile", "0912345678").await;
    fill(&c, "f-caller_id", XSS).await;
    fill(&c, "f-block_callers", XSS).await;
    c.find(Locator::Id("save")).await.unwrap().click().await.unwrap();
    c.wait().for_element(Locator::Id("f-mobile-error")).await.unwrap();
    let reason = text(&c, "f-mobile-error").await;
    assert!(reason.contains("blocked prefix"), "{reason}");
    assert!(text(&c, "f-caller_id-error").await.contains(XSS), "the payload is shown as text");
    let source = c.source().await.unwrap();
    assert!(
        !source.contains("<script>window.__xss") && !source.contains("<img src=x"),
        "unescaped: {source}"
    );
    let ran = c.execute("return window.__xss === undefined;", vec![]).await.unwrap();
    assert_eq!(ran, serde_json::json!(true), "a script ran");
    assert_eq!(field(&mut ami, "1001", "mobile"), "07700900123");
    assert_ne!(field(&mut ami, "1001", "caller_id"), XSS);
    shot(&c, "user-refused").await;

    // The weekly editor writes the schedule syntax and shows it back in words.
    c.goto(&format!("{base}/users/1001")).await.unwrap();
    c.find(Locator::Css("input[name=sched_mode][value=times]")).await.unwrap().click().await.unwrap();
    for d in ["mon", "tue", "wed", "thu", "fri"] {
        c.find(Locator::Css(&format!("input[name=sd_{d}]"))).await.unwrap().click().await.unwrap();
    }
    c.find(Locator::Id("save-schedule")).await.unwrap().click().await.unwrap();
    eventually(&c, "schedule-words", "The mobiles may ring Monday to Friday, from 09:00 to 17:00.").await;
    shot(&c, "user-schedule").await;
    assert_eq!(field(&mut ami, "1001", "schedule"), "mon-fri 09:00-17:00");

    // User A cannot read or change user B, by URL or by form; nor a field not theirs.
    let session = c.get_named_cookie("twinning_session").await.unwrap().value().to_owned();
    let csrf = c
        .find(Locator::Css("#settings input[name=csrf]"))
        .await
        .unwrap()
        .attr("value")
        .await
        .unwrap()
        .unwrap();
    c.goto(&format!("{base}/users/1002")).await.unwrap();
    assert!(c.source().await.unwrap().contains("only your own"));
    assert!(!c.source().await.unwrap().contains("07700900456"), "B's number leaked");
    for path in ["/users/1002", "/users/1002/handover"] {
        let (s, _) = post(serve.port, path, Some(&session), &format!("csrf={csrf}&dnd=yes&to=mobile"));
        assert_eq!(s, 403, "{path}");
    }
    assert_eq!(get(serve.port, "/users/1002/live", &session).0, 403);
    assert_eq!(get(serve.port, "/users/1002?node=pbx1", &session).0, 403);
    assert_eq!(get(serve.port, "/admin/users", &session).0, 403);
    let (s, _) = post(serve.port, "/users/1001", Some(&session), &format!("csrf={csrf}&desk=PJSIP%2Fevil"));
    assert_eq!(s, 403, "the desk is not the user's to change");
    assert_eq!(field(&mut ami, "1002", "dnd"), "no");
    assert_eq!(field(&mut ami, "1001", "desk"), "PJSIP/desk1001");

    // CSRF: a POST without the token, or from another site (no cookie), changes nothing.
    let (s, _) = post(serve.port, "/users/1001", Some(&session), "dnd=yes");
    assert_eq!(s, 403);
    let (s, _) = post(serve.port, "/users/1001", Some(&session), "csrf=twc_forged&dnd=yes");
    assert_eq!(s, 403);
    let (s, _) = post(serve.port, "/users/1001", None, "dnd=yes");
    assert_eq!(s, 303, "to the login");
    assert_eq!(field(&mut ami, "1001", "dnd"), "no");

    // Log out: the session is gone.
    c.goto(&format!("{base}/users/1001")).await.unwrap();
    c.find(Locator::Css("nav form button")).await.unwrap().click().await.unwrap();
    // The click returns before the browser's logout request is served: wait for its answer.
    c.wait().for_element(Locator::Css("form[action='/login']")).await.unwrap();
    assert_eq!(get(serve.port, "/users/1001", &session).0, 303);

    // Wrong PINs lock the user out of the page and the phone alike.
    for _ in 0..3 {
        login(&c, &base, "1003", "0000").await;
        // The answer, before the next login's page: leaving the page sooner could cancel
        // the attempt before the server counts it.
        c.wait().at_most(Duration::from_secs(30)).for_element(Locator::Id("login-error")).await.unwrap();
    }
    login(&c, &base, "1003", "4826").await;
    c.wait().for_element(Locator::Id("login-error")).await.unwrap();
    assert!(text(&c, "login-error").await.contains("locked out"), "{}", c.source().await.unwrap());
    shot(&c, "login-locked").await;
    let r = ami.action("TwinningCheckPin", &[("User", "1003"), ("Pin", "4826")]);
    assert_eq!(r.get("Result"), Some("LOCKED"), "the phone's guard is the same: {r:?}");
    // A user without a PIN is told how to get one.
    login(&c, &base, "1004", "1111").await;
    let nopin = text(&c, "login-error").await;
    assert!(nopin.contains("no PIN") && nopin.contains("ask your administrator"), "{nopin}");
    assert!(!nopin.contains("feature code"), "there is no phone code to set a PIN: {nopin}");
    shot(&c, "login-nopin").await;

    // The admin's pages.
    c.goto(&format!("{base}/admin/login")).await.unwrap();
    fill(&c, "login", "admin").await;
    fill(&c, "password", "admin-pw").await;
    c.find(Locator::Css("form.card button[type=submit]")).await.unwrap().click().await.unwrap();
    assert!(text(&c, "nodes").await.contains("pbx1"));
    assert!(text(&c, "nodes").await.contains("up"));
    shot(&c, "admin-nodes").await;
    c.goto(&format!("{base}/admin/users")).await.unwrap();
    assert!(text(&c, "users").await.contains("1002"));
    shot(&c, "admin-users").await;
    c.goto(&format!("{base}/users/1002?node=pbx1")).await.unwrap();
    c.find(Locator::Id("f-dnd")).await.unwrap().select_by_value("yes").await.unwrap();
    c.find(Locator::Id("save")).await.unwrap().click().await.unwrap();
    eventually(&c, "lamp-twinning", "off").await;
    assert_eq!(field(&mut ami, "1002", "dnd"), "yes");
    c.goto(&format!("{base}/admin/calls")).await.unwrap();
    shot(&c, "admin-calls").await;
    c.goto(&format!("{base}/admin/audit?user=1001")).await.unwrap();
    let audit = text(&c, "audit").await;
    assert!(audit.contains("web:1001") && audit.contains("07700900123"), "{audit}");
    assert!(audit.contains("refused") && audit.contains("blocked prefix"), "{audit}");
    shot(&c, "admin-audit").await;
    c.goto(&format!("{base}/admin/audit?source=web:admin")).await.unwrap();
    assert!(text(&c, "audit").await.contains("1002"));

    c.close().await.unwrap();
}

const CALL_CONF: &str = "\
[general]
mobile_dial = PJSIP/{number}@mobile-trunk
answer_guard = 0
handover_timeout = 5

[1001]
desk = PJSIP/desk1001
mobile = 07700900123
enabled = yes
pin = 1234
";

/// The text of the first element `css` finds, or "" while there is none (the live script
/// adds and replaces elements as events come).
async fn css_text(c: &Client, css: &str) -> String {
    match c.find(Locator::Css(css)).await {
        Ok(e) => e.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// Polls until the element `css` finds has a text that `want` accepts.
async fn until_css(c: &Client, css: &str, what: &str, want: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let t = css_text(c, css).await;
        if want(&t) {
            return t;
        }
        assert!(Instant::now() < deadline, "{css} is '{t}', never {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Blocking work (SIPp, AMI) off the async workers the browser's session runs on.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

/// What the PBX itself says of the call (AMI events, or ESL events), to check the page by.
trait CallEvents {
    /// The leg the call was bridged to.
    fn bridged(&mut self) -> String;
    /// The next handover's (from, to, result), past its `started`.
    fn handover(&mut self) -> (String, String, String);
    /// The call's (status, answered by) at its end.
    fn end(&mut self) -> (String, String);
}

impl CallEvents for Ami {
    fn bridged(&mut self) -> String {
        self.event("TwinningBridged", &[], Duration::from_secs(30)).expect("bridged").must("Leg").to_owned()
    }

    fn handover(&mut self) -> (String, String, String) {
        let h = self
            .wait(Duration::from_secs(30), |m| {
                m.is_event("TwinningHandover") && m.get("Result") != Some("started")
            })
            .expect("a handover's result");
        (h.must("From").into(), h.must("To").into(), h.must("Result").into())
    }

    fn end(&mut self) -> (String, String) {
        let e = self.event("TwinningEnd", &[], Duration::from_secs(40)).expect("TwinningEnd");
        (e.must("Status").into(), e.must("AnsweredBy").into())
    }
}

impl CallEvents for Esl {
    fn bridged(&mut self) -> String {
        self.event("twinning::bridged", &[], Duration::from_secs(30)).expect("bridged").must("Leg").to_owned()
    }

    fn handover(&mut self) -> (String, String, String) {
        loop {
            let h =
                self.event("twinning::handover", &[], Duration::from_secs(30)).expect("a handover's result");
            if h.get("Result") != Some("started") {
                return (h.must("From").into(), h.must("To").into(), h.must("Result").into());
            }
        }
    }

    fn end(&mut self) -> (String, String) {
        let e = self.event("twinning::end", &[], Duration::from_secs(40)).expect("twinning::end");
        (e.must("Status").into(), e.must("AnsweredBy").into())
    }
}

fn strings(a: &str, b: &str, c: &str) -> (String, String, String) {
    (a.into(), b.into(), c.into())
}

/// User 1001 (PIN 1234, mobile 07700900123) logs in at `base`; a SIPp caller rings 1001 on
/// `site`, whose desk and trunk phones listen on `desk` and `trunk`: the page shows the desk
/// and the mobile ringing, live; the desk answers; "Send to mobile" puts the INVITE on the
/// trunk and moves the call; "Take back to desk" brings it back; each result is on the page,
/// the caller's dialog is never re-INVITEd or ended by the PBX, and the recent calls list
/// the call with both handovers. Screenshots are named with `tag`.
async fn push_and_pull(
    c: &Client,
    base: &str,
    site: &dyn SipSite,
    (desk_port, trunk_port): (u16, u16),
    events: &mut dyn CallEvents,
    tag: &str,
) {
    login(c, base, "1001", "1234").await;
    eventually(c, "lamp-twinning", "on").await;
    assert_eq!(css_text(c, "#no-recent").await, "No twinned call of yours seen yet.");
    // A mark that a reload would wipe: the call must show up with no reload.
    c.execute("window.__sameDocument = true;", vec![]).await.unwrap();

    let desk = Phone::uas(site, "desk", desk_port, &Answer::After { after_ms: 4000, dtmf: vec![] });
    let mut mobile = Phone::uas(site, "mobile", trunk_port, &Answer::Never);
    let mut caller = Phone::call(site, "caller", "1001", &Caller::HangUpAfter { hold_ms: 24_000 });
    until_css(c, "#calls li[data-leg=desk] .legstate", "ringing", |t| t == "ringing").await;
    until_css(c, "#calls li[data-leg=mobile] .legstate", "ringing", |t| t == "ringing").await;
    assert_eq!(
        c.execute("return window.__sameDocument === true;", vec![]).await.unwrap(),
        serde_json::json!(true),
        "the page was reloaded"
    );
    shot(c, &format!("{tag}user-call-ringing")).await;

    // The desk answers: the call shows answered, and the handover buttons appear.
    until_css(c, "#calls .call .state", "answered", |t| t == "answered").await;
    until_css(c, "#calls li[data-leg=desk] .legstate", "bridged", |t| t == "bridged").await;
    assert_eq!(blocking(|| events.bridged()), "desk");
    blocking(|| mobile.wait(Duration::from_secs(10)));
    assert_eq!(mobile.received("CANCEL").len(), 1, "{}", mobile.summary());
    let shown = |id: &'static str| async move {
        c.find(Locator::Id(id)).await.unwrap().is_displayed().await.unwrap()
    };
    assert!(shown("send-to-mobile").await, "the push is offered");
    assert!(!shown("take-back").await, "the call is on the desk already");
    shot(c, &format!("{tag}user-call-answered")).await;

    // A push the mobile does not answer: the page says so, and the call stays on the desk.
    let mut unanswered = Phone::uas(site, "mobile-noanswer", trunk_port, &Answer::Never);
    c.find(Locator::Id("send-to-mobile")).await.unwrap().click().await.unwrap();
    assert_eq!(blocking(|| events.handover()), strings("desk", "mobile", "noanswer"));
    let said = until_css(c, "#handover-result", "the push unanswered", |t| t.contains("noanswer")).await;
    assert!(said.starts_with("Handover from desk to mobile: noanswer (no answer in 5 s"), "{said}");
    blocking(|| unanswered.wait(Duration::from_secs(10)));
    assert_eq!(unanswered.received("CANCEL").len(), 1, "{}", unanswered.summary());
    assert!(shown("send-to-mobile").await && !shown("take-back").await, "the call is still on the desk");

    // "Send to mobile": the trunk gets the INVITE for the mobile, the call moves there.
    let mut trunk =
        Phone::uas(site, "mobile-push", trunk_port, &Answer::After { after_ms: 600, dtmf: vec![] });
    let mut desk = desk;
    c.find(Locator::Id("send-to-mobile")).await.unwrap().click().await.unwrap();
    let flash = until_css(c, "p.flash", "a flash", |t| !t.is_empty()).await;
    assert!(flash.starts_with("Handover to mobile: "), "{flash}");
    assert_eq!(blocking(|| events.handover()), strings("desk", "mobile", "completed"));
    eventually(c, "handover-result", "Handover from desk to mobile: completed").await;
    until_css(c, "#calls .call ul.handovers", "the push listed", |t| t.contains("to mobile: completed"))
        .await;
    blocking(|| desk.wait(Duration::from_secs(10)));
    assert_eq!(desk.received("BYE").len(), 1, "the desk is released: {}", desk.summary());
    let invites = trunk.received("INVITE");
    assert_eq!(invites.len(), 1, "{}", trunk.summary());
    assert!(invites[0].first_line.contains("07700900123"), "{}", invites[0].first_line);
    assert!(trunk.answered(), "{}", trunk.summary());
    assert!(shown("take-back").await && !shown("send-to-mobile").await, "the call is on the mobile");
    shot(c, &format!("{tag}user-call-pushed")).await;
    shot_of(c, "section[aria-labelledby=h-live]", &format!("{tag}user-call-pushed-now")).await;

    // "Take back to desk": the desk rings again and has the call; the mobile is released.
    let mut desk = Phone::uas(site, "desk-pull", desk_port, &Answer::After { after_ms: 600, dtmf: vec![] });
    c.find(Locator::Id("take-back")).await.unwrap().click().await.unwrap();
    assert_eq!(blocking(|| events.handover()), strings("mobile", "desk", "completed"));
    eventually(c, "handover-result", "Handover from mobile to desk: completed").await;
    blocking(|| trunk.wait(Duration::from_secs(10)));
    assert_eq!(trunk.received("BYE").len(), 1, "the mobile is released: {}", trunk.summary());

    // The caller hangs up: its one dialog was never re-INVITEd or ended by the PBX.
    assert_eq!(blocking(|| events.end()), ("ANSWERED".to_owned(), "desk".to_owned()));
    assert_eq!(blocking(|| caller.wait(Duration::from_secs(40))), Some(0), "{}", caller.summary());
    assert_eq!(caller.dialog_touched(), Vec::<String>::new(), "{}", caller.summary());
    blocking(|| desk.wait(Duration::from_secs(10)));
    assert!(desk.answered(), "{}", desk.summary());

    // The recent calls: who answered, and both handovers with their results, live and
    // after a reload.
    for reload in [false, true] {
        if reload {
            c.refresh().await.unwrap();
        }
        let row = until_css(c, "#recent tbody tr", "the call", |t| t.contains("ANSWERED")).await;
        assert!(
            row.contains("desk to mobile by ami: noanswer")
                && row.contains("desk to mobile by ami: completed")
                && row.contains("mobile to desk by ami: completed"),
            "{row}"
        );
        assert_eq!(css_text(c, "#recent tbody tr td.answered").await, "desk");
        assert!(c.find(Locator::Css("#calls .call")).await.is_err(), "the call left the live part");
    }
    shot(c, &format!("{tag}user-recent-calls")).await;
    shot_of(c, "section[aria-labelledby=h-recent]", &format!("{tag}user-recent-calls-card")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_call_is_sent_to_the_mobile_and_taken_back_from_the_page() {
    let b = Browser::start();
    let ports = PhonePorts::new();
    let pbx = pbx::start(CALL_CONF, "", ports);
    let config =
        ConsoleConfig::new(&[NodeSpec::asterisk("pbx1", pbx.ami_port)], "auth_attempts_per_minute = 200\n");
    let serve = config.serve();
    let base = format!("http://127.0.0.1:{}", serve.port);
    let mut ami = pbx.ami();
    let c = browser(&b).await;
    push_and_pull(&c, &base, &pbx, (ports.desk, ports.mobile), &mut ami, "").await;
    c.close().await.unwrap();
}

/// The same user, call and handovers on FreeSWITCH (over ESL), and the fields' origins as
/// FreeSWITCH tells them; skipped, loudly, without FREESWITCH_PREFIX.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_freeswitch_a_live_call_is_pushed_and_pulled_and_origins_shown() {
    let ports = FsPorts::new();
    let conf = FsSettings::new(ports.mobile)
        .param("blocked_prefixes", "09")
        .param("handover_timeout", 5)
        .user("1001", ports.desk, "07700900123", true)
        .user_param("1001", "pin", "1234")
        .xml();
    let Some(fs) = FreeSwitch::start(
        "web::on_freeswitch_a_live_call_is_pushed_and_pulled_and_origins_shown",
        &conf,
        "",
        ports,
    ) else {
        return;
    };
    let b = Browser::start();
    let config =
        ConsoleConfig::new(&[NodeSpec::freeswitch("fs1", fs.esl_port)], "auth_attempts_per_minute = 200\n");
    let serve = config.serve();
    let base = format!("http://127.0.0.1:{}", serve.port);
    let mut esl = fs.esl();
    esl.subscribe(&["twinning::bridged", "twinning::handover", "twinning::end"]);
    let c = browser(&b).await;
    push_and_pull(&c, &base, &fs, (ports.desk, ports.mobile), &mut esl, "fs-").await;

    // Where each value comes from, as FreeSWITCH's `twinning status` tells it.
    assert_eq!(text(&c, "f-ring_time-origin").await, "from the configuration file");
    fill(&c, "f-ring_time", "25").await;
    fill(&c, "f-mobile", "0912345678").await;
    c.find(Locator::Id("save")).await.unwrap().click().await.unwrap();
    let reason = text(&c, "f-mobile-error").await;
    assert!(reason.contains("blocked prefix"), "the module's reason: {reason}");
    assert_eq!(text(&c, "f-ring_time-origin").await, "changed at runtime");
    assert_eq!(text(&c, "f-mobile-origin").await, "from the configuration file");
    let status = blocking(|| esl.api("twinning status 1001"));
    assert!(
        status.lines().any(|l| l.contains("ring_time") && l.contains("25") && l.contains("(runtime)")),
        "{status}"
    );
    assert!(status.contains("07700900123"), "the refused number changed nothing: {status}");
    shot(&c, "fs-user-origins").await;
    c.close().await.unwrap();
}

/// What a chart counted in its half hour.
async fn total(c: &Client, id: &str) -> String {
    let e = c.find(Locator::Id(id)).await.unwrap_or_else(|e| panic!("no #{id}: {e}"));
    e.attr("data-total").await.unwrap().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_sees_calls_from_two_nodes_live_and_charted() {
    let b = Browser::start();
    let (ports1, ports2) = (PhonePorts::new(), PhonePorts::new());
    let pbx1 = pbx::start(CALL_CONF, "", ports1);
    let pbx2 = pbx::start(CALL_CONF, "", ports2);
    let hash = ConsoleConfig::new(&[], "").run_with_input(&["hash-password"], "admin-pw\n");
    assert_eq!(hash.code, 0, "{hash:?}");
    let config = ConsoleConfig::new(
        &[NodeSpec::asterisk("pbx1", pbx1.ami_port), NodeSpec::asterisk("pbx2", pbx2.ami_port)],
        &format!(
            "auth_attempts_per_minute = 200\n\n[[admin]]\nlogin = \"admin\"\npassword_hash = \"{}\"\n",
            hash.stdout.trim()
        ),
    );
    let serve = config.serve();
    let base = format!("http://127.0.0.1:{}", serve.port);
    let c = browser(&b).await;
    c.goto(&format!("{base}/admin/login")).await.unwrap();
    fill(&c, "login", "admin").await;
    fill(&c, "password", "admin-pw").await;
    c.find(Locator::Css("form.card button[type=submit]")).await.unwrap().click().await.unwrap();
    let nodes = until_css(&c, "#nodes", "both nodes up", |t| t.matches(" up ").count() == 2).await;
    assert!(nodes.contains("pbx1") && nodes.contains("pbx2"), "{nodes}");
    // The charts before the calls: the counters' baseline, nothing counted yet.
    c.goto(&format!("{base}/admin/charts")).await.unwrap();
    assert_eq!(total(&c, "chart-calls").await, "0");

    // The timeline, open while a call comes to each node: both show up live.
    c.goto(&format!("{base}/admin/calls")).await.unwrap();
    c.execute("window.__sameDocument = true;", vec![]).await.unwrap();
    let mut phones = Vec::new();
    for (pbx, ports) in [(&pbx1, ports1), (&pbx2, ports2)] {
        phones.push(Phone::uas(pbx, "desk", ports.desk, &Answer::After { after_ms: 500, dtmf: vec![] }));
        phones.push(Phone::uas(pbx, "mobile", ports.mobile, &Answer::Never));
        phones.push(Phone::call(pbx, "caller", "1001", &Caller::HangUpAfter { hold_ms: 1500 }));
    }
    for node in ["pbx1", "pbx2"] {
        let css = format!("#timelines section.call[data-call^='{node}/'] .callstate");
        let state = until_css(&c, &css, "ended", |t| t.starts_with("ended")).await;
        assert_eq!(state, "ended ANSWERED by desk", "{node}");
        let legs = css_text(&c, &format!("#timelines section.call[data-call^='{node}/'] ul.legs")).await;
        assert!(legs.contains("desk: ringing") || legs.contains("desk: dialing"), "{node}: {legs}");
        assert!(legs.contains("bridged") && legs.contains("mobile:"), "{node}: {legs}");
    }
    assert_eq!(
        c.execute("return window.__sameDocument === true;", vec![]).await.unwrap(),
        serde_json::json!(true),
        "the page was reloaded"
    );
    shot(&c, "admin-calls-two-nodes").await;
    for p in &mut phones {
        blocking(|| p.wait(Duration::from_secs(30)));
    }
    // After a reload the timeline still has both (from the events the console kept).
    c.refresh().await.unwrap();
    for node in ["pbx1", "pbx2"] {
        let css = format!("#timelines section.call[data-call^='{node}/'] h2");
        let head = until_css(&c, &css, "the call", |t| !t.is_empty()).await;
        assert!(head.starts_with(&format!("{node} · user 1001")), "{head}");
    }

    // The charts: the two calls, answered at the desk, from both nodes' metrics.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    c.goto(&format!("{base}/admin/charts")).await.unwrap();
    assert_eq!(total(&c, "chart-calls").await, "2");
    assert_eq!(total(&c, "chart-legs").await, "2");
    let legend = css_text(&c, "#chart-legs .legend").await;
    assert!(legend.contains("desk"), "{legend}");
    assert!(text(&c, "guarded-rate").await.starts_with("0 % of the answers were guarded"));
    let bars = c.find_all(Locator::Css("#chart-calls svg rect.s-answered")).await.unwrap();
    assert!(!bars.is_empty(), "no bar drawn: {}", css_text(&c, "#chart-calls").await);
    shot(&c, "admin-charts").await;
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_trail_is_read_from_the_shared_store_and_filtered() {
    let b = Browser::start();
    // PostgreSQL's blocking client runs a runtime of its own: off this one's threads.
    let pg = std::thread::spawn(|| {
        let pg = twinning_tests::postgres::PgServer::start();
        pg.create_database("site");
        pg
    })
    .join()
    .unwrap();
    let conf = format!(
        "[general]\nmobile_dial = PJSIP/{{number}}@mobile-trunk\nblocked_prefixes = 09\n\
         settings_store = postgresql\nsettings_dsn = {}\nnode_name = pbx1\n\n\
         [1001]\ndesk = PJSIP/desk1001\nmobile = 07700900123\npin = 1234\n\n\
         [1002]\ndesk = PJSIP/desk1002\n",
        pg.dsn("site")
    );
    let pbx = pbx::start(&conf, "", PhonePorts::new());
    let mut ami = pbx.ami();
    // Before twinctl runs: only the store can tell the page about these.
    let r = ami.action("TwinningSet", &[("User", "1002"), ("Field", "ring_time"), ("Value", "44")]);
    assert_eq!(r.get("Response"), Some("Success"), "{r:?}");
    let r = ami.action("TwinningSet", &[("User", "1001"), ("Field", "mobile"), ("Value", "0912345678")]);
    assert_eq!(r.get("Response"), Some("Error"), "{r:?}");

    let hash = ConsoleConfig::new(&[], "").run_with_input(&["hash-password"], "admin-pw\n");
    let config = ConsoleConfig::new(
        &[NodeSpec::asterisk("pbx1", pbx.ami_port)],
        &format!(
            "auth_attempts_per_minute = 200\n\n[[admin]]\nlogin = \"admin\"\npassword_hash = \"{}\"\n\n\
             [store]\ndsn = \"{}\"\n",
            hash.stdout.trim(),
            pg.dsn("site")
        ),
    );
    let serve = config.serve();
    let base = format!("http://127.0.0.1:{}", serve.port);
    let c = browser(&b).await;
    // A user changes a field on the page: in the store with the web source.
    login(&c, &base, "1001", "1234").await;
    c.wait().for_element(Locator::Id("f-dnd")).await.unwrap();
    c.find(Locator::Id("f-dnd")).await.unwrap().select_by_value("yes").await.unwrap();
    c.find(Locator::Id("save")).await.unwrap().click().await.unwrap();
    let flash = until_css(&c, "p.flash", "a flash", |t| !t.is_empty()).await;
    assert!(flash.starts_with("Saved: dnd"), "{flash}");
    c.find(Locator::Css("nav form button")).await.unwrap().click().await.unwrap();
    c.wait().for_element(Locator::Css("form[action='/login']")).await.unwrap();

    c.goto(&format!("{base}/admin/login")).await.unwrap();
    fill(&c, "login", "admin").await;
    fill(&c, "password", "admin-pw").await;
    c.find(Locator::Css("form.card button[type=submit]")).await.unwrap().click().await.unwrap();
    c.wait().for_element(Locator::Id("nodes")).await.unwrap();
    c.goto(&format!("{base}/admin/audit")).await.unwrap();
    let from = c.find(Locator::Id("audit-from")).await.unwrap().attr("data-from").await.unwrap();
    assert_eq!(from.as_deref(), Some("store"), "{}", c.source().await.unwrap());
    let all = text(&c, "audit").await;
    assert!(all.contains("ring_time") && all.contains("44"), "a change made before twinctl ran: {all}");
    assert!(all.contains("blocked prefix"), "{all}");
    assert!(all.contains("web:1001") && all.contains("dnd"), "{all}");
    shot(&c, "admin-audit-store").await;

    // Filtered by the form (GET, so it works without JavaScript): refusals only, a user,
    // a surface.
    c.find(Locator::Id("a-kind")).await.unwrap().select_by_value("refused").await.unwrap();
    c.find(Locator::Css("form.filters button[type=submit]")).await.unwrap().click().await.unwrap();
    until_css(&c, "#audit tbody", "refusals only", |t| t.contains("blocked prefix")).await;
    assert!(c.current_url().await.unwrap().as_str().contains("kind=refused"));
    assert!(c.find_all(Locator::Css("#audit tbody tr.changed")).await.unwrap().is_empty());
    c.goto(&format!("{base}/admin/audit?user=1002")).await.unwrap();
    let t = text(&c, "audit").await;
    assert!(t.contains("ring_time") && !t.contains("1001"), "{t}");
    c.goto(&format!("{base}/admin/audit?source=web:")).await.unwrap();
    let t = text(&c, "audit").await;
    assert!(t.contains("web:1001") && !t.contains("ring_time") && !t.contains("blocked"), "{t}");
    c.goto(&format!("{base}/admin/audit?user=1003")).await.unwrap();
    assert_eq!(css_text(&c, "#audit tbody").await, "");

    // The store gone: the page says so and shows what the console saw.
    std::thread::spawn(move || drop(pg)).join().unwrap();
    c.goto(&format!("{base}/admin/audit")).await.unwrap();
    assert!(text(&c, "store-error").await.contains("cannot be reached"), "{}", c.source().await.unwrap());
    let from = c.find(Locator::Id("audit-from")).await.unwrap().attr("data-from").await.unwrap();
    assert_eq!(from.as_deref(), Some("events"));
    assert!(text(&c, "audit").await.contains("web:1001"));
    c.close().await.unwrap();
}
