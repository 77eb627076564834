use super::*;

fn settings() -> Vec<(String, String)> {
    [
        ("security.protocol", "SASL_SSL"),
        ("sasl.mechanism", "SCRAM-SHA-512"),
        ("sasl.username", "cairn"),
        ("sasl.password", "hunter2-recognisable"),
        ("ssl.ca.location", "/etc/ca.pem"),
        ("ssl.key.password", "keypass-recognisable"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

#[test]
fn secret_bearing_librdkafka_keys_are_recognised_by_name() {
    for key in [
        "sasl.password",
        "ssl.key.password",
        "ssl.keystore.password",
        "ssl.truststore.password",
        "ssl.key.pem",
        "ssl_key",
        "sasl.jaas.config",
        "sasl.oauthbearer.client.secret",
        "sasl.oauthbearer.config",
        "sasl.oauthbearer.assertion.private.key.pem",
        "sasl.oauthbearer.assertion.private.key.passphrase",
        "SASL.PASSWORD",
    ] {
        assert!(is_secret_key(key), "{key} must be secret");
    }
    for key in [
        "security.protocol",
        "sasl.mechanism",
        "sasl.username",
        "ssl.ca.location",
        "ssl.certificate.location",
        "ssl.key.location",
        "session.timeout.ms",
    ] {
        assert!(!is_secret_key(key), "{key} is not a secret");
    }
}

#[test]
fn printed_settings_and_debug_never_show_a_secret() {
    let cluster = ClusterConfig {
        name: "secure".into(),
        bootstrap: "127.0.0.1:9094".into(),
        client: settings(),
    };
    for text in [
        format!("{cluster:?}"),
        format!("{cluster:#?}"),
        ShownSettings(&cluster.client).to_string(),
    ] {
        assert!(!text.contains("recognisable"), "{text}");
        assert!(text.contains("sasl.username"), "{text}");
        assert!(text.contains("cairn"), "{text}");
        assert!(text.contains(REDACTED), "{text}");
    }
    assert_eq!(
        ShownSettings(&cluster.client[2..4]).to_string(),
        "sasl.username=cairn sasl.password=[redacted]"
    );
}

#[test]
fn scrub_removes_secret_values_from_free_text() {
    let text = "Client config error: bad value hunter2-recognisable for sasl.password";
    assert_eq!(
        scrub(text, &settings()),
        "Client config error: bad value [redacted] for sasl.password"
    );
    assert_eq!(scrub("nothing secret", &settings()), "nothing secret");
}

#[test]
fn toml_errors_never_quote_a_secret_value() {
    let config = "[clusters.a]\nbootstrap = \"x:1\"\n[clusters.a.client]\n\
                  \"sasl.password\" = 987654321\n";
    let err = crate::config::Config::from_toml_str(config)
        .unwrap_err()
        .to_string();
    assert!(!err.contains("987654321"), "{err}");
    assert!(err.contains("sasl.password"), "{err}");
    let unterminated = "[clusters.a]\nbootstrap = \"x:1\"\n[clusters.a.client]\n\
                        \"ssl.key.password\" = \"hunter2-unterminated\n";
    let err = crate::config::Config::from_toml_str(unterminated)
        .unwrap_err()
        .to_string();
    assert!(!err.contains("hunter2"), "{err}");
}
