//! `cairn demo` through the binary: on its in-process mock cluster it exits 0 and prints a
//! perfect score (recall 1.0 and no false alarm) and example verdicts. It takes about twenty
//! seconds, so it runs in the default test run.

use std::process::Command;

use cairn_sim::simulate::choice::picks;

#[test]
fn demo_exits_0_with_a_perfect_score() {
    let out = Command::new(crate::CAIRN)
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
            .find(|l| l.trim_start().starts_with(&format!("{measure} ")))
            .unwrap_or_else(|| panic!("no `{measure}` row:\n{stdout}"))
            .to_owned()
    };
    // The demo's faults pick messages by a hash of (app, fault, id) with a fixed run id, so
    // the losses can be counted here without trusting the demo: the enricher's skips, and the
    // indexer's drops among what the enricher passed and the indexer did not filter.
    let ids: Vec<String> = (0..80).map(|n| format!("demo-api-{n:06}")).collect();
    let skipped = |id: &str| picks("enricher", "skip", id, 0.08);
    let dropped = |id: &str| {
        !skipped(id) && !picks("indexer", "filter", id, 0.08) && picks("indexer", "drop", id, 0.08)
    };
    let committed_past = ids.iter().filter(|id| skipped(id)).count();
    let lost_in_app = ids.iter().filter(|id| dropped(id)).count();
    assert!(committed_past > 0 && lost_in_app > 0);
    let lost = committed_past + lost_in_app;
    assert!(
        row("recall").contains(&format!("1.000 ({lost}/{lost})")),
        "{stdout}"
    );
    assert!(
        row("precision").contains(&format!("1.000 ({lost}/{lost})")),
        "{stdout}"
    );
    assert!(
        row("recall committed_past").contains(&format!("({committed_past}/{committed_past})")),
        "{stdout}"
    );
    assert!(
        row("recall lost_in_app").contains(&format!("({lost_in_app}/{lost_in_app})")),
        "{stdout}"
    );
    assert!(row("false alarms").contains(" 0 "), "{stdout}");
    for kind in ["written_twice", "delivered_twice"] {
        let line = row(&format!("duplicates {kind}"));
        let counts: Vec<u64> = line
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|n| n.parse().ok())
            .collect();
        assert!(
            counts.len() >= 2 && counts[0] == counts[1] && counts[0] > 0,
            "{kind}: found must equal true, and some were injected: {line}"
        );
    }
    assert!(
        stdout.contains(r#"{"v":1,"verdict":"lost","reason":"committed_past""#),
        "{stdout}"
    );
    assert!(stdout.contains(": lost at enricher"), "{stdout}");
    assert!(stdout.contains(": lost inside indexer"), "{stdout}");
}
