//! Running `twinctl` against the test's PBXes as an admin would: its binary (built once
//! per test run from the current source), a configuration naming the nodes, one-shot
//! commands with their exit codes, `twinctl watch --json` read line by line, and
//! `twinctl serve` asked over plain HTTP.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use once_cell::sync::OnceCell;

use crate::asterisk::{AMI_SECRET, AMI_USER};

/// `twinctl`, built if needed; `TWINCTL_BIN` names another (the benchmark's release build).
pub fn binary() -> &'static Path {
    static BUILT: OnceCell<PathBuf> = OnceCell::new();
    BUILT.get_or_init(|| {
        if let Some(given) = std::env::var_os("TWINCTL_BIN") {
            return PathBuf::from(given);
        }
        let root = crate::module_build::workspace_root();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--quiet", "-p", "twinning-console", "--bin", "twinctl"])
            .current_dir(&root)
            .status()
            .expect("run cargo build for twinctl");
        assert!(status.success(), "building twinctl failed");
        let target =
            std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target"));
        let bin = target.join("debug/twinctl");
        assert!(bin.is_file(), "{} was not produced", bin.display());
        bin
    })
}

/// A fresh API token and its `[[token]]` entry for the configuration, as
/// `twinctl hash-password --token <name>` makes them (only the hash goes into the file).
pub fn api_token(name: &str) -> (String, String) {
    let made = ConsoleConfig::new(&[], "").run(&["hash-password", "--token", name]);
    assert_eq!(made.code, 0, "{made:?}");
    let token = made
        .stdout
        .split("Bearer ")
        .nth(1)
        .and_then(|t| t.split('\'').next())
        .unwrap_or_else(|| panic!("no token in {made:?}"))
        .to_owned();
    let entry = made.stdout.lines().filter(|l| !l.starts_with('#')).collect::<Vec<_>>().join("\n");
    (token, entry)
}

/// Labels `node` and `pbx` as twinctl adds them to a node's sample written
/// `name{labels} ` (or `name `): what `twinctl serve`'s `/metrics` shows for it.
pub fn node_sample(sample: &str, node: &str, pbx: &str) -> String {
    let ours = format!("node=\"{node}\",pbx=\"{pbx}\"");
    match sample.split_once('{') {
        Some((name, rest)) => format!("{name}{{{ours},{rest}"),
        None => {
            let name = sample.trim_end();
            format!("{name}{{{ours}}} ")
        }
    }
}

/// One `[[node]]` of the configuration.
pub struct NodeSpec {
    pub name: String,
    pub kind: &'static str,
    pub port: u16,
    pub username: String,
    pub secret: String,
}

impl NodeSpec {
    /// An Asterisk node, with the test instance's all-powerful AMI account.
    pub fn asterisk(name: &str, ami_port: u16) -> NodeSpec {
        NodeSpec {
            name: name.into(),
            kind: "asterisk",
            port: ami_port,
            username: AMI_USER.into(),
            secret: AMI_SECRET.into(),
        }
    }

    pub fn freeswitch(name: &str, esl_port: u16) -> NodeSpec {
        NodeSpec {
            name: name.into(),
            kind: "freeswitch",
            port: esl_port,
            username: String::new(),
            secret: crate::freeswitch::ESL_PASSWORD.into(),
        }
    }

    pub fn secret(mut self, secret: &str) -> NodeSpec {
        self.secret = secret.into();
        self
    }
}

/// A configuration file in its own directory, removed on drop.
pub struct ConsoleConfig {
    pub dir: PathBuf,
    pub path: PathBuf,
}

