//! The command line: subcommands that are not built yet say so and fail, never fake output.

use std::process::Command;

fn cairn(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(args)
        .output()
        .expect("run cairn")
}

#[test]
fn unbuilt_subcommands_fail_and_say_so() {
    let cases: [&[&str]; 1] = [&["simulate", "--scenario", "s.toml"]];
    for args in cases {
        let out = cairn(args);
        assert!(
            !out.status.success(),
            "`cairn {}` must fail until it exists",
            args.join(" ")
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("not implemented yet"),
            "stderr of `cairn {}`: {stderr}",
            args.join(" ")
        );
        assert!(
            out.stdout.is_empty(),
            "`cairn {}` printed output",
            args.join(" ")
        );
    }
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
