//! Secured clusters, on the broker's SASL_SSL (SCRAM-SHA-512) and SSL listeners that
//! `deploy/kafka/kafka.sh` opens (`cairn_testkit::secured`), configured only through
//! `[clusters.<name>.client]` keys:
//!
//! - `cairn simulate` (its apps and their tracers) and `cairn detect` run a pipeline with a real
//!   loss: the data cluster through SASL_SSL, the tracing cluster through SSL; detect finds
//!   every true loss and nothing else;
//! - the tracer delivers through each listener on its own;
//! - `cairn watch` follows a group through SASL_SSL;
//! - a wrong password, or a certificate signed by a CA the client does not trust, stops
//!   `cairn detect`, `cairn watch` and `cairn simulate` at start with one line that names the
//!   cluster and the cause: no hang, no librdkafka lines;
//! - no secret (the SCRAM password, an `ssl.key.password`) appears in any log line, error,
//!   `/api` answer or `/metrics` of any of them.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cairn_core::model::Reason;
use cairn_testkit::config::{CairnToml, ClusterToml, StreamToml};
use cairn_testkit::detect::{EXIT_TIMEOUT, READY_TIMEOUT};
use cairn_testkit::kafka::{Sharing, TestKafka};
use cairn_testkit::names::{rand_group, rand_topic};
use cairn_testkit::process::DetectProcess;
use cairn_testkit::secured::{Secured, assert_no_secret};
use cairn_testkit::simulate::{LOCAL, Shape, StreamSpec, World, stream, table};
use cairn_testkit::watch::WatchToml;
use cairn_testkit::workdir::Workdir;
use cairn_tracer::{Tracer, TracerConfig};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};

