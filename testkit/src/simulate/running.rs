//! One `cairn simulate` process left running while a test drives it through its control
//! directory (`--control`): hang a reader, relaunch it, then wait for the run to end.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A running `cairn simulate`; killed when dropped if it is still running.
pub struct SimulateRun {
    child: Child,
    log: PathBuf,
    /// Its `--control` directory.
    pub control: PathBuf,
    /// Its `--out` directory (truth.jsonl once it ended).
    pub out: PathBuf,
}

impl SimulateRun {
    /// Writes `scenario` to `<dir>/<name>.scenario.toml` and starts `cairn simulate` on it,
    /// with `<dir>/<name>-control` as its control directory.
    pub fn spawn(cairn: &Path, dir: &Path, name: &str, scenario: &str) -> SimulateRun {
        let path = dir.join(format!("{name}.scenario.toml"));
        fs::write(&path, scenario).expect("write the scenario");
        let out = dir.join(format!("{name}-out"));
        let control = SimulateRun::control_dir(dir, name);
        let log = dir.join(format!("{name}.simulate.log"));
        let file = fs::File::create(&log).expect("create the simulate log");
        let child = Command::new(cairn)
            .args(["simulate", "--scenario"])
            .arg(&path)
            .arg("--out")
            .arg(&out)
            .arg("--control")
            .arg(&control)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("clone a log handle"))
            .stderr(file)
            .spawn()
            .expect("spawn cairn simulate");
        SimulateRun {
            child,
            log,
            control,
            out,
        }
    }

    /// The control directory [`SimulateRun::spawn`] gives the run `name` in `dir`, known
    /// before it starts (a responder's command names it).
    pub fn control_dir(dir: &Path, name: &str) -> PathBuf {
        dir.join(format!("{name}-control"))
    }

    /// The file that hangs `app` when it appears.
    pub fn hang_file(&self, app: &str) -> PathBuf {
        self.control.join(format!("{app}.hang"))
    }

    /// The file that relaunches `app` when it appears.
    pub fn relaunch_file(&self, app: &str) -> PathBuf {
        self.control.join(format!("{app}.relaunch"))
    }

    /// Makes `app` hang (stop reading and committing) until it is relaunched.
    pub fn hang(&self, app: &str) {
        fs::create_dir_all(&self.control).expect("the control directory");
        fs::write(self.hang_file(app), b"").expect("write the hang file");
    }

    /// Relaunches `app`, as a responder's command would.
    pub fn relaunch(&self, app: &str) {
        fs::create_dir_all(&self.control).expect("the control directory");
        fs::write(self.relaunch_file(app), b"").expect("write the relaunch file");
    }

    /// Its output so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for the run to end; fails with its log if it takes longer than `timeout`.
    pub fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "cairn simulate did not end within {timeout:?}\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for SimulateRun {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
