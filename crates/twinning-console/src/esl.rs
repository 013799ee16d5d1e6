//! A small client for FreeSWITCH's event socket (inbound mode) over tokio: `auth`,
//! `event plain ...`, and `api ...`. Each message is header lines ended by an empty line,
//! and a body of `Content-Length` bytes. Replies (`command/reply`, `api/response`) come in
//! the order the commands were sent; events (`text/event-plain`, whose body is
//! URL-encoded `Key: Value` lines) come in between.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, oneshot};

use crate::config::Secret;
use crate::fields::Fields;
use crate::ProtocolError;

pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_BODY: usize = 4 << 20;

/// A reply: its headers and body (an API command's output).
#[derive(Debug, Clone, Default)]
pub struct Reply {
    pub headers: Fields,
    pub body: String,
}

impl Reply {
    /// `Reply-Text` for a command, the body for an API command.
    pub fn text(&self) -> &str {
        self.headers.get("Reply-Text").unwrap_or(&self.body)
    }
}

#[derive(Default)]
struct Queue {
    waiters: VecDeque<oneshot::Sender<Reply>>,
    closed: bool,
}

#[derive(Clone)]
pub struct EslClient {
    writer: Arc<tokio::sync::Mutex<OwnedWriteHalf>>,
    queue: Arc<Mutex<Queue>>,
}

impl EslClient {
    /// Connects and authenticates; events subscribed to later come on the receiver.
    pub async fn connect(
        address: &str,
        password: &Secret,
    ) -> Result<(EslClient, mpsc::UnboundedReceiver<Fields>), ProtocolError> {
        let (mut reader, write) = crate::fields::connect(address, COMMAND_TIMEOUT).await?;
        let greeting = tokio::time::timeout(COMMAND_TIMEOUT, read_message(&mut reader))
            .await
            .map_err(|_| ProtocolError::Unreachable(format!("{address} sent no event socket greeting")))?
            .map_err(|e| ProtocolError::Unreachable(format!("{address}: {e}")))?;
        if !greeting.headers.is("Content-Type", "auth/request") {
            return Err(ProtocolError::Protocol(format!("{address} is not a FreeSWITCH event socket")));
        }
        let client = EslClient {
            writer: Arc::new(tokio::sync::Mutex::new(write)),
            queue: Arc::new(Mutex::new(Queue::default())),
        };
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        tokio::spawn(read_loop(reader, client.queue.clone(), events_tx));
        let reply = client.send(&format!("auth {}", password.expose())).await.map_err(|e| match e {
            // FreeSWITCH hangs up on a wrong password straight after saying so.
            ProtocolError::Closed => {
                ProtocolError::AuthFailed("the event socket refused the password".into())
            }
            other => other,
        })?;
        if !reply.text().starts_with("+OK") {
            return Err(ProtocolError::AuthFailed("the event socket refused the password".into()));
        }
        Ok((client, events_rx))
    }

    /// Sends one command line and waits for its reply.
    pub async fn send(&self, command: &str) -> Result<Reply, ProtocolError> {
        if command.contains(['\r', '\n']) {
            return Err(ProtocolError::Invalid("a command must be one line".into()));
        }
        let (tx, rx) = oneshot::channel();
        {
            let mut w = self.writer.lock().await;
            {
                let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
                if q.closed {
                    return Err(ProtocolError::Closed);
                }
                q.waiters.push_back(tx);
            }
            w.write_all(format!("{command}\n\n").as_bytes()).await.map_err(|_| ProtocolError::Closed)?;
        }
        match tokio::time::timeout(COMMAND_TIMEOUT, rx).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(_)) => Err(ProtocolError::Closed),
            // The reply may still come and would answer the next command: give up on the
            // connection instead.
            Err(_) => {
                self.close().await;
                Err(ProtocolError::Timeout(format!(
                    "no reply to '{}'",
                    command.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
                )))
            }
        }
    }

    /// `api <command>`: the command's output.
    pub async fn api(&self, command: &str) -> Result<String, ProtocolError> {
        Ok(self.send(&format!("api {command}")).await?.body)
    }

    /// `event plain CUSTOM <subclasses...>` (and any plain event names given).
    pub async fn subscribe(&self, events: &str) -> Result<(), ProtocolError> {
        let r = self.send(&format!("event plain {events}")).await?;
        if r.text().starts_with("+OK") {
            Ok(())
        } else {
            Err(ProtocolError::Protocol(format!("subscribing to events: {}", r.text())))
        }
    }

    pub async fn close(&self) {
        let _ = self.writer.lock().await.shutdown().await;
    }
}

async fn read_message(reader: &mut BufReader<OwnedReadHalf>) -> std::io::Result<Reply> {
    let mut headers = Fields::default();
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let l = line.trim_end_matches(['\r', '\n']);
        if l.is_empty() {
            if headers.is_empty() {
                continue;
            }
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push(k.trim(), v.trim_start());
        }
        if headers.0.len() > 1000 {
            return Err(std::io::ErrorKind::InvalidData.into());
        }
    }
    let length: usize = headers.get("Content-Length").and_then(|l| l.trim().parse().ok()).unwrap_or(0);
    if length > MAX_BODY {
        return Err(std::io::ErrorKind::InvalidData.into());
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).await?;
    Ok(Reply { headers, body: String::from_utf8_lossy(&body).into_owned() })
}

