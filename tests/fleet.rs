//! A fleet's shared state in a real Redis (`redis-server`, started here on a
//! free loopback port, with its append-only file on): replicas started with
//! the production wiring and `--redis`, asked over HTTP.
//!
//! Without `redis-server` on the PATH each case says so and passes, except
//! under CI, where a missing server is a failure (`.ci/run` installs it).

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Server, TOKEN, with_token};
use tracescan::serve;

/// How long anything waited for here may take.
const DEADLINE: Duration = Duration::from_secs(30);
/// A batch of the bundled sample, and an item of it.
const GTIN: &str = "08930002000017";
const LOT: &str = "L2611";
const ITEM: &str = "(01)08930002000017(10)L2611(21)S001001";
/// The batch alone: a lookup of it counts no scan.
const BATCH: &str = "(01)08930002000017(10)L2611";

fn wait_for(what: &str, done: impl FnMut() -> bool) {
    common::wait_within(what, DEADLINE, done);
}

/// A `redis-server` of its own, persisting to a directory that outlives a
/// restart.
struct Redis {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

impl Redis {
    /// Starts one; `None` (the case is skipped) without `redis-server`,
    /// outside CI.
    fn start() -> Option<Redis> {
        let found = Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok();
        if !found {
            assert!(
                std::env::var_os("CI").is_none(),
                "redis-server is not installed: CI must install it (see .ci/run)"
            );
            eprintln!("skipped: no redis-server (apt-get install redis-server)");
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut redis = Redis {
            child: None,
            port,
            dir: tempfile::tempdir().unwrap(),
        };
        redis.restart();
        Some(redis)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// (Re)starts the server on its port and directory; what it had taken
    /// is read back from its append-only file.
    fn restart(&mut self) {
        let log = std::fs::File::create(self.dir.path().join("redis.log")).unwrap();
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .arg("--dir")
            .arg(self.dir.path())
            .args([
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ])
            .stdout(log)
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        wait_for("redis-server to answer", || self.connect().is_some());
    }

    /// Kills the server and removes its files: it comes back empty.
    fn wipe(&mut self) {
        self.kill();
        for entry in std::fs::read_dir(self.dir.path()).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                std::fs::remove_dir_all(path).unwrap();
            }
        }
    }

    /// Kills the server, as a crash would.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn connect(&self) -> Option<redis::Connection> {
        redis::Client::open(self.url())
            .ok()?
            .get_connection_with_timeout(Duration::from_secs(1))
            .ok()
    }

    /// ITEM's count in the hash `key` (the fleet's, or one replica's).
    fn count(&self, key: &str) -> Option<u64> {
        self.query(
            redis::cmd("HGET")
                .arg(key)
                .arg("01/08930002000017/21/S001001"),
        )
    }

