//! The single broker's secured listeners, as `deploy/kafka/kafka.sh start` opens them next to
//! the plaintext one: SASL_SSL with a SCRAM-SHA-512 user, and SSL, both with a certificate from
//! the script's own test CA. `eval "$(deploy/kafka/kafka.sh secure-env)"` sets the variables
//! read here; `deploy/test-all.sh` does it before the real-broker tests.
//!
//! Clients reach them only through `[clusters.<name>.client]` keys ([`Secured::sasl_cluster`],
//! [`Secured::ssl_cluster`]), as an operator would configure them. [`assert_no_secret`] is the
//! check that a secret never shows in what cairn prints.

use std::path::PathBuf;

use crate::config::ClusterToml;

/// The SASL_SSL listener's `host:port`.
pub const SASL_BROKERS_ENV: &str = "CAIRN_TEST_SASL_BROKERS";
/// The SSL listener's `host:port`.
pub const SSL_BROKERS_ENV: &str = "CAIRN_TEST_SSL_BROKERS";
/// The test CA's certificate (PEM) that signed the broker's.
pub const CA_ENV: &str = "CAIRN_TEST_KAFKA_CA";
/// The SCRAM-SHA-512 user and its password.
pub const USER_ENV: &str = "CAIRN_TEST_SASL_USER";
pub const PASSWORD_ENV: &str = "CAIRN_TEST_SASL_PASSWORD";

/// Where the secured listeners are and how to log in.
#[derive(Clone)]
pub struct Secured {
    pub sasl_bootstrap: String,
    pub ssl_bootstrap: String,
    pub ca: PathBuf,
    pub user: String,
    pub password: String,
}

impl Secured {
    /// From the environment; fails naming the missing variable and how to set it.
    pub fn from_env() -> Secured {
        let var = |name: &str| {
            std::env::var(name).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| {
                panic!(
                    "{name} is not set: the secured-listener tests need the broker's SASL_SSL and \
                     SSL listeners; start it with deploy/kafka/kafka.sh start and run \
                     eval \"$(deploy/kafka/kafka.sh secure-env)\""
                )
            })
        };
        let secured = Secured {
            sasl_bootstrap: var(SASL_BROKERS_ENV),
            ssl_bootstrap: var(SSL_BROKERS_ENV),
            ca: PathBuf::from(var(CA_ENV)),
            user: var(USER_ENV),
            password: var(PASSWORD_ENV),
        };
        assert!(
            secured.ca.is_file(),
            "{CA_ENV}={} is not a file",
            secured.ca.display()
        );
        secured
    }

    /// Cluster `name` on the SASL_SSL listener, logged in as the SCRAM user with `password`
    /// (the right one is [`Secured::password`]), trusting the test CA.
    pub fn sasl_cluster(&self, name: &str, password: &str) -> ClusterToml {
        ClusterToml::new(name, &self.sasl_bootstrap)
            .client("security.protocol", "SASL_SSL")
            .client("sasl.mechanism", "SCRAM-SHA-512")
            .client("sasl.username", &self.user)
            .client("sasl.password", password)
            .client("ssl.ca.location", &self.ca.display().to_string())
    }

    /// Cluster `name` on the SSL listener, trusting the test CA.
    pub fn ssl_cluster(&self, name: &str) -> ClusterToml {
        ClusterToml::new(name, &self.ssl_bootstrap)
            .client("security.protocol", "SSL")
            .client("ssl.ca.location", &self.ca.display().to_string())
    }

    /// Cluster `name` on the SSL listener trusting only the system's CAs, which never signed
    /// the test CA's broker certificate: an untrusted certificate.
    pub fn untrusted_ssl_cluster(&self, name: &str) -> ClusterToml {
        ClusterToml::new(name, &self.ssl_bootstrap).client("security.protocol", "SSL")
    }
}

/// Fails the test if `secret` appears in `text`, naming where (`what`) and the line.
pub fn assert_no_secret(secret: &str, what: &str, text: &str) {
    assert!(!secret.is_empty(), "an empty secret proves nothing");
    if let Some(line) = text.lines().find(|line| line.contains(secret)) {
        panic!("a secret appears in {what}: {line}");
    }
}
