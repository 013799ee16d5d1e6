//! The shared settings store on its own, against a real PostgreSQL, where races are
//! easiest to provoke: nodes writing the same setting at once end with the same value as
//! the database, each change seen once; leases asked for from many threads on two nodes
//! never exceed the bound; an outage and a return keep both properties.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use twinning_cluster::{
    AuditRecord, ChangeWrite, Cluster, Dsn, FirstContact, LeaseAnswer, Outcome, Sink, StoreError, Update,
};
use twinning_tests::postgres::PgServer;

/// What a node's settings would hold: value and sequence number per (user, field), and
/// every sequence number it applied, to catch one applied twice.
#[derive(Default)]
struct Settings {
    values: HashMap<(String, String), (String, i64)>,
    applied: Vec<i64>,
}

#[derive(Default)]
struct Node(Mutex<Settings>);

impl Node {
    fn apply_one(s: &mut Settings, user: &str, field: &str, value: &str, seq: i64) {
        let key = (user.to_string(), field.to_string());
        if s.values.get(&key).is_some_and(|(_, have)| *have >= seq) {
            return;
        }
        s.applied.push(seq);
        s.values.insert(key, (value.to_string(), seq));
    }
}

impl Sink for Node {
    fn apply(&self, update: Update) {
        let mut s = self.0.lock().unwrap();
        match update {
            Update::Full(rows) => {
                s.values.clear();
                for r in rows {
                    s.values.insert((r.user, r.field), (r.value, r.seq));
                }
            }
            Update::Changes(rows) => {
                for r in rows {
                    Self::apply_one(&mut s, &r.user, &r.field, &r.value, r.seq);
                }
            }
        }
    }
}

fn start(pg: &PgServer, name: &str) -> (Cluster, &'static Node) {
    let node: &'static Node = Box::leak(Box::default());
    let cluster = Cluster::new(Dsn::parse(&pg.dsn("site"), name).unwrap(), name.into());
    let runner = cluster.clone();
    std::thread::spawn(move || runner.run(node));
    assert_eq!(cluster.first_contact(Duration::from_secs(10)), FirstContact::Synced);
    (cluster, node)
}

fn write(cluster: &Cluster, user: &str, field: &str, value: &str) -> Result<i64, StoreError> {
    cluster.write_change(ChangeWrite {
        user: user.into(),
        field: field.into(),
        value: value.into(),
        audit: AuditRecord {
            at: SystemTime::now(),
            surface: "test".into(),
            channel: String::new(),
            user: user.into(),
            field: field.into(),
            old_value: None,
            new_value: Some(value.into()),
            outcome: Outcome::Changed,
        },
    })
}

fn settle(what: &str, mut f: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < until, "{what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn database(pg: &PgServer) -> HashMap<(String, String), (String, i64)> {
    pg.client("site")
        .query("SELECT user_id, field, value, seq FROM twinning_overrides", &[])
        .unwrap()
        .iter()
        .map(|r| ((r.get(0), r.get(1)), (r.get(2), r.get(3))))
        .collect()
}

#[test]
fn racing_writers_on_two_nodes_agree_with_the_database() {
    let pg = PgServer::start();
    pg.create_database("site");
    let (x, node_x) = start(&pg, "x");
    let (y, node_y) = start(&pg, "y");
    let mut threads = Vec::new();
    for (cluster, node, name) in [(x.clone(), node_x, "x"), (y.clone(), node_y, "y")] {
        for t in 0..4 {
            let cluster = cluster.clone();
            threads.push(std::thread::spawn(move || {
                for i in 0..25 {
                    let field = if i % 2 == 0 { "mobile" } else { "ring_time" };
                    let value = format!("{name}-{t}-{i}");
                    let seq = write(&cluster, "1001", field, &value).expect("the database is up");
                    // A node applies its own change itself, as the driver does.
                    Node::apply_one(&mut node.0.lock().unwrap(), "1001", field, &value, seq);
                }
            }));
        }
    }
    for t in threads {
        t.join().unwrap();
    }
    let db = database(&pg);
    assert_eq!(db.len(), 2);
    settle("both nodes to hold what the database holds", || {
        node_x.0.lock().unwrap().values == db && node_y.0.lock().unwrap().values == db
    });
    for node in [node_x, node_y] {
        let applied = &node.0.lock().unwrap().applied;
        let mut unique = applied.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), applied.len(), "a change applied twice");
    }
    assert_eq!(pg.count("site", "SELECT count(*) FROM twinning_audit"), 200);
}

#[test]
fn leases_from_many_threads_never_exceed_the_bound_and_survive_an_outage() {
    let mut pg = PgServer::start();
    pg.create_database("site");
    let (x, _) = start(&pg, "x");
    let (y, _) = start(&pg, "y");
    let granted = Arc::new(Mutex::new(0));
    let mut threads = Vec::new();
    for cluster in [x.clone(), y.clone()] {
        for _ in 0..6 {
            let cluster = cluster.clone();
            let granted = granted.clone();
            threads.push(std::thread::spawn(move || {
                if cluster.acquire_lease(5) == LeaseAnswer::Granted {
                    *granted.lock().unwrap() += 1;
                    true
                } else {
                    false
                }
            }));
        }
    }
    let mine: Vec<bool> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(*granted.lock().unwrap(), 5, "exactly the bound, across both nodes");
    assert_eq!(pg.count("site", "SELECT count(*) FROM twinning_leases"), 5);
    let (held_x, held_y) =
        (mine[..6].iter().filter(|g| **g).count(), mine[6..].iter().filter(|g| **g).count());
    assert_eq!(x.status().held as usize, held_x);
    assert_eq!(y.status().held as usize, held_y);

    // An outage: slots taken meanwhile are the node's own count; the return registers
    // exactly what each node holds.
    pg.stop();
    settle("x to see the outage", || {
        write(&x, "1001", "mobile", "1")
            .is_err_and(|e| e.to_string().starts_with("settings store unavailable"))
    });
    assert_eq!(x.acquire_lease(5), LeaseAnswer::Unavailable);
    if held_y > 0 {
        y.release_lease();
    }
    pg.start_again();
    settle("x to reconnect", || x.is_connected());
    settle("y to reconnect", || y.is_connected());
    let expect_x = held_x + 1;
    let expect_y = held_y.saturating_sub(1);
    settle("the database to hold what the nodes hold", || {
        pg.count("site", "SELECT count(*) FROM twinning_leases WHERE node = 'x'") == expect_x as i64
            && pg.count("site", "SELECT count(*) FROM twinning_leases WHERE node = 'y'") == expect_y as i64
    });
    for _ in 0..expect_x {
        x.release_lease();
    }
    for _ in 0..expect_y {
        y.release_lease();
    }
    settle("every lease given back", || pg.count("site", "SELECT count(*) FROM twinning_leases") == 0);
    x.stop();
    y.stop();
}
