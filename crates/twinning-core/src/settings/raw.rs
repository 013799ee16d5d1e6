//! The configuration as its host read it, before any meaning is given to it: sections of
//! `key = value` entries, each with the line it came from so errors can point at it.
//!
//! Asterisk fills this from `ast_config_load2` (so `#include` and templates work as admins
//! expect), FreeSWITCH from `twinning.conf.xml`; [`RawConfig::parse_conf`] reads the
//! Asterisk `.conf` syntax directly, for tools, tests and fuzzing.

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawConfig {
    pub sections: Vec<RawSection>,
    /// What each `line` number means when the host's reader has no lines (FreeSWITCH's XML
    /// tree): entry `n - 1` describes position `n`, e.g. `<user id="1001"> param ring_time`.
    /// Empty when the numbers are real line numbers.
    pub locations: Vec<String>,
}

impl RawConfig {
    /// Where problem `line` is, in the words the admin's file uses.
    pub fn locate(&self, line: u32) -> String {
        match self.locations.get((line as usize).wrapping_sub(1)) {
            Some(place) => place.clone(),
            None => format!("line {line}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawSection {
    pub name: String,
    pub line: u32,
    pub entries: Vec<RawEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEntry {
    pub key: String,
    pub value: String,
    pub line: u32,
}

impl RawConfig {
    /// Reads the subset of Asterisk's `.conf` syntax twinning.conf needs: `[section]`
    /// headers, `key = value` or `key => value` lines, `;` comments (`\;` for a literal
    /// semicolon). Anything else is an error naming its line.
    pub fn parse_conf(text: &str) -> Result<RawConfig, (u32, String)> {
        let mut config = RawConfig::default();
        for (index, raw_line) in text.lines().enumerate() {
            let line = index as u32 + 1;
            let content = strip_comment(raw_line);
            let content = content.trim();
            if content.is_empty() {
                continue;
            }
            if let Some(rest) = content.strip_prefix('[') {
                let Some((name, _options)) = rest.split_once(']') else {
                    return Err((line, "a section header needs a closing ']'".into()));
                };
                config.sections.push(RawSection { name: name.trim().to_owned(), line, entries: Vec::new() });
                continue;
            }
            let Some((key, value)) = content.split_once('=') else {
                return Err((line, "expected 'key = value' or a [section] header".into()));
            };
            let value = value.strip_prefix('>').unwrap_or(value);
            let Some(section) = config.sections.last_mut() else {
                return Err((line, "a setting appears before any [section]".into()));
            };
            section.entries.push(RawEntry {
                key: key.trim().to_owned(),
                value: value.trim().to_owned(),
                line,
            });
        }
        Ok(config)
    }
}

fn strip_comment(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&';') => {
                out.push(';');
                chars.next();
            }
            ';' => break,
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_sections_entries_and_lines() {
        let c = RawConfig::parse_conf(
            "; top\n[general]\nmobile_dial=PJSIP/{number}@t ; trunk\n\n[1001](!)\nmobile => 0770\\;x\n",
        )
        .unwrap();
        assert_eq!(c.sections.len(), 2);
        assert_eq!(
            c.sections[0].entries[0],
            RawEntry { key: "mobile_dial".into(), value: "PJSIP/{number}@t".into(), line: 3 }
        );
        assert_eq!(c.sections[1].name, "1001");
        assert_eq!(c.sections[1].entries[0].value, "0770;x");
        assert_eq!(RawConfig::parse_conf("x=1").unwrap_err().0, 1);
        assert_eq!(RawConfig::parse_conf("[a]\nnonsense").unwrap_err().0, 2);
    }
}
