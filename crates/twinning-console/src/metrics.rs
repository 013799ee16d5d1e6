//! The modules' metrics (counted once in twinning-driver) as one Prometheus exposition:
//! read from Asterisk as `TwinningMetric` events (`TwinningMetrics`) and from FreeSWITCH as
//! Prometheus text (`twinning metrics`), each sample labelled with its `node` and `pbx`.
//! No label may carry a user or a number: labels of those names are dropped.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use crate::config::Pbx;
use crate::fields::Fields;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sample {
    pub name: String,
    /// `counter`, `gauge` or `untyped`.
    pub kind: String,
    pub help: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

/// Label names that would identify a person or a call; never exported.
const PERSONAL: &[&str] = &[
    "user",
    "number",
    "mobile",
    "desk",
    "caller",
    "callerid",
    "caller_id",
    "channel",
    "uniqueid",
    "destination",
    "pin",
];

/// `result="answered",reason=""` (Prometheus's label syntax, escapes included).
pub fn parse_labels(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let Some(eq) = rest.find('=') else { break };
        let name = rest[..eq].trim().trim_start_matches(',').trim().to_owned();
        rest = rest[eq + 1..].trim_start();
        let Some(body) = rest.strip_prefix('"') else { break };
        let mut value = String::new();
        let mut chars = body.char_indices();
        let mut end = body.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, other)) => value.push(other),
                    None => {}
                },
                '"' => {
                    end = i + 1;
                    break;
                }
                c => value.push(c),
            }
        }
        if !name.is_empty() {
            out.push((name, value));
        }
        rest = body[end.min(body.len())..].trim_start().trim_start_matches(',').trim_start();
    }
    out
}

/// The Prometheus text exposition format (HELP, TYPE and sample lines).
pub fn parse_prometheus(text: &str) -> Vec<Sample> {
    let mut help: BTreeMap<String, String> = BTreeMap::new();
    let mut kinds: BTreeMap<String, String> = BTreeMap::new();
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            if let Some((name, h)) = rest.split_once(' ') {
                help.insert(name.to_owned(), h.to_owned());
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            if let Some((name, k)) = rest.split_once(' ') {
                kinds.insert(name.to_owned(), k.trim().to_owned());
            }
            continue;
        }
        if line.is_empty() || line.starts_with('#') || line.starts_with("+OK") || line.starts_with("-ERR") {
            continue;
        }
        let (name, labels, rest) = match line.find('{') {
            Some(open) => {
                let Some(close) = line.rfind('}') else { continue };
                (&line[..open], parse_labels(&line[open + 1..close]), &line[close + 1..])
            }
            None => match line.split_once(char::is_whitespace) {
                Some((n, r)) => (n, Vec::new(), r),
                None => continue,
            },
        };
        let Some(value) = rest.split_whitespace().next().and_then(|v| v.parse::<f64>().ok()) else {
            continue;
        };
        out.push(Sample {
            name: name.to_owned(),
            kind: kinds.get(name).cloned().unwrap_or_else(|| "untyped".into()),
            help: help.get(name).cloned().unwrap_or_default(),
            labels,
            value,
        });
    }
    out
}

