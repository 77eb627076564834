use std::time::Duration;

use super::*;

const EXAMPLE: &str = include_str!("../../../schemas/cairn.example.toml");

/// Clusters, tracing and output: everything but streams.
fn header() -> String {
    r#"
[clusters.main]
bootstrap = "localhost:9092"

[tracing]
cluster = "main"
topic = "traces"
group = "cairn"

[output]
cluster = "main"
topic = "lost"
"#
    .to_owned()
}

fn app(name: &str, group: Option<&str>, reads: Option<&str>, writes: Option<&str>) -> String {
    let mut text = format!("\n[[streams.apps]]\napp = \"{name}\"\n");
    for (key, value) in [("group", group), ("reads", reads), ("writes", writes)] {
        if let Some(value) = value {
            text.push_str(&format!("{key} = \"{value}\"\n"));
        }
    }
    text
}

fn stream(name: &str, apps: &[String]) -> String {
    format!("\n[[streams]]\nname = \"{name}\"\n{}", apps.concat())
}

/// The smallest useful stream: a producer and one reader.
fn two_hops() -> Vec<String> {
    vec![
        app("producer", None, None, Some("main/in")),
        app("consumer", Some("g"), Some("main/in"), None),
    ]
}

fn minimal() -> String {
    header() + &stream("s", &two_hops())
}

fn load_err(text: &str) -> ConfigError {
    match Config::from_toml_str(text) {
        Ok(config) => panic!("accepted an invalid config: {config:?}\n{text}"),
        Err(err) => err,
    }
}

/// Asserts that the message holds every part: the place, the value, what was expected.
fn assert_says(err: &ConfigError, parts: &[&str]) {
    let message = err.to_string();
    for part in parts {
        assert!(message.contains(part), "{part:?} not in: {message}");
    }
}

// ---- valid configurations ----

#[test]
fn the_example_parses_validates_and_means_what_it_says() {
    let config =
        Config::from_toml_str(EXAMPLE).unwrap_or_else(|e| panic!("the example is invalid: {e}"));
    let clusters: Vec<_> = config.clusters.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(clusters, ["fronting", "backbone"], "clusters in file order");
    let backbone = config.cluster("backbone").expect("declared");
    assert_eq!(
        backbone.client.first(),
        Some(&("socket.timeout.ms".to_owned(), "30000".to_owned()))
    );
    assert_eq!(backbone.client.len(), 1);
    assert_eq!(
        backbone.bootstrap,
        "127.0.0.1:19092,127.0.0.1:19093,127.0.0.1:19094"
    );
    assert_eq!(config.tracing.topic, "cairn-traces");
    assert_eq!(config.output.cluster, "backbone");
    assert_eq!(
        config.timing,
        Timing::default(),
        "the example shows the defaults"
    );
    assert_eq!(config.detector, DetectorConfig::default());
    assert_eq!(
        config.store.path,
        std::path::PathBuf::from("target/cairn-data")
    );
    assert_eq!(config.control_plane, None);

    let playback = config.stream("playback").expect("declared");
    assert_eq!(playback.apps.len(), 5);
    let readers_of_playback: Vec<_> = playback
        .apps
        .iter()
        .filter(|a| {
            a.reads
                .as_ref()
                .is_some_and(|l| l.name() == "fronting/playback")
        })
        .map(|a| a.group.as_deref())
        .collect();
    assert_eq!(
        readers_of_playback,
        [Some("enricher"), Some("archiver")],
        "fan-out to two groups"
    );
    let sink = playback
        .apps
        .iter()
        .find(|a| a.app == "search-sink")
        .expect("declared");
    assert_eq!(sink.writes, None);

    let billing = config.stream("billing").expect("declared");
    assert_eq!(billing.sample_rate, 0.05);
    assert_eq!(billing.timing.first_check, Duration::from_secs(60));
    assert_eq!(billing.timing.max_wait, Duration::from_secs(6 * 3600));
    assert_eq!(
        billing.timing.backoff, config.timing.backoff,
        "knobs not overridden are inherited"
    );
}

