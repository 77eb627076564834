use std::time::Duration;

use super::*;
use crate::config::Config;

const EXAMPLE: &str = include_str!("../../../../schemas/cairn.example.toml");

/// What `cairn watch` needs and nothing else.
fn watch_only(watch: &str) -> String {
    format!(
        "[clusters.main]\nbootstrap = \"localhost:9092\"\n\n[clusters.edge]\nbootstrap = \"edge:9092\"\n\n{watch}"
    )
}

fn load(text: &str) -> WatchConfig {
    WatchConfig::from_toml_str(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn load_err(text: &str) -> ConfigError {
    match WatchConfig::from_toml_str(text) {
        Ok(config) => panic!("accepted an invalid config: {config:?}\n{text}"),
        Err(err) => err,
    }
}

fn assert_says(err: &ConfigError, parts: &[&str]) {
    let message = err.to_string();
    for part in parts {
        assert!(message.contains(part), "{part:?} not in: {message}");
    }
}

fn group<'a>(name: &str, config: &'a WatchConfig) -> Vec<&'a GroupOverride> {
    config
        .watch
        .groups
        .iter()
        .filter(|o| matches!(&o.selector, GroupSelector::Name(n) if n == name))
        .collect()
}

#[test]
fn the_example_serves_the_watch_and_means_what_it_says() {
    let config = load(EXAMPLE);
    let names: Vec<_> = config.clusters.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["fronting", "backbone"]);
    assert_eq!(config.http.listen, "127.0.0.1:9464");
    let watch = &config.watch;
    assert_eq!(watch.include, None, "every group");
    assert_eq!(
        watch
            .exclude
            .iter()
            .map(GroupPattern::as_str)
            .collect::<Vec<_>>(),
        ["console-consumer-[0-9]+"]
    );
    assert_eq!(watch.window, GroupSettings::DEFAULT_WINDOW);
    assert_eq!(watch.window, Duration::from_secs(180));
    assert_eq!(watch.poll_interval, Duration::from_secs(5));
    assert_eq!(watch.max_lag, Duration::from_secs(60));
    assert_eq!(watch.request_timeout, Duration::from_secs(10));
    assert_eq!(watch.history_points, 120);
    assert_eq!(
        watch
            .incidents_topic
            .as_ref()
            .map(Location::name)
            .as_deref(),
        Some("backbone/cairn-incidents")
    );
    assert_eq!(watch.groups.len(), 2);
    assert_eq!(
        group("billing-batch", &config)[0].window,
        Some(Duration::from_secs(90 * 60))
    );
    assert_eq!(
        watch.webhooks,
        [Webhook {
            url: "https://alerts.example.com/hooks/cairn".into(),
            headers: vec![("Authorization".into(), "Bearer change-me".into())],
            timeout: Duration::from_secs(5),
        }]
    );
    let lineage: Vec<(&str, &str)> = config
        .lineage_groups
        .iter()
        .map(|g| (g.cluster.as_str(), g.group.as_str()))
        .collect();
    assert_eq!(
        lineage,
        [
            ("fronting", "enricher"),
            ("fronting", "archiver"),
            ("backbone", "indexer"),
            ("backbone", "search-sink"),
            ("fronting", "billing-batch"),
        ]
    );

    let billing = config.settings_for("fronting", "billing-batch");
    assert_eq!(billing.window, Duration::from_secs(90 * 60));
    assert_eq!(billing.max_lag, Duration::from_secs(2 * 3600));
    assert!(billing.incidents);
    let adhoc = config.settings_for("fronting", "adhoc-report");
    assert!(!adhoc.incidents);
    assert_eq!(adhoc.window, watch.window);
    assert!(
        config.settings_for("backbone", "adhoc-report").incidents,
        "that entry is for fronting only"
    );
    assert!(config.watches("backbone", "anything"));
    assert!(!config.watches("fronting", "console-consumer-4711"));
    assert!(
        !config.watches("elsewhere", "enricher"),
        "not a declared cluster"
    );
}

