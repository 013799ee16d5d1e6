//! Running a private FreeSWITCH 1.10 for one test, with the real `mod_twinning.so`:
//! its own configuration (written from scratch, not the vanilla tree), directories, event
//! socket and SIP port on loopback.
//!
//! FreeSWITCH has no package this project can install, so it is used when one is given:
//! `FREESWITCH_PREFIX` (an install prefix holding `bin/freeswitch` and
//! `lib/freeswitch/mod`). Without it, [`FreeSwitch::start`] returns `None` after reporting
//! the test as skipped (see [`crate::skip`]).

use std::fs;
use std::net::TcpListener;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use once_cell::sync::OnceCell;

use crate::asterisk::INSTALLATION;
use crate::esl::Esl;
use crate::sipp::{free_udp_port, SipSite};

pub const ESL_PASSWORD: &str = "ClueCon";

/// The FreeSWITCH to test against, if one was given.
pub fn prefix() -> Option<PathBuf> {
    let p = PathBuf::from(std::env::var_os("FREESWITCH_PREFIX")?);
    assert!(p.join("bin/freeswitch").is_file(), "FREESWITCH_PREFIX={} has no bin/freeswitch", p.display());
    Some(p)
}

/// `mod_twinning.so`, built once per test run from the current source.
pub fn module_path() -> &'static Path {
    static BUILT: OnceCell<PathBuf> = OnceCell::new();
    BUILT.get_or_init(|| {
        let root = crate::module_build::workspace_root();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let release = std::env::var("TWINNING_MODULE_PROFILE").is_ok_and(|p| p == "release");
        let mut args = vec!["build", "--quiet", "-p", "freeswitch-module"];
        if release {
            args.push("--release");
        }
        let status = Command::new(cargo).args(&args).current_dir(&root).status().expect("cargo build");
        assert!(status.success(), "building mod_twinning.so failed");
        let target =
            std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target"));
        target.join(if release { "release" } else { "debug" }).join("libmod_twinning.so")
    })
}

/// Ports of the SIPp phones FreeSWITCH points at.
#[derive(Debug, Clone, Copy)]
pub struct FsPorts {
    pub sip: u16,
    pub desk: u16,
    pub mobile: u16,
    pub desk2: u16,
    /// The third party a consult from the mobile reaches (`twinning-consult`).
    pub third: u16,
}

impl FsPorts {
    pub fn new() -> FsPorts {
        FsPorts {
            sip: free_udp_port(),
            desk: free_udp_port(),
            mobile: free_udp_port(),
            desk2: free_udp_port(),
            third: free_udp_port(),
        }
    }
}

impl Default for FsPorts {
    fn default() -> Self {
        Self::new()
    }
}

/// The body of `<configuration name="twinning.conf">` a test starts FreeSWITCH with (see
/// [`FreeSwitch::start`]): the `<settings>` params (Asterisk's `[general]`), then the
/// `<users>`, each with its params. Every test's mobile trunk is the SIPp phone on the
/// mobile port, with no answer guard; the rest is the test's own:
///
/// ```ignore
/// FsSettings::new(ports.mobile)
///     .param("handover_timeout", 5)
///     .user("1001", ports.desk, "07700900123", true)
///     .xml()
/// ```
#[derive(Debug, Clone)]
pub struct FsSettings {
    params: Vec<(String, String)>,
    users: Vec<(String, Vec<(String, String)>)>,
}

impl FsSettings {
    /// `mobile_dial` to the SIPp phone on `mobile_port` (the number as its user) and
    /// `answer_guard` 0; no users.
    pub fn new(mobile_port: u16) -> FsSettings {
        FsSettings { params: Vec::new(), users: Vec::new() }
            .param("mobile_dial", format!("sofia/internal/{{number}}@127.0.0.1:{mobile_port}"))
            .param("answer_guard", 0)
    }

