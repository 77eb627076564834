//! `[scale]`: defaults, and every refusal names its entry and key.

use std::time::Duration;

use crate::config::{ConfigError, WatchConfig};
use crate::scale::ScaleSettings;

const EXAMPLE: &str = include_str!("../../../../schemas/cairn.example.toml");

fn file(entry: &str) -> String {
    format!(
        "[clusters.main]\nbootstrap = \"localhost:9092\"\n[watch]\nexclude = [\"tmp-.*\"]\n\
         [[scale.groups]]\ncluster = \"main\"\ngroup = \"orders\"\n{entry}"
    )
}

fn refused(entry: &str) -> String {
    match WatchConfig::from_toml_str(&file(entry)) {
        Ok(config) => panic!("accepted: {:?}\n{entry}", config.scale),
        Err(err) => err.to_string(),
    }
}

fn assert_names(message: &str, parts: &[&str]) {
    for part in parts {
        assert!(message.contains(part), "{part:?} not in: {message}");
    }
}

#[test]
fn defaults_fill_what_is_left_out() {
    let config =
        WatchConfig::from_toml_str(&file("target = \"15m\"\nrelaunch = \"2m\"\n")).unwrap();
    let entry = config.scale.group("main", "orders").expect("advised");
    let s = entry.settings;
    assert_eq!(
        (s.target, s.relaunch),
        (Duration::from_secs(900), Duration::from_secs(120))
    );
    assert_eq!(s.cooldown, Duration::from_secs(240), "2 × relaunch");
    assert_eq!((s.min_instances, s.max_instances), (1, u32::MAX));
    assert_eq!(s.history, ScaleSettings::DEFAULT_HISTORY);
    assert_eq!(s.error_limit, ScaleSettings::DEFAULT_ERROR_LIMIT);
    assert_eq!(s.min_samples, ScaleSettings::DEFAULT_MIN_SAMPLES);
    assert_eq!(s.poll_interval, Duration::from_secs(5), "[watch]'s");
    assert!(config.scale.group("main", "other").is_none());
}

#[test]
fn the_example_documents_a_working_entry() {
    let config = WatchConfig::from_toml_str(EXAMPLE).unwrap();
    assert!(
        !config.scale.groups.is_empty(),
        "the example shows [[scale.groups]]"
    );
    // And `cairn detect` accepts the same file.
    crate::config::Config::from_toml_str(EXAMPLE).unwrap();
}

#[test]
fn every_refusal_names_the_key() {
    let cases: &[(&str, &[&str])] = &[
        (
            "target = \"2m\"\nrelaunch = \"2m\"\n",
            &["#1", "relaunch", "target", "less than"],
        ),
        (
            "target = \"1m\"\nrelaunch = \"5m\"\n",
            &["#1", "relaunch", "target"],
        ),
        (
            "target = \"0s\"\nrelaunch = \"0s\"\n",
            &["#1 target", "zero"],
        ),
        (
            "target = \"-1m\"\nrelaunch = \"5s\"\n",
            &["target", "duration"],
        ),
        (
            "target = \"1m\"\nrelaunch = \"5s\"\nmin_instances = -1\n",
            &["#1 min_instances", "-1"],
        ),
        (
            "target = \"1m\"\nrelaunch = \"5s\"\nmax_instances = 0\n",
            &["#1 max_instances", "0"],
        ),
        (
            "target = \"1m\"\nrelaunch = \"5s\"\nmin_instances = 5\nmax_instances = 2\n",
            &["#1 min_instances", "max_instances = 2"],
        ),
        (
            "target = \"1m\"\nrelaunch = \"5s\"\nerror_limit = nan\n",
            &["#1 error_limit", "NaN"],
        ),
        (
            "target = \"1m\"\nrelaunch = \"5s\"\nerror_limit = -0.5\n",
            &["#1 error_limit", "-0.5"],
        ),
        (
            "target = \"1m\"\nrelaunch = \"5s\"\ncooldown = \"9s\"\n",
            &["#1", "cooldown", "2 × relaunch"],
        ),
        (
            "target = \"1m\"\nrelaunch = \"5s\"\nmin_samples = 2\n",
            &["#1 min_samples", "2"],
        ),
        (
            "target = \"1m\"\nrelaunch = \"5s\"\nhistory = \"30s\"\n",
            &["#1", "history", "poll_interval"],
        ),
        (
            "target = \"1m\"\nrelaunch = \"5s\"\nhistory = \"30d\"\n",
            &["#1", "history", "10000 ×"],
        ),
        (
            "target = \"1m\"\nrelaunch = \"5s\"\ntarget_time = \"1m\"\n",
            &["unknown field", "target_time"],
        ),
        ("relaunch = \"5s\"\n", &["missing field", "target"]),
    ];
    for (entry, parts) in cases {
        assert_names(&refused(entry), parts);
    }
}

