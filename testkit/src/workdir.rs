//! One test's directory and the `cairn detect` processes it starts: what the detect and the
//! simulate worlds (and any test that spawns a detector) have in common.
//!
//! When the test fails, the directory is kept and its path printed, with the notes the test
//! left (topic and group names) and the last lines of every detector's logs, and then the
//! panic message once more: CI shows the beginning and the end of a long output, and the
//! message would otherwise sit in the middle, above the logs.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::Once;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;
use tempfile::TempDir;

use crate::canary::{CanaryInstance, CanaryToml};
use crate::config::CairnToml;
use crate::instance::Instance;
use crate::process::{DetectProcess, tail};
use crate::watch::{WatchInstance, WatchToml};

pub struct Workdir {
    test: String,
    cairn: PathBuf,
    dir: Option<TempDir>,
    /// Printed when the test fails.
    notes: Mutex<Vec<String>>,
    /// Every log file a spawned detector writes, for the failure report.
    logs: Mutex<Vec<PathBuf>>,
    spawned: AtomicUsize,
}

impl Workdir {
    /// A fresh temporary directory for `test`, whose detectors run the binary `cairn`.
    pub fn new(test: &str, cairn: &Path) -> Workdir {
        remember_panics();
        let dir = tempfile::Builder::new()
            .prefix(&format!("cairn-{test}-"))
            .tempdir()
            .expect("create a temporary directory");
        Workdir {
            test: test.to_owned(),
            cairn: cairn.to_owned(),
            dir: Some(dir),
            notes: Mutex::new(Vec::new()),
            logs: Mutex::new(Vec::new()),
            spawned: AtomicUsize::new(0),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir
            .as_ref()
            .expect("the directory lives as long as the workdir")
            .path()
    }

    /// The `cairn` binary under test.
    pub fn cairn(&self) -> &Path {
        &self.cairn
    }

    /// A line to print if the test fails.
    pub fn note(&self, note: impl Into<String>) {
        self.notes.lock().push(note.into());
    }

    /// A detector instance in `<dir>/<name>` with `config` (see [`Instance::write`]).
    pub fn instance(&self, name: &str, config: CairnToml) -> Instance {
        Instance::write(self.path(), name, config)
    }

    /// Starts `cairn detect` for `instance`; its logs are reported if the test fails.
    pub fn spawn(&self, instance: &Instance) -> DetectProcess {
        let run = self.spawned.fetch_add(1, Ordering::Relaxed) + 1;
        let process = DetectProcess::spawn(&self.cairn, instance, run);
        let mut logs = self.logs.lock();
        logs.push(process.stdout_path.clone());
        logs.push(process.stderr_path.clone());
        process
    }
}

impl Workdir {
    /// A `cairn watch` instance in `<dir>/<name>` with `config` (see [`WatchInstance::write`]).
    pub fn watch_instance(&self, name: &str, config: WatchToml) -> WatchInstance {
        WatchInstance::write(self.path(), name, config)
    }

    /// Starts `cairn watch` for `instance`; its logs are reported if the test fails.
    pub fn spawn_watch(&self, instance: &WatchInstance) -> DetectProcess {
        let run = self.spawned.fetch_add(1, Ordering::Relaxed) + 1;
        let process = instance.spawn(&self.cairn, run);
        let mut logs = self.logs.lock();
        logs.push(process.stdout_path.clone());
        logs.push(process.stderr_path.clone());
        process
    }
}

impl Workdir {
    /// A `cairn canary` instance in `<dir>/<name>` with `config` (see [`CanaryInstance::write`]).
    pub fn canary_instance(&self, name: &str, config: &CanaryToml) -> CanaryInstance {
        CanaryInstance::write(self.path(), name, config)
    }

    /// Starts `cairn canary` for `instance`; its logs are reported if the test fails.
    pub fn spawn_canary(&self, instance: &CanaryInstance) -> DetectProcess {
        let run = self.spawned.fetch_add(1, Ordering::Relaxed) + 1;
        let process = instance.spawn(&self.cairn, run);
        let mut logs = self.logs.lock();
        logs.push(process.stdout_path.clone());
        logs.push(process.stderr_path.clone());
        process
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        // CAIRN_KEEP_WORKDIRS keeps every test's directory and logs, passed or failed.
        if !std::thread::panicking() && std::env::var_os("CAIRN_KEEP_WORKDIRS").is_none() {
            return;
        }
        let Some(dir) = self.dir.take() else { return };
        let kept = dir.keep();
        let how = if std::thread::panicking() {
            "failed"
        } else {
            "passed"
        };
        eprintln!(
            "\n---- {} {how}; its directory is kept: {}",
            self.test,
            kept.display()
        );
        for note in self.notes.lock().iter() {
            eprintln!("     {note}");
        }
        for path in self.logs.lock().iter() {
            eprintln!("---- {} (last lines):", path.display());
            eprintln!("{}", tail(path, 40));
        }
        if let Some(message) = LAST_PANIC.with(|last| last.borrow_mut().take()) {
            eprintln!("---- {} failed with: {message}", self.test);
        }
    }
}

thread_local! {
    /// The message of the latest panic on this thread, for the failure report.
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs, once, a panic hook that keeps each panic's message (and location) for the thread
/// it happened on, then runs the hook that was there before.
fn remember_panics() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(a panic without a message)".to_owned());
            let place = info
                .location()
                .map(|l| format!(" at {}:{}", l.file(), l.line()))
                .unwrap_or_default();
            let summary: String = message.chars().take(2000).collect();
            LAST_PANIC.with(|last| *last.borrow_mut() = Some(format!("{summary}{place}")));
            previous(info);
        }));
    });
}