/// `TwinningMetric` events: Name, Type, Help, Labels, Value.
pub fn from_ami(events: &[Fields]) -> Vec<Sample> {
    events
        .iter()
        .filter_map(|f| {
            Some(Sample {
                name: f.get("Name")?.to_owned(),
                kind: f.get("Type").filter(|t| !t.is_empty()).unwrap_or("untyped").to_owned(),
                help: f.text("Help"),
                labels: parse_labels(f.get("Labels").unwrap_or_default()),
                value: f.get("Value")?.trim().parse().ok()?,
            })
        })
        .collect()
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && !n.starts_with(|c: char| c.is_ascii_digit())
        && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

/// What one node gave: its samples, or None when it could not be read.
pub struct NodeMetrics {
    pub node: String,
    pub pbx: Pbx,
    pub samples: Option<Vec<Sample>>,
}

/// Every node's samples in one exposition, plus `twinctl_node_up` (1 when the node's
/// metrics were read).
pub fn render(nodes: &[NodeMetrics]) -> String {
    struct Family {
        kind: String,
        help: String,
        lines: Vec<String>,
    }
    let mut families: BTreeMap<String, Family> = BTreeMap::new();
    for n in nodes {
        for s in n.samples.iter().flatten() {
            if !valid_name(&s.name) {
                continue;
            }
            let f = families.entry(s.name.clone()).or_insert_with(|| Family {
                kind: s.kind.clone(),
                help: s.help.clone(),
                lines: Vec::new(),
            });
            let mut labels = vec![format!("node=\"{}\"", escape(&n.node)), format!("pbx=\"{}\"", n.pbx)];
            for (k, v) in &s.labels {
                if k == "node"
                    || k == "pbx"
                    || !valid_name(k)
                    || PERSONAL.contains(&k.to_ascii_lowercase().as_str())
                {
                    continue;
                }
                labels.push(format!("{k}=\"{}\"", escape(v)));
            }
            f.lines.push(format!("{}{{{}}} {}", s.name, labels.join(","), number(s.value)));
        }
    }
    let mut out = String::new();
    for (name, f) in families {
        if !f.help.is_empty() {
            let _ = writeln!(out, "# HELP {name} {}", f.help.replace('\\', "\\\\").replace('\n', "\\n"));
        }
        let _ = writeln!(out, "# TYPE {name} {}", f.kind);
        for l in f.lines {
            out.push_str(&l);
            out.push('\n');
        }
    }
    let _ = writeln!(out, "# HELP twinctl_node_up Whether twinctl read the node's metrics (1) or not (0).");
    let _ = writeln!(out, "# TYPE twinctl_node_up gauge");
    for n in nodes {
        let _ = writeln!(
            out,
            "twinctl_node_up{{node=\"{}\",pbx=\"{}\"}} {}",
            escape(&n.node),
            n.pbx,
            u8::from(n.samples.is_some())
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const FS: &str = "# HELP twinning_calls_total Twinned calls by final status.\n\
        # TYPE twinning_calls_total counter\n\
        twinning_calls_total{status=\"ANSWERED\"} 3\n\
        twinning_calls_total{status=\"NOANSWER\"} 1\n\
        # HELP twinning_live_calls Twinned calls in progress.\n\
        # TYPE twinning_live_calls gauge\n\
        twinning_live_calls 0\n\
        twinning_legs_total{outcome=\"refused\",reason=\"cap\",user=\"1001\"} 2\n";

    #[test]
    fn prometheus_text_parses() {
        let s = parse_prometheus(FS);
        assert_eq!(s.len(), 4);
        assert_eq!(s[0].name, "twinning_calls_total");
        assert_eq!(s[0].kind, "counter");
        assert_eq!(s[0].labels, vec![("status".to_owned(), "ANSWERED".to_owned())]);
        assert_eq!(s[2].labels, vec![]);
        assert_eq!(s[2].kind, "gauge");
        assert_eq!(s[3].kind, "untyped");
    }

    #[test]
    fn labels_with_escapes_and_empties() {
        assert_eq!(
            parse_labels(r#"result="answered",reason="",detail="a \"b\", c\\d""#),
            vec![
                ("result".into(), "answered".into()),
                ("reason".into(), String::new()),
                ("detail".into(), "a \"b\", c\\d".into())
            ]
        );
        assert_eq!(parse_labels(""), vec![]);
    }

    #[test]
    fn ami_events_read_as_samples() {
        let events = vec![
            Fields::from([
                ("Event", "TwinningMetric"),
                ("Name", "twinning_handovers_total"),
                ("Type", "counter"),
                ("Help", "Handovers."),
                ("Labels", "trigger=\"ami\",result=\"completed\""),
                ("Value", "2"),
            ]),
            Fields::from([
                ("Event", "TwinningMetric"),
                ("Name", "twinning_store_up"),
                ("Type", "gauge"),
                ("Labels", ""),
                ("Value", "1"),
            ]),
            Fields::from([("Event", "TwinningMetric"), ("Name", "broken"), ("Value", "x")]),
        ];
        let s = from_ami(&events);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].labels[1], ("result".into(), "completed".into()));
    }

    #[test]
    fn rendered_with_node_labels_and_no_personal_ones() {
        let text = render(&[
            NodeMetrics { node: "fs1".into(), pbx: Pbx::Freeswitch, samples: Some(parse_prometheus(FS)) },
            NodeMetrics {
                node: "pbx1".into(),
                pbx: Pbx::Asterisk,
                samples: Some(vec![Sample {
                    name: "twinning_calls_total".into(),
                    kind: "counter".into(),
                    help: "Twinned calls by final status.".into(),
                    labels: vec![("status".into(), "ANSWERED".into())],
                    value: 5.0,
                }]),
            },
            NodeMetrics { node: "pbx2".into(), pbx: Pbx::Asterisk, samples: None },
        ]);
        assert_eq!(text.matches("# TYPE twinning_calls_total counter").count(), 1, "{text}");
        assert!(
            text.contains("twinning_calls_total{node=\"fs1\",pbx=\"freeswitch\",status=\"ANSWERED\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains("twinning_calls_total{node=\"pbx1\",pbx=\"asterisk\",status=\"ANSWERED\"} 5\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "twinning_legs_total{node=\"fs1\",pbx=\"freeswitch\",outcome=\"refused\",reason=\"cap\"} 2\n"
            ),
            "{text}"
        );
        assert!(!text.contains("1001"), "no user in a label: {text}");
        assert!(text.contains("twinctl_node_up{node=\"pbx2\",pbx=\"asterisk\"} 0\n"));
        assert!(text.contains("twinctl_node_up{node=\"fs1\",pbx=\"freeswitch\"} 1\n"));
        // What was rendered parses back.
        let again = parse_prometheus(&text);
        assert!(again.iter().any(|s| s.name == "twinning_live_calls" && s.kind == "gauge"));
    }
}