#[test]
fn the_example_control_plane_block_is_valid_when_uncommented() {
    let uncommented: String = EXAMPLE
        .lines()
        .map(|line| {
            let is_control_plane = ["# [control_plane]", "# url =", "# refresh =", "# timeout ="]
                .iter()
                .any(|p| line.starts_with(p));
            if is_control_plane {
                line.trim_start_matches("# ")
            } else {
                line
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert_ne!(uncommented, EXAMPLE.trim_end());
    // With the file's [[streams]] too, the lineage would come from two places.
    let err = load_err(&uncommented);
    assert!(
        matches!(err, ConfigError::StreamsAndControlPlane),
        "{err:?}"
    );
    // The streams are the file's last section: without them the file is valid.
    let streams_at = uncommented
        .find("\n[[streams]]")
        .expect("the example has streams");
    let config =
        Config::from_toml_str(&uncommented[..streams_at]).unwrap_or_else(|e| panic!("{e}"));
    let control_plane = config.control_plane.expect("uncommented");
    assert_eq!(
        control_plane.url,
        "http://127.0.0.1:8080/cairn/streams.toml"
    );
    assert_eq!(control_plane.refresh, Duration::from_secs(30));
    assert_eq!(control_plane.timeout, Duration::from_secs(10));
    assert!(config.streams.is_empty());
}

#[test]
fn the_example_file_loads_from_disk() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/cairn.example.toml");
    let config = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.streams.len(), 2);
}

#[test]
fn a_minimal_config_gets_every_default() {
    let config = Config::from_toml_str(&minimal()).unwrap_or_else(|e| panic!("{e}"));
    let t = config.timing;
    assert_eq!(
        [
            t.first_check,
            t.backoff,
            t.backoff_max,
            t.max_wait,
            t.confirmation_delay,
            t.dedup_window,
            t.max_offsets_age
        ],
        [10, 5, 60, 3600, 5, 600, 30].map(Duration::from_secs)
    );
    assert_eq!(config.detector.workers, 0);
    assert_eq!(config.detector.on_malformed, MalformedPolicy::Skip);
    assert_eq!(config.oracle.poll_interval, Duration::from_secs(5));
    assert_eq!(config.oracle.request_timeout, Duration::from_secs(10));
    assert_eq!(config.http.listen, "127.0.0.1:9464");
    assert_eq!(config.store.path, std::path::PathBuf::from("cairn-data"));
    let stream = &config.streams[0];
    assert_eq!(stream.sample_rate, 1.0);
    assert_eq!(stream.timing, t);
    assert_eq!(
        stream.apps[1],
        AppConfig {
            app: "consumer".into(),
            group: Some("g".into()),
            reads: Some(Location {
                cluster: "main".into(),
                topic: "in".into()
            }),
            writes: None,
        }
    );
}

#[test]
fn clusters_keep_file_order_not_alphabetical_order() {
    let text = minimal().replace(
        "[clusters.main]",
        "[clusters.zeta]\nbootstrap = \"z:9092\"\n\n[clusters.alpha]\nbootstrap = \"a:9092\"\n\n[clusters.main]",
    );
    let config = Config::from_toml_str(&text).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<_> = config.clusters.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["zeta", "alpha", "main"]);
}

#[test]
fn a_control_plane_may_stand_in_for_streams() {
    let text = header()
        + "\n[control_plane]\nurl = \"http://127.0.0.1:8080/streams.toml\"\nrefresh = \"1m\"\n";
    let config = Config::from_toml_str(&text).unwrap_or_else(|e| panic!("{e}"));
    assert!(config.streams.is_empty());
    assert_eq!(
        config.control_plane.as_ref().map(|c| c.refresh),
        Some(Duration::from_secs(60))
    );

    let served = stream("s", &two_hops());
    let updated = config
        .with_streams_from_toml(&served)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(updated.streams.len(), 1);
    assert_eq!(
        updated.streams[0].timing, config.timing,
        "served streams inherit the file's timing"
    );
    assert_eq!(updated.clusters, config.clusters);

    let err = config
        .with_streams_from_toml("[tracing]\ncluster = \"main\"\n")
        .expect_err("only streams are served");
    assert!(matches!(err, ConfigError::Toml { .. }), "{err:?}");
    let bad = stream("s", &[app("consumer", Some("g"), Some("other/in"), None)]);
    let err = config
        .with_streams_from_toml(&bad)
        .expect_err("served streams are validated");
    assert!(
        matches!(err, ConfigError::UndeclaredCluster { .. }),
        "{err:?}"
    );
}

