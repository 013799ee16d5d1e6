//! One AMI message or ESL event: its headers in order, looked up without regard to case.

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fields(pub Vec<(String, String)>);

impl Fields {
    pub fn push(&mut self, key: &str, value: &str) {
        self.0.push((key.to_owned(), value.to_owned()));
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v.as_str())
    }

    /// The first of `keys` present (FreeSWITCH and Asterisk name some headers apart).
    pub fn first(&self, keys: &[&str]) -> Option<&str> {
        keys.iter().find_map(|k| self.get(k))
    }

    /// The value, or empty.
    pub fn text(&self, key: &str) -> String {
        self.get(key).unwrap_or_default().to_owned()
    }

    pub fn is(&self, key: &str, value: &str) -> bool {
        self.get(key).is_some_and(|v| v.eq_ignore_ascii_case(value))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

impl<const N: usize> From<[(&str, &str); N]> for Fields {
    fn from(pairs: [(&str, &str); N]) -> Fields {
        Fields(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }
}

/// A PBX's control connection, opened within `timeout`: its buffered read half and its
/// write half. AMI and the event socket both start this way.
pub async fn connect(
    address: &str,
    timeout: std::time::Duration,
) -> Result<
    (tokio::io::BufReader<tokio::net::tcp::OwnedReadHalf>, tokio::net::tcp::OwnedWriteHalf),
    crate::ProtocolError,
> {
    use crate::ProtocolError;
    let stream = tokio::time::timeout(timeout, tokio::net::TcpStream::connect(address))
        .await
        .map_err(|_| ProtocolError::Unreachable(format!("connecting to {address} timed out")))?
        .map_err(|e| ProtocolError::Unreachable(format!("cannot connect to {address}: {e}")))?;
    let _ = stream.set_nodelay(true);
    let (read, write) = stream.into_split();
    Ok((tokio::io::BufReader::new(read), write))
}
