//! One `cairn detect` instance's files and addresses: a directory of its own, a `cairn.toml`
//! (checked with cairn's own loader before it is written) with a free HTTP port and a store in
//! that directory.

use std::fs;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};

use cairn_core::config::Config;

use crate::config::CairnToml;

#[derive(Clone, Debug)]
pub struct Instance {
    pub name: String,
    pub config_path: PathBuf,
    pub config_text: String,
    pub http: SocketAddr,
    pub store: PathBuf,
    pub tracing_group: String,
    pub output_topic: String,
    /// Where its `cairn.toml`, store and log files go.
    pub dir: PathBuf,
}

impl Instance {
    /// Writes `config`, with a free HTTP port and a store of its own, to
    /// `<parent>/<name>/cairn.toml`.
    pub fn write(parent: &Path, name: &str, config: CairnToml) -> Instance {
        let dir = parent.join(name);
        fs::create_dir_all(&dir).expect("create the instance directory");
        let http = free_local_port();
        let store = dir.join("store");
        let config = config.http(http).store(&store);
        let parsed = config.to_config();
        let config_text = config.to_toml();
        let config_path = dir.join("cairn.toml");
        fs::write(&config_path, &config_text).expect("write cairn.toml");
        Instance {
            name: name.to_owned(),
            config_path,
            config_text,
            http,
            store,
            tracing_group: parsed.tracing.group,
            output_topic: parsed.output.topic,
            dir,
        }
    }

    /// The config as cairn's own loader reads it.
    pub fn config(&self) -> Config {
        Config::from_toml_str(&self.config_text).expect("the test config is valid")
    }
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_local_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address")
}
