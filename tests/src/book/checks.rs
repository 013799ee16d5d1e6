//! Checks on the book's sources that mdBook does not make: internal links and their
//! anchors, `{{#include}}`s, sample configurations included rather than copied, `ini`
//! snippets that load, `scripts/...` commands that exist, benchmark figures that keep their
//! command and date, the README's two commands, and the sample configurations naming every
//! setting. Each returns its problems, one line each; none is a pass.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use twinning_core::settings::reference::{self, FIELDS, GENERAL};
use twinning_core::{Config, RawConfig};

/// An id as mdBook 0.4 gives a heading (`utils::unique_id_from_content`, before the
/// counter): tags and entities dropped, then letters, digits, `_` and `-` kept in lower
/// case, white space made `-`. Written from the Markdown source, where code spans are
/// backticks.
pub fn heading_id(text: &str) -> String {
    let text = text.replace('`', "");
    text.trim()
        .trim_start_matches('#')
        .trim()
        .chars()
        .filter_map(|ch| {
            if ch.is_alphanumeric() || ch == '_' || ch == '-' {
                Some(ch.to_ascii_lowercase())
            } else if ch.is_whitespace() {
                Some('-')
            } else {
                None
            }
        })
        .collect()
}

/// A fenced code block: its info string, body, and the line its fence opens on.
pub struct CodeBlock {
    pub info: String,
    pub body: String,
    pub line: usize,
}

/// The fenced code blocks of a Markdown text, and the text with them blanked out (line
/// numbers kept).
pub fn split_code(md: &str) -> (Vec<CodeBlock>, String) {
    let mut blocks = Vec::new();
    let mut prose = String::new();
    let mut open: Option<(String, String, usize, String)> = None;
    for (i, line) in md.lines().enumerate() {
        let t = line.trim_start();
        match &mut open {
            None if t.starts_with("```") => {
                let fence: String = t.chars().take_while(|c| *c == '`').collect();
                open = Some((fence.clone(), t[fence.len()..].trim().to_string(), i + 1, String::new()));
                prose.push('\n');
            }
            None => {
                prose.push_str(line);
                prose.push('\n');
            }
            Some((fence, _, _, body)) => {
                if t.starts_with(fence.as_str()) && t.trim_start_matches('`').trim().is_empty() {
                    let (_, info, line, body) = open.take().expect("open");
                    blocks.push(CodeBlock { info, body, line });
                } else {
                    body.push_str(line);
                    body.push('\n');
                }
                prose.push('\n');
            }
        }
    }
    (blocks, prose)
}

/// Removes inline code spans from one line of prose.
fn without_code_spans(line: &str) -> String {
    let mut out = String::new();
    for (i, part) in line.split('`').enumerate() {
        if i % 2 == 0 {
            out.push_str(part);
        }
    }
    out
}

/// Every anchor a chapter offers: its headings' ids (numbered as mdBook numbers repeats)
/// and `id="..."` attributes of its HTML.
pub fn anchors(md: &str) -> BTreeSet<String> {
    let (_, prose) = split_code(md);
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = BTreeSet::new();
    for line in prose.lines() {
        if line.starts_with('#') {
            let id = heading_id(line);
            let n = seen.entry(id.clone()).or_insert(0);
            out.insert(if *n == 0 { id } else { format!("{id}-{n}") });
            *n += 1;
        }
        let mut rest = line;
        while let Some(at) = rest.find("id=\"") {
            rest = &rest[at + 4..];
            if let Some(end) = rest.find('"') {
                out.insert(rest[..end].to_string());
                rest = &rest[end..];
            }
        }
    }
    out
}

/// The targets of Markdown links `[text](target)` outside code, with their lines.
pub fn links(md: &str) -> Vec<(usize, String)> {
    let (_, prose) = split_code(md);
    let mut out = Vec::new();
    for (i, line) in prose.lines().enumerate() {
        let line = without_code_spans(line);
        let mut rest = line.as_str();
        while let Some(at) = rest.find("](") {
            rest = &rest[at + 2..];
            if let Some(end) = rest.find(')') {
                let target = rest[..end].split_whitespace().next().unwrap_or("").to_string();
                out.push((i + 1, target));
                rest = &rest[end..];
            }
        }
    }
    out
}

