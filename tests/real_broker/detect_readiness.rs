//! `/readyz` waits for the offsets oracle, not only for the consumer group: a detector that owns
//! its tracing partitions but has not read the offsets of every cluster its lineage names would
//! only wait on every message, so it must not say it is ready.
//!
//! The lineage gets a second cluster, `slow`, whose bootstrap is a loopback proxy to the same
//! broker that holds every connection until the test opens it; the tracing cluster is reached
//! directly. The detector joins its group and restores its partitions while the oracle cannot
//! complete a round on `slow`: `/readyz` answers 503 naming the oracle and the cluster. Once the
//! proxy lets traffic through, it answers 200.
//!
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cairn_testkit::config::{ClusterToml, StreamToml};
use cairn_testkit::detect::{DetectEnv, DetectProcess, EXIT_TIMEOUT, READY_TIMEOUT};
use cairn_testkit::metric;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

const PARTITIONS: i32 = 2;
/// The cluster behind the proxy.
const SLOW: &str = "slow";
/// How long the detector must keep answering 503 once it owns its partitions, to show that
/// it is waiting for something and not merely slow to flip.
const STILL_WAITING: Duration = Duration::from_secs(2);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_waits_for_the_oracle_on_every_cluster_of_the_lineage() {
    let env = DetectEnv::on_real_broker(crate::cairn(), "detect-readiness", PARTITIONS).await;
    let upstream = env
        .kafka
        .bootstrap
        .split(',')
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned();
    let proxy = HeldProxy::start(&upstream).await;

    // A second cluster behind the proxy, and a stream on it, so the oracle must poll it.
    let config = env
        .config()
        .cluster(
            ClusterToml::new(SLOW, &proxy.addr.to_string())
                .client("reconnect.backoff.max.ms", "1000"),
        )
        .stream(
            StreamToml::new("mirrored")
                .producer("mirror", &format!("{SLOW}/{}", env.names.topics[0])),
        );
    let instance = env.instance_with("ready", config);
    let mut detector = env.spawn(&instance);

    // Subscribed, assigned and restored, while the oracle cannot reach `slow`: not ready.
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        assert!(
            Instant::now() < deadline,
            "the detector did not own its {PARTITIONS} partitions within {READY_TIMEOUT:?}\n{}",
            detector.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        detector.assert_alive("starting");
        // Before HTTP listens there is no answer at all.
        let Ok((status, body)) = detector.get("/readyz").await else {
            continue;
        };
        assert_eq!(
            status, 503,
            "ready before the oracle completed a round on `{SLOW}` ({body})"
        );
        if detector
            .metrics()
            .await
            .sum(metric::PARTITIONS_ASSIGNED.name, &[])
            == f64::from(PARTITIONS)
        {
            break;
        }
    }
    let waiting_since = Instant::now();
    while waiting_since.elapsed() < STILL_WAITING {
        let (status, body) = readyz(&detector).await;
        assert_eq!(status, 503, "ready while `{SLOW}` is unreachable: {body}");
        assert!(
            body.contains("offsets oracle") && body.contains(SLOW),
            "the 503 names the oracle and the cluster it waits for: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        proxy.accepted() >= 1,
        "the oracle should have tried to reach `{SLOW}` through the proxy"
    );
    assert_eq!(proxy.forwarded(), 0, "nothing passed the closed proxy");

    proxy.open();
    detector.wait_ready(READY_TIMEOUT).await;
    assert!(
        proxy.forwarded() >= 1,
        "ready without one connection to `{SLOW}` passing the proxy"
    );

    let status = detector.terminate(EXIT_TIMEOUT).await;
    assert!(
        status.success(),
        "exit on SIGTERM: {status}\n{}",
        detector.logs()
    );
}

async fn readyz(detector: &DetectProcess) -> (u16, String) {
    detector.assert_alive("before GET /readyz");
    detector
        .get("/readyz")
        .await
        .unwrap_or_else(|err| panic!("GET /readyz: {err}"))
}

/// A loopback TCP proxy to the broker that accepts connections but forwards none until
/// [`HeldProxy::open`]: a cluster that is there but does not answer yet.
struct HeldProxy {
    addr: SocketAddr,
    gate: Arc<watch::Sender<bool>>,
    accepted: Arc<AtomicUsize>,
    forwarded: Arc<AtomicUsize>,
    accept: tokio::task::JoinHandle<()>,
}

impl HeldProxy {
    async fn start(upstream: &str) -> HeldProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let addr = listener.local_addr().expect("the proxy's address");
        let gate = Arc::new(watch::Sender::new(false));
        let accepted = Arc::new(AtomicUsize::new(0));
        let forwarded = Arc::new(AtomicUsize::new(0));
        let upstream = upstream.to_owned();
        let accept = {
            let (gate, accepted, forwarded) = (gate.clone(), accepted.clone(), forwarded.clone());
            tokio::spawn(async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    accepted.fetch_add(1, Ordering::Relaxed);
                    let mut opened = gate.subscribe();
                    let (upstream, forwarded) = (upstream.clone(), forwarded.clone());
                    tokio::spawn(async move {
                        if opened.wait_for(|open| *open).await.is_err() {
                            return;
                        }
                        let Ok(mut broker) = TcpStream::connect(&upstream).await else {
                            return;
                        };
                        forwarded.fetch_add(1, Ordering::Relaxed);
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut broker).await;
                    });
                }
            })
        };
        HeldProxy {
            addr,
            gate,
            accepted,
            forwarded,
            accept,
        }
    }

    fn open(&self) {
        self.gate.send_replace(true);
    }

    /// Connections accepted so far.
    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::Relaxed)
    }

    /// Connections passed on to the broker so far.
    fn forwarded(&self) -> usize {
        self.forwarded.load(Ordering::Relaxed)
    }
}

impl Drop for HeldProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}