    /// Sets a `<settings>` param: the new value in its place, or a new param last.
    pub fn param(mut self, name: &str, value: impl std::fmt::Display) -> FsSettings {
        let value = value.to_string();
        match self.params.iter_mut().find(|(n, _)| n == name) {
            Some((_, v)) => *v = value,
            None => self.params.push((name.to_string(), value)),
        }
        self
    }

    /// Sets each of `params` in turn (see [`FsSettings::param`]).
    pub fn params(self, params: &[(&str, &str)]) -> FsSettings {
        params.iter().fold(self, |settings, (name, value)| settings.param(name, value))
    }

    /// Adds user `id`, whose desk is the SIPp phone `desk<id>` on `desk_port`, with its mobile
    /// number and whether twinning is enabled.
    pub fn user(mut self, id: &str, desk_port: u16, mobile: &str, enabled: bool) -> FsSettings {
        let params = vec![
            ("desk".to_string(), FreeSwitch::sip_target(desk_port, &format!("desk{id}"))),
            ("mobile".to_string(), mobile.to_string()),
            ("enabled".to_string(), if enabled { "yes" } else { "no" }.to_string()),
        ];
        self.users.push((id.to_string(), params));
        self
    }

    /// Sets param `name` of user `id` (added by [`FsSettings::user`]): the new value in
    /// its place, or a new param last.
    pub fn user_param(mut self, id: &str, name: &str, value: impl std::fmt::Display) -> FsSettings {
        let value = value.to_string();
        let (_, params) = self.users.iter_mut().find(|(u, _)| u == id).expect("a user added before");
        match params.iter_mut().find(|(n, _)| n == name) {
            Some((_, v)) => *v = value,
            None => params.push((name.to_string(), value)),
        }
        self
    }

    /// The XML, indented to sit in [`FreeSwitch`]'s `freeswitch.xml`; each param on a line
    /// of its own as `<param name="…" value="…"/>`, so tests can find and rewrite one.
    pub fn xml(&self) -> String {
        let param = |indent: &str, (name, value): &(String, String)| {
            format!("{indent}<param name=\"{}\" value=\"{}\"/>\n", escape(name), escape(value))
        };
        let mut xml = String::from("      <settings>\n");
        xml.extend(self.params.iter().map(|p| param("        ", p)));
        xml.push_str("      </settings>\n      <users>\n");
        for (id, params) in &self.users {
            xml.push_str(&format!("        <user id=\"{}\">\n", escape(id)));
            xml.extend(params.iter().map(|p| param("          ", p)));
            xml.push_str("        </user>\n");
        }
        xml.push_str("      </users>");
        xml
    }
}

/// `text` as an XML attribute value.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// `xml` with the value of its first `<param name="{name}" …>` replaced by `value`; `None`
/// when it has no such param.
pub fn with_param(xml: &str, name: &str, value: impl std::fmt::Display) -> Option<String> {
    let key = format!("<param name=\"{name}\" value=\"");
    let from = xml.find(&key)? + key.len();
    let to = from + xml[from..].find('"')?;
    Some(format!("{}{value}{}", &xml[..from], &xml[to..]))
}

pub struct FreeSwitch {
    prefix: PathBuf,
    /// The instance directory as this process sees it, and as SIPp (in the root) sees it.
    outside: PathBuf,
    inside: PathBuf,
    pub esl_port: u16,
    pub ports: FsPorts,
    child: Option<Child>,
    env: Vec<(String, String)>,
    /// The RTP port range (see `launch`).
    rtp: (u16, u16),
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The channel variables a CDR test has mod_cdr_csv write for every leg.
pub const CDR_FIELDS: [&str; 10] = [
    "uuid",
    "twinning_caller_uuid",
    "twinning_leg",
    "twinning_destination",
    "accountcode",
    "hangup_cause",
    "answer_epoch",
    "end_epoch",
    "billsec",
    "direction",
];

impl FreeSwitch {
    /// Starts FreeSWITCH with `twinning` (the body of `<configuration name="twinning.conf">`)
    /// and the test dialplan; `None` (reported as skipped) when no FreeSWITCH was given.
    pub fn start(test: &str, twinning: &str, options: &str, ports: FsPorts) -> Option<FreeSwitch> {
        Self::start_with_env(test, twinning, options, ports, &[])
    }