#[test]
fn a_served_document_names_its_version_and_is_refused_when_empty_or_broken() {
    let text = header() + "\n[control_plane]\nurl = \"https://cp.example/streams\"\n";
    let config = Config::from_toml_str(&text).unwrap_or_else(|e| panic!("{e}"));
    let control_plane = config.control_plane.clone().expect("set");
    assert_eq!(control_plane.refresh, ControlPlaneConfig::DEFAULT_REFRESH);
    assert_eq!(control_plane.timeout, ControlPlaneConfig::DEFAULT_TIMEOUT);

    let served = format!("version = \"v7\"\n{}", stream("s", &two_hops()));
    let got = config
        .with_served_streams(&served)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got.version.as_deref(), Some("v7"));
    assert_eq!(got.hash, content_hash(&served));
    assert!(got.hash.starts_with("sha256:") && got.hash.len() == 7 + 64);
    assert_eq!(
        content_hash(""),
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(got.config.streams.len(), 1);
    let unnamed = config
        .with_served_streams(&stream("s", &two_hops()))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(unnamed.version, None);

    let err = config.with_served_streams("").expect_err("empty");
    assert!(matches!(err, ConfigError::NoServedStreams), "{err:?}");
    let err = config
        .with_served_streams(&format!("version = \" \"\n{}", stream("s", &two_hops())))
        .expect_err("blank version");
    assert_says(&err, &["version", "empty"]);
    // toml's own message points at the line of the mistake.
    let misspelt =
        stream("s", &two_hops()) + "\n[[streams.apps]]\napp = \"x\"\nreeds = \"main/in\"\n";
    let err = config
        .with_served_streams(&misspelt)
        .expect_err("unknown key");
    assert_says(&err, &["reeds", "line"]);
}

#[test]
fn streams_and_a_control_plane_together_are_refused() {
    let err = load_err(&(minimal() + "\n[control_plane]\nurl = \"http://x/\"\n"));
    assert!(
        matches!(err, ConfigError::StreamsAndControlPlane),
        "{err:?}"
    );
    assert_says(&err, &["[control_plane]", "[[streams]]", "one place"]);
}

#[test]
fn location_parse_accepts_kafka_names_only() {
    assert_eq!(
        Location::parse("fronting/playback.v2_x-y"),
        Some(Location {
            cluster: "fronting".into(),
            topic: "playback.v2_x-y".into()
        })
    );
    for bad in [
        "playback",
        "/t",
        "c/",
        "c/t/u",
        "c/bad topic",
        "c/t!",
        "c/..",
        &format!("c/{}", "t".repeat(250)),
    ] {
        assert_eq!(Location::parse(bad), None, "{bad}");
    }
    let location = Location::parse("a/b").expect("valid");
    assert_eq!(location.to_string(), location.name());
}

// ---- TOML-level errors: toml's message, with its line ----

#[test]
fn syntax_errors_keep_tomls_line() {
    let err = load_err("[clusters.main\nbootstrap = \"x\"\n");
    assert!(matches!(err, ConfigError::Toml { .. }), "{err:?}");
    assert_says(&err, &["line 1"]);
}

#[test]
fn unknown_keys_are_errors_everywhere() {
    let cases = [
        ("bootstrap = ", "bootstrapp = "),
        ("topic = \"lost\"", "topic = \"lost\"\npartitions = 3"),
        ("name = \"s\"", "name = \"s\"\nsample = 0.5"),
        (
            "app = \"consumer\"",
            "app = \"consumer\"\nreads_from = \"main/in\"",
        ),
    ];
    for (from, to) in cases {
        let text = minimal().replacen(from, to, 1);
        assert_ne!(text, minimal());
        let err = load_err(&text);
        assert!(matches!(err, ConfigError::Toml { .. }), "{err:?}");
        assert_says(&err, &["unknown field", "line"]);
    }
    let err = load_err(&(minimal() + "\n[timing]\nmax_wiat = \"1h\"\n"));
    assert_says(&err, &["unknown field `max_wiat`", "max_wait"]);
    let err = load_err(&(minimal() + "\n[metrics]\nport = 1\n"));
    assert_says(&err, &["unknown field `metrics`"]);
}

