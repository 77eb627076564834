use std::time::Duration;

use super::*;
use crate::config::{Config, ConfigError, WatchConfig};

const EXAMPLE: &str = include_str!("../../../../schemas/cairn.example.toml");

fn file(respond: &str) -> String {
    format!(
        "[clusters.a]\nbootstrap = \"localhost:9092\"\n\n[watch]\nwindow = \"2m\"\nexclude = [\"quiet\"]\n\n[[watch.groups]]\ngroup = \"muted\"\nincidents = false\n\n{respond}"
    )
}

fn load(text: &str) -> WatchConfig {
    WatchConfig::from_toml_str(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn says(text: &str, parts: &[&str]) {
    let message = match WatchConfig::from_toml_str(text) {
        Ok(config) => panic!("accepted an invalid config: {:?}\n{text}", config.respond),
        Err(err) => err.to_string(),
    };
    for part in parts {
        assert!(message.contains(part), "{part:?} not in: {message}");
    }
}

const SINK: &str = "[[respond.groups]]\ncluster = \"a\"\ngroup = \"sink\"\n";

#[test]
fn the_example_means_what_it_says() {
    let config = load(EXAMPLE);
    let respond = &config.respond;
    assert_eq!(
        respond.actions_topic.as_ref().map(|l| l.name()),
        Some("backbone/cairn-actions".to_owned())
    );
    assert_eq!(respond.webhooks.len(), 1);
    assert_eq!(respond.webhooks[0].headers.len(), 1);
    let indexer = respond.group("backbone", "indexer").expect("indexer");
    assert!(indexer.stateless);
    assert_eq!(
        indexer.action,
        Some(RespondAction::Command(vec![
            "/opt/relaunch.sh".into(),
            "indexer".into()
        ]))
    );
    assert_eq!(indexer.suppress_for, Duration::from_secs(3600));
    assert_eq!(indexer.verify_within, Duration::from_secs(180));
    assert_eq!(indexer.timeout, Duration::from_secs(30));
    let enricher = respond.group("fronting", "enricher").expect("enricher");
    match &enricher.action {
        Some(RespondAction::Http {
            url,
            method,
            headers,
            body,
        }) => {
            assert_eq!(url, "http://deployer.internal:8080/restart");
            assert_eq!(method, "POST");
            assert_eq!(headers.len(), 1);
            assert!(body.as_deref().unwrap_or_default().contains("{{group}}"));
        }
        other => panic!("expected an HTTP action: {other:?}"),
    }
    let sink = respond
        .group("backbone", "search-sink")
        .expect("search-sink");
    assert!(!sink.stateless);
    assert_eq!(sink.action, None);
    // `cairn detect` accepts and checks the same file.
    Config::from_toml_str(EXAMPLE).expect("detect reads the example");
}

#[test]
fn defaults_are_one_hour_one_window_and_thirty_seconds() {
    let config = load(&file(&format!(
        "{SINK}stateless = true\ncommand = [\"relaunch\"]\n"
    )));
    let sink = config.respond.group("a", "sink").expect("sink");
    assert_eq!(sink.suppress_for, RespondSection::DEFAULT_SUPPRESS_FOR);
    assert_eq!(
        sink.verify_within,
        Duration::from_secs(120),
        "the group's window"
    );
    assert_eq!(sink.timeout, RespondSection::DEFAULT_TIMEOUT);
    let policy = sink.policy();
    assert!(policy.stateless);
    assert_eq!(policy.verify_within, Duration::from_secs(120));
    assert!(config.respond.actions_topic.is_none());
}

#[test]
fn a_file_without_respond_acts_on_nothing() {
    let config = load(&file(""));
    assert_eq!(config.respond, RespondSection::default());
}

#[test]
fn every_mistake_names_its_key() {
    let cases: &[(&str, &[&str])] = &[
        (
            "[[respond.groups]]\ngroup = \"sink\"\nstateless = false\n",
            &["[[respond.groups]] #1 cluster", "missing"],
        ),
        (
            "[[respond.groups]]\ncluster = \"b\"\ngroup = \"sink\"\nstateless = false\n",
            &["[[respond.groups]] #1 cluster", "`b` is not declared"],
        ),
        (
            "[[respond.groups]]\ncluster = \"a\"\nstateless = false\n",
            &["#1 group", "missing"],
        ),
        (
            "[[respond.groups]]\ncluster = \"a\"\ngroup = \" \"\nstateless = false\n",
            &["#1 group", "empty"],
        ),
        (SINK, &["#1 stateless", "missing", "notify only"]),
        (
            &format!("{SINK}stateless = true\n"),
            &["#1", "stateless = true needs an action"],
        ),
        (
            &format!("{SINK}stateless = true\ncommand = [\"x\"]\nurl = \"http://h/\"\n"),
            &["#1", "both `command` and `url`"],
        ),
        (
            &format!("{SINK}stateless = true\ncommand = []\n"),
            &["#1 command", "empty"],
        ),
        (
            &format!("{SINK}stateless = true\ncommand = [\"\"]\n"),
            &["#1 command[0]", "empty"],
        ),
        (
            &format!("{SINK}stateless = true\ncommand = [\"x\"]\nbody = \"{{}}\"\n"),
            &["#1 body", "only for an HTTP action"],
        ),
        (
            &format!("{SINK}stateless = false\nmethod = \"GET\"\n"),
            &["#1 method", "only for an HTTP action"],
        ),
        (
            &format!("{SINK}stateless = true\nurl = \"ftp://h/\"\n"),
            &["#1 url", "not a URL"],
        ),
        (
            &format!("{SINK}stateless = true\nurl = \"http://h/\"\nmethod = \"FETCH\"\n"),
            &["#1 method", "\"FETCH\"", "GET, POST"],
        ),
        (
            &format!(
                "{SINK}stateless = true\nurl = \"http://h/\"\n[respond.groups.headers]\n\"bad name\" = \"x\"\n"
            ),
            &["#1 headers", "bad name"],
        ),
        (
            &format!("{SINK}stateless = true\ncommand = [\"x\"]\nsuppress_for = \"0s\"\n"),
            &["#1 suppress_for", "zero"],
        ),
        (
            &format!("{SINK}stateless = true\ncommand = [\"x\"]\ntimeout = \"0s\"\n"),
            &["#1 timeout", "zero"],
        ),
        (
            &format!(
                "{SINK}stateless = true\ncommand = [\"x\"]\nsuppress_for = \"5m\"\nverify_within = \"10m\"\n"
            ),
            &["#1", "verify_within", "at most", "suppress_for"],
        ),
        (
            &format!("{SINK}stateless = true\ncommand = [\"x\"]\nsupress_for = \"1h\"\n"),
            &["supress_for"],
        ),
        (
            &format!(
                "{SINK}stateless = false\n\n[[respond.groups]]\ncluster = \"a\"\ngroup = \"sink\"\nstateless = false\n"
            ),
            &["[[respond.groups]] #2", "`sink`", "already has an entry"],
        ),
        (
            "[[respond.groups]]\ncluster = \"a\"\ngroup = \"quiet\"\nstateless = false\n",
            &["#1", "`quiet`", "not watched"],
        ),
        (
            "[[respond.groups]]\ncluster = \"a\"\ngroup = \"muted\"\nstateless = false\n",
            &["#1", "`muted`", "incidents = false"],
        ),
        (
            "[respond]\nactions_topic = \"nowhere\"\n",
            &["[respond] actions_topic", "not a location"],
        ),
        (
            "[respond]\nactions_topic = \"b/actions\"\n",
            &["[respond] actions_topic", "`b` is not declared"],
        ),
        (
            "[[respond.webhooks]]\nurl = \"pager\"\n",
            &["[[respond.webhooks]] #1 url"],
        ),
        ("[respond]\nescalate_to = \"x\"\n", &["escalate_to"]),
    ];
    for (respond, parts) in cases {
        says(&file(respond), parts);
    }
}

#[test]
fn detect_checks_the_section_of_a_shared_file() {
    let text = EXAMPLE.replace("stateless = false ", "stateless = \"no\" ");
    let err: ConfigError = Config::from_toml_str(&text).expect_err("a bad [respond] is refused");
    assert!(err.to_string().contains("stateless"), "{err}");
}

#[test]
fn http_methods_are_read_in_any_case() {
    let config = load(&file(&format!(
        "{SINK}stateless = true\nurl = \"http://h/restart\"\nmethod = \"put\"\n"
    )));
    match &config.respond.groups[0].action {
        Some(RespondAction::Http { method, body, .. }) => {
            assert_eq!(method, "PUT");
            assert_eq!(body, &None);
        }
        other => panic!("{other:?}"),
    }
}