impl ConsoleConfig {
    /// The nodes, `[serve]` on a free loopback port, and `extra` TOML (admins, tokens).
    /// twinctl is built here, before the test starts its calls: a build waiting on another
    /// cargo (a module's) must not take a live call's time.
    pub fn new(nodes: &[NodeSpec], extra: &str) -> ConsoleConfig {
        binary();
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("twinctl-test-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut text = String::new();
        for node in nodes {
            text.push_str(&format!(
                "[[node]]\nname = \"{}\"\nkind = \"{}\"\naddress = \"127.0.0.1:{}\"\nusername = \"{}\"\nsecret = \"{}\"\n\n",
                node.name, node.kind, node.port, node.username, node.secret
            ));
        }
        text.push_str("[serve]\nbind = \"127.0.0.1:0\"\n\n");
        text.push_str(extra);
        let path = dir.join("twinctl.toml");
        std::fs::write(&path, text).unwrap();
        ConsoleConfig { dir, path }
    }

    fn command(&self) -> Command {
        let mut c = Command::new(binary());
        c.arg("--config").arg(&self.path).env("TWINCTL_LOG", "info").env_remove("TWINCTL_LOGIN");
        c
    }

    /// Runs `twinctl <args>` to its end.
    pub fn run(&self, args: &[&str]) -> Outcome {
        self.run_with_input(args, "")
    }

    /// Runs `twinctl <args>` with `input` on its standard input.
    pub fn run_with_input(&self, args: &[&str], input: &str) -> Outcome {
        let mut child = self
            .command()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run twinctl");
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        Outcome {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// `twinctl watch --json`, running until dropped.
    pub fn watch(&self) -> Watch {
        let mut child = self
            .command()
            .args(["watch", "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("run twinctl watch");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Watch { child, lines: rx, seen: Vec::new() }
    }

    /// `twinctl serve`, once it says where it listens.
    pub fn serve(&self) -> Serve {
        let mut child = self
            .command()
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run twinctl serve");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { return };
                eprintln!("[serve] {line}");
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = rx.recv_timeout(left) else {
                let _ = child.kill();
                let _ = child.wait();
                panic!("twinctl serve did not say where it listens");
            };
            if let Some(at) =
                line.split("serving on http://").nth(1).or(line.split("serving on https://").nth(1))
            {
                let port = at.trim().rsplit(':').next().unwrap().parse().unwrap();
                return Serve { child, port };
            }
        }
    }
}

impl Drop for ConsoleConfig {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[derive(Debug)]
pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub struct Watch {
    child: Child,
    lines: mpsc::Receiver<String>,
    /// Every line read so far.
    pub seen: Vec<String>,
}

impl Watch {
    /// The next event (as JSON) that `matches`, within `timeout`; the ones before it are
    /// kept in `seen`.
    pub fn until(&mut self, timeout: Duration, matches: impl Fn(&str) -> bool) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.lines.recv_timeout(left).ok()?;
            self.seen.push(line.clone());
            if matches(&line) {
                return Some(line);
            }
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `"key":"value"` in a line of JSON (the tests' own flat matching).
pub fn has(line: &str, key: &str, value: &str) -> bool {
    line.contains(&format!("\"{key}\":\"{value}\""))
}

pub struct Serve {
    child: Child,
    pub port: u16,
}

impl Serve {
    /// The server's process id (for its CPU time and memory in the benchmark).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// One HTTP/1.1 request: the status and the body.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        body: Option<&str>,
    ) -> (u16, String) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to twinctl serve");
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
        if let Some(b) = bearer {
            req.push_str(&format!("Authorization: Bearer {b}\r\n"));
        }
        let body = body.unwrap_or("");
        if !body.is_empty() {
            req.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", body.len()));
        }
        req.push_str("\r\n");
        req.push_str(body);
        s.write_all(req.as_bytes()).unwrap();
        let mut text = String::new();
        let _ = s.read_to_string(&mut text);
        let status = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
        (status, body)
    }

    /// Opens the event stream; its lines come on the receiver.
    pub fn events(&self, bearer: &str) -> mpsc::Receiver<String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to twinctl serve");
        s.write_all(
            format!(
                "GET /api/v1/events HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {bearer}\r\n\r\n"
            )
            .as_bytes(),
        )
        .unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(s).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        rx
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