    fn query<T: redis::FromRedisValue>(&self, cmd: &mut redis::Cmd) -> T {
        cmd.query(&mut self.connect().expect("redis answers"))
            .unwrap()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A replica of the bundled sample sharing `redis`, with the admin API on,
/// each scan counted (no repeat window) and counts sent every 20 ms.
fn replica(redis: &Redis, state: Option<&Path>) -> Server {
    let (url, state) = (redis.url(), state.map(Path::to_path_buf));
    let server = Server::sample(move |config, dir| {
        fleet_config(config, dir, state);
        config.redis = Some(url);
    });
    wait_for("the replica ready", || server.get("/readyz").status == 200);
    server
}

fn fleet_config(config: &mut serve::Config, dir: &Path, state: Option<std::path::PathBuf>) {
    with_token(config, dir);
    config.state_dir = Some(state.unwrap_or_else(|| dir.join("state")));
    config.scan_repeat_window_s = 0;
    config.scan_flush_ms = 20;
    config.redis_timeout_ms = 500;
}

fn set(server: &Server, body: &str) -> common::Response {
    server.request("POST", "/admin/overlay", Some(TOKEN), body)
}

fn recalled(server: &Server) -> bool {
    server
        .scan(BATCH)
        .warnings()
        .iter()
        .any(|w| w == "recalled")
}

fn count(server: &Server) -> u64 {
    let answer = server.scan(ITEM).json();
    answer["item"]["scans"]["count"]
        .as_u64()
        .unwrap_or_else(|| panic!("no count in {answer}"))
}

fn metric(server: &Server, name: &str) -> f64 {
    let text = server.get("/metrics").text();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
}

/// Waits until `server` has sent Redis every count it has.
fn wait_sent(server: &Server) {
    wait_for("counts sent", || server.service().scans.unpushed() == 0);
}

#[test]
fn a_change_set_on_one_replica_is_in_force_on_every_replica() {
    let Some(redis) = Redis::start() else { return };
    let (a, b) = (replica(&redis, None), replica(&redis, None));
    assert!(!recalled(&b));

    let body =
        format!(r#"{{"gtin":"{GTIN}","lot":"{LOT}","status":"recalled","notice":"Đợt thu hồi"}}"#);
    assert_eq!(set(&a, &body).status, 200);
    assert!(recalled(&a), "in force at once where it was set");
    wait_for("the recall on the other replica", || recalled(&b));
    assert!(b.scan(ITEM).text().contains("Đợt thu hồi"));

    // Undone on the other replica: lifted on both.
    let undo = format!(r#"{{"gtin":"{GTIN}","lot":"{LOT}"}}"#);
    assert_eq!(
        b.request("POST", "/admin/overlay/undo", Some(TOKEN), &undo)
            .status,
        200
    );
    wait_for("the undo on the first replica", || !recalled(&a));

    // The stream holds both, in order, as overlay log lines.
    let entries: Vec<(String, Vec<String>)> = redis.query(
        redis::cmd("XRANGE")
            .arg("tracescan:changes")
            .arg("-")
            .arg("+"),
    );
    let ops: Vec<String> = entries
        .iter()
        .map(|(_, f)| serde_json::from_str::<serde_json::Value>(&f[1]).unwrap()["op"].to_string())
        .collect();
    assert_eq!(ops, [r#""set""#, r#""undo""#]);
    // Each replica's log took both too: its copy for when Redis is away.
    for server in [&a, &b] {
        let log = std::fs::read_to_string(server.dir.path().join("state/overlay.log")).unwrap();
        assert_eq!(log.lines().count(), 2, "{log}");
    }
}

#[test]
fn a_stream_entry_no_replica_could_apply_is_skipped_and_later_changes_still_apply() {
    let Some(redis) = Redis::start() else { return };
    let a = replica(&redis, None);
    // Written by something other than a replica: an overlong notice, and
    // not a change at all.
    let long = "x".repeat(3000);
    let bad = format!(
        r#"{{"op":"set","gtin":"{GTIN}","lot":"{LOT}","status":"recalled","notice":"{long}","at":"2026-12-01T00:00:00Z"}}"#
    );
    for (field, value) in [("change", bad.as_str()), ("other", "x")] {
        let _: String = redis.query(
            redis::cmd("XADD")
                .arg("tracescan:changes")
                .arg("*")
                .arg(field)
                .arg(value),
        );
    }
    let body = format!(r#"{{"gtin":"{GTIN}","lot":"{LOT}","status":"withdrawn"}}"#);
    assert_eq!(set(&a, &body).status, 200);
    let answer = a.scan(BATCH);
    assert!(
        answer.warnings().iter().any(|w| w == "withdrawn"),
        "{}",
        answer.text()
    );
    assert_eq!(metric(&a, "tracescan_fleet_bad_changes_total"), 2.0);
}

#[test]
fn scan_counts_are_summed_over_the_replicas() {
    let Some(redis) = Redis::start() else { return };
    let (a, b) = (replica(&redis, None), replica(&redis, None));
    for _ in 0..3 {
        count(&a);
    }
    wait_sent(&a);
    for _ in 0..2 {
        count(&b);
    }
    wait_sent(&b);
    assert_eq!(redis.count("tracescan:scans"), Some(5));
    // Each replica shows the fleet's count as it last heard it, with its
    // own scans since: what it sends is answered with the fleet's total.
    assert_eq!(
        count(&b),
        6,
        "the second replica heard of the first's three when it sent its own"
    );
    wait_sent(&b);
    assert_eq!(count(&a), 4, "the first has not heard of the second's yet");
    wait_sent(&a);
    assert_eq!(count(&a), 8, "now it has: 7 in the fleet, and this scan");

    // The fleet's count is what `scanned_many_times` reads.
    let c = {
        let url = redis.url();
        Server::sample(move |config, dir| {
            fleet_config(config, dir, None);
            config.redis = Some(url);
            config.scan_warn_above = 7;
        })
    };
    wait_for("the third replica ready", || c.get("/readyz").status == 200);
    assert_eq!(count(&c), 1);
    wait_sent(&c);
    let answer = c.scan(ITEM);
    assert_eq!(
        answer.json()["item"]["scans"]["count"],
        10,
        "8 before, and two here"
    );
    assert!(answer.warnings().iter().any(|w| w == "scanned_many_times"));
}

#[test]
fn redis_lost_and_back_loses_no_count_and_no_change() {
    let Some(mut redis) = Redis::start() else {
        return;
    };
    let a = replica(&redis, None);
    let b = replica(&redis, None);
    count(&a);
    count(&a);
    wait_sent(&a);

    redis.kill();
    // Scans go on from local memory, counted here.
    for _ in 0..3 {
        let answer = a.scan(ITEM);
        assert_eq!(answer.status, 200);
    }
    assert_eq!(count(&a), 6);
    wait_for("Redis seen down", || {
        metric(&a, "tracescan_fleet_redis_up") == 0.0
            && metric(&a, "tracescan_fleet_unsent_items") == 1.0
    });
    // A change Redis cannot take is refused, and in force nowhere.
    let body = format!(r#"{{"gtin":"{GTIN}","lot":"{LOT}","status":"recalled"}}"#);
    let refused = set(&a, &body);
    assert_eq!(refused.status, 503, "{}", refused.text());
    assert_eq!(refused.json()["error"], "fleet_unavailable");
    assert!(!recalled(&a));
    assert!(
        a.get("/readyz").status == 200,
        "a replica stays ready without Redis"
    );

    redis.restart();
    wait_sent(&a);
    assert_eq!(
        redis.count("tracescan:scans"),
        Some(6),
        "the two sent before and the four counted while Redis was away"
    );
    // Changes flow again, both ways.
    assert_eq!(set(&a, &body).status, 200);
    wait_for("the recall on the other replica", || recalled(&b));
    wait_for("lag back under a few seconds", || {
        (0.0..3.0).contains(&metric(&b, "tracescan_fleet_changes_lag_seconds"))
    });
}

#[test]
fn a_redis_that_comes_back_empty_is_given_the_changes_and_counts_again() {
    let Some(mut redis) = Redis::start() else {
        return;
    };
    let (a, b) = (replica(&redis, None), replica(&redis, None));
    let body = format!(r#"{{"gtin":"{GTIN}","lot":"{LOT}","status":"recalled"}}"#);
    assert_eq!(set(&a, &body).status, 200);
    count(&a);
    count(&b);
    count(&b);
    wait_sent(&a);
    wait_sent(&b);

    redis.wipe();
    redis.restart();
    wait_for("the counts sent again", || {
        redis.count("tracescan:scans") == Some(3)
    });
    wait_for("the stream seeded again", || {
        redis.query::<u64>(redis::cmd("XLEN").arg("tracescan:changes")) >= 1
    });
    // A replica that joins now sees both.
    let c = replica(&redis, None);
    assert!(recalled(&c));
    assert_eq!(count(&c), 1);
    wait_sent(&c);
    assert_eq!(count(&c), 5);
}

#[test]
fn an_empty_redis_is_seeded_with_the_changes_in_force_and_a_replica_keeps_its_share() {
    let Some(redis) = Redis::start() else { return };
    let state = tempfile::tempdir().unwrap();
    let state_path = state.path().to_path_buf();
    // A lone server, before the fleet: a recall in its own log, and scans.
    {
        let alone = Server::sample(|config, dir| fleet_config(config, dir, Some(state_path)));
        let body = format!(r#"{{"gtin":"{GTIN}","lot":"{LOT}","status":"recalled"}}"#);
        assert_eq!(set(&alone, &body).status, 200);
        count(&alone);
        count(&alone);
    }
    // The same server joins a fleet: Redis is seeded with its recall and
    // takes its counts; a new replica sees both.
    let joined = replica(&redis, Some(state.path()));
    wait_sent(&joined);
    let other = replica(&redis, None);
    wait_for("the seeded recall on the new replica", || recalled(&other));
    assert_eq!(count(&other), 1);
    wait_sent(&other);
    assert_eq!(count(&other), 4, "the joined replica's two, and two here");
    wait_sent(&other);
    let id = std::fs::read_to_string(state.path().join("replica-id")).unwrap();
    drop(joined);

    // Restarted on its state, it is the same replica: its count is not
    // added twice.
    let again = replica(&redis, Some(state.path()));
    wait_sent(&again);
    assert_eq!(
        std::fs::read_to_string(state.path().join("replica-id")).unwrap(),
        id
    );
    assert_eq!(redis.count("tracescan:scans"), Some(4));
    assert_eq!(
        redis.count(&format!("tracescan:scans:replica:{id}")),
        Some(2)
    );
}

#[test]
fn a_bad_redis_url_or_no_state_directory_is_refused_at_start() {
    let mut config = serve::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        index: Some(common::publish(
            tempfile::tempdir().unwrap().path(),
            "s.tsidx",
        )),
        redis: Some("redis://127.0.0.1:1/0".into()),
        ..serve::Config::default()
    };
    let e = serve::start(config.clone()).err().unwrap().to_string();
    assert!(e.contains("--redis needs a state directory"), "{e}");
    config.state_dir = Some(tempfile::tempdir().unwrap().path().to_path_buf());
    config.redis = Some("postgres://nope".into());
    let e = serve::start(config.clone()).err().unwrap().to_string();
    assert!(e.starts_with("--redis postgres://nope:"), "{e}");
    // A password never reaches an error or the log.
    config.redis = Some("rediss://:hunter2-secret@127.0.0.1:1/notadb".into());
    let e = serve::start(config).err().unwrap().to_string();
    assert!(
        e.starts_with("--redis rediss://:***@127.0.0.1:1/notadb: "),
        "{e}"
    );
    assert!(!e.contains("hunter2"), "{e}");
}
