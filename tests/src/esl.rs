//! A small FreeSWITCH event-socket client: `api` commands and `CUSTOM twinning::*` events,
//! as an admin's tool would use them.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// One event: its headers in order, URL-decoded.
#[derive(Debug, Clone)]
pub struct EslEvent {
    pub headers: Vec<(String, String)>,
}

impl EslEvent {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn must(&self, name: &str) -> &str {
        self.get(name).unwrap_or_else(|| panic!("event has no {name}: {self:?}"))
    }

    pub fn subclass(&self) -> &str {
        self.get("Event-Subclass").unwrap_or("")
    }
}

pub struct Esl {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    pending: VecDeque<EslEvent>,
}

impl Esl {
    pub fn connect(port: u16, password: &str) -> std::io::Result<Esl> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        let writer = stream.try_clone()?;
        let mut esl = Esl { reader: BufReader::new(stream), writer, pending: VecDeque::new() };
        let (h, _) = esl.read_message()?;
        if !h.iter().any(|(k, v)| k == "Content-Type" && v == "auth/request") {
            return Err(std::io::Error::other("no auth/request from the event socket"));
        }
        let reply = esl.command(&format!("auth {password}"))?;
        if !reply.starts_with("+OK") {
            return Err(std::io::Error::other(format!("auth refused: {reply}")));
        }
        Ok(esl)
    }

    /// Sends a command and returns the `Reply-Text` of its `command/reply`.
    pub fn command(&mut self, command: &str) -> std::io::Result<String> {
        write!(self.writer, "{command}\n\n")?;
        loop {
            let (h, body) = self.read_message()?;
            match header(&h, "Content-Type") {
                Some("command/reply") => return Ok(header(&h, "Reply-Text").unwrap_or("").to_owned()),
                Some("text/event-plain") => self.pending.push_back(parse_event(&body)),
                _ => {}
            }
        }
    }

    /// `api <command>`: the reply text.
    pub fn api(&mut self, command: &str) -> String {
        write!(self.writer, "api {command}\n\n").expect("send api");
        loop {
            let (h, body) = self.read_message().expect("api reply");
            match header(&h, "Content-Type") {
                Some("api/response") => return body,
                Some("text/event-plain") => self.pending.push_back(parse_event(&body)),
                _ => {}
            }
        }
    }

    /// Subscribes to `CUSTOM` events of the given subclasses.
    pub fn subscribe(&mut self, subclasses: &[&str]) {
        let reply = self.command(&format!("event plain CUSTOM {}", subclasses.join(" "))).expect("subscribe");
        assert!(reply.starts_with("+OK"), "{reply}");
    }

    /// The next event of `subclass` whose headers include every `(name, value)` in `with`.
    pub fn event(&mut self, subclass: &str, with: &[(&str, &str)], timeout: Duration) -> Option<EslEvent> {
        let matches =
            |e: &EslEvent| e.subclass() == subclass && with.iter().all(|(k, v)| e.get(k) == Some(*v));
        if let Some(i) = self.pending.iter().position(matches) {
            return self.pending.remove(i);
        }
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(10));
            self.reader.get_ref().set_read_timeout(Some(left)).ok()?;
            let Ok((h, body)) = self.read_message() else { break };
            if header(&h, "Content-Type") == Some("text/event-plain") {
                let e = parse_event(&body);
                if matches(&e) {
                    return Some(e);
                }
                self.pending.push_back(e);
            }
        }
        None
    }

    /// Every event of any of `subclasses`, in arrival order, until none has come for
    /// `window`.
    pub fn drain_in_order(&mut self, subclasses: &[&str], window: Duration) -> Vec<EslEvent> {
        let mut out: Vec<EslEvent> = Vec::new();
        let pending = std::mem::take(&mut self.pending);
        for e in pending {
            if subclasses.contains(&e.subclass()) {
                out.push(e);
            } else {
                self.pending.push_back(e);
            }
        }
        loop {
            self.reader.get_ref().set_read_timeout(Some(window)).expect("set timeout");
            let Ok((h, body)) = self.read_message() else { break };
            if header(&h, "Content-Type") == Some("text/event-plain") {
                let e = parse_event(&body);
                if subclasses.contains(&e.subclass()) {
                    out.push(e);
                } else {
                    self.pending.push_back(e);
                }
            }
        }
        out
    }

    /// The next event of any subscribed subclass: one already received, or one that starts
    /// arriving within `timeout` (`None` if none does, or the socket closed). The timeout
    /// only applies while nothing has arrived: a message once started is read whole, so a
    /// stream that keeps going (a long run's event feed) is never cut mid-message.
    pub fn next_event(&mut self, timeout: Duration) -> Option<EslEvent> {
        if let Some(e) = self.pending.pop_front() {
            return Some(e);
        }
        let deadline = Instant::now() + timeout;
        loop {
            if self.reader.buffer().is_empty() {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return None;
                }
                self.reader.get_ref().set_read_timeout(Some(left)).ok()?;
                match self.reader.get_ref().peek(&mut [0u8; 1]) {
                    Ok(0) | Err(_) => return None,
                    Ok(_) => {}
                }
            }
            self.reader.get_ref().set_read_timeout(Some(Duration::from_secs(30))).ok()?;
            let (h, body) = self.read_message().ok()?;
            if header(&h, "Content-Type") == Some("text/event-plain") {
                return Some(parse_event(&body));
            }
        }
    }

    /// Every event of `subclass` that arrives within `window`.
    pub fn drain(&mut self, subclass: &str, window: Duration) -> Vec<EslEvent> {
        let mut out = Vec::new();
        while let Some(e) = self.event(subclass, &[], window) {
            out.push(e);
        }
        out
    }

    fn read_message(&mut self) -> std::io::Result<(Vec<(String, String)>, String)> {
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line)? == 0 {
                return Err(std::io::Error::other("event socket closed"));
            }
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() {
                if headers.is_empty() {
                    continue;
                }
                break;
            }
            if let Some((k, v)) = line.split_once(": ") {
                headers.push((k.to_owned(), v.to_owned()));
            }
        }
        let len: usize = header(&headers, "Content-Length").and_then(|l| l.parse().ok()).unwrap_or(0);
        let mut body = vec![0; len];
        self.reader.read_exact(&mut body)?;
        Ok((headers, String::from_utf8_lossy(&body).into_owned()))
    }
}

fn header<'a>(h: &'a [(String, String)], name: &str) -> Option<&'a str> {
    h.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn parse_event(body: &str) -> EslEvent {
    let headers = body
        .lines()
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_owned(), url_decode(v)))
        .collect();
    EslEvent { headers }
}

fn url_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