    /// With `extensions` (XML `<extension>` elements) as the whole test context.
    pub fn start_with_dialplan(
        test: &str,
        twinning: &str,
        extensions: &str,
        ports: FsPorts,
    ) -> Option<FreeSwitch> {
        Self::launch(test, twinning, Dialplan::Extensions(extensions), ports, &[], false)
    }

    /// As [`FreeSwitch::start_with_dialplan`], with `env` in FreeSWITCH's environment.
    pub fn start_with_dialplan_env(
        test: &str,
        twinning: &str,
        extensions: &str,
        ports: FsPorts,
        env: &[(&str, &str)],
    ) -> Option<FreeSwitch> {
        Self::launch(test, twinning, Dialplan::Extensions(extensions), ports, env, false)
    }

    pub fn start_with_env(
        test: &str,
        twinning: &str,
        options: &str,
        ports: FsPorts,
        env: &[(&str, &str)],
    ) -> Option<FreeSwitch> {
        Self::launch(test, twinning, Dialplan::Test { options }, ports, env, false)
    }

    /// As [`FreeSwitch::start`], with mod_cdr_csv writing every leg's CDR (a and b legs) to
    /// `log/cdr-csv/Master.csv` in the fields [`CDR_FIELDS`] names, one quoted value each.
    pub fn start_with_cdr(test: &str, twinning: &str, options: &str, ports: FsPorts) -> Option<FreeSwitch> {
        Self::launch(test, twinning, Dialplan::Test { options }, ports, &[], true)
    }

