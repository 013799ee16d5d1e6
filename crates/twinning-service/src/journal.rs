//! The durable record of runtime overrides.
//!
//! AstDB commits writes in batches from a background thread, up to about a second after
//! `ast_db_put` returns, so a crash or `kill -9` in that window would lose a change that
//! was already acknowledged. Every change is therefore appended here and synced to disk
//! before it is acknowledged; AstDB holds a mirror for `database show twinning`.
//!
//! Format: one line per change, `set<TAB>user<TAB>field<TAB>value`. Values are the core's
//! canonical text, which never holds a tab or a line break. A torn last line (a crash
//! mid-write) is reported and skipped.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Owner read and write only: the journal holds users' numbers and PIN hashes.
const PRIVATE: u32 = 0o600;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub user: String,
    pub field: String,
    pub value: String,
}

pub struct Journal {
    path: PathBuf,
    file: File,
}

/// What was read back from an existing journal.
pub struct Replay {
    pub entries: Vec<Entry>,
    /// Lines that could not be read, with their numbers.
    pub damaged: Vec<(usize, String)>,
}

impl Journal {
    /// Opens the journal at `path`, returning what it held, or `None` if it did not exist
    /// (first start, or the admin removed it to start from AstDB again).
    pub fn open(path: &Path) -> io::Result<(Journal, Option<Replay>)> {
        let replay = match File::open(path) {
            Ok(f) => Some(read(f)?),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).mode(PRIVATE).open(path)?;
        // A journal from an older version may have been made with the default mode.
        fs::set_permissions(path, fs::Permissions::from_mode(PRIVATE))?;
        Ok((Journal { path: path.to_owned(), file }, replay))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends a change and waits until it is on disk.
    pub fn append(&mut self, entry: &Entry) -> io::Result<()> {
        let line = encode(entry)?;
        self.file.write_all(line.as_bytes())?;
        self.file.sync_data()
    }

    /// Replaces the journal with exactly `entries` (one line per user and field), so it
    /// does not grow without bound. Atomic: a crash leaves either the old or the new file.
    pub fn compact(&mut self, entries: &[Entry]) -> io::Result<()> {
        let tmp = self.path.with_extension("journal.tmp");
        {
            let mut f =
                OpenOptions::new().write(true).create(true).truncate(true).mode(PRIVATE).open(&tmp)?;
            for e in entries {
                f.write_all(encode(e)?.as_bytes())?;
            }
            f.sync_all()?;
        }
        fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent() {
            File::open(dir)?.sync_all()?;
        }
        self.file = OpenOptions::new().append(true).open(&self.path)?;
        Ok(())
    }
}

fn encode(e: &Entry) -> io::Result<String> {
    let clean = |s: &str| !s.contains(['\t', '\n', '\r']);
    if !(clean(&e.user) && clean(&e.field) && clean(&e.value)) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "journal values cannot hold tabs or line breaks",
        ));
    }
    Ok(format!("set\t{}\t{}\t{}\n", e.user, e.field, e.value))
}

fn read(f: File) -> io::Result<Replay> {
    let mut replay = Replay { entries: Vec::new(), damaged: Vec::new() };
    let mut reader = BufReader::new(f);
    let mut buf = Vec::new();
    let mut number = 0;
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        number += 1;
        let complete = buf.last() == Some(&b'\n');
        let line = String::from_utf8_lossy(&buf);
        let fields: Vec<&str> = line.trim_end_matches('\n').split('\t').collect();
        match fields.as_slice() {
            ["set", user, field, value] if complete => replay.entries.push(Entry {
                user: user.to_string(),
                field: field.to_string(),
                value: value.to_string(),
            }),
            _ => replay.damaged.push((number, line.trim_end().chars().take(80).collect())),
        }
    }
    Ok(replay)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(user: &str, field: &str, value: &str) -> Entry {
        Entry { user: user.into(), field: field.into(), value: value.into() }
    }

    #[test]
    fn appends_replay_in_order_and_torn_lines_are_reported() {
        let dir = std::env::temp_dir().join(format!("twinning-journal-{}", std::process::id()));
        let path = dir.join("overrides.journal");
        let _ = fs::remove_dir_all(&dir);
        let (mut j, replay) = Journal::open(&path).unwrap();
        assert!(replay.is_none());
        j.append(&entry("1001", "mobile", "0770")).unwrap();
        j.append(&entry("1001", "schedule", "mon-fri 08:00-18:00, sat")).unwrap();
        assert!(j.append(&entry("1001", "mobile", "1\n2")).is_err());
        drop(j);
        fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(b"set\t1001\tdnd").unwrap();
        let (mut j, replay) = Journal::open(&path).unwrap();
        let replay = replay.unwrap();
        assert_eq!(
            replay.entries,
            vec![entry("1001", "mobile", "0770"), entry("1001", "schedule", "mon-fri 08:00-18:00, sat")]
        );
        assert_eq!(replay.damaged.len(), 1);
        j.compact(&[entry("1001", "dnd", "yes")]).unwrap();
        drop(j);
        let (_, replay) = Journal::open(&path).unwrap();
        assert_eq!(replay.unwrap().entries, vec![entry("1001", "dnd", "yes")]);
        fs::remove_dir_all(&dir).unwrap();
    }
}