#[test]
fn groups_must_be_declared_watched_and_unique() {
    let undeclared = file("target = \"1m\"\nrelaunch = \"5s\"\n")
        .replace("cluster = \"main\"\ngroup", "cluster = \"edge\"\ngroup");
    let err = WatchConfig::from_toml_str(&undeclared).unwrap_err();
    assert!(
        matches!(err, ConfigError::UndeclaredCluster { .. }),
        "{err}"
    );
    let unwatched = file("target = \"1m\"\nrelaunch = \"5s\"\n")
        .replace("group = \"orders\"", "group = \"tmp-1\"");
    let message = WatchConfig::from_toml_str(&unwatched)
        .unwrap_err()
        .to_string();
    assert_names(&message, &["#1 group", "tmp-1", "[watch] follows"]);
    let twice = format!(
        "{}[[scale.groups]]\ncluster = \"main\"\ngroup = \"orders\"\ntarget = \"1m\"\nrelaunch = \"5s\"\n",
        file("target = \"1m\"\nrelaunch = \"5s\"\n")
    );
    let message = WatchConfig::from_toml_str(&twice).unwrap_err().to_string();
    assert_names(&message, &["#2 group", "again"]);
    let unknown = "[clusters.main]\nbootstrap = \"x:1\"\n[scale]\nhook = \"x\"\n";
    assert_names(
        &WatchConfig::from_toml_str(unknown).unwrap_err().to_string(),
        &["unknown field", "hook"],
    );
}

#[test]
fn the_action_hook_is_off_unless_a_command_is_given() {
    let plain = WatchConfig::from_toml_str(&file("target = \"1m\"\nrelaunch = \"5s\"\n")).unwrap();
    assert_eq!(plain.scale.groups[0].hook, None);
    let hooked = WatchConfig::from_toml_str(&file(
        "target = \"1m\"\nrelaunch = \"5s\"\ncommand = [\"/opt/scale.sh\", \"orders\"]\n",
    ))
    .unwrap();
    let hook = hooked.scale.groups[0].hook.as_ref().expect("a hook");
    assert_eq!(hook.command, ["/opt/scale.sh", "orders"]);
    assert_eq!(hook.timeout, crate::config::ScaleHook::DEFAULT_TIMEOUT);
    for (body, names) in [
        ("command = []\n", &["#1 command", "program"][..]),
        ("command = [\" \"]\n", &["#1 command", "program"][..]),
        (
            "command_timeout = \"5s\"\n",
            &["#1 command_timeout", "without a command"][..],
        ),
        (
            "command = [\"x\"]\ncommand_timeout = \"0s\"\n",
            &["#1 command_timeout"][..],
        ),
    ] {
        let text = file(&format!("target = \"1m\"\nrelaunch = \"5s\"\n{body}"));
        let message = WatchConfig::from_toml_str(&text).unwrap_err().to_string();
        assert_names(&message, names);
    }
}
