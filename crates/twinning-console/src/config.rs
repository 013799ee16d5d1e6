//! `twinctl.toml`: the nodes, the HTTP server, the admin accounts and the API tokens.
//!
//! Every error names the node (or section) it is about and never shows a secret: TOML's
//! own messages quote the offending line, so they are reduced to the line number and the
//! reason here.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// A password or secret: shown as `****` by `Debug` and `Display`, so no log line, error
/// or panic can print it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    /// The secret itself, for the one place that sends it (a login).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("****")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("****")
    }
}

/// Which PBX a node is, and so which protocol reaches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Pbx {
    /// Asterisk, over AMI.
    Asterisk,
    /// FreeSWITCH, over the event socket (ESL).
    Freeswitch,
}

impl Pbx {
    pub fn name(self) -> &'static str {
        match self {
            Pbx::Asterisk => "asterisk",
            Pbx::Freeswitch => "freeswitch",
        }
    }
}

impl fmt::Display for Pbx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub name: String,
    pub kind: Pbx,
    /// `host:port` (AMI is usually 5038, ESL 8021).
    pub address: String,
    /// The AMI account (Asterisk only; ESL has a password alone).
    pub username: String,
    pub secret: Secret,
}

#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub bind: SocketAddr,
    /// PEM certificate chain and key (relative paths are the configuration file's): with
    /// both, `twinctl serve` speaks HTTPS only.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Authentication attempts one address may make per minute (a burst of as many).
    pub auth_attempts_per_minute: u32,
    /// How long a login session lasts.
    pub session_minutes: u64,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            tls: None,
            auth_attempts_per_minute: 10,
            session_minutes: 12 * 60,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Admin {
    pub login: String,
    /// An argon2 PHC string (`twinctl hash-password`).
    pub password_hash: String,
}