/// The chapters of the book: every `.md` under `src`.
pub fn chapters(src: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(src)
        .unwrap_or_else(|e| panic!("{}: {e}", src.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    out.sort();
    out
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Every internal link lands on a chapter of the book and, with `#anchor`, on an anchor
/// of it; every chapter is in SUMMARY.md and SUMMARY.md names only chapters that exist.
pub fn check_links(src: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let files = chapters(src);
    let anchors_of: BTreeMap<String, BTreeSet<String>> =
        files.iter().map(|f| (name(f), anchors(&read(f)))).collect();
    let summary = read(&src.join("SUMMARY.md"));
    let in_summary: BTreeSet<String> = links(&summary).into_iter().map(|(_, t)| t).collect();
    for f in &files {
        let n = name(f);
        if n != "SUMMARY.md" && !in_summary.contains(&n) {
            problems.push(format!("docs/src/{n} is not in SUMMARY.md, so mdBook leaves it out"));
        }
    }
    for f in &files {
        let n = name(f);
        for (line, target) in links(&read(f)) {
            if target.is_empty() {
                problems.push(format!("docs/src/{n}:{line}: an empty link"));
                continue;
            }
            if target.starts_with("http://")
                || target.starts_with("https://")
                || target.starts_with("mailto:")
            {
                continue;
            }
            let (file, anchor) = match target.split_once('#') {
                Some((file, anchor)) => (file, Some(anchor)),
                None => (target.as_str(), None),
            };
            let file = if file.is_empty() { n.clone() } else { file.to_string() };
            if file.contains('/') {
                problems.push(format!(
                    "docs/src/{n}:{line}: link '{target}' leaves the book; name repository files in code, not links"
                ));
                continue;
            }
            let Some(ids) = anchors_of.get(&file) else {
                problems.push(format!("docs/src/{n}:{line}: link '{target}': no chapter {file}"));
                continue;
            };
            if let Some(anchor) = anchor {
                if !ids.contains(anchor) {
                    problems.push(format!(
                        "docs/src/{n}:{line}: link '{target}': {file} has no anchor '{anchor}'"
                    ));
                }
            }
        }
    }
    problems
}

/// Every `{{#include path}}` names a file that exists, relative to its chapter.
pub fn check_includes(src: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    for f in chapters(src) {
        for (i, line) in read(&f).lines().enumerate() {
            let mut rest = line;
            while let Some(at) = rest.find("{{#include ") {
                rest = &rest[at + "{{#include ".len()..];
                let Some(end) = rest.find("}}") else { break };
                let spec = rest[..end].trim();
                // `path:anchor` or `path:from:to`: the path is up to the first ':'.
                let path = spec.split(':').next().unwrap_or(spec);
                if !f.parent().expect("a chapter is in a folder").join(path).is_file() {
                    problems.push(format!(
                        "docs/src/{}:{}: {{{{#include {spec}}}}}: no such file",
                        name(&f),
                        i + 1
                    ));
                }
                rest = &rest[end..];
            }
        }
    }
    problems
}

/// The sample configurations the project ships, which the book must include, not copy.
pub const SHIPPED_SAMPLES: &[&str] = &[
    "asterisk-module/conf/twinning.conf.sample",
    "asterisk-module/conf/extensions_twinning.conf.sample",
    "freeswitch-module/conf/autoload_configs/twinning.conf.xml",
    "freeswitch-module/conf/dialplan/twinning.xml",
];

fn windows_of(text: &str) -> BTreeSet<String> {
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| l.len() > 3).collect();
    lines.windows(3).map(|w| w.join("\n")).collect()
}

/// No code block in the book holds three lines in a row of a shipped sample: those are
/// shown with `{{#include}}`, so the book shows what ships.
pub fn check_no_copied_samples(root: &Path, src: &Path) -> Vec<String> {
    let shipped: Vec<(String, BTreeSet<String>)> =
        SHIPPED_SAMPLES.iter().map(|s| (s.to_string(), windows_of(&read(&root.join(s))))).collect();
    let mut problems = Vec::new();
    for f in chapters(src) {
        let (blocks, _) = split_code(&read(&f));
        for b in blocks {
            if b.body.contains("{{#include") {
                continue;
            }
            let ours = windows_of(&b.body);
            for (sample, theirs) in &shipped {
                if ours.intersection(theirs).next().is_some() {
                    problems.push(format!(
                        "docs/src/{}:{}: this block copies lines of {sample}; show it with {{{{#include}}}}",
                        name(&f),
                        b.line
                    ));
                }
            }
        }
    }
    problems
}

/// A `twinning.conf` snippet (a code block marked `ini`) loads: completed with a
/// `mobile_dial` and each user's `desk` where it leaves them out, it must be a valid
/// configuration, so every key and value it shows is one the module takes.
pub fn check_ini_snippets(src: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    for f in chapters(src) {
        let (blocks, _) = split_code(&read(&f));
        for b in blocks.iter().filter(|b| b.info.split(',').next() == Some("ini")) {
            if b.body.contains("{{#include") {
                continue;
            }
            let text = complete_snippet(&b.body);
            let loaded = RawConfig::parse_conf(&text)
                .map_err(|(line, e)| format!("line {line}: {e}"))
                .and_then(|raw| Config::from_raw(&raw).map(|_| ()).map_err(|e| e.render(&raw)));
            if let Err(e) = loaded {
                problems.push(format!(
                    "docs/src/{}:{}: this twinning.conf snippet does not load: {e}",
                    name(&f),
                    b.line
                ));
            }
        }
    }
    problems
}

fn complete_snippet(body: &str) -> String {
    let mut out = String::new();
    let mut has_general = false;
    let mut section: Option<String> = None;
    let mut has_desk = false;
    let mut has_dial = false;
    let close = |out: &mut String, section: &Option<String>, has_desk: bool, has_dial: bool| match section {
        Some(s) if s == "general" && !has_dial => out.push_str("mobile_dial = PJSIP/{number}@mobile-trunk\n"),
        Some(s) if s != "general" && !has_desk => out.push_str(&format!("desk = PJSIP/{s}\n")),
        _ => {}
    };
    for line in body.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            close(&mut out, &section, has_desk, has_dial);
            let s = t.trim_start_matches('[').split(']').next().unwrap_or("").to_string();
            has_general |= s == "general";
            section = Some(s);
            has_desk = false;
            has_dial = false;
        }
        let key = t.split('=').next().unwrap_or("").trim();
        has_desk |= key == "desk";
        has_dial |= key == "mobile_dial";
        out.push_str(line);
        out.push('\n');
    }
    close(&mut out, &section, has_desk, has_dial);
    if !has_general {
        out = format!("[general]\nmobile_dial = PJSIP/{{number}}@mobile-trunk\n{out}");
    }
    out
}