#[test]
fn missing_sections_and_wrong_types_are_toml_errors() {
    let err = load_err(&minimal().replace("[output]\ncluster = \"main\"\ntopic = \"lost\"\n", ""));
    assert_says(&err, &["missing field `output`"]);
    let err = load_err(&(minimal() + "\n[detector]\nworkers = \"four\"\n"));
    assert_says(&err, &["workers", "line"]);
    let err = load_err(&(minimal() + "\n[detector]\non_malformed = \"ignore\"\n"));
    assert_says(&err, &["unknown variant `ignore`", "skip", "fail"]);
}

#[test]
fn durations_must_be_strings_with_units() {
    for bad in ["\"5x\"", "\"5\"", "\"1.5s\"", "5"] {
        let err = load_err(&(minimal() + &format!("\n[timing]\nbackoff = {bad}\n")));
        assert!(matches!(err, ConfigError::Toml { .. }), "{err:?}");
        assert_says(&err, &["e.g. \"500ms\", \"10s\"", "line"]);
    }
}

// ---- cluster, tracing, output ----

#[test]
fn clusters_are_required_and_well_named() {
    let err = load_err(&minimal().replace("[clusters.main]\nbootstrap = \"localhost:9092\"\n", ""));
    assert!(matches!(err, ConfigError::NoClusters), "{err:?}");
    let err = load_err(&minimal().replace("bootstrap = \"localhost:9092\"", "bootstrap = \" \""));
    assert_says(&err, &["[clusters.main] bootstrap", "expected host:port"]);
    let text = minimal() + "\n[clusters.\"bad/name\"]\nbootstrap = \"x:1\"\n";
    let err = load_err(&text);
    assert!(
        matches!(err, ConfigError::BadClusterName { ref name } if name == "bad/name"),
        "{err:?}"
    );
}

