//! The committed offsets of many consumer groups, read from outside the groups, by a child
//! process of the watch: the offsets reader.
//!
//! Why one admin client: librdkafka's `committed()` answers only for the client's own
//! `group.id`, so reading 200 groups through consumers took 200 clients, each with its own
//! threads, buffers and connections: most of the watch's memory at issue 10's size
//! (docs/watch.md, *Round cost*). librdkafka's admin `ListConsumerGroupOffsets` reads any
//! group, and one client keeps many (group, chunk) requests out at once ([`admin`]).
//!
//! Why a child process: with a broker killed under it, librdkafka 2.12's admin request
//! aborted the whole process once (`rd_kafka_enq_once_del_source_return: Assertion
//! 'eonce->refcnt > 0'`, the three-node test of a node down for 30 s). A monitor must outlive
//! the outage it watches, so the admin client lives in a process of its own. When that
//! process dies or does not answer in time, the round's committed offsets are unknown (never a
//! false stuck), the error is logged and counted, and the next round starts a new one.
//!
//! The two talk over a Unix socket pair, the child's end as its standard input ([`wire`]):
//! nothing is written to disk or put on a command line, the client settings (secrets
//! included) go over the socket, and the child sees end of file as soon as the watch is gone.

pub mod admin;
mod wire;

use std::borrow::Cow;
use std::ffi::OsString;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use parking_lot::Mutex;
use rdkafka::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

use self::admin::AdminReader;
pub use self::admin::CHUNK;
use self::wire::{Answer, Ask, Hello};

/// The hidden subcommand of the `cairn` binary that runs [`serve`].
pub const READER_SUBCOMMAND: &str = "committed-offsets-reader";

/// Set in every reader's environment: how a test harness run as a reader knows it is one.
pub const READER_ENV: &str = "CAIRN_COMMITTED_OFFSETS_READER";

/// Past the admin requests' own timeout, how long the watch waits for the reader's answer
/// before it takes the reader for hung.
const ANSWER_MARGIN: Duration = Duration::from_secs(5);

/// One partition's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Commit {
    /// The committed offset; `None`: the group committed nothing there.
    Offset(Option<i64>),
    /// The broker answered an error for this partition alone (not authorized, unstable).
    Refused(Option<RDKafkaErrorCode>),
    /// The whole request failed (group not authorized, coordinator loading or gone, timeout,
    /// or the reader process lost).
    Failed(Option<RDKafkaErrorCode>),
}

/// How the watch starts its offsets reader: a program and its arguments.
#[derive(Clone, Debug)]
pub struct Launcher {
    pub program: PathBuf,
    pub args: Vec<OsString>,
}

static LAUNCHER: OnceLock<Launcher> = OnceLock::new();

/// Sets how readers are started, once per process; the `cairn` binary does it before a watch
/// runs. Without it, readers run this executable with [`READER_SUBCOMMAND`].
pub fn set_launcher(launcher: Launcher) {
    let _ = LAUNCHER.set(launcher);
}

fn launcher() -> io::Result<Launcher> {
    if let Some(launcher) = LAUNCHER.get() {
        return Ok(launcher.clone());
    }
    let program = std::env::current_exe()?;
    // Under `cargo test` this executable is the test harness: it runs the test that serves.
    #[cfg(test)]
    let args = [
        "--exact",
        tests::READER_TEST,
        "--nocapture",
        "--test-threads=1",
    ]
    .map(OsString::from)
    .to_vec();
    #[cfg(not(test))]
    let args = vec![OsString::from(READER_SUBCOMMAND)];
    Ok(Launcher { program, args })
}

/// The watch's side: one reader process per cluster, started when first asked and again
/// after it was lost.
pub struct CommittedReader {
    hello: Hello,
    timeout: Duration,
    process: Mutex<Option<ReaderProcess>>,
    /// Reader processes lost (died, hung, or could not start) and not yet reported.
    lost: AtomicU64,
}

impl CommittedReader {
    /// A reader of the cluster `base` connects to; no process is started yet.
    pub fn new(base: &ClientConfig, timeout: Duration) -> Result<CommittedReader, KafkaError> {
        // `config_map` hides secrets behind a placeholder: each value is taken with `get`, which
        // gives it as set (a reader given the placeholder for `sasl.password` cannot log in).
        let settings = base
            .config_map()
            .into_keys()
            .filter_map(|key| Some((key.to_owned(), base.get(key)?.to_owned())))
            .collect();
        Ok(CommittedReader {
            hello: Hello {
                settings,
                timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            },
            timeout,
            process: Mutex::new(None),
            lost: AtomicU64::new(0),
        })
    }

