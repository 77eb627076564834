//! One `cairn detect` process: spawn, readiness, HTTP, SIGTERM, kill -9.
//!
//! Its stdout and stderr go to files in the instance's directory (`run-<n>.stdout.log`,
//! `run-<n>.stderr.log`); a failure names them and prints their last lines. A process still
//! running when its handle is dropped is killed, so a failing test leaves nothing behind.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::Instance;
use super::prometheus::Scrape;

/// A running (or exited) `cairn detect`.
pub struct DetectProcess {
    pub name: String,
    pub pid: u32,
    pub http: std::net::SocketAddr,
    pub stdout_path: PathBuf,
    pub stderr_path: PathBuf,
    /// Behind a lock so that a look over HTTP (`&self`) can tell a dead process from a
    /// silent one.
    child: Mutex<Child>,
    exited: Mutex<Option<ExitStatus>>,
    client: reqwest::Client,
}

impl DetectProcess {
    /// `cairn detect --config <instance's cairn.toml>`, run `run` of the test.
    pub fn spawn(instance: &Instance, run: usize) -> DetectProcess {
        let stdout_path = instance.dir.join(format!("run-{run}.stdout.log"));
        let stderr_path = instance.dir.join(format!("run-{run}.stderr.log"));
        let stdout = File::create(&stdout_path).expect("create the stdout log");
        let stderr = File::create(&stderr_path).expect("create the stderr log");
        let mut command = Command::new(env!("CARGO_BIN_EXE_cairn"));
        command
            .args(["detect", "--config"])
            .arg(&instance.config_path)
            .current_dir(&instance.dir)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        if std::env::var_os("RUST_LOG").is_none() {
            command.env("RUST_LOG", "info");
        }
        let child = command
            .spawn()
            .unwrap_or_else(|err| panic!("spawn {}: {err}", env!("CARGO_BIN_EXE_cairn")));
        eprintln!(
            "spawned cairn detect '{}' (pid {}, http {}, logs {})",
            instance.name,
            child.id(),
            instance.http,
            stderr_path.display()
        );
        DetectProcess {
            name: instance.name.clone(),
            pid: child.id(),
            http: instance.http,
            stdout_path,
            stderr_path,
            child: Mutex::new(child),
            exited: Mutex::new(None),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                // A fresh connection per request: no race with the server closing an idle one.
                .pool_max_idle_per_host(0)
                .build()
                .expect("an HTTP client"),
        }
    }

    /// The exit status, if it has exited.
    pub fn try_exited(&self) -> Option<ExitStatus> {
        let mut exited = self.exited.lock();
        if exited.is_none() {
            *exited = self.child.lock().try_wait().expect("try_wait");
        }
        *exited
    }

    /// Fails, with the end of its logs, if it has exited.
    pub fn assert_alive(&self, doing: &str) {
        if let Some(status) = self.try_exited() {
            panic!(
                "cairn detect '{}' exited with {status} ({doing})\n{}",
                self.name,
                self.logs()
            );
        }
    }