#[test]
fn client_settings_are_strings_and_cannot_override_cairns_own() {
    let with_client = |settings: &str| minimal() + "\n[clusters.main.client]\n" + settings;
    let config = Config::from_toml_str(&with_client("\"linger.ms\" = \"5\"\n"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        config.clusters[0].client,
        [("linger.ms".to_owned(), "5".to_owned())]
    );
    let err = load_err(&with_client("\"linger.ms\" = 5\n"));
    assert!(matches!(err, ConfigError::Toml { .. }), "{err:?}");
    let err = load_err(&with_client("\"group.id\" = \"mine\"\n"));
    assert_says(
        &err,
        &["[clusters.main.client]", "`group.id`", "[tracing] group"],
    );
    let err = load_err(&with_client("\"bootstrap.servers\" = \"x:1\"\n"));
    assert!(
        matches!(err, ConfigError::ReservedClientSetting { .. }),
        "{err:?}"
    );
}

#[test]
fn tracing_and_output_clusters_must_be_declared() {
    let text = minimal().replacen(
        "cluster = \"main\"\ntopic = \"traces\"",
        "cluster = \"tracing\"\ntopic = \"traces\"",
        1,
    );
    let err = load_err(&text);
    assert_says(
        &err,
        &[
            "[tracing] cluster",
            "`tracing` is not declared",
            "expected one of: main",
        ],
    );
    let text = minimal().replacen(
        "cluster = \"main\"\ntopic = \"lost\"",
        "cluster = \"elsewhere\"\ntopic = \"lost\"",
        1,
    );
    let err = load_err(&text);
    assert!(
        matches!(err, ConfigError::UndeclaredCluster { ref place, .. } if place == "[output] cluster"),
        "{err:?}"
    );
}

#[test]
fn topics_and_group_must_be_kafka_names() {
    let err = load_err(&minimal().replace("topic = \"traces\"", "topic = \"my traces\""));
    assert_says(
        &err,
        &["[tracing] topic", "\"my traces\"", "letters, digits"],
    );
    let err = load_err(&minimal().replace("topic = \"lost\"", "topic = \"\""));
    assert!(matches!(err, ConfigError::BadTopic { .. }), "{err:?}");
    let err = load_err(&minimal().replace("group = \"cairn\"", "group = \"\""));
    assert_says(&err, &["[tracing] group: empty"]);
}

// ---- apps and lineage ----

#[test]
fn app_locations_must_name_a_declared_cluster() {
    let apps = [
        app("producer", None, None, Some("main/in")),
        app("consumer", Some("g"), Some("other/in"), None),
    ];
    let err = load_err(&(header() + &stream("playback", &apps)));
    assert_says(
        &err,
        &[
            "stream `playback`",
            "app `consumer`",
            "reads",
            "cluster `other` is not declared",
            "main",
        ],
    );
}

#[test]
fn malformed_locations_are_named() {
    for bad in ["main-in", "main/", "/in", "main/a/b", "main/in put"] {
        let apps = [app("producer", None, None, Some(bad))];
        let err = load_err(&(header() + &stream("playback", &apps)));
        assert!(
            matches!(&err, ConfigError::BadLocation { stream, app, key, found }
                if stream == "playback" && app == "producer" && *key == "writes" && found == bad),
            "{bad}: {err:?}"
        );
        assert_says(&err, &["expected \"<cluster>/<topic>\""]);
    }
}

#[test]
fn a_reader_needs_a_group_and_a_group_needs_reads() {
    let apps = [
        app("producer", None, None, Some("main/in")),
        app("consumer", None, Some("main/in"), None),
    ];
    let err = load_err(&(header() + &stream("s", &apps)));
    assert!(
        matches!(err, ConfigError::ReaderWithoutGroup { .. }),
        "{err:?}"
    );
    assert_says(&err, &["stream `s`, app `consumer`", "no `group`"]);

    let apps = [app("producer", Some("g"), None, Some("main/in"))];
    let err = load_err(&(header() + &stream("s", &apps)));
    assert!(
        matches!(err, ConfigError::GroupWithoutReads { .. }),
        "{err:?}"
    );
    assert_says(&err, &["app `producer`", "no `reads`"]);

    let apps = [app("idle", None, None, None)];
    let err = load_err(&(header() + &stream("s", &apps)));
    assert!(
        matches!(err, ConfigError::AppWithoutLocations { .. }),
        "{err:?}"
    );
    assert_says(&err, &["app `idle`", "neither `reads` nor `writes`"]);

    let apps = [
        app("producer", None, None, Some("main/in")),
        app("consumer", Some(""), Some("main/in"), None),
    ];
    let err = load_err(&(header() + &stream("s", &apps)));
    assert_says(&err, &["app `consumer`, group: empty"]);
}

#[test]
fn app_names_are_unique_within_a_stream_but_not_across() {
    let mut apps = two_hops();
    apps.push(app("consumer", Some("g2"), Some("main/in"), None));
    let err = load_err(&(header() + &stream("s", &apps)));
    assert!(
        matches!(err, ConfigError::DuplicateApp { ref app, .. } if app == "consumer"),
        "{err:?}"
    );
    assert_says(&err, &["stream `s`: app `consumer` is declared twice"]);
    // The same app may serve two streams.
    let text = header() + &stream("s", &two_hops()) + &stream("t", &two_hops());
    assert!(Config::from_toml_str(&text).is_ok());
}

#[test]
fn two_apps_cannot_read_one_location_as_one_group() {
    let mut apps = two_hops();
    apps.push(app("consumer-2", Some("g"), Some("main/in"), None));
    let err = load_err(&(header() + &stream("s", &apps)));
    assert_says(
        &err,
        &["apps `consumer` and `consumer-2` both read main/in as group `g`"],
    );
}

#[test]
fn every_read_location_needs_a_writer_in_the_stream() {
    let apps = [
        app("producer", None, None, Some("main/in")),
        app("consumer", Some("g"), Some("main/elsewhere"), None),
    ];
    let err = load_err(&(header() + &stream("s", &apps)));
    assert!(
        matches!(err, ConfigError::UnwrittenRead { ref location, .. } if location == "main/elsewhere"),
        "{err:?}"
    );
    assert_says(
        &err,
        &[
            "app `consumer`",
            "reads main/elsewhere",
            "writes = \"main/elsewhere\"",
        ],
    );
}

#[test]
fn cycles_are_refused_with_their_path() {
    // in -> a -> mid -> b -> in, fed by a producer so that every read has a writer.
    let apps = [
        app("producer", None, None, Some("main/in")),
        app("a", Some("ga"), Some("main/in"), Some("main/mid")),
        app("b", Some("gb"), Some("main/mid"), Some("main/in")),
    ];
    let err = load_err(&(header() + &stream("s", &apps)));
    assert!(matches!(err, ConfigError::Cycle { .. }), "{err:?}");
    assert_says(
        &err,
        &["stream `s`", "main/in -[a]-> main/mid -[b]-> main/in"],
    );

    let apps = [
        app("producer", None, None, Some("main/in")),
        app("echo", Some("g"), Some("main/in"), Some("main/in")),
    ];
    let err = load_err(&(header() + &stream("s", &apps)));
    assert_says(&err, &["main/in -[echo]-> main/in"]);
}

#[test]
fn a_diamond_is_not_a_cycle() {
    let apps = [
        app("producer", None, None, Some("main/in")),
        app("left", Some("gl"), Some("main/in"), Some("main/out")),
        app("right", Some("gr"), Some("main/in"), Some("main/out")),
        app("sink", Some("gs"), Some("main/out"), None),
    ];
    let config =
        Config::from_toml_str(&(header() + &stream("s", &apps))).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.streams[0].apps.len(), 4);
}

