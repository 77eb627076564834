//! `cairn canary`: the shell around [`cairn_core::canary`]. Per cluster three threads share
//! one core: a manager (metadata once a second, the topic's placement every
//! `management_interval`, judgement and report), a consumer that assigns the canary
//! partitions directly (not in `produce` mode), and a producer that paces heartbeats and never
//! blocks (not in `consume` mode). HTTP serves
//! the reports. `docs/canary.md` explains the accounting.
//!
//! Layout:
//! - [`acl`]: the ACL a refused operation needs, named in its error.
//! - [`manage`]: the topic (create, extend, recreate), leaders, the tick.
//! - [`produce`]: paced sends, delivery reports, marked re-sends.
//! - [`consume`]: direct assignment, records into the core.
//! - [`view`]: what the threads share and HTTP reads.
//! - [`events`]: what the canary logs about itself.
//! - [`metrics`]: the `cairn_canary_*` families for `/metrics`.
//! - [`publish`]: `metadata_mismatch` records to the incidents topic and the webhooks.
//! - [`http`]: the endpoints.

pub mod acl;
pub mod consume;
pub mod events;
pub mod http;
pub mod manage;
pub mod metrics;
mod page;
pub mod produce;
pub mod publish;
pub mod view;
pub mod wire;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use cairn_core::canary::CanarySettings;
use cairn_core::config::CanaryConfig;

use self::view::{CanaryView, ClusterSlot};
use crate::clock::now_millis;

/// Runs the canary until SIGTERM/SIGINT.
pub fn run(config: CanaryConfig) -> anyhow::Result<()> {
    run_until(config, crate::detect::wait_for_signal())
}

/// A fresh run id: the start time and a random part, so two starts never share one.
pub fn new_run_id() -> String {
    format!("{:x}-{:08x}", now_millis(), rand::random::<u32>())
}

/// `[canary] instance`, else the host's name, else `cairn-canary`.
fn instance_name(config: &CanaryConfig) -> String {
    config
        .canary
        .instance
        .clone()
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()))
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
        })
        .unwrap_or_else(|| "cairn-canary".to_owned())
}

/// Runs the canary until `shutdown` completes. Call it from a plain thread: it starts its
/// own runtime.
pub fn run_until(
    config: CanaryConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let run = new_run_id();
    let instance = instance_name(&config);
    let section = &config.canary;
    tracing::info!(%run, %instance, topic = %section.topic, mode = section.mode.as_str(), "canary starting");
    let slots: Vec<Arc<ClusterSlot>> = config
        .clusters
        .iter()
        .map(|c| {
            Arc::new(ClusterSlot::new(CanarySettings {
                cluster: c.name.clone(),
                topic: section.topic.clone(),
                run: run.clone(),
                instance: instance.clone(),
                consume_timeout: millis(section.consume_timeout),
                availability_window: millis(section.availability_window),
                lost_sequences_kept: section.lost_sequences_kept,
                mode: section.mode,
                send_timeout: millis(section.send_timeout),
            }))
        })
        .collect();
    let view = Arc::new(CanaryView {
        run: run.clone(),
        instance: instance.clone(),
        clusters: slots.clone(),
    });
    let publisher = publish::publisher(&config, &slots)?;
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for (cluster, slot) in config.clusters.iter().zip(&slots) {
        let started = (|| -> anyhow::Result<()> {
            threads.push(manage::spawn_manager(
                cluster,
                section,
                slot.clone(),
                stop.clone(),
            )?);
            if section.mode.consumes() {
                threads.push(consume::spawn_consumer(
                    cluster,
                    section,
                    slot.clone(),
                    &run,
                    stop.clone(),
                )?);
            }
            if section.mode.produces() {
                threads.push(produce::spawn_producer(
                    cluster,
                    section,
                    slot.clone(),
                    run.clone(),
                    instance.clone(),
                    stop.clone(),
                )?);
            }
            Ok(())
        })();
        if let Err(err) = started {
            stop.store(true, Ordering::Release);
            return Err(err.context(format!("starting the canary of cluster `{}`", cluster.name)));
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .thread_name("cairn-canary-io")
        .build()
        .context("starting the async runtime")?;
    if let Some(publisher) = publisher {
        runtime.spawn(publisher.run());
    }
    let listen = config.http.listen.clone();
    let served = runtime.block_on(crate::http::serving::bind_and_serve(
        &listen,
        http::router(view.clone()),
        shutdown,
    ));
    tracing::info!("stopping the canary");
    stop.store(true, Ordering::Release);
    for thread in threads {
        if thread.join().is_err() {
            tracing::error!("a canary thread panicked");
        }
    }
    served
}

fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
