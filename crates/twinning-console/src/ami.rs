//! A small AMI client over tokio: the banner, `Login`, actions matched to their responses
//! by `ActionID`, event lists collected up to their `...Complete` event, and every other
//! event handed on. AMI is a line protocol: each message is `Key: Value` lines ended by
//! an empty line.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::{mpsc, oneshot};

use crate::config::Secret;
use crate::fields::Fields;
use crate::ProtocolError;

/// How long an action may wait for its response (and a list for its last event).
pub const ACTION_TIMEOUT: Duration = Duration::from_secs(10);
/// The event classes the module's events are in (its lamps' `DeviceStateChange` is
/// `call`'s). Leaving out the rest (`dialplan`'s `Newexten` and `VarSet` above all, a few
/// dozen per call) spares Asterisk writing them to the console and the console reading them.
const EVENT_CLASSES: &str = "call,config,reporting,security,system";
/// Of those, the only events the console reads: the module's, and its lamps' device states
/// (`Twinning:<user>`, `TwinningCall:<user>`). A regular expression over the whole event,
/// the form every Asterisk since 10 takes. Replies to actions, lists included, are not
/// events and are never filtered.
const EVENT_FILTER: &str = "Event: Twinning|Device: Twinning";
/// A message longer than this is not AMI: the connection is dropped.
const MAX_MESSAGE: usize = 1 << 20;

enum Waiter {
    Single(oneshot::Sender<Fields>),
    List {
        response: Option<Fields>,
        events: Vec<Fields>,
        done: Option<oneshot::Sender<(Fields, Vec<Fields>)>>,
    },
}

#[derive(Default)]
struct Pending {
    waiters: HashMap<String, Waiter>,
    closed: bool,
}

/// One logged-in AMI connection. Clones share it.
#[derive(Clone)]
pub struct AmiClient {
    writer: Arc<tokio::sync::Mutex<OwnedWriteHalf>>,
    pending: Arc<Mutex<Pending>>,
    next_id: Arc<AtomicU64>,
}

impl AmiClient {
    /// Connects, reads the banner and logs in; events come on the receiver until the
    /// connection closes (then the receiver ends).
    pub async fn connect(
        address: &str,
        username: &str,
        secret: &Secret,
    ) -> Result<(AmiClient, mpsc::UnboundedReceiver<Fields>), ProtocolError> {
        let (mut reader, write) = crate::fields::connect(address, ACTION_TIMEOUT).await?;
        let mut banner = String::new();
        tokio::time::timeout(ACTION_TIMEOUT, reader.read_line(&mut banner))
            .await
            .map_err(|_| ProtocolError::Unreachable(format!("{address} sent no AMI banner")))?
            .map_err(|e| ProtocolError::Unreachable(format!("{address}: {e}")))?;
        if !banner.starts_with("Asterisk Call Manager") {
            return Err(ProtocolError::Protocol(format!(
                "{address} is not AMI (it greeted with {:?})",
                banner.trim_end().chars().take(60).collect::<String>()
            )));
        }
        let client = AmiClient {
            writer: Arc::new(tokio::sync::Mutex::new(write)),
            pending: Arc::new(Mutex::new(Pending::default())),
            next_id: Arc::new(AtomicU64::new(1)),
        };
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let pending = client.pending.clone();
        tokio::spawn(read_loop(reader, pending, events_tx));
        let r = client
            .action(
                "Login",
                &[("Username", username), ("Secret", secret.expose()), ("Events", EVENT_CLASSES)],
            )
            .await?;
        if !r.is("Response", "Success") {
            // Asterisk says "Authentication failed" whatever was wrong; so does this.
            return Err(ProtocolError::AuthFailed(format!(
                "AMI login as '{username}' refused: {}",
                r.get("Message").unwrap_or("no reason given")
            )));
        }
        let r = client.action("Filter", &[("Operation", "Add"), ("Filter", EVENT_FILTER)]).await?;
        if !r.is("Response", "Success") {
            // Only a cost: the events the console does not read are then sent and dropped.
            log::warn!(
                "AMI at {address} refused the event filter ({}); every event of the node will be read",
                r.get("Message").unwrap_or("no reason given")
            );
        }
        Ok((client, events_rx))
    }

    fn register(&self, waiter: Waiter) -> Result<String, ProtocolError> {
        let id = format!("twinctl-{}", self.next_id.fetch_add(1, Ordering::Relaxed));
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if p.closed {
            return Err(ProtocolError::Closed);
        }
        p.waiters.insert(id.clone(), waiter);
        Ok(id)
    }