#[test]
fn streams_need_apps_unique_names_and_a_sane_sample_rate() {
    let err = load_err(&(header() + &stream("s", &[])));
    assert!(matches!(err, ConfigError::NoApps { .. }), "{err:?}");
    let err = load_err(&(header() + &stream("s", &two_hops()) + &stream("s", &two_hops())));
    assert_says(&err, &["stream `s` is declared twice"]);
    let err = load_err(&(header() + &stream("", &two_hops())));
    assert_says(&err, &["[[streams]] name: empty"]);
    for bad in ["0.0", "1.5", "-0.1", "nan"] {
        let err = load_err(&minimal().replace(
            "name = \"s\"",
            &format!("name = \"s\"\nsample_rate = {bad}"),
        ));
        assert!(
            matches!(err, ConfigError::SampleRate { .. }),
            "{bad}: {err:?}"
        );
        assert_says(&err, &["stream `s`", "expected a share in (0, 1]"]);
    }
    let config =
        Config::from_toml_str(&minimal().replace("name = \"s\"", "name = \"s\"\nsample_rate = 1"))
            .unwrap_or_else(|e| panic!("an integer 1 is a rate: {e}"));
    assert_eq!(config.streams[0].sample_rate, 1.0);
}

#[test]
fn no_streams_and_no_control_plane_is_an_error() {
    let err = load_err(&header());
    assert!(matches!(err, ConfigError::NoStreams), "{err:?}");
}

// ---- timing and the other sections ----

#[test]
fn zero_durations_are_refused_where_they_are() {
    let cases = [
        ("\n[timing]\nbackoff = \"0s\"\n", "[timing] backoff"),
        (
            "\n[timing]\nconfirmation_delay = \"0ms\"\n",
            "[timing] confirmation_delay",
        ),
        (
            "\n[oracle]\npoll_interval = \"0s\"\n",
            "[oracle] poll_interval",
        ),
        (
            "\n[oracle]\nrequest_timeout = \"0s\"\n",
            "[oracle] request_timeout",
        ),
        (
            "\n[control_plane]\nurl = \"http://x/\"\nrefresh = \"0s\"\n",
            "[control_plane] refresh",
        ),
        (
            "\n[control_plane]\nurl = \"http://x/\"\ntimeout = \"0s\"\n",
            "[control_plane] timeout",
        ),
        (
            "\n[streams.timing]\ndedup_window = \"0s\"\n",
            "stream `s`, [streams.timing] dedup_window",
        ),
    ];
    for (section, place) in cases {
        // `[streams.timing]` must follow its `[[streams]]`, before the apps.
        let text = if section.contains("streams.timing") {
            header() + "\n[[streams]]\nname = \"s\"\n" + section + &two_hops().concat()
        } else {
            minimal() + section
        };
        let err = load_err(&text);
        assert!(
            matches!(err, ConfigError::ZeroDuration { .. }),
            "{place}: {err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!("{place}: zero, expected a positive duration")
        );
    }
}

