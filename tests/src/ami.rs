//! A small AMI client: enough to log in, send actions, and collect responses and events.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// One AMI message (response or event): its headers in order.
#[derive(Debug, Clone, Default)]
pub struct Message {
    pub headers: Vec<(String, String)>,
}

impl Message {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The header's value, or a panic naming the message that lacked it.
    pub fn must(&self, name: &str) -> &str {
        self.get(name).unwrap_or_else(|| panic!("no {name} header in {self:?}"))
    }

    pub fn is_event(&self, name: &str) -> bool {
        self.get("Event").is_some_and(|e| e.eq_ignore_ascii_case(name))
    }
}

pub struct Ami {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    pending: VecDeque<Message>,
    next_id: u64,
}

impl Ami {
    pub fn connect(port: u16, user: &str, secret: &str) -> Ami {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to AMI");
        stream.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        let mut ami = Ami {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
            pending: VecDeque::new(),
            next_id: 1,
        };
        let mut banner = String::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while banner.is_empty() && Instant::now() < deadline {
            let _ = ami.reader.read_line(&mut banner);
        }
        assert!(banner.starts_with("Asterisk Call Manager"), "unexpected AMI banner {banner:?}");
        let r = ami.action("Login", &[("Username", user), ("Secret", secret)]);
        assert_eq!(r.get("Response"), Some("Success"), "AMI login failed: {r:?}");
        ami
    }

    /// Sends an action and returns its response; events read meanwhile are kept.
    pub fn action(&mut self, action: &str, headers: &[(&str, &str)]) -> Message {
        let id = self.send(action, headers);
        self.wait(Duration::from_secs(10), |m| {
            m.get("Response").is_some() && m.get("ActionID") == Some(id.as_str())
        })
        .unwrap_or_else(|| panic!("no response to {action}"))
    }

    /// Sends a list action; returns its response and the events up to `complete_event`.
    pub fn list(
        &mut self,
        action: &str,
        headers: &[(&str, &str)],
        complete_event: &str,
    ) -> (Message, Vec<Message>) {
        let id = self.send(action, headers);
        let response = self
            .wait(Duration::from_secs(10), |m| {
                m.get("Response").is_some() && m.get("ActionID") == Some(id.as_str())
            })
            .unwrap_or_else(|| panic!("no response to {action}"));
        let mut events = Vec::new();
        if response.get("Response") != Some("Success") {
            return (response, events);
        }
        loop {
            let m = self
                .wait(Duration::from_secs(10), |m| {
                    m.get("ActionID") == Some(id.as_str()) && m.get("Event").is_some()
                })
                .unwrap_or_else(|| panic!("{action}: list did not complete"));
            if m.is_event(complete_event) {
                events.push(m);
                return (response, events);
            }
            events.push(m);
        }
    }

    fn send(&mut self, action: &str, headers: &[(&str, &str)]) -> String {
        let id = format!("t{}", self.next_id);
        self.next_id += 1;
        let mut text = format!("Action: {action}\r\nActionID: {id}\r\n");
        for (k, v) in headers {
            text.push_str(&format!("{k}: {v}\r\n"));
        }
        text.push_str("\r\n");
        self.writer.write_all(text.as_bytes()).expect("write to AMI");
        id
    }

    /// The first message (already received or arriving within `timeout`) that matches.
    pub fn wait(&mut self, timeout: Duration, mut matches: impl FnMut(&Message) -> bool) -> Option<Message> {
        if let Some(i) = self.pending.iter().position(&mut matches) {
            return self.pending.remove(i);
        }
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(m) = self.read_message(deadline) {
                if matches(&m) {
                    return Some(m);
                }
                self.pending.push_back(m);
            }
        }
        None
    }

    /// Waits for an event by name whose headers include every `(name, value)` given.
    pub fn event(&mut self, name: &str, with: &[(&str, &str)], timeout: Duration) -> Option<Message> {
        self.wait(timeout, |m| m.is_event(name) && with.iter().all(|(k, v)| m.get(k) == Some(*v)))
    }

    /// Every event of this name received so far or within `settle`.
    pub fn drain_events(&mut self, name: &str, settle: Duration) -> Vec<Message> {
        let mut out = Vec::new();
        while let Some(m) = self.wait(settle, |m| m.is_event(name)) {
            out.push(m);
        }
        out
    }

    fn read_message(&mut self, deadline: Instant) -> Option<Message> {
        let mut msg = Message::default();
        // A read timeout can split a line; what was read stays in `line` until its end comes.
        let mut line = String::new();
        loop {
            match self.reader.read_line(&mut line) {
                Ok(0) => return None,
                Ok(_) if !line.ends_with('\n') => continue,
                Ok(_) => {
                    let l = line.trim_end_matches(['\r', '\n']).to_owned();
                    line.clear();
                    if l.is_empty() {
                        if msg.headers.is_empty() {
                            continue;
                        }
                        return Some(msg);
                    }
                    if let Some((k, v)) = l.split_once(':') {
                        msg.headers.push((k.trim().to_owned(), v.trim_start().to_owned()));
                    }
                }
                Err(e)
                    if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) =>
                {
                    if Instant::now() >= deadline && msg.headers.is_empty() && line.is_empty() {
                        return None;
                    }
                    if Instant::now() >= deadline + Duration::from_secs(5) {
                        panic!("AMI message never finished: {msg:?} {line:?}");
                    }
                }
                Err(e) => panic!("AMI read failed: {e}"),
            }
        }
    }
}