async fn read_loop(
    mut reader: BufReader<OwnedReadHalf>,
    queue: Arc<Mutex<Queue>>,
    events: mpsc::UnboundedSender<Fields>,
) {
    while let Ok(m) = read_message(&mut reader).await {
        let kind = m.headers.get("Content-Type").unwrap_or_default().to_ascii_lowercase();
        match kind.as_str() {
            "command/reply" | "api/response" => {
                let waiter = queue.lock().unwrap_or_else(|e| e.into_inner()).waiters.pop_front();
                if let Some(w) = waiter {
                    let _ = w.send(m);
                }
            }
            "text/event-plain" => {
                let _ = events.send(parse_plain_event(&m.body));
            }
            "text/disconnect-notice" => break,
            _ => {}
        }
    }
    let mut q = queue.lock().unwrap_or_else(|e| e.into_inner());
    q.closed = true;
    q.waiters.clear();
}

/// The headers of a plain event (URL-encoded values); a body after them is left out.
pub fn parse_plain_event(body: &str) -> Fields {
    let mut f = Fields::default();
    for line in body.lines() {
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            f.push(k.trim(), &url_decode(v.trim_start()));
        }
    }
    f
}

/// `%XX` decoded; `+` stays `+` (FreeSWITCH encodes a space as `%20`, and a `+` in a
/// number must not become a space).
pub fn url_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    #[test]
    fn plain_events_are_url_decoded() {
        let f = parse_plain_event(
            "Event-Name: CUSTOM\nEvent-Subclass: twinning%3A%3Aleg\nUser: 1001\nDestination: sofia%2Fgateway%2Fx%2F077%20\nBad: 100%\n\nContent-Length: 3\n\nabc",
        );
        assert_eq!(f.get("event-subclass"), Some("twinning::leg"));
        assert_eq!(f.get("Destination"), Some("sofia/gateway/x/077 "));
        assert_eq!(f.get("Bad"), Some("100%"));
        assert_eq!(f.get("Content-Length"), None);
    }

    /// A fake FreeSWITCH: a password of "right", `api` echoing its command, an event sent
    /// before each reply.
    async fn fake() -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            let (r, mut w) = s.into_split();
            let mut r = BufReader::new(r);
            w.write_all(b"Content-Type: auth/request\n\n").await.unwrap();
            let mut line = String::new();
            loop {
                line.clear();
                if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return;
                }
                let cmd = line.trim().to_owned();
                if cmd.is_empty() {
                    continue;
                }
                let reply = if let Some(p) = cmd.strip_prefix("auth ") {
                    if p == "right" {
                        "Content-Type: command/reply\nReply-Text: +OK accepted\n\n".to_string()
                    } else {
                        "Content-Type: command/reply\nReply-Text: -ERR invalid\n\nContent-Type: text/disconnect-notice\nContent-Length: 0\n\n".to_string()
                    }
                } else if let Some(api) = cmd.strip_prefix("api ") {
                    let event = "Event-Name: CUSTOM\nEvent-Subclass: twinning%3A%3Astart\nUser: 1001\n\n";
                    format!(
                        "Content-Type: text/event-plain\nContent-Length: {}\n\n{event}Content-Type: api/response\nContent-Length: {}\n\n{api}\n",
                        event.len(),
                        api.len() + 1
                    )
                } else {
                    "Content-Type: command/reply\nReply-Text: +OK event listener enabled plain\n\n"
                        .to_string()
                };
                if w.write_all(reply.as_bytes()).await.is_err() {
                    return;
                }
            }
        });
        addr
    }

    #[tokio::test]
    async fn authenticates_subscribes_and_runs_api_commands() {
        let addr = fake().await;
        let (c, mut events) = EslClient::connect(&addr, &Secret::new("right")).await.unwrap();
        c.subscribe("CUSTOM twinning::start").await.unwrap();
        assert_eq!(c.api("twinning status").await.unwrap(), "twinning status\n");
        let (a, b) = tokio::join!(c.api("one"), c.api("two"));
        assert_eq!((a.unwrap(), b.unwrap()), ("one\n".into(), "two\n".into()), "replies in order");
        assert_eq!(events.recv().await.unwrap().get("Event-Subclass"), Some("twinning::start"));
        assert!(matches!(c.api("x\nexit").await, Err(ProtocolError::Invalid(_))));
    }

    #[tokio::test]
    async fn a_wrong_password_is_an_authentication_failure() {
        let addr = fake().await;
        let e = EslClient::connect(&addr, &Secret::new("wrong")).await.err().unwrap();
        assert!(matches!(e, ProtocolError::AuthFailed(_)), "{e:?}");
    }
}