#[test]
fn the_example_still_serves_detect_with_its_watch_section_checked() {
    let config = Config::from_toml_str(EXAMPLE).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.streams.len(), 2);
    let broken = EXAMPLE.replace("window = \"90m\"", "window = \"0s\"");
    assert_ne!(broken, EXAMPLE);
    let err = Config::from_toml_str(&broken).expect_err("detect checks [watch] too");
    assert_says(&err, &["[[watch.groups]] #1 window: zero"]);
    let typo = EXAMPLE.replace("max_lag = \"1m\"", "max_lagg = \"1m\"");
    let err = Config::from_toml_str(&typo).expect_err("unknown key");
    assert_says(&err, &["unknown field `max_lagg`"]);
}

#[test]
fn clusters_alone_are_enough_and_get_every_default() {
    let config = load(&watch_only(""));
    assert_eq!(config.http.listen, HttpConfig::DEFAULT_LISTEN);
    assert!(config.lineage_groups.is_empty());
    let watch = &config.watch;
    assert_eq!(watch.include, None);
    assert!(watch.exclude.is_empty() && watch.groups.is_empty() && watch.webhooks.is_empty());
    assert_eq!(watch.incidents_topic, None);
    assert_eq!(
        config.settings_for("main", "any"),
        GroupSettings::default(),
        "the defaults are GroupSettings' own"
    );
    assert!(config.watches("main", "any") && config.watches("edge", "other"));

    // `cairn detect` still needs its own sections: its loader is unchanged.
    let err = Config::from_toml_str(&watch_only("[watch]\n")).expect_err("no [tracing]");
    assert_says(&err, &["missing field `tracing`"]);
}

#[test]
fn detect_sections_in_a_watch_file_are_checked_for_typos_only() {
    let text = watch_only(
        "[tracing]\ncluster = \"nowhere\"\ntopic = \"t\"\ngroup = \"g\"\n\n[store]\npath = \"x\"\n",
    );
    load(&text);
    let err = load_err(&text.replace("topic = \"t\"", "topik = \"t\""));
    assert_says(&err, &["unknown field `topik`"]);
    let err = load_err(&watch_only("[metrics]\nport = 1\n"));
    assert_says(&err, &["unknown field `metrics`"]);
}

#[test]
fn streams_in_a_watch_file_are_validated_and_their_groups_always_watched() {
    let streams = "\n[[streams]]\nname = \"s\"\n\n[[streams.apps]]\napp = \"p\"\nwrites = \"edge/in\"\n\n[[streams.apps]]\napp = \"c\"\ngroup = \"console-consumer-1\"\nreads = \"edge/in\"\n";
    let config = load(&watch_only(&format!(
        "[watch]\ninclude = []\nexclude = [\"console-.*\"]\n{streams}"
    )));
    assert_eq!(
        config.lineage_groups,
        [WatchedGroup {
            cluster: "edge".into(),
            group: "console-consumer-1".into()
        }]
    );
    assert!(
        config.watches("edge", "console-consumer-1"),
        "lineage wins over exclude"
    );
    assert!(
        !config.watches("main", "console-consumer-1"),
        "on its own cluster only"
    );
    assert!(
        !config.watches("edge", "other"),
        "include = [] selects nothing else"
    );

    let err = load_err(&watch_only(&streams.replace(
        "edge/in\"\n\n[[streams.apps]]",
        "edge/out\"\n\n[[streams.apps]]",
    )));
    assert!(matches!(err, ConfigError::UnwrittenRead { .. }), "{err:?}");
}

#[test]
fn patterns_match_whole_group_names() {
    let config = load(&watch_only(
        "[watch]\ninclude = [\"orders\", \"billing-.*\"]\nexclude = [\"billing-test\"]\n",
    ));
    assert!(config.watches("main", "orders"));
    assert!(!config.watches("main", "orders-2"), "no partial match");
    assert!(!config.watches("main", "old-orders"));
    assert!(config.watches("main", "billing-eu"));
    assert!(!config.watches("main", "billing-test"));
    // An alternation is anchored as a whole.
    let pattern = GroupPattern::new("a|b").unwrap();
    assert!(pattern.matches("a") && pattern.matches("b") && !pattern.matches("ab"));
}