/// Both shipped `twinning.conf` samples load, as the book shows them: Asterisk's as it is,
/// FreeSWITCH's read as the module reads it (`<settings>` as `[general]`, each `<user
/// id="...">` as a section, comments ignored), without needing a FreeSWITCH.
pub fn check_samples_load(root: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let asterisk = "asterisk-module/conf/twinning.conf.sample";
    let freeswitch = "freeswitch-module/conf/autoload_configs/twinning.conf.xml";
    let texts = [
        (asterisk, read(&root.join(asterisk))),
        (freeswitch, conf_from_freeswitch_xml(&read(&root.join(freeswitch)))),
    ];
    for (sample, text) in texts {
        let loaded = RawConfig::parse_conf(&text)
            .map_err(|(line, e)| format!("line {line}: {e}"))
            .and_then(|raw| Config::from_raw(&raw).map(|_| ()).map_err(|e| e.render(&raw)));
        if let Err(e) = loaded {
            problems.push(format!("{sample} does not load: {e}"));
        }
    }
    problems
}

/// `twinning.conf.xml` as `twinning.conf` text.
fn conf_from_freeswitch_xml(xml: &str) -> String {
    let mut text = String::new();
    let mut rest = xml;
    while let Some(at) = rest.find("<!--") {
        text.push_str(&rest[..at]);
        rest = rest[at..].find("-->").map_or("", |end| &rest[at + end + 3..]);
    }
    text.push_str(rest);
    let attr = |tag: &str, name: &str| -> Option<String> {
        let at = tag.find(&format!("{name}=\""))? + name.len() + 2;
        Some(
            tag[at..at + tag[at..].find('"')?]
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&amp;", "&"),
        )
    };
    let mut out = String::new();
    for tag in text.split('<').skip(1) {
        let tag = tag.split('>').next().unwrap_or("");
        if tag.starts_with("settings") {
            out.push_str("[general]\n");
        } else if tag.starts_with("user ") {
            out.push_str(&format!("[{}]\n", attr(tag, "id").unwrap_or_default()));
        } else if tag.starts_with("param ") {
            if let (Some(n), Some(v)) = (attr(tag, "name"), attr(tag, "value")) {
                out.push_str(&format!("{n} = {v}\n"));
            }
        }
    }
    out
}

