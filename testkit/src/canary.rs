//! One `cairn canary` instance: a directory with its `cairn.toml` (`[clusters]`, `[http]` and a
//! `[canary]` section, checked with cairn's own `CanaryConfig` loader before it is written) and
//! a free HTTP port; the process that runs it; and its `/api/canary` answer, typed.

use std::ffi::OsString;
use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cairn_core::canary::report::{CanaryAnswer, ClusterReport};
use cairn_core::config::{CanaryConfig, format_duration};
use toml::{Table, Value};

use crate::config::ClusterToml;
use crate::instance::free_local_port;
use crate::process::DetectProcess;

/// The text of a `cairn.toml` for `cairn canary`; unset keys keep cairn's defaults.
#[derive(Clone, Debug)]
pub struct CanaryToml {
    cluster: ClusterToml,
    keys: Table,
    topic_config: Table,
}

impl CanaryToml {
    pub fn new(cluster: ClusterToml, topic: &str) -> CanaryToml {
        let mut keys = Table::new();
        keys.insert("topic".into(), Value::String(topic.to_owned()));
        CanaryToml {
            cluster,
            keys,
            topic_config: Table::new(),
        }
    }

    fn duration(mut self, key: &str, value: Duration) -> CanaryToml {
        self.keys
            .insert(key.into(), Value::String(format_duration(value)));
        self
    }

    pub fn rate(mut self, per_partition: u32) -> CanaryToml {
        self.keys
            .insert("rate".into(), Value::Integer(i64::from(per_partition)));
        self
    }

    /// `"all"` or `"1"`.
    pub fn acks(mut self, acks: &str) -> CanaryToml {
        self.keys.insert("acks".into(), Value::String(acks.into()));
        self
    }

    pub fn instance(mut self, name: &str) -> CanaryToml {
        self.keys
            .insert("instance".into(), Value::String(name.into()));
        self
    }

    pub fn replication(mut self, replicas: i64) -> CanaryToml {
        self.keys
            .insert("replication".into(), Value::Integer(replicas));
        self
    }

    /// `"both"`, `"produce"` or `"consume"`.
    pub fn mode(mut self, mode: &str) -> CanaryToml {
        self.keys.insert("mode".into(), Value::String(mode.into()));
        self
    }

    /// `[canary] incidents_topic` as `<cluster>/<topic>`.
    pub fn incidents_topic(mut self, location: &str) -> CanaryToml {
        self.keys
            .insert("incidents_topic".into(), Value::String(location.into()));
        self
    }

    /// One more `[[canary.webhooks]]` entry POSTing to `url`.
    pub fn webhook(mut self, url: &str) -> CanaryToml {
        let mut hook = Table::new();
        hook.insert("url".into(), Value::String(url.into()));
        hook.insert("timeout".into(), Value::String("2s".into()));
        let hooks = self
            .keys
            .entry("webhooks")
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(list) = hooks {
            list.push(Value::Table(hook));
        }
        self
    }

    /// Lost sequences listed by `/api/canary`.
    pub fn lost_sequences_kept(mut self, kept: i64) -> CanaryToml {
        self.keys
            .insert("lost_sequences_kept".into(), Value::Integer(kept));
        self
    }

    pub fn topic_config(mut self, key: &str, value: &str) -> CanaryToml {
        self.topic_config
            .insert(key.into(), Value::String(value.into()));
        self
    }

    pub fn management_interval(self, value: Duration) -> CanaryToml {
        self.duration("management_interval", value)
    }

    pub fn metadata_interval(self, value: Duration) -> CanaryToml {
        self.duration("metadata_interval", value)
    }

    pub fn grace(self, value: Duration) -> CanaryToml {
        self.duration("grace", value)
    }

    pub fn send_timeout(self, value: Duration) -> CanaryToml {
        self.duration("send_timeout", value)
    }

    pub fn consume_timeout(self, value: Duration) -> CanaryToml {
        self.duration("consume_timeout", value)
    }

    pub fn availability_window(self, value: Duration) -> CanaryToml {
        self.duration("availability_window", value)
    }

    /// The file with `[http] listen` set to `listen`.
    pub fn to_toml(&self, listen: SocketAddr) -> String {
        let mut root = Table::new();
        let (name, table) = self.cluster.table();
        let mut clusters = Table::new();
        clusters.insert(name, Value::Table(table));
        root.insert("clusters".into(), Value::Table(clusters));
        let mut http = Table::new();
        http.insert("listen".into(), Value::String(listen.to_string()));
        root.insert("http".into(), Value::Table(http));
        let mut canary = self.keys.clone();
        if !self.topic_config.is_empty() {
            canary.insert(
                "topic_config".into(),
                Value::Table(self.topic_config.clone()),
            );
        }
        root.insert("canary".into(), Value::Table(canary));
        toml::to_string(&root).expect("a TOML table always serializes")
    }
}

/// A `cairn canary` instance's files and address.
#[derive(Clone, Debug)]
pub struct CanaryInstance {
    pub name: String,
    pub config_path: PathBuf,
    pub http: SocketAddr,
    pub dir: PathBuf,
}

impl CanaryInstance {
    /// Writes `config`, with a free HTTP port, to `<parent>/<name>/cairn.toml`.
    pub fn write(parent: &Path, name: &str, config: &CanaryToml) -> CanaryInstance {
        let dir = parent.join(name);
        fs::create_dir_all(&dir).expect("create the instance directory");
        let http = free_local_port();
        let text = config.to_toml(http);
        if let Err(err) = CanaryConfig::from_toml_str(&text) {
            panic!("the test wrote an invalid cairn.toml for canary: {err}\n{text}");
        }
        let config_path = dir.join("cairn.toml");
        fs::write(&config_path, &text).expect("write cairn.toml");
        CanaryInstance {
            name: name.to_owned(),
            config_path,
            http,
            dir,
        }
    }

    /// `<cairn> canary --config <cairn.toml>`, run number `run`.
    pub fn spawn(&self, cairn: &Path, run: usize) -> DetectProcess {
        let args = [
            OsString::from("canary"),
            OsString::from("--config"),
            self.config_path.clone().into_os_string(),
        ];
        DetectProcess::spawn_args(cairn, &self.name, &self.dir, self.http, &args, run)
    }
}

/// `/api/canary` of a running canary, typed.
pub async fn answer(process: &DetectProcess) -> CanaryAnswer {
    let body = process.get_ok("/api/canary").await;
    serde_json::from_str(&body)
        .unwrap_or_else(|err| panic!("/api/canary is not a canary answer: {err}\n{body}"))
}

/// The report of the only cluster.
pub async fn report(process: &DetectProcess) -> ClusterReport {
    let mut answer = answer(process).await;
    assert_eq!(answer.clusters.len(), 1, "one cluster: {answer:?}");
    answer.clusters.remove(0)
}