/// An API token, known only by its hash.
#[derive(Debug, Clone)]
pub struct Token {
    pub name: String,
    pub hash: TokenHash,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenHash {
    /// SHA-256 of the token, 64 hex digits.
    Sha256([u8; 32]),
    /// An argon2 PHC string.
    Argon2(String),
}

#[derive(Debug, Clone)]
pub struct Config {
    pub nodes: Vec<NodeConfig>,
    pub serve: ServeConfig,
    pub admins: Vec<Admin>,
    pub tokens: Vec<Token>,
    /// `[store] dsn`: the nodes' shared PostgreSQL store, read for the audit trail (its
    /// `twinning_audit` table). It may hold a password, so it is a secret.
    pub store_dsn: Option<Secret>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    node: Vec<RawNode>,
    #[serde(default)]
    serve: Option<RawServe>,
    #[serde(default)]
    admin: Vec<RawAdmin>,
    #[serde(default)]
    token: Vec<RawToken>,
    #[serde(default)]
    store: Option<RawStore>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    dsn: Option<String>,
    dsn_file: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNode {
    name: Option<String>,
    kind: Option<String>,
    address: Option<String>,
    username: Option<String>,
    secret: Option<String>,
    password: Option<String>,
    secret_file: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServe {
    bind: Option<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    auth_attempts_per_minute: Option<u32>,
    session_minutes: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAdmin {
    login: String,
    password_hash: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawToken {
    name: String,
    sha256: Option<String>,
    argon2: Option<String>,
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("cannot read the configuration {}: {e}", path.display())))?;
        Config::parse(&text, path.parent().unwrap_or(Path::new(".")))
            .map_err(|e| ConfigError(format!("{}: {e}", path.display())))
    }

    /// Parses the text of a configuration; `dir` is where relative `secret_file`s are.
    pub fn parse(text: &str, dir: &Path) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| toml_error(text, &e))?;
        let mut nodes = Vec::new();
        for (i, n) in raw.node.into_iter().enumerate() {
            let node = node(i, n, dir)?;
            if nodes.iter().any(|m: &NodeConfig| m.name == node.name) {
                return Err(ConfigError(format!("node '{}' is defined twice", node.name)));
            }
            nodes.push(node);
        }
        if nodes.is_empty() {
            return Err(ConfigError("no [[node]] is configured".into()));
        }
        let serve = match raw.serve {
            None => ServeConfig::default(),
            Some(s) => serve(s, dir)?,
        };
        let mut admins = Vec::new();
        for a in raw.admin {
            if a.login.is_empty() || !a.login.chars().all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c))
            {
                return Err(ConfigError(format!(
                    "admin '{}': a login is letters, digits and . _ - @",
                    a.login.escape_debug()
                )));
            }
            if password_hash::PasswordHash::new(&a.password_hash).is_err() {
                return Err(ConfigError(format!(
                    "admin '{}': password_hash is not an argon2 hash (make one with `twinctl hash-password`)",
                    a.login
                )));
            }
            admins.push(Admin { login: a.login, password_hash: a.password_hash });
        }
        let mut tokens = Vec::new();
        for t in raw.token {
            let hash = match (t.sha256, t.argon2) {
                (Some(hex), None) => TokenHash::Sha256(parse_sha256(&hex).ok_or_else(|| {
                    ConfigError(format!("token '{}': sha256 must be 64 hex digits", t.name))
                })?),
                (None, Some(phc)) if password_hash::PasswordHash::new(&phc).is_ok() => TokenHash::Argon2(phc),
                (None, Some(_)) => {
                    return Err(ConfigError(format!("token '{}': argon2 is not an argon2 hash", t.name)))
                }
                _ => {
                    return Err(ConfigError(format!(
                        "token '{}': give exactly one of sha256 or argon2 (make a token with `twinctl hash-password --token`)",
                        t.name
                    )))
                }
            };
            tokens.push(Token { name: t.name, hash });
        }
        let store_dsn = match raw.store {
            None => None,
            Some(RawStore { dsn: Some(d), dsn_file: None }) => Some(d),
            Some(RawStore { dsn: None, dsn_file: Some(file) }) => {
                let file = dir.join(file);
                Some(
                    std::fs::read_to_string(&file)
                        .map_err(|e| {
                            ConfigError(format!("[store]: cannot read dsn_file {}: {e}", file.display()))
                        })?
                        .trim_end_matches(['\r', '\n'])
                        .to_owned(),
                )
            }
            Some(_) => return Err(ConfigError("[store]: give dsn or dsn_file, one of them".into())),
        };
        if store_dsn.as_ref().is_some_and(|d| d.trim().is_empty() || d.contains(['\r', '\n'])) {
            return Err(ConfigError("[store]: the dsn is empty or spans lines".into()));
        }
        Ok(Config { nodes, serve, admins, tokens, store_dsn: store_dsn.map(Secret::new) })
    }

    pub fn node(&self, name: &str) -> Option<&NodeConfig> {
        self.nodes.iter().find(|n| n.name == name)
    }
}

fn node(index: usize, n: RawNode, dir: &Path) -> Result<NodeConfig, ConfigError> {
    let name = n
        .name
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| ConfigError(format!("node #{} has no name", index + 1)))?;
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) {
        return Err(ConfigError(format!(
            "node '{}': a name is letters, digits and . _ -",
            name.escape_debug()
        )));
    }
    let err = |m: String| ConfigError(format!("node '{name}': {m}"));
    let kind = match n.kind.as_deref() {
        Some("asterisk") => Pbx::Asterisk,
        Some("freeswitch") => Pbx::Freeswitch,
        Some(other) => {
            return Err(err(format!("unknown kind '{}' (asterisk or freeswitch)", other.escape_debug())))
        }
        None => return Err(err("no kind (asterisk or freeswitch)".into())),
    };
    let address = n.address.ok_or_else(|| err("no address (host:port)".into()))?;
    match address.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0) => {}
        _ => return Err(err(format!("address '{}' is not host:port", address.escape_debug()))),
    }
    let secret = match (n.secret.or(n.password), n.secret_file) {
        (Some(s), None) => s,
        (None, Some(file)) => {
            let file = dir.join(file);
            std::fs::read_to_string(&file)
                .map_err(|e| err(format!("cannot read secret_file {}: {e}", file.display())))?
                .trim_end_matches(['\r', '\n'])
                .to_owned()
        }
        (Some(_), Some(_)) => return Err(err("give secret (or password) or secret_file, not both".into())),
        (None, None) => return Err(err("no secret (or password, or secret_file)".into())),
    };
    if secret.is_empty() || secret.contains(['\r', '\n']) {
        return Err(err("the secret is empty or spans lines".into()));
    }
    let username = n.username.unwrap_or_default();
    if kind == Pbx::Asterisk && username.is_empty() {
        return Err(err("an asterisk node needs the AMI username".into()));
    }
    if username.contains(['\r', '\n']) {
        return Err(err("the username spans lines".into()));
    }
    Ok(NodeConfig { name, kind, address, username, secret: Secret(secret) })
}