    /// The committed offset of each of `partitions` for each of `groups`: per group, in the
    /// order of `partitions`. When the reader process cannot answer, every answer is
    /// `Failed(None)`, and the process is replaced at the next call.
    pub fn committed(&self, groups: &[String], partitions: &[(String, i32)]) -> Vec<Vec<Commit>> {
        if groups.is_empty() {
            return Vec::new();
        }
        let mut process = self.process.lock();
        let ask = Ask {
            groups: Cow::Borrowed(groups),
            partitions: Cow::Borrowed(partitions),
        };
        let answer = match process.as_mut() {
            Some(running) => running.ask(&ask),
            None => match ReaderProcess::start(&self.hello, self.timeout) {
                Ok(started) => process.insert(started).ask(&ask),
                Err(err) => Err(err.context("starting the committed offsets reader")),
            },
        };
        let shaped = answer.and_then(|answer| {
            let fits = answer.groups.len() == groups.len()
                && answer.groups.iter().all(|g| g.len() == partitions.len());
            anyhow::ensure!(
                fits,
                "the committed offsets reader answered for other groups or partitions than asked"
            );
            Ok(answer)
        });
        match shaped {
            Ok(answer) => answer
                .groups
                .into_iter()
                .map(|group| group.into_iter().map(Commit::from).collect())
                .collect(),
            Err(err) => {
                let pid = process.as_ref().map(|p| p.child.id());
                let status = process.as_mut().and_then(ReaderProcess::exit_status);
                // Dropping it kills it, if it still runs.
                *process = None;
                self.lost.fetch_add(1, Ordering::Relaxed);
                tracing::error!(
                    pid,
                    status,
                    error = format!("{err:#}"),
                    "the committed offsets reader was lost; this round's committed offsets are unknown, and a new reader starts next round"
                );
                vec![vec![Commit::Failed(None); partitions.len()]; groups.len()]
            }
        }
    }

    /// Reader processes lost since the last call.
    pub fn take_lost(&self) -> u64 {
        self.lost.swap(0, Ordering::Relaxed)
    }
}

/// A running reader and the watch's end of its socket.
struct ReaderProcess {
    child: Child,
    socket: UnixStream,
}

impl ReaderProcess {
    fn start(hello: &Hello, timeout: Duration) -> anyhow::Result<ReaderProcess> {
        let launcher = launcher().context("finding the cairn executable")?;
        let (socket, theirs) = UnixStream::pair().context("making the reader's socket")?;
        let child = Command::new(&launcher.program)
            .args(&launcher.args)
            .env(READER_ENV, "1")
            .stdin(Stdio::from(OwnedFd::from(theirs)))
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| format!("running {}", launcher.program.display()))?;
        let wait = Some(timeout + ANSWER_MARGIN);
        socket.set_read_timeout(wait)?;
        socket.set_write_timeout(wait)?;
        let mut process = ReaderProcess { child, socket };
        wire::send(&mut process.socket, hello).context("greeting the reader")?;
        Ok(process)
    }

    fn ask(&mut self, ask: &Ask) -> anyhow::Result<Answer> {
        wire::send(&mut self.socket, ask).context("asking the reader")?;
        wire::receive(&mut self.socket).context("reading the reader's answer")
    }

    /// How it ended, if it has.
    fn exit_status(&mut self) -> Option<String> {
        self.child.try_wait().ok().flatten().map(|s| s.to_string())
    }
}

impl Drop for ReaderProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The reader's side, run in its own process: takes the socket on standard input, makes one
/// admin client from the watch's first frame and answers each question until the watch closes
/// the socket.
pub fn serve() -> anyhow::Result<()> {
    let stdin = io::stdin();
    let fd = std::os::fd::AsFd::as_fd(&stdin)
        .try_clone_to_owned()
        .context("taking standard input")?;
    let mut socket = UnixStream::from(fd);
    let hello: Hello = wire::receive(&mut socket).context("reading the watch's greeting")?;
    let mut config = ClientConfig::new();
    for (key, value) in &hello.settings {
        config.set(key, value);
    }
    let reader = AdminReader::new(&config, Duration::from_millis(hello.timeout_ms))
        .context("making the admin client")?;
    loop {
        let ask: Ask = match wire::receive(&mut socket) {
            Ok(ask) => ask,
            // The watch closed its end: it stopped, or it replaced this reader.
            Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(err) => return Err(err).context("reading a question"),
        };
        let groups = reader.committed(&ask.groups, &ask.partitions);
        wire::send(&mut socket, &Answer { groups }).context("answering")?;
    }
}

#[cfg(test)]
mod tests;
