//! A fake Asterisk for unit tests: AMI with the twinning actions over a small table of
//! users, refusing a `mobile` that starts 09 as the module's policy would, and recording
//! every action it receives. The real module is tested in `tests/tests/console*.rs`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use crate::fields::Fields;

#[derive(Default)]
pub struct FakeState {
    pub users: BTreeMap<String, BTreeMap<String, String>>,
    pub actions: Vec<Fields>,
}

pub struct FakeAmi {
    pub address: String,
    pub state: Arc<Mutex<FakeState>>,
}

impl FakeAmi {
    pub async fn start() -> FakeAmi {
        FakeAmi::start_on("127.0.0.1:0").await
    }

    pub async fn start_on(address: &str) -> FakeAmi {
        let listener = TcpListener::bind(address).await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let state = Arc::new(Mutex::new(FakeState::default()));
        state.lock().unwrap().users.insert(
            "1001".into(),
            BTreeMap::from([("Mobile".into(), "07700900123".into()), ("Dnd".into(), "no".into())]),
        );
        let s = state.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                tokio::spawn(session(stream, s.clone()));
            }
        });
        FakeAmi { address, state }
    }
}

async fn session(stream: tokio::net::TcpStream, state: Arc<Mutex<FakeState>>) {
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    if w.write_all(b"Asterisk Call Manager/9.0.0\r\n").await.is_err() {
        return;
    }
    let mut f = Fields::default();
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let l = line.trim_end();
        if !l.is_empty() {
            if let Some((k, v)) = l.split_once(':') {
                f.push(k.trim(), v.trim_start());
            }
            continue;
        }
        if f.is_empty() {
            continue;
        }
        let action = std::mem::take(&mut f);
        let reply = answer(&action, &state);
        state.lock().unwrap().actions.push(action);
        if w.write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}

fn answer(f: &Fields, state: &Mutex<FakeState>) -> String {
    let id = f.text("ActionID");
    let ok = |m: &str| format!("Response: Success\r\nActionID: {id}\r\nMessage: {m}\r\n\r\n");
    let err = |m: &str| format!("Response: Error\r\nActionID: {id}\r\nMessage: {m}\r\n\r\n");
    let mut st = state.lock().unwrap();
    match f.get("Action").unwrap_or_default() {
        "Login" if f.get("Secret") == Some("right") => ok("Authentication accepted"),
        "Login" => err("Authentication failed"),
        "Ping" => ok("Pong"),
        "TwinningStatus" => {
            let wanted = f.text("User");
            if !wanted.is_empty() && !st.users.contains_key(&wanted) {
                return err(&format!("unknown twinning user '{wanted}'"));
            }
            let mut out = format!("Response: Success\r\nActionID: {id}\r\nEventList: start\r\nMessage: Twinning users will follow\r\n\r\n");
            for (u, fields) in st.users.iter().filter(|(u, _)| wanted.is_empty() || **u == wanted) {
                out.push_str(&format!("Event: TwinningUser\r\nActionID: {id}\r\nUser: {u}\r\n"));
                for (k, v) in fields {
                    out.push_str(&format!("{k}: {v}\r\n"));
                }
                out.push_str("\r\n");
            }
            out.push_str(&format!("Event: TwinningStatusComplete\r\nActionID: {id}\r\nEventList: Complete\r\nListItems: {}\r\n\r\n", st.users.len()));
            out
        }
        "TwinningSet" => {
            let (user, field, value) = (f.text("User"), f.text("Field"), f.text("Value"));
            let Some(u) = st.users.get_mut(&user) else {
                return err(&format!("unknown twinning user '{user}'"));
            };
            if field == "mobile" && value.starts_with("09") {
                return err("mobile: '09' is a blocked prefix");
            }
            let header: String = field
                .split('_')
                .map(|w| w[..1].to_uppercase() + &w[1..])
                .collect();
            u.insert(header, value.clone());
            let source = f.text("Source");
            let event = format!(
                "Event: TwinningSettingsChanged\r\nPrivilege: config,all\r\nUser: {user}\r\nField: {field}\r\nValue: {value}\r\nOldValue: \r\nSource: {source}\r\nChannel: \r\nNode: \r\n\r\n"
            );
            format!("{}{event}", ok(&format!("{user}.{field} set to '{value}'")))
        }
        "TwinningCalls" => format!("Response: Success\r\nActionID: {id}\r\nEventList: start\r\n\r\nEvent: TwinningCallsComplete\r\nActionID: {id}\r\nEventList: Complete\r\nListItems: 0\r\n\r\n"),
        "TwinningStore" => format!("Response: Success\r\nActionID: {id}\r\nBackend: file\r\nState: local (always available)\r\n\r\n"),
        "TwinningMetrics" => format!(
            "Response: Success\r\nActionID: {id}\r\nEventList: start\r\n\r\n\
             Event: TwinningMetric\r\nActionID: {id}\r\nName: twinning_calls_total\r\nType: counter\r\nHelp: Twinned calls by final status.\r\nLabels: status=\"ANSWERED\"\r\nValue: 2\r\n\r\n\
             Event: TwinningMetricsComplete\r\nActionID: {id}\r\nEventList: Complete\r\n\r\n"
        ),
        "TwinningCheckPin" if f.get("Pin") == Some("1234") => format!("Response: Success\r\nActionID: {id}\r\nResult: OK\r\n\r\n"),
        "TwinningCheckPin" => format!("Response: Success\r\nActionID: {id}\r\nResult: WRONG\r\n\r\n"),
        _ => err("Invalid/unknown command"),
    }
}