/// A recognisable secret given as `ssl.key.password`: librdkafka keeps it (it would unlock a
/// client key) and cairn must never print it.
const KEY_SECRET: &str = "cairn-test-key-secret-5e3c7a";
/// A recognisable wrong SCRAM password.
const WRONG_PASSWORD: &str = "cairn-test-wrong-password-9b41";
/// How long a refused start may take: the probe sees the refusal within a round trip.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(30);
/// Every answer of `cairn detect`'s HTTP face.
const DETECT_PATHS: [&str; 6] = [
    "/metrics",
    "/api/streams",
    "/api/lost",
    "/api/oracle",
    "/healthz",
    "/readyz",
];
/// Every answer of `cairn watch`'s HTTP face.
const WATCH_PATHS: [&str; 8] = [
    "/metrics",
    "/api/consumers",
    "/api/incidents",
    "/api/actions",
    "/api/scale",
    "/api/watch",
    "/healthz",
    "/readyz",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_detect_and_the_tracer_find_every_loss_through_sasl_ssl_and_ssl() {
    let secured = Secured::from_env();
    let data = secured.sasl_cluster(LOCAL, &secured.password);
    let tracing = secured
        .ssl_cluster("traces")
        .client("ssl.key.password", KEY_SECRET);
    let world = World::on_listeners(
        crate::cairn(),
        Sharing::Shared,
        "secured",
        vec![StreamSpec {
            name: "skip",
            shape: Shape::OneHop,
            scenario: "[apps.api]\nmessages = 200\nrate = 100\n\
                       [apps.reader.faults]\nskip_share = 0.1\n",
        }],
        data,
        Some(tracing),
    )
    .await;
    let mut detect = world.spawn_detect();
    detect.wait_ready(READY_TIMEOUT).await;
    let truth = world.simulate_all();
    let report = world.score_when_complete(&truth, &detect, |r| {
        let s = stream(r, "skip");
        s.lost_true > 0 && s.detected == s.lost_true
    });
    println!("{}", table(&report));
    let skip = stream(&report, "skip");
    assert!(
        skip.lost_true > 0,
        "the fault lost nothing:\n{}",
        table(&report)
    );
    assert_eq!(skip.detected, skip.lost_true, "{}", table(&report));
    assert_eq!(skip.precision, Some(1.0), "{}", table(&report));
    assert_eq!(skip.false_alarms, 0, "{}", table(&report));
    assert_eq!(skip.wrong_reason, 0, "{}", table(&report));
    assert!(
        fs::read_to_string(&truth)
            .expect("the truth")
            .lines()
            .count()
            >= 200,
        "the truth covers every message"
    );
    let _ = Reason::CommittedPast; // the skip fault's reason, checked by wrong_reason above

    // Nothing cairn printed or answered holds a secret.
    let mut outputs = answers(&detect, &DETECT_PATHS).await;
    let status = detect.terminate(EXIT_TIMEOUT).await;
    assert!(status.success(), "detect exit: {status}\n{}", detect.logs());
    outputs.extend(logs_of(world.dir()));
    assert!(
        outputs.iter().any(|(what, text)| what.contains("stderr")
            && text.contains("connecting to cluster")
            && text.contains("sasl.password=[redacted]")),
        "detect names each cluster's effective settings, the password redacted"
    );
    for (what, text) in &outputs {
        assert_no_secret(&secured.password, what, text);
        assert_no_secret(KEY_SECRET, what, text);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tracer_delivers_through_sasl_ssl_and_ssl() {
    let secured = Secured::from_env();
    let kafka = TestKafka::real(Sharing::Shared).await;
    for (listener, cluster) in [
        ("SASL_SSL", secured.sasl_cluster(LOCAL, &secured.password)),
        ("SSL", secured.ssl_cluster(LOCAL)),
    ] {
        let topic = rand_topic("secured-tracer");
        kafka.create_topic(&topic, 2).await;
        let (bootstrap, client) = cluster.parts();
        let mut config = TracerConfig::new(&bootstrap, &topic, "s", "api");
        config.client = client;
        config
            .client
            .push(("ssl.key.password".into(), KEY_SECRET.into()));
        let shown = format!("{config:?}");
        assert_no_secret(&secured.password, "TracerConfig's Debug", &shown);
        assert_no_secret(KEY_SECRET, "TracerConfig's Debug", &shown);
        let tracer = Tracer::new(config).expect("a tracer");
        for n in 0..50 {
            tracer.sent(&format!("id-{n}"), &format!("{LOCAL}/data"), 0, n);
        }
        assert!(
            tracer.flush(Duration::from_secs(30)),
            "{listener}: the tracer did not deliver within 30 s: {:?}",
            tracer.stats()
        );
        let stats = tracer.stats();
        assert_eq!(
            (stats.delivered, stats.failed, stats.dropped_queue_full),
            (50, 0, 0),
            "{listener}: {stats:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_follows_a_group_through_sasl_ssl() {
    let secured = Secured::from_env();
    let kafka = TestKafka::real(Sharing::Shared).await;
    let workdir = Workdir::new("secured-watch", crate::cairn());
    let topic = rand_topic("secured-watch");
    let group = rand_group("secured-watch");
    kafka.create_topic(&topic, 1).await;
    kafka.populate(&topic, 1, 20).await;
    commit(&kafka, &group, &topic, 5);
    let cluster = secured
        .sasl_cluster(LOCAL, &secured.password)
        .client("ssl.key.password", KEY_SECRET);
    let instance = workdir.watch_instance(
        "watch",
        WatchToml::new(cluster)
            .include(&[&group])
            .poll_interval(Duration::from_secs(1)),
    );
    let mut watch = workdir.spawn_watch(&instance);
    watch.wait_ready(READY_TIMEOUT).await;
    let path = format!("/api/consumers/{LOCAL}/{group}");
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        let body = watch.get_ok(&path).await;
        let report: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        if report["lag_records"] == 15 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the watch did not see the group's lag of 15 through SASL_SSL: {body}\n{}",
            watch.logs()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let mut outputs = answers(&watch, &WATCH_PATHS).await;
    let status = watch.terminate(EXIT_TIMEOUT).await;
    assert!(status.success(), "watch exit: {status}\n{}", watch.logs());
    outputs.extend(logs_of(workdir.path()));
    for (what, text) in &outputs {
        assert_no_secret(&secured.password, what, text);
        assert_no_secret(KEY_SECRET, what, text);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_or_an_untrusted_certificate_stops_the_start_with_one_line() {
    let secured = Secured::from_env();
    let workdir = Workdir::new("secured-refused", crate::cairn());
    let wrong = || {
        secured
            .sasl_cluster(LOCAL, WRONG_PASSWORD)
            .client("ssl.key.password", KEY_SECRET)
    };
    let untrusted = || {
        secured
            .untrusted_ssl_cluster(LOCAL)
            .client("ssl.key.password", KEY_SECRET)
    };
    let cases: [(&str, ClusterToml, &str); 2] = [
        ("password", wrong(), "authentication failed"),
        ("certificate", untrusted(), "TLS handshake failed"),
    ];
    for (case, cluster, cause) in cases {
        let config = CairnToml::new(cluster.clone())
            .tracing(
                LOCAL,
                &rand_topic("secured-refused"),
                &rand_group("secured"),
            )
            .stream(StreamToml::new("s").producer("api", &format!("{LOCAL}/secured-refused")));
        let detect_instance = workdir.instance(&format!("detect-{case}"), config);
        let mut detect = workdir.spawn(&detect_instance);
        let stderr = refused_start(&mut detect, "detect", case).await;
        assert_one_refusal_line(&stderr, &format!("detect, wrong {case}"), cause);

        let watch_instance =
            workdir.watch_instance(&format!("watch-{case}"), WatchToml::new(cluster));
        let mut watch = workdir.spawn_watch(&watch_instance);
        let stderr = refused_start(&mut watch, "watch", case).await;
        assert_one_refusal_line(&stderr, &format!("watch, wrong {case}"), cause);

        let stderr = refused_simulate(workdir.path(), &detect_instance.config_path, case);
        assert_one_refusal_line(&stderr, &format!("simulate, wrong {case}"), cause);
    }
    for (what, text) in logs_of(workdir.path()) {
        assert_no_secret(WRONG_PASSWORD, &what, &text);
        assert_no_secret(KEY_SECRET, &what, &text);
    }
}

/// Waits for a process that must refuse to start; returns its stderr.
async fn refused_start(process: &mut DetectProcess, job: &str, case: &str) -> String {
    let started = Instant::now();
    let status = process.wait_exit(REFUSAL_TIMEOUT).await;
    assert!(
        !status.success(),
        "{job} started with a wrong {case}\n{}",
        process.logs()
    );
    println!("{job}, wrong {case}: refused in {:?}", started.elapsed());
    fs::read_to_string(&process.stderr_path).expect("stderr")
}

/// `cairn simulate` on a cairn.toml whose cluster refuses it; returns its stderr.
fn refused_simulate(dir: &Path, cairn_config: &Path, case: &str) -> String {
    let scenario = dir.join(format!("refused-{case}.scenario.toml"));
    fs::write(
        &scenario,
        format!(
            "cairn_config = {}\nstream = \"s\"\n[apps.api]\nmessages = 10\n",
            toml::Value::String(cairn_config.display().to_string())
        ),
    )
    .expect("write the scenario");
    let log = dir.join(format!("simulate-{case}.stderr.log"));
    let started = Instant::now();
    let mut child = Command::new(crate::cairn())
        .args(["simulate", "--scenario"])
        .arg(&scenario)
        .arg("--out")
        .arg(dir.join(format!("simulate-{case}-out")))
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(&log).expect("create the log"))
        .spawn()
        .expect("spawn cairn simulate");
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if started.elapsed() > REFUSAL_TIMEOUT {
            let _ = child.kill();
            panic!("cairn simulate with a wrong {case} did not stop within {REFUSAL_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stderr = fs::read_to_string(&log).expect("the simulate log");
    assert!(
        !status.success(),
        "simulate ran with a wrong {case}\n{stderr}"
    );
    println!("simulate, wrong {case}: refused in {:?}", started.elapsed());
    stderr
}

/// The refusal is one line, the last, naming the cluster and `cause`; no librdkafka line.
fn assert_one_refusal_line(stderr: &str, what: &str, cause: &str) {
    let naming: Vec<&str> = stderr.lines().filter(|line| line.contains(cause)).collect();
    assert_eq!(
        naming.len(),
        1,
        "{what}: one line names the cause:\n{stderr}"
    );
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("cairn: cluster `local` (") && last.contains(cause),
        "{what}: the last line names the cluster and the cause:\n{stderr}"
    );
    assert!(
        !stderr.contains("librdkafka"),
        "{what}: librdkafka's own lines leaked:\n{stderr}"
    );
}

/// Commits `offset` on partition 0 of `topic` for `group`, from outside the group.
fn commit(kafka: &TestKafka, group: &str, topic: &str, offset: i64) {
    let consumer: BaseConsumer = kafka
        .config()
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("create the committing consumer");
    let mut offsets = TopicPartitionList::new();
    offsets
        .add_partition_offset(topic, 0, Offset::Offset(offset))
        .expect("an offset");
    consumer
        .commit(&offsets, CommitMode::Sync)
        .expect("commit the group's offset");
}

/// Every answer of `paths`, as (what, body).
async fn answers(process: &DetectProcess, paths: &[&str]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for path in paths {
        let (status, body) = process
            .get(path)
            .await
            .unwrap_or_else(|err| panic!("GET {path}: {err}"));
        out.push((format!("GET {path} ({status})"), body));
    }
    out
}

/// Every log file (`*.log`) under `dir`, as (path, text).
fn logs_of(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).expect("read a test directory").flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "log") {
                let text = fs::read_to_string(&path).unwrap_or_default();
                out.push((path.display().to_string(), text));
            }
        }
    }
    assert!(!out.is_empty(), "no log file under {}", dir.display());
    out
}