    fn forget(&self, id: &str) {
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).waiters.remove(id);
    }

    async fn send(&self, action: &str, id: &str, headers: &[(&str, &str)]) -> Result<(), ProtocolError> {
        let mut text = format!("Action: {action}\r\nActionID: {id}\r\n");
        for (k, v) in headers {
            // A line break in a value would end the action early and start another one
            // of the caller's choosing: refused, never sent.
            if v.contains(['\r', '\n']) || k.contains(['\r', '\n', ':']) {
                return Err(ProtocolError::Invalid(format!("{k} must be one line")));
            }
            text.push_str(&format!("{k}: {v}\r\n"));
        }
        text.push_str("\r\n");
        let mut w = self.writer.lock().await;
        w.write_all(text.as_bytes()).await.map_err(|_| ProtocolError::Closed)
    }

    /// Sends an action; its response.
    pub async fn action(&self, action: &str, headers: &[(&str, &str)]) -> Result<Fields, ProtocolError> {
        let (tx, rx) = oneshot::channel();
        let id = self.register(Waiter::Single(tx))?;
        self.exchange(action, headers, &id, rx, "no response to").await
    }

    /// Sends `action` under `id` (registered already) and waits for what the reader hands
    /// `rx`; on any failure the waiter is forgotten. `late` says what a timeout missed.
    async fn exchange<T>(
        &self,
        action: &str,
        headers: &[(&str, &str)],
        id: &str,
        rx: oneshot::Receiver<T>,
        late: &str,
    ) -> Result<T, ProtocolError> {
        if let Err(e) = self.send(action, id, headers).await {
            self.forget(id);
            return Err(e);
        }
        match tokio::time::timeout(ACTION_TIMEOUT, rx).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(_)) => Err(ProtocolError::Closed),
            Err(_) => {
                self.forget(id);
                Err(ProtocolError::Timeout(format!("{late} {action}")))
            }
        }
    }

    /// Sends a list action: its response and, if it succeeded, the events up to the one
    /// that completes the list (`EventList: Complete`, or an event named `...Complete`),
    /// which is left out.
    pub async fn list(
        &self,
        action: &str,
        headers: &[(&str, &str)],
    ) -> Result<(Fields, Vec<Fields>), ProtocolError> {
        let (tx, rx) = oneshot::channel();
        let id = self.register(Waiter::List { response: None, events: Vec::new(), done: Some(tx) })?;
        self.exchange(action, headers, &id, rx, "no complete list for").await
    }

    /// Logs off and closes (best effort).
    pub async fn close(&self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.action("Logoff", &[])).await;
        let _ = self.writer.lock().await.shutdown().await;
    }
}

async fn read_loop(
    mut reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
    pending: Arc<Mutex<Pending>>,
    events: mpsc::UnboundedSender<Fields>,
) {
    let mut message = Fields::default();
    let mut size = 0usize;
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => break,
            Ok(n) => size += n,
        }
        if size > MAX_MESSAGE {
            log::warn!("an AMI message over {MAX_MESSAGE} bytes: dropping the connection");
            break;
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\r', '\n']);
        if text.is_empty() {
            if !message.is_empty() {
                dispatch(std::mem::take(&mut message), &pending, &events);
            }
            size = 0;
            continue;
        }
        if let Some((k, v)) = text.split_once(':') {
            message.push(k.trim(), v.strip_prefix(' ').unwrap_or(v));
        }
    }
    let mut p = pending.lock().unwrap_or_else(|e| e.into_inner());
    p.closed = true;
    // Dropping the senders wakes every waiter with "closed".
    p.waiters.clear();
}