    /// The CDR rows mod_cdr_csv wrote so far, each as [`CDR_FIELDS`] to value.
    pub fn cdr_rows(&self) -> Vec<std::collections::BTreeMap<&'static str, String>> {
        let text = fs::read_to_string(self.outside.join("log/cdr-csv/Master.csv")).unwrap_or_default();
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let values: Vec<String> =
                    l.trim().trim_matches('"').split("\",\"").map(str::to_owned).collect();
                CDR_FIELDS.iter().copied().zip(values).collect()
            })
            .collect()
    }

    fn launch(
        test: &str,
        twinning: &str,
        dialplan: Dialplan,
        ports: FsPorts,
        env: &[(&str, &str)],
        cdr: bool,
    ) -> Option<FreeSwitch> {
        let Some(prefix) = prefix() else {
            crate::skip::report(
                test,
                "no FreeSWITCH given (set FREESWITCH_PREFIX to a FreeSWITCH 1.10 install; see README)",
            );
            return None;
        };
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        // Inside the provisioned root, so SIPp (which runs there) can use the same files.
        let inside = INSTALLATION.scratch_dir().join(format!("twinning-fs-{}-{n}", std::process::id()));
        let outside = INSTALLATION.outside(&inside);
        let _ = fs::remove_dir_all(&outside);
        for d in ["conf", "log", "db", "run", "mod", "temp", "storage", "cache", "sounds", "recordings"] {
            fs::create_dir_all(outside.join(d)).unwrap();
        }
        stage_modules(&prefix, &outside.join("mod"));
        let esl_port = free_tcp_port();
        // Each instance its own slice of RTP ports, below the kernel's ephemeral ports:
        // instances running side by side never pick the same port, and none picks one that
        // SIPp's own sockets hold (either made FreeSWITCH answer 488 under load).
        let rtp_start = 10_000 + (n % 16) as u16 * 1_000;
        let mut fs = FreeSwitch {
            rtp: (rtp_start, rtp_start + 998),
            prefix,
            outside,
            inside,
            esl_port,
            ports,
            child: None,
            env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        };
        fs.write_config(twinning, &dialplan.extensions(), cdr);
        fs.boot();
        Some(fs)
    }

    fn write_config(&self, twinning: &str, extensions: &str, cdr: bool) {
        let d = self.outside.display();
        let (cdr_module, cdr_conf) = if cdr {
            let template: Vec<String> = CDR_FIELDS.iter().map(|f| format!("&quot;${{{f}}}&quot;")).collect();
            (
                "<load module=\"mod_cdr_csv\"/>",
                format!(
                    r#"<configuration name="cdr_csv.conf">
      <settings>
        <param name="default-template" value="twinning"/>
        <param name="legs" value="ab"/>
        <param name="log-base" value="{d}/log"/>
      </settings>
      <templates><template name="twinning">{}</template></templates>
    </configuration>"#,
                    template.join(",")
                ),
            )
        } else {
            ("", String::new())
        };
        let p = self.ports;
        let xml = format!(
            r#"<?xml version="1.0"?>
<document type="freeswitch/xml">
  <section name="configuration">
    <configuration name="switch.conf">
      <settings>
        <param name="loglevel" value="debug"/>
        <param name="max-sessions" value="2000"/>
        <param name="sessions-per-second" value="1000"/>
        <param name="rtp-start-port" value="{rtp_start}"/>
        <param name="rtp-end-port" value="{rtp_end}"/>
      </settings>
    </configuration>
    <configuration name="modules.conf">
      <modules>
        <load module="mod_logfile"/>
        <load module="mod_event_socket"/>
        <load module="mod_commands"/>
        <load module="mod_dptools"/>
        <load module="mod_dialplan_xml"/>
        <load module="mod_tone_stream"/>
        <load module="mod_sofia"/>
        <load module="mod_loopback"/>
        <load module="mod_conference"/>
        <load module="mod_twinning"/>
        {cdr_module}
      </modules>
    </configuration>
    {cdr_conf}
    <configuration name="logfile.conf">
      <profiles><profile name="default"><settings>
        <param name="logfile" value="{d}/log/freeswitch.log"/>
      </settings><mappings><map name="all" value="debug,info,notice,warning,err,crit,alert"/></mappings></profile></profiles>
    </configuration>
    <configuration name="event_socket.conf">
      <settings>
        <param name="listen-ip" value="127.0.0.1"/>
        <param name="listen-port" value="{esl}"/>
        <param name="password" value="{ESL_PASSWORD}"/>
      </settings>
    </configuration>
    <configuration name="sofia.conf">
      <global_settings><param name="log-level" value="0"/></global_settings>
      <profiles><profile name="internal"><gateways/><domains/><settings>
        <param name="context" value="twinning-test"/>
        <param name="dialplan" value="XML"/>
        <param name="sip-ip" value="127.0.0.1"/>
        <param name="sip-port" value="{sip}"/>
        <param name="rtp-ip" value="127.0.0.1"/>
        <param name="ext-rtp-ip" value="127.0.0.1"/>
        <param name="ext-sip-ip" value="127.0.0.1"/>
        <param name="auth-calls" value="false"/>
        <param name="inbound-codec-prefs" value="PCMU"/>
        <param name="outbound-codec-prefs" value="PCMU"/>
        <param name="dtmf-type" value="rfc2833"/>
        <param name="rfc2833-pt" value="101"/>
        <!-- As FreeSWITCH's own sample profiles: a channel whose phone sends no audio
             still has its media timed (a broadcast to it does not wait for packets). -->
        <param name="rtp-timer-name" value="soft"/>
        <param name="liberal-dtmf" value="true"/>
        <!-- BLF keys: phones subscribe (dialog) to twinning+<user>, unauthenticated here. -->
        <param name="manage-presence" value="true"/>
        <param name="auth-subscriptions" value="false"/>
      </settings></profile></profiles>
    </configuration>
    <configuration name="conference.conf">
      <profiles><profile name="default">
        <param name="rate" value="8000"/>
        <param name="caller-controls" value="none"/>
      </profile></profiles>
    </configuration>
    <configuration name="twinning.conf" description="Mobile twinning">
{twinning}
    </configuration>
  </section>
  <section name="dialplan">
    <context name="twinning-test">
{extensions}    </context>
    <!-- Where a consult from the mobile is placed (consult_context): any number reaches
         the third-party phone, as the user's own call would. -->
    <context name="twinning-consult">
      <extension name="third">
        <condition field="destination_number" expression="^(\d+)$">
          <action application="bridge" data="sofia/internal/$1@127.0.0.1:{third}"/>
        </condition>
      </extension>
    </context>
  </section>
</document>
"#,
            esl = self.esl_port,
            sip = p.sip,
            rtp_start = self.rtp.0,
            rtp_end = self.rtp.1,
            third = p.third,
            extensions = extensions,
        );
        fs::write(self.outside.join("conf/freeswitch.xml"), xml).unwrap();
    }

    fn boot(&mut self) {
        let d = &self.outside;
        let log = fs::File::create(d.join("log/console.out")).unwrap();
        let dir = |s: &str| d.join(s).display().to_string();
        let child = Command::new(self.prefix.join("bin/freeswitch"))
            .args(["-nf", "-nc", "-nonat", "-nosql"])
            .args(["-conf", &dir("conf"), "-log", &dir("log"), "-db", &dir("db"), "-run", &dir("run")])
            .args(["-mod", &dir("mod"), "-temp", &dir("temp"), "-storage", &dir("storage")])
            .args(["-cache", &dir("cache"), "-sounds", &dir("sounds"), "-recordings", &dir("recordings")])
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start freeswitch");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("freeswitch exited at start ({status}); see {}", d.join("log").display());
            }
            if let Ok(mut esl) = Esl::connect(self.esl_port, ESL_PASSWORD) {
                if esl.api("sofia status").contains("RUNNING") {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "freeswitch did not come up; see {}", d.join("log").display());
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn esl(&self) -> Esl {
        Esl::connect(self.esl_port, ESL_PASSWORD).expect("connect to the event socket")
    }

    /// `fs_cli -x`, as an admin would type it.
    pub fn fs_cli(&self, command: &str) -> String {
        let out = Command::new(self.prefix.join("bin/fs_cli"))
            .args(["-H", "127.0.0.1", "-P", &self.esl_port.to_string(), "-p", ESL_PASSWORD, "-x", command])
            .output()
            .expect("run fs_cli");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A SIP target on this test's loopback phones, as the desk/mobile settings name them.
    pub fn sip_target(port: u16, user: &str) -> String {
        format!("sofia/internal/{user}@127.0.0.1:{port}")
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// FreeSWITCH's CPU time so far (user + system).
    pub fn cpu_time(&self) -> Duration {
        crate::procfs::cpu_time(self.pid().unwrap_or(0))
    }

    pub fn rss_kib(&self) -> u64 {
        crate::procfs::rss_kib(self.pid().unwrap_or(0))
    }

    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }

    /// Kills FreeSWITCH at once (`kill -9`), leaving it down.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Kills FreeSWITCH at once (as a crash would) and starts it again on the same
    /// directories.
    pub fn kill_and_restart(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.boot();
    }

    /// Moves FreeSWITCH's RTP ports to `start..=end` and restarts it cleanly on the same
    /// directories (it reads the range at start-up only). The default range lies among the
    /// kernel's ephemeral ports, where SIPp's own sockets are: over thousands of calls
    /// FreeSWITCH picks one of those sooner or later ("Bind Error"), and that call fails
    /// before any application runs.
    pub fn set_rtp_ports(&mut self, start: u16, end: u16) {
        self.set_switch_params(&[("rtp-start-port", start.into()), ("rtp-end-port", end.into())]);
    }

    /// Sets `switch.conf` params (e.g. `max-sessions`, the RTP ports) and restarts cleanly
    /// on the same directories (FreeSWITCH reads them at start-up only).
    pub fn set_switch_params(&mut self, params: &[(&str, u64)]) {
        for (name, value) in params {
            match *name {
                "rtp-start-port" => self.rtp.0 = *value as u16,
                "rtp-end-port" => self.rtp.1 = *value as u16,
                _ => {}
            }
        }
        let text: Vec<(&str, String)> = params.iter().map(|(n, v)| (*n, v.to_string())).collect();
        self.set_params(&text);
    }

    /// Sets the first `<param>` of each name in the instance's configuration (switch.conf's
    /// come first, then the SIP profile's) and restarts cleanly on the same directories.
    pub fn set_params(&mut self, params: &[(&str, String)]) {
        let path = self.outside.join("conf/freeswitch.xml");
        let mut xml = fs::read_to_string(&path).unwrap();
        for (name, value) in params {
            xml = with_param(&xml, name, value).unwrap_or_else(|| panic!("no {name} in {}", path.display()));
        }
        fs::write(&path, xml).unwrap();
        assert!(
            self.shutdown(Duration::from_secs(30)).is_some(),
            "FreeSWITCH did not stop for its new configuration"
        );
        self.boot();
    }

    /// The RTP port range it uses.
    pub fn rtp_ports(&self) -> (u16, u16) {
        self.rtp
    }

    pub fn threads(&self) -> u64 {
        crate::procfs::threads(self.pid().unwrap_or(0))
    }

    /// Sessions up now (from `status`; `show channels` needs the core database, which the
    /// test instance runs without).
    pub fn sessions(&self) -> usize {
        let status = self.esl().api("status");
        status
            .lines()
            .find(|l| l.contains("session(s) - peak"))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no session count in: {status}"))
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.outside.join("log/freeswitch.log")).unwrap_or_default()
    }

    /// The instance's own module directory (the given install's modules are linked in).
    pub fn module_dir(&self) -> PathBuf {
        self.outside.join("mod")
    }

    /// The inodes of every `name` this FreeSWITCH has mapped (from /proc/<pid>/maps),
    /// deleted files included, without repeats.
    pub fn mapped_inodes(&self, name: &str) -> Vec<u64> {
        let maps = self.pid().and_then(|pid| fs::read_to_string(format!("/proc/{pid}/maps")).ok());
        let mut inodes: Vec<u64> = maps
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.len() >= 6 && f[5].ends_with(name)).then(|| f[4].parse().ok()).flatten()
            })
            .collect();
        inodes.dedup();
        inodes
    }

    /// `fsctl shutdown`, as an admin types it, and waits up to `within` for the process to
    /// exit; its exit status (`None` if it did not exit).
    pub fn shutdown(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let _ = self.esl().command("api fsctl shutdown");
        let child = self.child.as_mut()?;
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait().ok().flatten() {
                self.child = None;
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }
}

