//! The admin's charts, drawn from the nodes' metrics with no external service: the console
//! scrapes every node's counters now and then (and when the page is asked for), keeps a
//! short history in memory, and turns the counters' increases into per-minute bars, drawn
//! as inline SVG on the server (no script, no image fetched, every text escaped by maud).

use std::collections::{BTreeMap, VecDeque};

use maud::{html, Markup};

use crate::metrics::NodeMetrics;

/// How long the history reaches back.
pub const MINUTES: u64 = 30;
const KEEP_MS: u64 = (MINUTES + 1) * 60_000;

/// One scrape: each node's counters, by `family|label` (`calls|answered`,
/// `legs|guarded`), for the nodes that answered.
#[derive(Debug, Clone, Default)]
pub struct Point {
    pub at_ms: u64,
    pub counters: BTreeMap<String, BTreeMap<String, f64>>,
}

impl Point {
    /// The counters the charts use, from one scrape of every node.
    pub fn from_metrics(at_ms: u64, nodes: &[NodeMetrics]) -> Point {
        let mut counters: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
        for n in nodes {
            let Some(samples) = &n.samples else { continue };
            let c = counters.entry(n.node.clone()).or_default();
            for s in samples {
                let label = |k: &str| s.labels.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
                let key = match s.name.as_str() {
                    "twinning_calls_total" => label("status").map(|v| format!("calls|{}", v.to_lowercase())),
                    "twinning_legs_total" => label("outcome").map(|v| format!("legs|{v}")),
                    "twinning_answered_calls_total" => label("leg").map(|v| format!("answered|{v}")),
                    _ => None,
                };
                if let Some(key) = key {
                    *c.entry(key).or_default() += s.value;
                }
            }
        }
        Point { at_ms, counters }
    }
}

/// The scrapes of the last half hour or so, oldest first.
#[derive(Debug, Default)]
pub struct History {
    points: VecDeque<Point>,
}

/// What one minute counted, summed over the nodes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Minute {
    /// Minutes since 1970 (UTC).
    pub minute: u64,
    pub counts: BTreeMap<String, f64>,
}

impl History {
    pub fn push(&mut self, p: Point) {
        let cut = p.at_ms.saturating_sub(KEEP_MS);
        self.points.push_back(p);
        while self.points.front().is_some_and(|f| f.at_ms < cut) {
            self.points.pop_front();
        }
    }

    pub fn last_at(&self) -> Option<u64> {
        self.points.back().map(|p| p.at_ms)
    }

    /// Whether the last scrape read `node`'s counters.
    pub fn last_has(&self, node: &str) -> bool {
        self.points.back().is_some_and(|p| p.counters.contains_key(node))
    }

    /// Each of the last `MINUTES` minutes up to `now_ms`, with the increase of every counter
    /// between two scrapes counted in the minute of the later one. A counter that went down
    /// (the PBX restarted) counts from zero; a node missing from the earlier scrape (down,
    /// or new) counts from its next one.
    pub fn minutes(&self, now_ms: u64) -> Vec<Minute> {
        let last = now_ms / 60_000;
        let first = last.saturating_sub(MINUTES - 1);
        let mut out: Vec<Minute> =
            (first..=last).map(|m| Minute { minute: m, counts: BTreeMap::new() }).collect();
        for (a, b) in self.points.iter().zip(self.points.iter().skip(1)) {
            let m = b.at_ms / 60_000;
            if m < first || m > last {
                continue;
            }
            let bucket = &mut out[(m - first) as usize].counts;
            for (node, now) in &b.counters {
                let Some(before) = a.counters.get(node) else { continue };
                for (key, v) in now {
                    let was = before.get(key).copied().unwrap_or(0.0);
                    let d = if *v < was { *v } else { v - was };
                    if d > 0.0 {
                        *bucket.entry(key.clone()).or_default() += d;
                    }
                }
            }
        }
        out
    }
}

/// One bar's part: a series name (also its CSS class) and its value.
pub type Stack = Vec<(String, f64)>;

const W: f64 = 640.0;
const H: f64 = 150.0;
const LEFT: f64 = 34.0;
const BOTTOM: f64 = 20.0;

fn hhmm(minute: u64) -> String {
    format!("{:02}:{:02}", (minute / 60) % 24, minute % 60)
}

