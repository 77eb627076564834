//! `cairn demo` through the binary: on its in-process mock cluster it exits 0 and prints a
//! perfect score (recall 1.0 and no false alarm) and example verdicts. It takes about ten
//! seconds, so it runs in the default test run.

use std::process::Command;

#[test]
fn demo_exits_0_with_a_perfect_score() {
    let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .arg("demo")
        .env_remove("RUST_LOG")
        .output()
        .expect("run cairn demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "cairn demo failed ({})\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    let row = |measure: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(&format!("  {measure} ")))
            .unwrap_or_else(|| panic!("no `{measure}` row:\n{stdout}"))
            .to_owned()
    };
    // Five losses injected: two committed_past and one lost_in_app at the enricher, one
    // lost_in_app at the indexer, one committed_past at the sink.
    assert!(row("recall").contains("1.000 (5/5)"), "{stdout}");
    assert!(row("precision").contains("1.000 (5/5)"), "{stdout}");
    assert!(row("false alarms").contains(" 0 "), "{stdout}");
    assert!(
        row("duplicates written_twice").contains("found 1, true 1"),
        "{stdout}"
    );
    assert!(
        row("duplicates delivered_twice").contains("found 2, true 2"),
        "{stdout}"
    );
    assert!(
        stdout.contains(r#"{"v":1,"verdict":"lost","reason":"committed_past""#),
        "{stdout}"
    );
    assert!(
        stdout.contains("= order-0003: lost at enricher"),
        "{stdout}"
    );
}
