//! The first contact with each cluster a job uses, before it builds its real clients: the one
//! place where a cluster that refuses cairn's credentials or certificate stops the start with one
//! line that names the cluster and the cause.
//!
//! librdkafka does not fail a request when authentication or the TLS handshake fails: it logs,
//! reports an error event and connects again, so a job would wait for its first timeout and show
//! a stack of librdkafka lines. The probe reads those events itself (on a client whose own log
//! lines go to debug), and stops at the first one that retrying cannot fix. A cluster that does
//! not answer at all is left to the job's own handling (it may come up later): the probe gives up
//! quietly after its timeout.
//!
//! It also writes the line that shows a cluster's effective client settings, secrets redacted
//! by [`cairn_core::config::secrets`].

use std::sync::Mutex;
use std::time::{Duration, Instant};

use cairn_core::config::secrets::{ShownSettings, scrub};
use rdkafka::ClientConfig;
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, Producer as _, ProducerContext};

/// The longest the probe waits for a cluster that does not answer: a refused login or
/// certificate shows within a round trip of the first connection, and a cluster that is down
/// is the job's own business (it reports and retries), so the start is not held up longer.
pub const MAX_WAIT: Duration = Duration::from_secs(5);

/// How long one metadata request of the probe waits before it looks at the error events again.
const STEP: Duration = Duration::from_millis(250);

/// Why a cluster cannot be used. The text is the whole story: cluster, address, cause, what to
/// check; secrets never appear in it.
#[derive(Debug, thiserror::Error)]
pub enum ClusterRefused {
    /// librdkafka refused a client setting.
    #[error(
        "cluster `{cluster}`: a client setting was refused: {detail}; check [clusters.{cluster}.client]"
    )]
    Settings { cluster: String, detail: String },
    /// SASL authentication failed: wrong user, password or mechanism.
    #[error(
        "cluster `{cluster}` ({bootstrap}): authentication failed: {detail}; check sasl.mechanism, sasl.username and sasl.password in [clusters.{cluster}.client]"
    )]
    Authentication {
        cluster: String,
        bootstrap: String,
        detail: String,
    },
    /// The TLS handshake failed: most often a broker certificate cairn does not trust.
    #[error(
        "cluster `{cluster}` ({bootstrap}): TLS handshake failed: {detail}; check ssl.ca.location (the CA that signed the broker's certificate) and security.protocol in [clusters.{cluster}.client]"
    )]
    Tls {
        cluster: String,
        bootstrap: String,
        detail: String,
    },
}

/// Probes every `(name, settings)` cluster at once (each as [`check_cluster`]) and returns the
/// first refusal in the order given.
pub fn check_clusters(
    clusters: &[(String, ClientConfig)],
    timeout: Duration,
) -> Result<(), ClusterRefused> {
    std::thread::scope(|scope| {
        let probes: Vec<_> = clusters
            .iter()
            .map(|(name, config)| scope.spawn(move || check_cluster(name, config, timeout)))
            .collect();
        probes
            .into_iter()
            .map(|probe| {
                probe
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect::<Result<Vec<()>, _>>()
            .map(|_| ())
    })
}

/// Connects to cluster `name` with `config` and waits up to `timeout` (at most [`MAX_WAIT`]) for a metadata answer.
/// Returns an error only for a cause that retrying cannot fix (settings, authentication, TLS).
pub fn check_cluster(
    name: &str,
    config: &ClientConfig,
    timeout: Duration,
) -> Result<(), ClusterRefused> {
    let settings: Vec<(String, String)> = {
        // config_map() hides only some secrets; the values come from get(), and are shown
        // only through ShownSettings and scrub.
        config
            .config_map()
            .keys()
            .filter(|key| **key != "bootstrap.servers")
            .map(|key| ((*key).to_owned(), config.get(key).unwrap_or("").to_owned()))
            .collect()
    };
    let bootstrap = config.get("bootstrap.servers").unwrap_or("").to_owned();
    tracing::info!(
        cluster = name,
        bootstrap,
        client = %ShownSettings(&settings),
        "connecting to cluster"
    );
    let producer: BaseProducer<ProbeContext> = config
        .clone()
        .set_log_level(RDKafkaLogLevel::Debug)
        .create_with_context(ProbeContext::default())
        .map_err(|err| ClusterRefused::Settings {
            cluster: name.to_owned(),
            detail: scrub(&err.to_string(), &settings),
        })?;
    let deadline = Instant::now() + timeout.min(MAX_WAIT);
    loop {
        let answered = producer.client().fetch_metadata(None, STEP).is_ok();
        producer.poll(Duration::ZERO);
        if let Some((kind, detail)) = producer.context().refused.lock().unwrap().take() {
            let (cluster, bootstrap, detail) =
                (name.to_owned(), bootstrap, scrub(&detail, &settings));
            return Err(match kind {
                Refusal::Authentication => ClusterRefused::Authentication {
                    cluster,
                    bootstrap,
                    detail,
                },
                Refusal::Tls => ClusterRefused::Tls {
                    cluster,
                    bootstrap,
                    detail,
                },
            });
        }
        if answered {
            return Ok(());
        }
        if Instant::now() >= deadline {
            tracing::warn!(
                cluster = name,
                bootstrap,
                "cluster did not answer a metadata request yet; starting anyway"
            );
            return Ok(());
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Refusal {
    Authentication,
    Tls,
}

/// Keeps the first error event that retrying cannot fix; librdkafka's own lines go to debug.
#[derive(Default)]
struct ProbeContext {
    refused: Mutex<Option<(Refusal, String)>>,
}

impl ClientContext for ProbeContext {
    fn log(&self, _level: RDKafkaLogLevel, fac: &str, message: &str) {
        tracing::debug!(target: "librdkafka", fac, message, "probe client");
    }

    fn error(&self, error: KafkaError, reason: &str) {
        let kind = match error.rdkafka_error_code() {
            Some(RDKafkaErrorCode::Authentication | RDKafkaErrorCode::SaslAuthenticationFailed) => {
                Refusal::Authentication
            }
            Some(RDKafkaErrorCode::SSL) => Refusal::Tls,
            _ => {
                tracing::debug!(%error, reason, "probe client error");
                return;
            }
        };
        let mut refused = self.refused.lock().unwrap();
        if refused.is_none() {
            *refused = Some((kind, reason.to_owned()));
        }
    }
}

impl ProducerContext for ProbeContext {
    type DeliveryOpaque = ();

    fn delivery(&self, _: &rdkafka::message::DeliveryResult<'_>, _: Self::DeliveryOpaque) {}
}
