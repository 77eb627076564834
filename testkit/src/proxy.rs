//! A TCP proxy on loopback whose links a test can cut and heal: each link listens on one port
//! and forwards to another. Cutting a link closes its open connections and refuses new ones
//! until it is healed. With `kafka.sh`'s `CAIRN_KAFKA_QUORUM_PROXY_PORT`, the nodes of a
//! cluster reach the controllers through such links, so one node can be cut off from the
//! quorum while its broker still serves clients.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The links of one proxy, by name.
pub struct Proxy {
    links: BTreeMap<String, watch::Sender<bool>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Proxy {
    /// Starts a link per `(name, listen port, target port)`, every one open.
    pub async fn start(links: &[(String, u16, u16)]) -> Proxy {
        let mut proxy = Proxy {
            links: BTreeMap::new(),
            tasks: Vec::new(),
        };
        for (name, listen, target) in links {
            let listener = TcpListener::bind(("127.0.0.1", *listen))
                .await
                .unwrap_or_else(|err| panic!("proxy link {name}: bind 127.0.0.1:{listen}: {err}"));
            let (cut, cut_rx) = watch::channel(false);
            proxy.links.insert(name.clone(), cut);
            let target = *target;
            proxy
                .tasks
                .push(tokio::spawn(accept(listener, target, Arc::new(cut_rx))));
        }
        proxy
    }

    /// Cuts (true) or heals (false) the link called `name`.
    pub fn set_cut(&self, name: &str, cut: bool) {
        self.links
            .get(name)
            .unwrap_or_else(|| panic!("no proxy link {name}"))
            .send_replace(cut);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

async fn accept(listener: TcpListener, target: u16, cut: Arc<watch::Receiver<bool>>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        if *cut.borrow() {
            drop(client);
            continue;
        }
        let mut cut = (*cut).clone();
        tokio::spawn(async move {
            let Ok(upstream) = TcpStream::connect(("127.0.0.1", target)).await else {
                return;
            };
            let (mut client, mut upstream) = (client, upstream);
            tokio::select! {
                _ = copy_bidirectional(&mut client, &mut upstream) => {}
                _ = cut.wait_for(|c| *c) => {}
            }
        });
    }
}