#[test]
fn timing_knobs_must_be_in_order() {
    let cases = [
        (
            "backoff = \"2m\"",
            "[timing]: backoff (2m) must be at most backoff_max (1m)",
        ),
        (
            "confirmation_delay = \"1h\"",
            "[timing]: confirmation_delay (1h) must be less than max_wait (1h)",
        ),
        (
            "first_check = \"2h\"",
            "[timing]: first_check (2h) must be less than max_wait (1h)",
        ),
        (
            "max_offsets_age = \"5s\"",
            "[timing]: [oracle] poll_interval (5s) must be less than max_offsets_age (5s)",
        ),
    ];
    for (knob, message) in cases {
        let err = load_err(&(minimal() + "\n[timing]\n" + knob + "\n"));
        assert!(
            matches!(err, ConfigError::DurationOrder { .. }),
            "{knob}: {err:?}"
        );
        assert_eq!(err.to_string(), message);
    }
}

#[test]
fn stream_overrides_are_checked_against_what_they_inherit() {
    let text = header()
        + "\n[[streams]]\nname = \"slow\"\n\n[streams.timing]\nbackoff = \"90s\"\n"
        + &two_hops().concat();
    let err = load_err(&text);
    assert_eq!(
        err.to_string(),
        "stream `slow`, [streams.timing]: backoff (90s) must be at most backoff_max (1m)"
    );
    let text = text.replace(
        "backoff = \"90s\"",
        "backoff = \"90s\"\nbackoff_max = \"2m\"",
    );
    let config = Config::from_toml_str(&text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        config.streams[0].timing.backoff_max,
        Duration::from_secs(120)
    );
    assert_eq!(
        config.timing.backoff_max,
        Duration::from_secs(60),
        "the global default is untouched"
    );
}

#[test]
fn http_listen_and_control_plane_url_are_checked() {
    for good in ["0.0.0.0:9464", "[::1]:9464", "localhost:80"] {
        let text = minimal() + &format!("\n[http]\nlisten = \"{good}\"\n");
        assert_eq!(
            Config::from_toml_str(&text)
                .map(|c| c.http.listen)
                .ok()
                .as_deref(),
            Some(good)
        );
    }
    for bad in ["9464", ":9464", "localhost:http", "localhost:70000"] {
        let err = load_err(&(minimal() + &format!("\n[http]\nlisten = \"{bad}\"\n")));
        assert!(
            matches!(err, ConfigError::BadListen { .. }),
            "{bad}: {err:?}"
        );
        assert_says(&err, &["expected host:port"]);
    }
    for bad in ["ftp://x/streams", "http://", "lineage.internal/streams"] {
        let err = load_err(&(minimal() + &format!("\n[control_plane]\nurl = \"{bad}\"\n")));
        assert!(
            matches!(err, ConfigError::BadControlPlaneUrl { .. }),
            "{bad}: {err:?}"
        );
    }
    let err = load_err(&(minimal() + "\n[store]\npath = \"\"\n"));
    assert_says(&err, &["[store] path: empty"]);
}

#[test]
fn detector_settings_are_read() {
    let config = Config::from_toml_str(
        &(minimal() + "\n[detector]\nworkers = 4\non_malformed = \"fail\"\n"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        config.detector,
        DetectorConfig {
            workers: 4,
            on_malformed: MalformedPolicy::Fail,
            max_memory: None,
            max_disk: None,
        }
    );
    let err = load_err(&(minimal() + "\n[detector]\nworkers = -1\n"));
    assert!(matches!(err, ConfigError::Toml { .. }), "{err:?}");
}

#[test]
fn memory_and_disk_budgets_are_byte_sizes() {
    let config = Config::from_toml_str(
        &(minimal() + "\n[detector]\nmax_memory = \"512MiB\"\nmax_disk = 10000000000\n"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.detector.max_memory, Some(512 << 20));
    assert_eq!(config.detector.max_disk, Some(10_000_000_000));
    let err = load_err(&(minimal() + "\n[detector]\nmax_memory = \"12 parsecs\"\n"));
    assert_says(&err, &["max_memory", "e.g. \"512MiB\""]);
    let err = load_err(&(minimal() + "\n[detector]\nmax_memory = \"10KiB\"\n"));
    assert_says(
        &err,
        &["[detector] max_memory: 10KiB is too small, expected at least 1MiB"],
    );
}

#[test]
fn load_names_the_missing_file() {
    let err = Config::load("/nonexistent/cairn.toml").expect_err("no such file");
    assert!(matches!(err, ConfigError::Read { .. }), "{err:?}");
    assert_says(&err, &["reading /nonexistent/cairn.toml"]);
}