#[test]
fn group_entries_apply_in_file_order() {
    let config = load(&watch_only(
        r#"[watch]
window = "2m"

[[watch.groups]]
group_regex = "etl-.*"
window = "10m"
max_lag = "5m"

[[watch.groups]]
cluster = "edge"
group = "etl-nightly"
window = "2h"
incidents = false
"#,
    ));
    let nightly_edge = config.settings_for("edge", "etl-nightly");
    assert_eq!(nightly_edge.window, Duration::from_secs(7200));
    assert_eq!(
        nightly_edge.max_lag,
        Duration::from_secs(300),
        "kept from the first entry"
    );
    assert!(!nightly_edge.incidents);
    let nightly_main = config.settings_for("main", "etl-nightly");
    assert_eq!(nightly_main.window, Duration::from_secs(600));
    assert!(nightly_main.incidents);
    let other = config.settings_for("main", "web");
    assert_eq!(other.window, Duration::from_secs(120));
    assert_eq!(other.poll_interval, Duration::from_secs(5));
}

#[test]
fn every_mistake_names_its_key() {
    let cases: &[(&str, &[&str])] = &[
        (
            "[watch]\ninclude = [\"ok\", \"(\"]\n",
            &[
                "[watch] include[1]",
                "\"(\"",
                "not a regular expression",
                "unclosed group",
            ],
        ),
        ("[watch]\nexclude = [\"[z-a]\"]\n", &["[watch] exclude[0]"]),
        ("[watch]\nwindow = \"0s\"\n", &["[watch] window: zero"]),
        (
            "[watch]\nwindow = \"5s\"\n",
            &["[watch]: [watch] poll_interval (5s) must be less than window (5s)"],
        ),
        (
            "[watch]\npoll_interval = \"0s\"\n",
            &["[watch] poll_interval: zero"],
        ),
        ("[watch]\nmax_lag = \"0s\"\n", &["[watch] max_lag: zero"]),
        (
            "[watch]\nrequest_timeout = \"0s\"\n",
            &["[watch] request_timeout: zero"],
        ),
        (
            "[watch]\nhistory_points = 0\n",
            &["[watch] history_points: 0, expected at least 1"],
        ),
        ("[watch]\nhistory_points = -1\n", &["history_points"]),
        (
            "[watch]\nincidents_topic = \"incidents\"\n",
            &["[watch] incidents_topic = \"incidents\" is not a location"],
        ),
        (
            "[watch]\nincidents_topic = \"far/incidents\"\n",
            &[
                "[watch] incidents_topic",
                "cluster `far` is not declared",
                "main, edge",
            ],
        ),
        (
            "[[watch.groups]]\nwindow = \"5m\"\n",
            &[
                "[[watch.groups]] #1",
                "exactly one of `group`",
                "`group_regex`",
            ],
        ),
        (
            "[[watch.groups]]\ngroup = \"a\"\ngroup_regex = \"a.*\"\nwindow = \"5m\"\n",
            &["[[watch.groups]] #1", "exactly one of"],
        ),
        (
            "[[watch.groups]]\ngroup = \"a\"\nwindow = \"5m\"\n\n[[watch.groups]]\ngroup = \"b\"\n",
            &["[[watch.groups]] #2: sets nothing"],
        ),
        (
            "[[watch.groups]]\ngroup_regex = \"(\"\nwindow = \"5m\"\n",
            &["[[watch.groups]] #1 group_regex"],
        ),
        (
            "[[watch.groups]]\ncluster = \"far\"\ngroup = \"a\"\nwindow = \"5m\"\n",
            &["[[watch.groups]] #1 cluster", "`far` is not declared"],
        ),
        (
            "[[watch.groups]]\ngroup = \"a\"\nwindow = \"1s\"\n",
            &["[[watch.groups]] #1: [watch] poll_interval (5s) must be less than window (1s)"],
        ),
        (
            "[[watch.groups]]\ngroup = \"a\"\nmax_lag = \"0s\"\n",
            &["[[watch.groups]] #1 max_lag: zero"],
        ),
        (
            "[[watch.webhooks]]\nurl = \"alerts.example.com\"\n",
            &[
                "[[watch.webhooks]] #1 url",
                "\"alerts.example.com\"",
                "http:// or https://",
            ],
        ),
        (
            "[[watch.webhooks]]\nurl = \"http://a/\"\ntimeout = \"0s\"\n",
            &["[[watch.webhooks]] #1 timeout: zero"],
        ),
        (
            "[[watch.webhooks]]\nurl = \"http://a/\"\n[watch.webhooks.headers]\n\"Bad Name\" = \"x\"\n",
            &[
                "[[watch.webhooks]] #1 headers",
                "\"Bad Name\"",
                "not a header name",
            ],
        ),
        (
            "[[watch.webhooks]]\nurl = \"http://a/\"\n[watch.webhooks.headers]\nX-Token = \"a\\r\\nX-Evil: 1\"\n",
            &["\"X-Token\"", "line break"],
        ),
        (
            "[watch]\nwindoww = \"3m\"\n",
            &["unknown field `windoww`", "window"],
        ),
        (
            "[[watch.groups]]\ngroup = \"a\"\nwindows = \"3m\"\n",
            &["unknown field `windows`"],
        ),
        (
            "[[watch.webhooks]]\nurl = \"http://a/\"\nretries = 3\n",
            &["unknown field `retries`"],
        ),
        ("[watch]\nwindow = \"3 minutes\"\n", &["e.g. \"500ms\""]),
    ];
    for (section, parts) in cases {
        let err = load_err(&watch_only(section));
        assert_says(&err, parts);
    }
}

