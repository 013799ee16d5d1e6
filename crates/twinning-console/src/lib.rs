//! twinctl: one control plane over every twinning node. It connects to each Asterisk (AMI)
//! and FreeSWITCH (event socket) node of its configuration, keeps a live model of each
//! (users, settings, lamps, calls, store), turns the modules' events into one typed
//! stream, and offers the operations (status, set, handover, calls, store, PIN check,
//! metrics) to a command line and to an HTTP API (`twinctl serve`).
//!
//! The AMI and ESL clients are this crate's own, small and over tokio: see `ami` and `esl`.

pub mod ami;
pub mod auth;
pub mod charts;
pub mod cli;
pub mod config;
pub mod console;
pub mod esl;
pub mod event;
#[cfg(test)]
mod fake;
pub mod fields;
pub mod metrics;
pub mod model;
pub mod node;
pub mod server;
pub mod web;

use std::fmt;

/// What went wrong talking to one PBX.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    /// Nothing answered at the address, or not in time.
    Unreachable(String),
    /// The PBX refused the console's credentials.
    AuthFailed(String),
    /// The peer does not speak the protocol as expected.
    Protocol(String),
    /// No answer in time to one request.
    Timeout(String),
    /// The connection closed.
    Closed,
    /// A request the console refuses to send (a line break in a value).
    Invalid(String),
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::Unreachable(m)
            | ProtocolError::AuthFailed(m)
            | ProtocolError::Protocol(m)
            | ProtocolError::Timeout(m)
            | ProtocolError::Invalid(m) => f.write_str(m),
            ProtocolError::Closed => f.write_str("the connection closed"),
        }
    }
}

/// Why an operation failed, and so the exit code of `twinctl` and the HTTP status of the
/// API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpError {
    /// Bad arguments or configuration (exit 2, HTTP 400).
    Usage(String),
    /// The node is down or unreachable (exit 3, HTTP 503).
    NodeDown { node: String, error: String },
    /// The module refused: an unknown user, a value it does not take, no call to move
    /// (exit 4, HTTP 422; 404 for an unknown user).
    Refused { node: String, message: String },
    /// No node has the user (exit 4, HTTP 404).
    UnknownUser(String),
    /// The PBX refused the console's credentials (exit 5, HTTP 502).
    Auth { node: String, message: String },
}

impl OpError {
    pub fn exit_code(&self) -> i32 {
        match self {
            OpError::Usage(_) => exit::USAGE,
            OpError::NodeDown { .. } => exit::NODE_DOWN,
            OpError::Refused { .. } | OpError::UnknownUser(_) => exit::REFUSED,
            OpError::Auth { .. } => exit::AUTH,
        }
    }

    pub fn from_protocol(node: &str, e: ProtocolError) -> OpError {
        match e {
            ProtocolError::AuthFailed(message) => OpError::Auth { node: node.into(), message },
            ProtocolError::Invalid(message) => OpError::Usage(message),
            other => OpError::NodeDown { node: node.into(), error: other.to_string() },
        }
    }
}

impl fmt::Display for OpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpError::Usage(m) => f.write_str(m),
            OpError::NodeDown { node, error } => write!(f, "node {node} is down: {error}"),
            OpError::Refused { node, message } => write!(f, "node {node} refused: {message}"),
            OpError::UnknownUser(u) => write!(f, "no node has a twinning user '{u}'"),
            OpError::Auth { node, message } => write!(f, "node {node}: {message}"),
        }
    }
}

impl std::error::Error for OpError {}

/// `twinctl`'s exit codes.
pub mod exit {
    pub const OK: i32 = 0;
    /// Anything else (an I/O error writing the output, a server that could not start).
    pub const FAILURE: i32 = 1;
    /// A usage or configuration error.
    pub const USAGE: i32 = 2;
    /// A node is down or unreachable (for commands that read every node: any node).
    pub const NODE_DOWN: i32 = 3;
    /// The module refused (unknown user, invalid value, no call), or a PIN was not right.
    pub const REFUSED: i32 = 4;
    /// A PBX refused twinctl's AMI/ESL credentials.
    pub const AUTH: i32 = 5;
}