/// Every `scripts/<name>` the book or the README names is an executable script.
pub fn check_scripts(root: &Path, files: &[PathBuf]) -> Vec<String> {
    let mut problems = Vec::new();
    for f in files {
        let text = read(f);
        let mut rest = text.as_str();
        while let Some(at) = rest.find("scripts/") {
            let before = rest[..at].chars().last();
            rest = &rest[at + "scripts/".len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '/' || c == '_' || c == '-' || c == '.') {
                continue; // part of another path (`docs/scripts/`, `.ci/...`)
            }
            let script: String =
                rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect();
            if script.is_empty() {
                continue;
            }
            let path = root.join("scripts").join(&script);
            let executable = fs::metadata(&path).is_ok_and(|m| {
                use std::os::unix::fs::PermissionsExt;
                m.is_file() && m.permissions().mode() & 0o111 != 0
            });
            if !executable {
                problems
                    .push(format!("{}: names scripts/{script}, which is no executable script", f.display()));
            }
        }
    }
    problems
}

/// In the performance and reliability chapters, every table of figures has, since the
/// heading above it, the command that produced it and the date it was measured
/// (`Measured ... 2026-12-03 ...` with a `scripts/` command).
pub fn check_figures(src: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    for chapter in ["performance.md", "reliability.md"] {
        let path = src.join(chapter);
        let text = read(&path);
        let (_, prose) = split_code(&text);
        let mut since_heading = String::new();
        let mut in_table = false;
        for (i, line) in prose.lines().enumerate() {
            if line.starts_with('#') {
                since_heading.clear();
            }
            let is_table = line.trim_start().starts_with('|');
            if is_table && !in_table && !has_provenance(&since_heading) {
                problems.push(format!(
                    "docs/src/{chapter}:{}: a table of figures without 'Measured' with its scripts/ command and date above it",
                    i + 1
                ));
            }
            in_table = is_table;
            since_heading.push_str(line);
            since_heading.push('\n');
        }
    }
    problems
}

fn has_provenance(text: &str) -> bool {
    // One paragraph at a time, its lines joined: a sentence may wrap.
    let paragraphs: Vec<String> =
        text.split("\n\n").map(|p| p.lines().map(str::trim).collect::<Vec<_>>().join(" ")).collect();
    paragraphs.iter().any(|l| {
        l.contains("Measured") && l.contains("scripts/") && {
            let b = l.as_bytes();
            b.windows(10).any(|w| {
                w[0..4].iter().all(u8::is_ascii_digit)
                    && w[4] == b'-'
                    && w[5..7].iter().all(u8::is_ascii_digit)
                    && w[7] == b'-'
                    && w[8..10].iter().all(u8::is_ascii_digit)
            })
        }
    })
}

