//! `cairn score` through the binary: the report on stdout, thresholds as the exit code with
//! the missed limit named, bad input named by line, and verdicts read from a topic (on the
//! mock cluster, or the broker of CAIRN_TEST_BROKERS).

use std::path::Path;
use std::process::{Command, Output};

use cairn_core::model::{Evidence, HopRef, Kind, MessageRef, Reason, Verdict, VerdictKind};
use cairn_core::verdict;
use cairn_sim::truth::{Outcome, TRUTH_VERSION, TruthRecord, write_truth};
use cairn_testkit::kafka::{TIMEOUT, TestKafka};
use cairn_testkit::metric;
use cairn_testkit::names::rand_topic;
use rdkafka::producer::{FutureProducer, FutureRecord};

fn cairn(args: &[&str]) -> Output {
    Command::new(crate::CAIRN)
        .args(args)
        .output()
        .expect("run cairn")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn hop(app: &str) -> HopRef {
    HopRef {
        app: app.into(),
        group: Some(format!("{app}-group")),
        location: "local/orders".into(),
    }
}

fn truth_line(id: &str, outcome: Outcome) -> TruthRecord {
    let lost = outcome == Outcome::Lost;
    TruthRecord {
        v: TRUTH_VERSION,
        id: id.into(),
        stream: "orders".into(),
        hop: hop("enricher"),
        kind: Kind::Received,
        outcome,
        count: u32::from(outcome == Outcome::Delivered),
        reason: lost.then_some(Reason::CommittedPast),
        message: None,
        passed_at: lost.then_some(1_000),
    }
}

fn lost(id: &str, detected_at: i64) -> Verdict {
    Verdict {
        verdict: VerdictKind::Lost,
        reason: Reason::CommittedPast,
        id: id.into(),
        stream: "orders".into(),
        hop: hop("enricher"),
        message: MessageRef {
            location: "local/orders".into(),
            partition: 0,
            offset: 7,
        },
        evidence: Evidence {
            committed: Some(8),
            log_start: None,
        },
        first_seen: 500,
        detected_at,
    }
}

/// The truth: m1 and m2 lost at the enricher, m3 delivered.
fn write_inputs(dir: &Path, verdicts: &[Verdict]) -> (String, String) {
    let truth = [
        truth_line("m1", Outcome::Lost),
        truth_line("m2", Outcome::Lost),
        truth_line("m3", Outcome::Delivered),
    ];
    let mut bytes = Vec::new();
    write_truth(&mut bytes, &truth).expect("write truth");
    let truth_path = dir.join("truth.jsonl");
    std::fs::write(&truth_path, bytes).expect("write truth file");
    let mut lines = Vec::new();
    for v in verdicts {
        lines.extend(verdict::encode(v));
        lines.push(b'\n');
    }
    let verdicts_path = dir.join("verdicts.jsonl");
    std::fs::write(&verdicts_path, lines).expect("write verdicts file");
    (
        truth_path.display().to_string(),
        verdicts_path.display().to_string(),
    )
}

#[test]
fn a_perfect_run_passes_every_threshold() {
    let dir = tempfile::tempdir().expect("tempdir");
    // m1 twice: a repeated record counts once.
    let (truth, verdicts) = write_inputs(
        dir.path(),
        &[lost("m1", 3_000), lost("m2", 4_000), lost("m1", 3_500)],
    );
    let out = cairn(&[
        "score",
        "--truth",
        &truth,
        "--verdicts",
        &verdicts,
        "--min-precision",
        "1.0",
        "--min-recall",
        "1",
        "--max-false-alarms",
        "0",
        "--max-delay-p99",
        "5s",
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(
        stdout.contains("1 repeats of an (id, hop, verdict) counted once"),
        "{stdout}"
    );
    let recall = stdout
        .lines()
        .find(|l| l.starts_with("  recall "))
        .expect("a recall row");
    assert!(recall.contains("1.000 (2/2)"), "{recall}");
    assert!(
        stdout.contains("2.0s / 3.0s / 3.0s"),
        "delay p50/p99/max: {stdout}"
    );
    assert!(stdout.contains("ok      recall 1.000"), "{stdout}");
}

#[test]
fn a_missed_threshold_fails_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    // m2 missed; m3 was delivered, so its verdict is contradicted by the truth.
    let (truth, verdicts) = write_inputs(dir.path(), &[lost("m1", 3_000), lost("m3", 3_000)]);
    let out = cairn(&[
        "score",
        "--truth",
        &truth,
        "--verdicts",
        &verdicts,
        "--min-recall",
        "1.0",
        "--max-false-alarms",
        "0",
        "--min-precision",
        "0.5",
    ]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("thresholds missed: recall 0.500 < --min-recall 1; false alarms 1 > --max-false-alarms 0"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("precision"),
        "precision 0.5 passed: {stderr}"
    );
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("MISSED  recall 0.500"),
        "the report comes first: {stdout}"
    );
}

#[test]
fn json_is_the_same_report_for_programs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (truth, verdicts) = write_inputs(dir.path(), &[lost("m1", 3_000)]);
    let out = cairn(&[
        "score",
        "--truth",
        &truth,
        "--verdicts",
        &verdicts,
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert_eq!(json["overall"]["recall"], 0.5);
    assert_eq!(json["overall"]["missed"], 1);
    assert_eq!(json["streams"][0]["stream"], "orders");
    assert_eq!(json["metrics"], serde_json::Value::Null);
}

#[test]
fn metrics_from_a_file_compare_duplicates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (truth, verdicts) = write_inputs(dir.path(), &[]);
    let metrics = dir.path().join("metrics.txt");
    std::fs::write(
        &metrics,
        format!(
            "{}{{stream=\"orders\",app=\"enricher\",group=\"g\",location=\"local/orders\",kind=\"delivered_twice\"}} 3\n",
            metric::DUPLICATES.name
        ),
    )
    .expect("write metrics");
    let out = cairn(&[
        "score",
        "--truth",
        &truth,
        "--verdicts",
        &verdicts,
        "--metrics",
        metrics.to_str().expect("utf-8"),
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(stdout.contains("found 3, true 0"), "{stdout}");
    let without = text(&cairn(&["score", "--truth", &truth, "--verdicts", &verdicts]).stdout);
    assert!(
        without.contains("duplicates found and stuck were not compared"),
        "{without}"
    );
}

#[test]
fn a_bad_line_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (truth, verdicts) = write_inputs(dir.path(), &[lost("m1", 3_000)]);
    let mut bad = std::fs::read_to_string(&verdicts).expect("read verdicts");
    bad.push_str("{\"v\":1,\"verdict\":\"lost\"}\n");
    std::fs::write(&verdicts, bad).expect("write");
    let out = cairn(&["score", "--truth", &truth, "--verdicts", &verdicts]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("verdicts.jsonl line 2: not a verdict record"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "no report from bad input");

    let mut truth_text = std::fs::read_to_string(&truth).expect("read truth");
    truth_text.push_str("{\"v\":1}\n");
    std::fs::write(&truth, truth_text).expect("write");
    let out = cairn(&["score", "--truth", &truth, "--verdicts", &verdicts]);
    let stderr = text(&out.stderr);
    assert!(stderr.contains("truth.jsonl: truth line 4:"), "{stderr}");
}

#[test]
fn a_bad_threshold_or_topic_is_refused() {
    let out = cairn(&[
        "score",
        "--truth",
        "t",
        "--verdicts",
        "v",
        "--min-recall",
        "1.5",
    ]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("expected a number from 0 to 1"));
    let out = cairn(&[
        "score",
        "--truth",
        "t",
        "--verdicts",
        "v",
        "--max-delay-p99",
        "soon",
    ]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("--max-delay-p99"));
    let dir = tempfile::tempdir().expect("tempdir");
    let (truth, _) = write_inputs(dir.path(), &[]);
    let out = cairn(&[
        "score",
        "--truth",
        &truth,
        "--verdicts",
        "kafka://127.0.0.1/lost",
    ]);
    assert!(
        text(&out.stderr).contains("kafka://<host:port>"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verdicts_are_read_from_a_topic_to_its_end() {
    let kafka = TestKafka::start();
    let topic = rand_topic("score");
    kafka.create_topic(&topic, 3).await;
    let producer: FutureProducer = kafka.config().create().expect("producer");
    let mut records: Vec<(String, Vec<u8>)> =
        [lost("m1", 3_000), lost("m2", 4_000), lost("m1", 3_000)]
            .iter()
            .map(|v| (v.id.clone(), verdict::encode(v)))
            .collect();
    records.push(("junk".into(), b"not a verdict".to_vec()));
    for (key, payload) in &records {
        producer
            .send(FutureRecord::to(&topic).key(key).payload(payload), TIMEOUT)
            .await
            .map_err(|(err, _)| err)
            .expect("produce");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (truth, _) = write_inputs(dir.path(), &[]);
    let source = format!("kafka://{}/{topic}", kafka.bootstrap);
    let out = tokio::task::spawn_blocking(move || {
        cairn(&[
            "score",
            "--truth",
            &truth,
            "--verdicts",
            &source,
            "--min-recall",
            "1",
            "--json",
        ])
    })
    .await
    .expect("join");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert_eq!(json["verdict_records"], 3, "{json}");
    assert_eq!(json["verdict_repeats"], 1, "{json}");
    assert_eq!(json["overall"]["detected"], 2, "{json}");
    let malformed = json["malformed_verdicts"].as_array().expect("a list");
    assert_eq!(malformed.len(), 1, "{json}");
    assert!(
        malformed[0].as_str().unwrap().contains("not JSON"),
        "{json}"
    );
}
