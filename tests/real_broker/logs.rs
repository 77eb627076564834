//! Log lines for machines: with stderr going to a file, `cairn detect` writes no ANSI colour
//! codes, and `--log-format json` writes one JSON object per line. (A real broker: detect
//! does not become ready on librdkafka's mock cluster.)

use std::ffi::OsString;

use cairn_testkit::detect::{DetectEnv, DetectProcess, EXIT_TIMEOUT, READY_TIMEOUT};
use cairn_testkit::kafka::{Sharing, TestKafka};

/// Runs detect with `extra` flags before the subcommand until ready, stops it, returns stderr.
async fn run_detect(env: &DetectEnv, name: &str, extra: &[&str]) -> String {
    let instance = env.instance(name);
    let mut args: Vec<OsString> = extra.iter().map(OsString::from).collect();
    args.extend([
        OsString::from("detect"),
        OsString::from("--config"),
        instance.config_path.clone().into_os_string(),
    ]);
    let mut process =
        DetectProcess::spawn_args(crate::cairn(), name, &instance.dir, instance.http, &args, 0);
    process.wait_ready(READY_TIMEOUT).await;
    let status = process.terminate(EXIT_TIMEOUT).await;
    assert!(status.success(), "{status}\n{}", process.logs());
    std::fs::read_to_string(&process.stderr_path).expect("read the stderr log")
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_to_a_file_have_no_colour_codes_and_json_is_one_object_per_line() {
    let env = DetectEnv::new(
        crate::cairn(),
        TestKafka::real(Sharing::Shared).await,
        "logs",
        2,
    )
    .await;

    let text = run_detect(&env, "plain", &[]).await;
    assert!(text.lines().count() > 2, "detect logged something:\n{text}");
    assert!(
        !text.contains('\u{1b}'),
        "an ANSI escape in a log file:\n{text}"
    );

    let json = run_detect(&env, "json", &["--log-format", "json"]).await;
    let mut lines = 0;
    for line in json.lines().filter(|l| !l.trim().is_empty()) {
        let value: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|err| panic!("not a JSON log line ({err}): {line}"));
        assert!(
            value["level"].is_string() && value["fields"].is_object(),
            "{line}"
        );
        lines += 1;
    }
    assert!(lines > 2, "detect logged JSON lines:\n{json}");
    assert!(!json.contains('\u{1b}'));
}