fn serve(s: RawServe, dir: &Path) -> Result<ServeConfig, ConfigError> {
    let mut out = ServeConfig::default();
    if let Some(bind) = s.bind {
        out.bind = bind.parse().map_err(|_| {
            ConfigError(format!("[serve] bind '{}' is not an address:port", bind.escape_debug()))
        })?;
    }
    out.tls = match (s.tls_cert, s.tls_key) {
        // Relative to the configuration file, as secret files are.
        (Some(c), Some(k)) => Some((dir.join(c), dir.join(k))),
        (None, None) => None,
        _ => return Err(ConfigError("[serve] give both tls_cert and tls_key, or neither".into())),
    };
    if let Some(n) = s.auth_attempts_per_minute {
        if n == 0 {
            return Err(ConfigError("[serve] auth_attempts_per_minute must be at least 1".into()));
        }
        out.auth_attempts_per_minute = n;
    }
    if let Some(m) = s.session_minutes {
        if m == 0 {
            return Err(ConfigError("[serve] session_minutes must be at least 1".into()));
        }
        out.session_minutes = m;
    }
    Ok(out)
}

pub fn parse_sha256(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.trim();
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}

/// TOML's message without its quotation of the line (which may hold a secret), with the
/// line number and the node the line belongs to.
fn toml_error(text: &str, e: &toml::de::Error) -> ConfigError {
    let message = e.message().lines().next().unwrap_or("invalid TOML").to_owned();
    let Some(span) = e.span() else {
        return ConfigError(message);
    };
    let before = &text[..span.start.min(text.len())];
    let line = before.matches('\n').count() + 1;
    match enclosing_node(before) {
        Some(node) => ConfigError(format!("line {line} (node '{node}'): {message}")),
        None => ConfigError(format!("line {line}: {message}")),
    }
}

