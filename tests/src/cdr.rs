//! What a real CDR backend wrote: Asterisk's `cdr_csv` (Master.csv), read back as rows,
//! so billing tests check what an admin's billing system would import.

use std::time::{Duration, Instant};

use crate::asterisk::{Instance, InstanceConfig};

/// The modules a CDR test loads besides the call modules.
pub const MODULES: &[&str] = &["cdr_csv.so", "func_cdr.so"];

/// CDRs on, unanswered legs written (as an admin billing trunk legs needs), and the CSV
/// with the uniqueid and userfield columns.
pub fn with_cdr(config: InstanceConfig) -> InstanceConfig {
    // cdr_csv reads its own [csv] section of cdr.conf.
    let mut config = config.file(
        "cdr.conf",
        "[general]\nenable = yes\nunanswered = yes\nbatch = no\n\n\
         [csv]\nusegmtime = yes\nloguniqueid = yes\nloguserfield = yes\naccountlogs = no\n",
    );
    config.modules.extend(MODULES.iter().map(|m| m.to_string()));
    config
}

/// Makes the directory cdr_csv writes to (it does not make it itself); call once the
/// instance is up, before the first call.
pub fn prepare(instance: &Instance) {
    std::fs::create_dir_all(instance.path("log/cdr-csv")).expect("make log/cdr-csv");
}

/// One CSV row, by cdr_csv's column names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub accountcode: String,
    pub src: String,
    pub dst: String,
    pub channel: String,
    pub dstchannel: String,
    pub lastapp: String,
    pub lastdata: String,
    pub start: String,
    pub answer: String,
    pub end: String,
    pub duration: u64,
    pub billsec: u64,
    pub disposition: String,
    pub uniqueid: String,
    pub userfield: String,
}

impl Row {
    /// The device the row's leg rang (`PJSIP/desk1001`), without the channel's sequence.
    pub fn dst_device(&self) -> String {
        self.dstchannel.rsplit_once('-').map_or(self.dstchannel.clone(), |(d, _)| d.to_owned())
    }
}

/// Every row written so far.
pub fn rows(instance: &Instance) -> Vec<Row> {
    let path = instance.path("log/cdr-csv/Master.csv");
    let Ok(text) = std::fs::read_to_string(&path) else { return Vec::new() };
    text.lines().filter(|l| !l.trim().is_empty()).map(parse_row).collect()
}

/// Waits until at least `n` rows are written (they are written when the caller's channel
/// goes), then a moment more for any that should not be there; returns them all.
pub fn wait_rows(instance: &Instance, n: usize) -> Vec<Row> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while rows(instance).len() < n && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(700));
    rows(instance)
}

fn parse_row(line: &str) -> Row {
    let f = split_csv(line);
    let get = |i: usize| f.get(i).cloned().unwrap_or_default();
    Row {
        accountcode: get(0),
        src: get(1),
        dst: get(2),
        channel: get(5),
        dstchannel: get(6),
        lastapp: get(7),
        lastdata: get(8),
        start: get(9),
        answer: get(10),
        end: get(11),
        duration: get(12).parse().unwrap_or(0),
        billsec: get(13).parse().unwrap_or(0),
        disposition: get(14),
        uniqueid: get(16),
        userfield: get(17),
    }
}

/// cdr_csv quotes every text field and doubles a quote inside one.
fn split_csv(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut field)),
            (c, _) => field.push(c),
        }
    }
    out.push(field);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn csv_fields_with_commas_and_quotes() {
        let f = super::split_csv(r#""acct","a,b","say ""hi""",12,"""#);
        assert_eq!(f, ["acct", "a,b", "say \"hi\"", "12", ""]);
    }
}