/// The README's two set-up commands, exactly.
pub const README_COMMANDS: [&str; 2] = [
    "scripts/demo    # the main job: a twinned call in the provisioned Asterisk 22, with its timeline",
    "scripts/test    # every test: core unit/property tests and the modules in a real Asterisk (and FreeSWITCH), over real SIP",
];

/// The README is about one screen and holds the two commands.
pub fn check_readme(root: &Path) -> Vec<String> {
    let text = read(&root.join("README.md"));
    let mut problems = Vec::new();
    let lines = text.lines().count();
    if lines >= 80 {
        problems.push(format!("README.md has {lines} lines; keep it under 80 and move the rest into docs/"));
    }
    for c in README_COMMANDS {
        if !text.lines().any(|l| l == c) {
            problems.push(format!("README.md lacks the set-up command line '{c}'"));
        }
    }
    problems
}

/// Whether `text` names `word` on its own (not as part of a longer name).
fn mentions(text: &str, word: &str) -> bool {
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.match_indices(word).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        !before.is_some_and(is_name) && !after.is_some_and(is_name)
    })
}

/// Both sample configurations name every per-user field and every `[general]` key, as a
/// setting or in a comment; destinations 2 … 10 by their pattern (`mobile<n>_ring_time`;
/// `mobile10` for the numbers).
pub fn check_samples_mention_every_setting(root: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    for sample in [
        "asterisk-module/conf/twinning.conf.sample",
        "freeswitch-module/conf/autoload_configs/twinning.conf.xml",
    ] {
        let text = read(&root.join(sample));
        for doc in FIELDS {
            let named = if doc.name == "mobile<n>" {
                mentions(&text, "mobile10")
            } else if doc.name.contains("<n>") {
                text.contains(doc.name) || reference::fields_of(doc).iter().all(|f| mentions(&text, f.name()))
            } else {
                mentions(&text, doc.name)
            };
            if !named {
                problems.push(format!(
                    "{sample} does not name the field {} (as a setting or in a comment)",
                    doc.name
                ));
            }
        }
        for doc in GENERAL {
            if !mentions(&text, doc.name) {
                problems.push(format!(
                    "{sample} does not name the [general] key {} (as a setting or in a comment)",
                    doc.name
                ));
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_as_mdbook_makes_them() {
        assert_eq!(heading_id("### `mobile<n>_ring_time`"), "mobilen_ring_time");
        assert_eq!(heading_id("## Security and toll fraud"), "security-and-toll-fraud");
        assert_eq!(heading_id("### `TwinningSet` action"), "twinningset-action");
        assert_eq!(heading_id("## A mobile that never rings"), "a-mobile-that-never-rings");
    }

    #[test]
    fn links_skip_code() {
        let md = "see [a](b.md#c) and `[x](y)`\n```\n[q](r)\n```\n";
        assert_eq!(links(md), vec![(1, "b.md#c".to_string())]);
    }

    #[test]
    fn snippets_are_completed() {
        let text = complete_snippet("[1001]\nmobile = 07700900123\n");
        assert!(text.contains("mobile_dial") && text.contains("desk = PJSIP/1001"), "{text}");
    }

    #[test]
    fn freeswitch_xml_reads_as_conf() {
        let xml = "<settings>\n<param name=\"mobile_dial\" value=\"x/{number}\"/>\n<!-- <param name=\"pin\" value=\"1\"/> -->\n</settings><users><user id=\"1001\"><param name=\"desk\" value=\"user/1001\"/></user></users>";
        assert_eq!(
            conf_from_freeswitch_xml(xml),
            "[general]\nmobile_dial = x/{number}\n[1001]\ndesk = user/1001\n"
        );
    }

    #[test]
    fn provenance() {
        assert!(has_provenance("Measured with `scripts/bench` on 2026-12-03 (commit a41eff4)"));
        assert!(!has_provenance("Measured with scripts/bench"));
        assert!(has_provenance("Measured with `scripts/bench`\non 2026-12-03"));
        assert!(!has_provenance("Measured with `scripts/bench`\n\non 2026-12-03"));
    }
}