impl SipSite for FreeSwitch {
    fn sip_port(&self) -> u16 {
        self.ports.sip
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.outside.join(relative)
    }

    fn inside_path(&self, relative: &str) -> String {
        self.inside.join(relative).display().to_string()
    }

    /// Each call from a number of its own, as real callers are. With one user for all,
    /// every presence event of a caller's channel (two per call) had sofia read the
    /// dialog of every live call from that user and look each up: its presence thread
    /// took 627 of FreeSWITCH's 1,984 profiled samples while 1,500 calls were placed,
    /// work growing with the square of the calls.
    fn load_caller(&self) -> &str {
        "caller[call_number]"
    }
}

impl Drop for FreeSwitch {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            if let Ok(mut esl) = Esl::connect(self.esl_port, ESL_PASSWORD) {
                let _ = esl.command("api fsctl shutdown");
            }
            let deadline = Instant::now() + Duration::from_secs(10);
            while c.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::env::var_os("TWINNING_KEEP_INSTANCE").is_none() && !std::thread::panicking() {
            let _ = fs::remove_dir_all(&self.outside);
        }
    }
}

/// Every module of the FreeSWITCH install, and ours, in the instance's module directory.
/// Every installed module, linked, and this build of mod_twinning.so beside them. An
/// installed mod_twinning.so is never linked: copying ours through that link would
/// rewrite the file every FreeSWITCH using it has mapped (the given install must never be
/// modified), so ours is renamed into the instance's own directory instead.
fn stage_modules(prefix: &Path, dir: &Path) {
    let installed = prefix.join("lib/freeswitch/mod");
    for entry in fs::read_dir(&installed).unwrap_or_else(|e| panic!("{}: {e}", installed.display())) {
        let entry = entry.unwrap();
        if entry.file_name() != "mod_twinning.so" {
            let _ = symlink(entry.path(), dir.join(entry.file_name()));
        }
    }
    crate::module_build::install_file(module_path(), &dir.join("mod_twinning.so"))
        .expect("stage mod_twinning.so");
}

fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The test context's extensions.
enum Dialplan<'a> {
    /// `twinning <user> <options>` for 1xxx (reached also from the DIDs 51xxx by
    /// `transfer`), `twinning <args>` for 9<args>, the pickup code *27, `twinning_button
    /// <args>` for key<args>; each reports its outcome as a `twinning::test` event.
    Test {
        options: &'a str,
    },
    Extensions(&'a str),
}

impl Dialplan<'_> {
    fn extensions(&self) -> String {
        match self {
            Dialplan::Test { options } => format!(
                r#"      <extension name="pickup">
        <condition field="destination_number" expression="^\*27$">
          <action application="twinning_pickup" data="${{caller_id_number}}"/>
          <action application="event" data="Event-Subclass=twinning::test,Event-Name=CUSTOM,Result=${{twinning_status}}"/>
          <action application="hangup"/>
        </condition>
      </extension>
      <extension name="button">
        <condition field="destination_number" expression="^key(.*)$">
          <action application="twinning_button" data="$1"/>
          <action application="event" data="Event-Subclass=twinning::test,Event-Name=CUSTOM,Button=${{twinning_button}},Error=${{twinning_error}}"/>
          <action application="hangup"/>
        </condition>
      </extension>
      <extension name="authenticate">
        <condition field="destination_number" expression="^\*99$">
          <action application="set" data="twinning_pin_prompt=tone_stream://%(100,0,500)"/>
          <action application="twinning_authenticate" data="${{caller_id_number}} a(1)"/>
          <action application="event" data="Event-Subclass=twinning::test,Event-Name=CUSTOM,Auth=${{twinning_auth}}"/>
          <action application="hangup"/>
        </condition>
      </extension>
      <extension name="bad-arguments">
        <condition field="destination_number" expression="^9(.*)$">
          <action application="twinning" data="$1"/>
          <action application="event" data="Event-Subclass=twinning::test,Event-Name=CUSTOM,Status=${{twinning_status}},Error=${{twinning_error}}"/>
          <action application="hangup"/>
        </condition>
      </extension>
      <extension name="did">
        <condition field="destination_number" expression="^5(1\d\d\d)$">
          <!-- An inbound route keeps the DID for caller_id = did, as the README says. -->
          <action application="set" data="twinning_did=${{destination_number}}"/>
          <action application="transfer" data="$1 XML twinning-test"/>
        </condition>
      </extension>
      <extension name="twinned">
        <condition field="destination_number" expression="^(1\d\d\d)$">
          <action application="set" data="hold_music=tone_stream://%(1000,0,440);loops=-1"/>
          <action application="twinning" data="$1 {options}"/>
          <action application="event" data="Event-Subclass=twinning::test,Event-Name=CUSTOM,Status=${{twinning_status}},AnsweredBy=${{twinning_answered_by}}"/>
          <action application="hangup"/>
        </condition>
      </extension>
"#
            ),
            Dialplan::Extensions(x) => x.to_string(),
        }
    }
}