/// A stacked bar per minute, with a scale, the time below and a legend; `id` names the
/// figure, and a table of the same numbers follows (folded) for screen readers and for
/// reading.
pub fn bars(id: &str, title: &str, minutes: &[(u64, Stack)], series: &[&str], unit: &str) -> Markup {
    let max = minutes.iter().map(|(_, s)| s.iter().map(|(_, v)| v).sum::<f64>()).fold(0.0, f64::max);
    let top = if max <= 0.0 { 1.0 } else { max.ceil() };
    let n = minutes.len().max(1) as f64;
    let slot = (W - LEFT) / n;
    let plot_h = H - BOTTOM - 6.0;
    // (An empty sum of floats is -0: add 0 for a plain 0.)
    let total: f64 = minutes.iter().flat_map(|(_, s)| s.iter().map(|(_, v)| v)).sum::<f64>() + 0.0;
    // Each bar's parts, bottom up: (class, x, y, height, tooltip).
    let mut rects = Vec::new();
    let mut times = Vec::new();
    for (i, (minute, stack)) in minutes.iter().enumerate() {
        let x = LEFT + i as f64 * slot + slot * 0.15;
        let mut y = H - BOTTOM;
        for (name, v) in stack.iter().filter(|(_, v)| *v > 0.0) {
            let h = v / top * plot_h;
            y -= h;
            rects.push((format!("s-{name}"), x, y, h, format!("{}: {v} {name}", hhmm(*minute))));
        }
        if i + 1 == minutes.len() {
            // The last label ends at its bar, inside the picture.
            times.push((x + slot * 0.7, "end", hhmm(*minute)));
        } else if i % 5 == 0 && i + 3 < minutes.len() {
            times.push((x, "start", hhmm(*minute)));
        }
    }
    html! {
        figure.chart id=(id) data-total=(total) {
            figcaption { (title) }
            svg viewBox={ "0 0 " (W) " " (H) } role="img" aria-label=(title) xmlns="http://www.w3.org/2000/svg" {
                line.axis x1=(LEFT) y1=(H - BOTTOM) x2=(W) y2=(H - BOTTOM) {}
                text.scale x=(LEFT - 4.0) y=(10.0) text-anchor="end" { (top) }
                text.scale x=(LEFT - 4.0) y=(H - BOTTOM) text-anchor="end" { "0" }
                @for (class, x, y, h, tip) in &rects {
                    rect class=(class) x=(format!("{x:.1}")) y=(format!("{y:.1}")) width=(format!("{:.1}", slot * 0.7)) height=(format!("{h:.1}")) {
                        title { (tip) }
                    }
                }
                @for (x, anchor, t) in &times {
                    text.time x=(format!("{x:.1}")) y=(H - 5.0) text-anchor=(anchor) { (t) }
                }
            }
            p.legend {
                @for s in series { span class={ "key s-" (s) } { (s) } " " }
                @if total == 0.0 { em { "nothing counted in the last " (MINUTES) " minutes" } }
                @else { "· " (total) " " (unit) " in the last " (MINUTES) " minutes" }
            }
            @if total > 0.0 {
                details {
                    summary { "The numbers" }
                    table {
                        thead { tr { th scope="col" { "Minute (UTC)" } @for s in series { th scope="col" { (s) } } } }
                        tbody {
                            @for (minute, stack) in minutes.iter().filter(|(_, s)| s.iter().any(|(_, v)| *v > 0.0)) {
                                tr {
                                    th scope="row" { (hhmm(*minute)) }
                                    @for s in series {
                                        td { (stack.iter().find(|(n, _)| n == s).map_or(0.0, |(_, v)| *v)) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Pbx;
    use crate::metrics::Sample;

    fn scrape(at_ms: u64, node: &str, answered: f64, guarded: f64) -> NodeMetrics {
        let s = |name: &str, k: &str, v: &str, value| Sample {
            name: name.into(),
            kind: "counter".into(),
            help: String::new(),
            labels: vec![(k.into(), v.into())],
            value,
        };
        let _ = at_ms;
        NodeMetrics {
            node: node.into(),
            pbx: Pbx::Asterisk,
            samples: Some(vec![
                s("twinning_calls_total", "status", "ANSWERED", answered),
                s("twinning_legs_total", "outcome", "guarded", guarded),
                s("twinning_live_calls", "x", "y", 7.0),
            ]),
        }
    }

    #[test]
    fn increases_are_counted_in_their_minute_and_restarts_from_zero() {
        let m0 = 29_000_000 * 60_000;
        let mut h = History::default();
        h.push(Point::from_metrics(m0 + 1_000, &[scrape(0, "pbx1", 10.0, 1.0)]));
        h.push(Point::from_metrics(
            m0 + 30_000,
            &[scrape(0, "pbx1", 12.0, 1.0), scrape(0, "pbx2", 5.0, 0.0)],
        ));
        h.push(Point::from_metrics(
            m0 + 70_000,
            &[scrape(0, "pbx1", 13.0, 2.0), scrape(0, "pbx2", 6.0, 0.0)],
        ));
        // pbx1 restarted: its counter went down to 1.
        h.push(Point::from_metrics(
            m0 + 100_000,
            &[scrape(0, "pbx1", 1.0, 0.0), scrape(0, "pbx2", 6.0, 0.0)],
        ));
        assert!(h.last_has("pbx2") && !h.last_has("pbx3"));
        let minutes = h.minutes(m0 + 100_000);
        assert_eq!(minutes.len() as u64, MINUTES);
        let last = &minutes[minutes.len() - 1];
        let before = &minutes[minutes.len() - 2];
        assert_eq!(before.minute, m0 / 60_000);
        assert_eq!(before.counts.get("calls|answered"), Some(&2.0), "pbx2's first scrape counts nothing");
        assert_eq!(last.counts.get("calls|answered"), Some(&3.0), "1 + 1 (pbx2) + 1 after the restart");
        assert_eq!(last.counts.get("legs|guarded"), Some(&1.0));
        assert!(!last.counts.keys().any(|k| k.contains("live")), "gauges are not counted");
    }

    #[test]
    fn bars_escape_and_scale() {
        let m = bars(
            "c",
            "Calls <per> minute",
            &[(1, vec![("answered".into(), 2.0)]), (2, vec![("answered".into(), 1.0), ("busy".into(), 1.0)])],
            &["answered", "busy"],
            "calls",
        )
        .into_string();
        assert!(m.contains("Calls &lt;per&gt; minute") && !m.contains("<per>"), "{m}");
        assert!(m.contains("data-total=\"4\""), "{m}");
        let empty = bars("e", "Nothing", &[(1, vec![])], &[], "calls").into_string();
        assert!(empty.contains("data-total=\"0\""), "not -0: {empty}");
        assert_eq!(m.matches("<rect").count(), 3, "{m}");
        assert!(m.contains("<th scope=\"row\">00:02</th><td>1</td><td>1</td>"), "the numbers: {m}");
    }
}