#[test]
fn an_incidents_topic_elects_one_active_instance_with_defaults_derived_from_it() {
    let config = load(&watch_only(
        "[watch]\nincidents_topic = \"edge/incidents\"\n",
    ));
    let election = config.watch.election.expect("on by default");
    assert_eq!(election.control_topic.name(), "edge/incidents.control");
    assert_eq!(election.control_group, "cairn-watch.incidents");
    assert_eq!(election.session_timeout, Duration::from_secs(10));
    assert_eq!(
        election.transactional_id(),
        "cairn-watch.incidents.incidents"
    );

    let config = load(&watch_only(
        "[watch]\nincidents_topic = \"edge/incidents\"\ncontrol_topic = \"main/who-acts\"\n\
         control_group = \"watchers\"\ncontrol_session_timeout = \"7s\"\n",
    ));
    let election = config.watch.election.expect("set");
    assert_eq!(election.control_topic.name(), "main/who-acts");
    assert_eq!(election.control_group, "watchers");
    assert_eq!(election.session_timeout, Duration::from_secs(7));

    let single = load(&watch_only(
        "[watch]\nincidents_topic = \"edge/incidents\"\nelection = false\n",
    ));
    assert_eq!(single.watch.election, None, "one instance that always acts");
    assert_eq!(
        load(&watch_only("[watch]\n")).watch.election,
        None,
        "no incidents topic: single instance"
    );
}

#[test]
fn election_mistakes_name_their_key() {
    let cases: &[(&str, &[&str])] = &[
        (
            "[watch]\nelection = true\n",
            &["[watch] election", "needs incidents_topic"],
        ),
        (
            "[watch]\ncontrol_group = \"g\"\n",
            &["[watch] control_group", "without incidents_topic"],
        ),
        (
            "[watch]\nincidents_topic = \"main/i\"\nelection = false\ncontrol_topic = \"main/c\"\n",
            &["[watch] control_topic", "election = false"],
        ),
        (
            "[watch]\nincidents_topic = \"main/i\"\ncontrol_topic = \"c\"\n",
            &["[watch] control_topic", "not a location"],
        ),
        (
            "[watch]\nincidents_topic = \"main/i\"\ncontrol_topic = \"far/c\"\n",
            &["[watch] control_topic", "`far` is not declared"],
        ),
        (
            "[watch]\nincidents_topic = \"main/i\"\ncontrol_topic = \"main/i\"\n",
            &["[watch] control_topic", "is the incidents topic"],
        ),
        (
            "[watch]\nincidents_topic = \"main/i\"\ncontrol_group = \" \"\n",
            &["[watch] control_group", "empty"],
        ),
        (
            "[watch]\nincidents_topic = \"main/i\"\ncontrol_session_timeout = \"0s\"\n",
            &["[watch] control_session_timeout: zero"],
        ),
    ];
    for (watch, parts) in cases {
        assert_says(&load_err(&watch_only(watch)), parts);
    }
}
