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
use twinning_tests::pbx::{self, PhonePorts};
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

async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("a screenshot");
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
        assert!(Instant::now() < deadline, "#{id} is '{t}', never '{want}'");
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
    let flash = c.wait().for_element(Locator::Css("p.flash")).await.unwrap().text().await.unwrap();
    assert!(flash.starts_with("Saved: "), "{flash}");
    assert_eq!(field(&mut ami, "1001", "mobile"), "07700900123");
    assert_eq!(field(&mut ami, "1001", "enabled"), "yes");
    eventually(&c, "lamp-twinning", "on").await;
    shot(&c, "user").await;

    // Live: a change made elsewhere (AMI) turns the lamp off and on without a reload.
    let r = ami.action("TwinningSet", &[("User", "1001"), ("Field", "dnd"), ("Value", "yes")]);
    assert_eq!(r.get("Response"), Some("Success"), "{r:?}");
    eventually(&c, "lamp-twinning", "off").await;
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
    }
    login(&c, &base, "1003", "4826").await;
    c.wait().for_element(Locator::Id("login-error")).await.unwrap();
    assert!(text(&c, "login-error").await.contains("locked out"), "{}", c.source().await.unwrap());
    shot(&c, "login-locked").await;
    let r = ami.action("TwinningCheckPin", &[("User", "1003"), ("Pin", "4826")]);
    assert_eq!(r.get("Result"), Some("LOCKED"), "the phone's guard is the same: {r:?}");
    // A user without a PIN is told how to get one.
    login(&c, &base, "1004", "1111").await;
    assert!(text(&c, "login-error").await.contains("no PIN"), "{}", c.source().await.unwrap());

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
