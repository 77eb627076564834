//! The command line: help lists every subcommand, and bad arguments or files are named.

use std::process::Command;

fn cairn(args: &[&str]) -> std::process::Output {
    Command::new(crate::CAIRN)
        .args(args)
        .output()
        .expect("run cairn")
}

#[test]
fn simulate_names_a_missing_scenario() {
    let out = cairn(&["simulate", "--scenario", "no-such-scenario.toml"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no-such-scenario.toml"), "{stderr}");
}

#[test]
fn help_lists_every_subcommand() {
    let out = cairn(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for name in ["detect", "simulate", "score", "demo"] {
        assert!(
            help.contains(name),
            "help does not mention `{name}`:\n{help}"
        );
    }
}

#[test]
fn missing_required_flag_names_it() {
    let out = cairn(&["score", "--truth", "t.jsonl"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--verdicts"));
}

#[test]
fn detect_names_a_config_it_cannot_load() {
    let out = cairn(&["detect", "--config", "/nonexistent/cairn.toml"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("/nonexistent/cairn.toml"),
        "stderr: {stderr}"
    );
}

#[test]
fn detect_rejects_an_invalid_config_naming_the_problem() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cairn.toml");
    // Written by hand: the testkit's builder writes only keys cairn knows.
    std::fs::write(
        &path,
        "[tracing]\ncluster = \"nowhere\"\ntopic = \"t\"\ngroup = \"g\"\nbogus = 1\n",
    )
    .expect("write config");
    let out = cairn(&["detect", "--config", path.to_str().expect("utf-8 path")]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bogus"),
        "the unknown key is named: {stderr}"
    );
}

#[test]
fn canary_refuses_a_secured_cluster_naming_it_and_never_prints_its_secret() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cairn.toml");
    std::fs::write(
        &path,
        "[clusters.secured]\nbootstrap = \"127.0.0.1:9\"\n[clusters.secured.client]\n\
         \"security.protocol\" = \"SASL_SSL\"\n\"sasl.mechanism\" = \"SCRAM-SHA-512\"\n\
         \"sasl.username\" = \"cairn\"\n\"sasl.password\" = \"cli-test-secret-31f0\"\n",
    )
    .expect("write config");
    let out = cairn(&["canary", "--config", path.to_str().expect("utf-8 path")]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    for part in [
        "[clusters.secured.client]",
        "security.protocol",
        "SASL_SSL",
        "cairn canary",
    ] {
        assert!(stderr.contains(part), "{part} is named: {stderr}");
    }
    assert!(!stderr.contains("cli-test-secret-31f0"), "{stderr}");
}
