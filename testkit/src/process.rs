//! One `cairn detect` process: spawn, readiness, HTTP, `/metrics`, SIGTERM, SIGKILL, memory.
//!
//! Its stdout and stderr go to files in the instance's directory (`run-<n>.stdout.log`,
//! `run-<n>.stderr.log`); every failure names them and carries their last lines. A process
//! still running when its handle is dropped is killed, so a failing test leaves nothing behind.
//!
//! Each look has two forms: `try_*` returns a [`ProcessError`] (for the bench, which reports and
//! cleans up), and the plain form fails the test with that error's text.

use std::ffi::OsString;
use std::fs::{self, File};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::instance::Instance;
use crate::prom::Scrape;

/// What went wrong with a `cairn detect` process; the text ends with its last log lines where
/// they explain it.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("cairn detect '{name}' exited with {status} ({doing})\n{logs}")]
    Exited {
        name: String,
        status: ExitStatus,
        doing: String,
        logs: String,
    },
    #[error(
        "cairn detect '{name}' not ready within {timeout:?} (GET http://{http}/readyz)\n{logs}"
    )]
    NotReady {
        name: String,
        http: SocketAddr,
        timeout: Duration,
        logs: String,
    },
    #[error("GET http://{http}{path} on '{name}': {cause}")]
    Http {
        name: String,
        http: SocketAddr,
        path: String,
        cause: String,
    },
    #[error("GET http://{http}{path} on '{name}' answered {status}: {body}")]
    Status {
        name: String,
        http: SocketAddr,
        path: String,
        status: u16,
        body: String,
    },
    #[error("/metrics of '{name}' is not Prometheus text: {problem}\n{text}")]
    Metrics {
        name: String,
        problem: String,
        text: String,
    },
    #[error("cairn detect '{name}' did not exit within {timeout:?}\n{logs}")]
    NoExit {
        name: String,
        timeout: Duration,
        logs: String,
    },
}

/// Resident memory of a process, from `/proc/<pid>/status`, in KiB.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Memory {
    /// `VmRSS`: resident now.
    pub rss_kib: u64,
    /// `VmHWM`: the most it was ever resident.
    pub peak_kib: u64,
}

/// A running (or exited) `cairn detect`.
pub struct DetectProcess {
    pub name: String,
    pub pid: u32,
    pub http: SocketAddr,
    pub stdout_path: PathBuf,
    pub stderr_path: PathBuf,
    /// Behind a lock so that a look over HTTP (`&self`) can tell a dead process from a
    /// silent one.
    child: Mutex<Child>,
    exited: Mutex<Option<ExitStatus>>,
    client: reqwest::Client,
}

impl DetectProcess {
    /// `<cairn> detect --config <instance's cairn.toml>`, run number `run` of the instance,
    /// with `RUST_LOG=info` unless the caller's environment sets it.
    pub fn spawn(cairn: &Path, instance: &Instance, run: usize) -> DetectProcess {
        let args = [
            OsString::from("detect"),
            OsString::from("--config"),
            instance.config_path.clone().into_os_string(),
        ];
        DetectProcess::spawn_args(
            cairn,
            &instance.name,
            &instance.dir,
            instance.http,
            &args,
            run,
        )
    }