    /// Waits for `/readyz` to answer 200. Fails at once if the process exits first, and after
    /// `timeout` otherwise, with the end of its logs.
    pub async fn wait_ready(&mut self, timeout: Duration) {
        let started = Instant::now();
        loop {
            if let Some(status) = self.try_exited() {
                panic!(
                    "cairn detect '{}' exited with {status} before it was ready\n{}",
                    self.name,
                    self.logs()
                );
            }
            if let Ok((200, _)) = self.get("/readyz").await {
                eprintln!(
                    "cairn detect '{}' ready after {:?}",
                    self.name,
                    started.elapsed()
                );
                return;
            }
            if started.elapsed() > timeout {
                panic!(
                    "cairn detect '{}' not ready within {timeout:?} (GET http://{}/readyz)\n{}",
                    self.name,
                    self.http,
                    self.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// GET `path` on its HTTP face: (status, body).
    pub async fn get(&self, path: &str) -> Result<(u16, String), reqwest::Error> {
        let response = self
            .client
            .get(format!("http://{}{path}", self.http))
            .send()
            .await?;
        let status = response.status().as_u16();
        Ok((status, response.text().await?))
    }

    /// GET `path`, which must answer 200. A transport error is retried twice (the process
    /// is alive: a refused or reset connection under load is not the answer under test).
    pub async fn get_ok(&self, path: &str) -> String {
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.assert_alive(&format!("before GET {path}"));
            match self.get(path).await {
                Ok((200, body)) => return body,
                Ok((status, body)) => panic!(
                    "GET http://{}{path} on '{}' answered {status}: {body}",
                    self.http, self.name
                ),
                Err(err) if attempt < 3 => {
                    eprintln!(
                        "GET http://{}{path} on '{}': {}; retrying",
                        self.http,
                        self.name,
                        chain(&err)
                    );
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(err) => panic!(
                    "GET http://{}{path} on '{}': {}",
                    self.http,
                    self.name,
                    chain(&err)
                ),
            }
        }
    }

    /// `/metrics`, parsed.
    pub async fn metrics(&self) -> Scrape {
        let text = self.get_ok("/metrics").await;
        Scrape::parse(&text).unwrap_or_else(|err| {
            panic!(
                "/metrics of '{}' is not Prometheus text: {err}\n{text}",
                self.name
            )
        })
    }

    /// Polls `/metrics` until `check` holds, or fails after `timeout` showing the last scrape
    /// of the metrics `names` mentions.
    pub async fn wait_metrics(
        &self,
        what: &str,
        timeout: Duration,
        names: &[&str],
        check: impl Fn(&Scrape) -> bool,
    ) -> Scrape {
        let deadline = Instant::now() + timeout;
        loop {
            let scrape = self.metrics().await;
            if check(&scrape) {
                return scrape;
            }
            if Instant::now() >= deadline {
                panic!(
                    "'{}': {what}: not within {timeout:?}; last scrape:\n{}",
                    self.name,
                    scrape.show(names)
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Sends SIGTERM (via kill(1): the tests have no libc binding).
    pub fn sigterm(&self) {
        signal(self.pid, "-TERM");
    }

    /// Sends SIGTERM and waits for the exit status.
    pub async fn terminate(&mut self, timeout: Duration) -> ExitStatus {
        self.sigterm();
        self.wait_exit(timeout).await
    }

    /// Waits for it to exit, or fails after `timeout`.
    pub async fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_exited() {
                return status;
            }
            if Instant::now() >= deadline {
                panic!(
                    "cairn detect '{}' did not exit within {timeout:?}\n{}",
                    self.name,
                    self.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// kill -9: no flush, no commit, no goodbye.
    pub fn kill9(&mut self) {
        if self.try_exited().is_some() {
            panic!(
                "cairn detect '{}' had already exited before kill -9\n{}",
                self.name,
                self.logs()
            );
        }
        let mut child = self.child.lock();
        child.kill().expect("SIGKILL");
        *self.exited.lock() = Some(child.wait().expect("reap after SIGKILL"));
    }

    /// The last lines of both logs, with their paths.
    pub fn logs(&self) -> String {
        format!(
            "---- {}:\n{}\n---- {}:\n{}",
            self.stdout_path.display(),
            tail(&self.stdout_path, 20),
            self.stderr_path.display(),
            tail(&self.stderr_path, 40)
        )
    }
}

impl Drop for DetectProcess {
    fn drop(&mut self) {
        if self.try_exited().is_none() {
            let mut child = self.child.lock();
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// An error with its causes, which reqwest's Display leaves out.
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .arg(signal)
        .arg(pid.to_string())
        .status()
        .expect("run kill(1)");
    assert!(status.success(), "kill {signal} {pid} failed: {status}");
}

/// The last `lines` lines of a file, or why it cannot be read.
pub fn tail(path: &Path, lines: usize) -> String {
    match fs::read_to_string(path) {
        Ok(text) => {
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(err) => format!("(cannot read: {err})"),
    }
}