fn dispatch(message: Fields, pending: &Mutex<Pending>, events: &mpsc::UnboundedSender<Fields>) {
    let id = message.get("ActionID").map(str::to_owned);
    let Some(id) = id else {
        let _ = events.send(message);
        return;
    };
    let mut p = pending.lock().unwrap_or_else(|e| e.into_inner());
    let is_response = message.get("Response").is_some();
    match p.waiters.remove(&id) {
        Some(Waiter::Single(tx)) if is_response => {
            let _ = tx.send(message);
        }
        Some(Waiter::List { response: None, events: list, done }) if is_response => {
            let failed = !message.is("Response", "Success");
            // A list that failed, or a plain answer to a list action, has no events.
            if failed || message.get("EventList").is_none_or(|e| !e.eq_ignore_ascii_case("start")) {
                if let Some(done) = done {
                    let _ = done.send((message, list));
                }
            } else {
                p.waiters.insert(id, Waiter::List { response: Some(message), events: list, done });
            }
        }
        Some(Waiter::List { response: Some(response), mut events, done }) if !is_response => {
            let complete = message.is("EventList", "Complete")
                || message.get("Event").is_some_and(|e| e.ends_with("Complete"));
            if complete {
                if let Some(done) = done {
                    let _ = done.send((response, events));
                }
            } else {
                events.push(message);
                p.waiters.insert(id, Waiter::List { response: Some(response), events, done });
            }
        }
        Some(other) => {
            // Not what this waiter waits for (an event for a single action): keep waiting.
            p.waiters.insert(id, other);
            drop(p);
            if message.get("Event").is_some() {
                let _ = events.send(message);
            }
        }
        None => {
            drop(p);
            if message.get("Event").is_some() {
                let _ = events.send(message);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;

    /// A fake Asterisk: greets, then answers each action by `answer`.
    async fn fake(answer: fn(&Fields) -> String) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            s.write_all(b"Asterisk Call Manager/9.0.0\r\n").await.unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            loop {
                let n = s.read(&mut chunk).await.unwrap_or(0);
                if n == 0 {
                    return;
                }
                buf.extend_from_slice(&chunk[..n]);
                while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    let block: Vec<u8> = buf.drain(..end + 4).collect();
                    let mut f = Fields::default();
                    for l in String::from_utf8_lossy(&block).lines() {
                        if let Some((k, v)) = l.split_once(": ") {
                            f.push(k, v);
                        }
                    }
                    let reply = answer(&f);
                    s.write_all(reply.as_bytes()).await.unwrap();
                }
            }
        });
        addr
    }

    fn answer(f: &Fields) -> String {
        let id = f.get("ActionID").unwrap_or_default();
        match f.get("Action").unwrap_or_default() {
            "Login" if f.get("Secret") == Some("right") => {
                format!("Response: Success\r\nActionID: {id}\r\nMessage: Authentication accepted\r\n\r\nEvent: FullyBooted\r\nPrivilege: system,all\r\n\r\n")
            }
            "Login" => format!("Response: Error\r\nActionID: {id}\r\nMessage: Authentication failed\r\n\r\n"),
            "TwinningStatus" => format!(
                "Response: Success\r\nActionID: {id}\r\nEventList: start\r\nMessage: Twinning users will follow\r\n\r\n\
                 Event: TwinningStart\r\nUser: 1001\r\nUniqueid: 1.1\r\n\r\n\
                 Event: TwinningUser\r\nActionID: {id}\r\nUser: 1001\r\nMobile: 07700900123\r\n\r\n\
                 Event: TwinningUser\r\nActionID: {id}\r\nUser: 1002\r\nMobile:\r\n\r\n\
                 Event: TwinningStatusComplete\r\nActionID: {id}\r\nEventList: Complete\r\nListItems: 2\r\n\r\n"
            ),
            "TwinningSet" => format!("Response: Error\r\nActionID: {id}\r\nMessage: mobile: 09 numbers are blocked\r\n\r\n"),
            _ => format!("Response: Error\r\nActionID: {id}\r\nMessage: Invalid/unknown command\r\n\r\n"),
        }
    }

    #[tokio::test]
    async fn logs_in_runs_actions_and_lists_and_passes_events_on() {
        let addr = fake(answer).await;
        let (c, mut events) = AmiClient::connect(&addr, "u", &Secret::new("right")).await.unwrap();
        assert!(events.recv().await.unwrap().is("Event", "FullyBooted"));
        let (r, users) = c.list("TwinningStatus", &[]).await.unwrap();
        assert!(r.is("Response", "Success"));
        assert_eq!(users.len(), 2);
        assert_eq!(users[1].get("Mobile"), Some(""));
        let e = events.recv().await.unwrap();
        assert!(e.is("Event", "TwinningStart"), "an event amid a list is an event: {e:?}");
        let r = c.action("TwinningSet", &[("User", "1001")]).await.unwrap();
        assert_eq!(r.get("Message"), Some("mobile: 09 numbers are blocked"));
        let (r, none) = c.list("Nonsense", &[]).await.unwrap();
        assert!(r.is("Response", "Error") && none.is_empty());
        let e = c.action("TwinningSet", &[("Value", "x\r\nAction: Originate")]).await.unwrap_err();
        assert!(matches!(e, ProtocolError::Invalid(_)), "{e:?}");
    }

    #[tokio::test]
    async fn a_wrong_secret_is_an_authentication_failure() {
        let addr = fake(answer).await;
        let e = AmiClient::connect(&addr, "u", &Secret::new("wrong")).await.err().unwrap();
        assert!(matches!(e, ProtocolError::AuthFailed(_)), "{e:?}");
        assert!(!e.to_string().contains("wrong"), "{e}");
    }

    #[tokio::test]
    async fn nothing_listening_is_unreachable() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        drop(listener);
        let e = AmiClient::connect(&addr, "u", &Secret::new("x")).await.err().unwrap();
        assert!(matches!(e, ProtocolError::Unreachable(_)), "{e:?}");
    }
}