    /// `<cairn> <args>` in `dir`, serving HTTP on `http` (any cairn job with `/readyz`, such
    /// as `cairn watch`), with its logs in `dir` like [`DetectProcess::spawn`].
    pub fn spawn_args(
        cairn: &Path,
        name: &str,
        dir: &Path,
        http: SocketAddr,
        args: &[OsString],
        run: usize,
    ) -> DetectProcess {
        let stdout_path = dir.join(format!("run-{run}.stdout.log"));
        let stderr_path = dir.join(format!("run-{run}.stderr.log"));
        let stdout = File::create(&stdout_path).expect("create the stdout log");
        let stderr = File::create(&stderr_path).expect("create the stderr log");
        let mut command = Command::new(cairn);
        command
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        if std::env::var_os("RUST_LOG").is_none() {
            command.env("RUST_LOG", "info");
        }
        let child = command
            .spawn()
            .unwrap_or_else(|err| panic!("spawn {}: {err}", cairn.display()));
        eprintln!(
            "spawned cairn '{}' (pid {}, http {}, logs {})",
            name,
            child.id(),
            http,
            stderr_path.display()
        );
        DetectProcess {
            name: name.to_owned(),
            pid: child.id(),
            http,
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

    /// An error, with the end of its logs, if it has exited.
    pub fn check_alive(&self, doing: &str) -> Result<(), ProcessError> {
        match self.try_exited() {
            None => Ok(()),
            Some(status) => Err(ProcessError::Exited {
                name: self.name.clone(),
                status,
                doing: doing.to_owned(),
                logs: self.logs(),
            }),
        }
    }

    /// Fails, with the end of its logs, if it has exited.
    pub fn assert_alive(&self, doing: &str) {
        self.check_alive(doing).unwrap_or_else(fail);
    }

    /// Waits for `/readyz` to answer 200 and says how long that took. An error at once if the
    /// process exits first, and after `timeout` otherwise.
    pub async fn try_wait_ready(&self, timeout: Duration) -> Result<Duration, ProcessError> {
        let started = Instant::now();
        loop {
            self.check_alive("before it was ready")?;
            if let Ok((200, _)) = self.get("/readyz").await {
                let took = started.elapsed();
                eprintln!("cairn detect '{}' ready after {took:?}", self.name);
                return Ok(took);
            }
            if started.elapsed() > timeout {
                return Err(ProcessError::NotReady {
                    name: self.name.clone(),
                    http: self.http,
                    timeout,
                    logs: self.logs(),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits for `/readyz` to answer 200, or fails with the end of its logs.
    pub async fn wait_ready(&mut self, timeout: Duration) {
        self.try_wait_ready(timeout).await.unwrap_or_else(fail);
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
    pub async fn try_get_ok(&self, path: &str) -> Result<String, ProcessError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.check_alive(&format!("before GET {path}"))?;
            match self.get(path).await {
                Ok((200, body)) => return Ok(body),
                Ok((status, body)) => {
                    return Err(ProcessError::Status {
                        name: self.name.clone(),
                        http: self.http,
                        path: path.to_owned(),
                        status,
                        body,
                    });
                }
                Err(err) if attempt < 3 => {
                    eprintln!(
                        "GET http://{}{path} on '{}': {}; retrying",
                        self.http,
                        self.name,
                        chain(&err)
                    );
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(err) => {
                    return Err(ProcessError::Http {
                        name: self.name.clone(),
                        http: self.http,
                        path: path.to_owned(),
                        cause: chain(&err),
                    });
                }
            }
        }
    }

    /// GET `path`, which must answer 200, or fail.
    pub async fn get_ok(&self, path: &str) -> String {
        self.try_get_ok(path).await.unwrap_or_else(fail)
    }

    /// `/metrics`, parsed.
    pub async fn try_metrics(&self) -> Result<Scrape, ProcessError> {
        let text = self.try_get_ok("/metrics").await?;
        Scrape::parse(&text).map_err(|problem| ProcessError::Metrics {
            name: self.name.clone(),
            problem,
            text,
        })
    }

    /// `/metrics`, parsed, or fail.
    pub async fn metrics(&self) -> Scrape {
        self.try_metrics().await.unwrap_or_else(fail)
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

    /// Its memory now, while it runs.
    pub fn memory(&self) -> Option<Memory> {
        memory_of(self.pid)
    }

    /// The memory of each process it started that still runs (`cairn watch`'s offsets
    /// reader), found by their parent's pid in `/proc`.
    pub fn children_memory(&self) -> Vec<Memory> {
        let Ok(entries) = fs::read_dir("/proc") else {
            return Vec::new();
        };
        let parent = format!("{}", self.pid);
        entries
            .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|status| {
                    status.lines().any(|line| {
                        line.strip_prefix("PPid:")
                            .is_some_and(|ppid| ppid.trim() == parent)
                    })
                })
            })
            .filter_map(memory_of)
            .collect()
    }

    /// Sends SIGTERM (through kill(1): the kit has no libc binding).
    pub fn sigterm(&self) {
        signal(self.pid, "-TERM");
    }

    /// Sends SIGTERM and waits for the exit status.
    pub async fn try_terminate(&self, timeout: Duration) -> Result<ExitStatus, ProcessError> {
        self.sigterm();
        self.try_wait_exit(timeout).await
    }

    /// Sends SIGTERM and waits for the exit status, or fails.
    pub async fn terminate(&mut self, timeout: Duration) -> ExitStatus {
        self.try_terminate(timeout).await.unwrap_or_else(fail)
    }

    /// Waits for it to exit, or an error after `timeout`.
    pub async fn try_wait_exit(&self, timeout: Duration) -> Result<ExitStatus, ProcessError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_exited() {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                return Err(ProcessError::NoExit {
                    name: self.name.clone(),
                    timeout,
                    logs: self.logs(),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for it to exit, or fails after `timeout`.
    pub async fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        self.try_wait_exit(timeout).await.unwrap_or_else(fail)
    }

    /// SIGKILL: no flush, no commit, no goodbye. Fails if it had already exited.
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

    /// Every thread's stack, written by gdb next to the logs (for a process that hangs):
    /// where the file is, or why there is none.
    pub fn stacks(&self) -> String {
        if self.try_exited().is_some() {
            return "no stacks: the process has exited".into();
        }
        let path = self.stderr_path.with_extension("stacks.txt");
        let output = Command::new("gdb")
            .args([
                "-p",
                &self.pid.to_string(),
                "-batch",
                "-ex",
                "thread apply all bt",
            ])
            .output();
        match output {
            Ok(output) => match fs::write(&path, &output.stdout) {
                Ok(()) => format!("---- every thread's stack: {}", path.display()),
                Err(err) => format!("no stacks: writing {}: {err}", path.display()),
            },
            Err(err) => format!("no stacks: cannot run gdb: {err}"),
        }
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

/// Fails the test with the error's text.
fn fail<T>(err: ProcessError) -> T {
    panic!("{err}")
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

/// `VmRSS` and `VmHWM` of a running process.
fn memory_of(pid: u32) -> Option<Memory> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    };
    Some(Memory {
        rss_kib: field("VmRSS:")?,
        peak_kib: field("VmHWM:")?,
    })
}