/// The name of the `[[node]]` table that `before` ends inside, if any.
fn enclosing_node(before: &str) -> Option<String> {
    let at = before.rfind("[[node]]")?;
    let after_header = &before[at..];
    if after_header.lines().skip(1).any(|l| l.trim_start().starts_with('[')) {
        return None;
    }
    // Only what comes before the error is looked at: a name below it is not found, and
    // the error gives the line alone.
    after_header.lines().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        (k.trim() == "name").then(|| v.trim().trim_matches(['"', '\'']).to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("/nonexistent"))
    }

    #[test]
    fn the_store_dsn_is_a_secret_and_one_of_two_keys() {
        let node = "[[node]]\nname='a'\nkind='asterisk'\naddress='h:1'\nusername='u'\nsecret='s'\n";
        assert_eq!(parse(node).unwrap().store_dsn, None);
        let c = parse(&format!("{node}[store]\ndsn='postgresql://t:pw@db/site'\n")).unwrap();
        assert_eq!(c.store_dsn.as_ref().map(Secret::expose), Some("postgresql://t:pw@db/site"));
        assert!(!format!("{c:?}").contains("pw@"), "never shown: {c:?}");
        for bad in
            ["[store]\n", "[store]\ndsn=''\n", "[store]\ndsn='a'\ndsn_file='b'\n", "[store]\nurl='x'\n"]
        {
            assert!(parse(&format!("{node}{bad}")).is_err(), "{bad}");
        }
        let e = parse(&format!("{node}[store]\ndsn_file='missing'\n")).unwrap_err();
        assert!(e.0.contains("cannot read dsn_file"), "{e}");
    }

    #[test]
    fn a_full_configuration() {
        let hash = crate::auth::hash_password("pw");
        let text = format!(
            r#"
[[node]]
name = "pbx1"
kind = "asterisk"
address = "127.0.0.1:5038"
username = "twinctl"
secret = "s3cret"

[[node]]
name = "fs1"
kind = "freeswitch"
address = "fs.example:8021"
password = "ClueCon"

[serve]
bind = "0.0.0.0:8443"
tls_cert = "/etc/twinctl/cert.pem"
tls_key = "/etc/twinctl/key.pem"
auth_attempts_per_minute = 5

[[admin]]
login = "alice"
password_hash = "{hash}"

[[token]]
name = "prometheus"
sha256 = "{}"
"#,
            "ab".repeat(32)
        );
        let c = parse(&text).unwrap();
        assert_eq!(c.nodes.len(), 2);
        assert_eq!((c.nodes[0].kind, c.nodes[1].kind), (Pbx::Asterisk, Pbx::Freeswitch));
        assert_eq!(c.nodes[1].secret.expose(), "ClueCon");
        assert_eq!(c.serve.bind.to_string(), "0.0.0.0:8443");
        assert!(c.serve.tls.is_some());
        assert_eq!(c.serve.auth_attempts_per_minute, 5);
        assert_eq!(c.admins[0].login, "alice");
        assert_eq!(c.tokens[0].hash, TokenHash::Sha256([0xab; 32]));
        assert!(!format!("{c:?}").contains("s3cret"), "Debug shows no secret");
    }

    #[test]
    fn serve_defaults_to_loopback() {
        let c = parse("[[node]]\nname='a'\nkind='freeswitch'\naddress='h:8021'\npassword='p'\n").unwrap();
        assert_eq!(c.serve.bind.to_string(), "127.0.0.1:8080");
        assert!(c.serve.tls.is_none());
    }

    #[test]
    fn errors_name_the_node_and_never_the_secret() {
        let cases = [
            ("[[node]]\nname='pbx9'\nkind='asterix'\naddress='h:1'\nusername='u'\nsecret='TOPSECRET'\n", "node 'pbx9': unknown kind 'asterix'"),
            ("[[node]]\nname='pbx9'\nkind='asterisk'\naddress='h'\nusername='u'\nsecret='TOPSECRET'\n", "node 'pbx9': address 'h' is not host:port"),
            ("[[node]]\nname='pbx9'\nkind='asterisk'\naddress='h:1'\nsecret='TOPSECRET'\n", "node 'pbx9': an asterisk node needs the AMI username"),
            ("[[node]]\nname='pbx9'\nkind='freeswitch'\naddress='h:1'\n", "node 'pbx9': no secret"),
            ("[[node]]\nname='pbx9'\nkind='freeswitch'\naddress='h:1'\nsecret = \"TOPSECRET\n", "line 5 (node 'pbx9')"),
            ("[[node]]\nname='pbx9'\nkind='freeswitch'\naddress='h:1'\nsecret='TOPSECRET'\nport=1\n", "line 6 (node 'pbx9'): unknown field `port`"),
            ("[[node]]\nname='a'\nkind='freeswitch'\naddress='h:1'\nsecret='TOPSECRET'\n[[node]]\nname='a'\nkind='freeswitch'\naddress='h:1'\nsecret='x'\n", "node 'a' is defined twice"),
            ("", "no [[node]]"),
            ("[[node]]\nname='a'\nkind='freeswitch'\naddress='h:1'\nsecret='TOPSECRET'\n[serve]\nbind='localhost'\n", "[serve] bind 'localhost'"),
            ("[[node]]\nname='a'\nkind='freeswitch'\naddress='h:1'\nsecret='TOPSECRET'\n[[admin]]\nlogin='bob'\npassword_hash='TOPSECRET'\n", "admin 'bob': password_hash is not an argon2 hash"),
            ("[[node]]\nname='a'\nkind='freeswitch'\naddress='h:1'\nsecret='TOPSECRET'\n[[token]]\nname='t'\nsha256='TOPSECRET'\n", "token 't': sha256 must be 64 hex digits"),
        ];
        for (text, expected) in cases {
            let e = parse(text).expect_err(text).0;
            assert!(e.contains(expected), "{text:?}: {e:?} lacks {expected:?}");
            assert!(!e.contains("TOPSECRET"), "the error shows the secret: {e}");
        }
    }

    #[test]
    fn secret_files_are_read_relative_to_the_config() {
        let dir = std::env::temp_dir().join(format!("twinctl-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("pbx.secret"), "from-file\n").unwrap();
        let c = Config::parse(
            "[[node]]\nname='a'\nkind='asterisk'\naddress='h:1'\nusername='u'\nsecret_file='pbx.secret'\n",
            &dir,
        )
        .unwrap();
        assert_eq!(c.nodes[0].secret.expose(), "from-file");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
