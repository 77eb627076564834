//! Running one action: a command (its own process group, the incident on stdin and in the
//! environment, output captured up to a bound, killed at the timeout), an HTTP call, or the
//! webhooks a notice or an escalation is POSTed to. Each ends in a [`Finished`], never in an
//! error: a failure is an outcome the audit record shows.

use std::process::Stdio;
use std::time::{Duration, Instant};

use cairn_core::config::Webhook;
use cairn_core::respond::record::{MAX_OUTPUT_BYTES, bounded_output};
use cairn_core::respond::{Outcome, Via};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

/// How long output still flowing after a command ended (a child it left behind holding the
/// pipes) is waited for.
const OUTPUT_GRACE: Duration = Duration::from_secs(1);
/// Attempts per webhook.
const WEBHOOK_ATTEMPTS: u32 = 3;
/// The wait before the second attempt; doubled before each next one.
const WEBHOOK_BACKOFF: Duration = Duration::from_millis(500);

/// How an action ended.
#[derive(Clone, Debug, PartialEq)]
pub struct Finished {
    pub outcome: Outcome,
    pub via: Via,
    pub exit_code: Option<i32>,
    pub http_status: Option<u16>,
    pub duration: Duration,
    pub output: String,
    pub output_truncated: bool,
    pub error: Option<String>,
    /// The `cause` label of `cairn_respond_action_failures_total` when it failed.
    pub cause: Option<&'static str>,
}

impl Finished {
    fn new(via: Via, started: Instant) -> Finished {
        Finished {
            outcome: Outcome::Ok,
            via,
            exit_code: None,
            http_status: None,
            duration: started.elapsed(),
            output: String::new(),
            output_truncated: false,
            error: None,
            cause: None,
        }
    }

    /// Nothing run yet: the shape in which a notice or an escalation is POSTed.
    pub fn pending() -> Finished {
        let mut finished = Finished::new(Via::None, Instant::now());
        finished.outcome = Outcome::Recorded;
        finished.duration = Duration::ZERO;
        finished
    }

    /// A relaunch with nothing configured to run (the config refuses this; kept defensive).
    pub fn failed_without_action(self) -> Finished {
        self.failed(
            Outcome::Failed,
            "spawn",
            "the group has no command or url to relaunch it with".into(),
        )
    }

    fn failed(mut self, outcome: Outcome, cause: &'static str, error: String) -> Finished {
        self.outcome = outcome;
        self.cause = Some(cause);
        self.error = Some(error);
        self
    }

    fn with_output(mut self, bytes: &[u8], more: bool) -> Finished {
        let (text, cut) = bounded_output(bytes);
        self.output = text;
        self.output_truncated = cut || more;
        self
    }
}

/// Runs `argv` without a shell, writing `stdin` to it; kills its whole process group at
/// `timeout`.
pub async fn run_command(
    argv: &[String],
    env: &[(String, String)],
    stdin: Vec<u8>,
    timeout: Duration,
) -> Finished {
    let started = Instant::now();
    let Some((program, args)) = argv.split_first() else {
        return Finished::new(Via::Command, started).failed(
            Outcome::Failed,
            "spawn",
            "no program to run".into(),
        );
    };
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own group, so a timeout kills what it started too.
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(err) => {
            return Finished::new(Via::Command, started).failed(
                Outcome::Failed,
                "spawn",
                format!("could not start {program}: {err}"),
            );
        }
    };
    if let Some(mut pipe) = child.stdin.take() {
        // A command that does not read its stdin must not block on it, nor it on the command.
        tokio::spawn(async move {
            let _ = pipe.write_all(&stdin).await;
        });
    }
    let stdout = child.stdout.take().map(|p| tokio::spawn(read_bounded(p)));
    let stderr = child.stderr.take().map(|p| tokio::spawn(read_bounded(p)));
    let waited = tokio::time::timeout(timeout, child.wait()).await;
    let mut finished = Finished::new(Via::Command, started);
    match waited {
        Ok(Ok(status)) => {
            finished.exit_code = status.code();
            if !status.success() {
                let error = match status.code() {
                    Some(code) => format!("exited with status {code}"),
                    None => format!("ended by a signal ({status})"),
                };
                finished = finished.failed(Outcome::Failed, "exit", error);
            }
        }
        Ok(Err(err)) => {
            finished = finished.failed(Outcome::Failed, "spawn", format!("waiting for it: {err}"));
        }
        Err(_) => {
            kill_group(&child);
            let _ = child.kill().await;
            finished = finished.failed(
                Outcome::TimedOut,
                "timeout",
                format!("still running after {timeout:?}: killed"),
            );
        }
    }
    finished.duration = started.elapsed();
    let mut output = Vec::new();
    let mut more = false;
    for reader in [stdout, stderr].into_iter().flatten() {
        if let Ok(Ok((bytes, cut))) = tokio::time::timeout(OUTPUT_GRACE, reader).await {
            output.extend(bytes);
            more |= cut;
        }
    }
    finished.with_output(&output, more)
}

/// SIGKILL to the command's process group (it leads it: `process_group(0)`).
fn kill_group(child: &tokio::process::Child) {
    if let Some(pid) = child.id().and_then(|id| i32::try_from(id).ok()) {
        // SAFETY: kill(2) with a negative pid signals that process group; no memory is shared.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
}

/// Reads a pipe to its end, keeping at most one byte more than the bound (to know it was cut).
async fn read_bounded(mut pipe: impl AsyncRead + Unpin) -> (Vec<u8>, bool) {
    let mut kept = Vec::new();
    let mut cut = false;
    let mut chunk = [0u8; 4096];
    loop {
        match pipe.read(&mut chunk).await {
            Ok(0) | Err(_) => return (kept, cut),
            Ok(n) => {
                let room = MAX_OUTPUT_BYTES.saturating_sub(kept.len());
                kept.extend_from_slice(&chunk[..n.min(room)]);
                cut |= n > room;
            }
        }
    }
}

/// One HTTP call; the answer's body is kept up to the bound.
pub async fn call_http(
    http: &reqwest::Client,
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: String,
    timeout: Duration,
) -> Finished {
    let started = Instant::now();
    let method = match reqwest::Method::from_bytes(method.as_bytes()) {
        Ok(method) => method,
        Err(err) => {
            return Finished::new(Via::Http, started).failed(
                Outcome::Failed,
                "spawn",
                format!("method {method}: {err}"),
            );
        }
    };
    let mut request = http.request(method, url).body(body);
    for (name, value) in headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let call = async {
        let mut response = request.send().await?;
        let status = response.status();
        let mut kept = Vec::new();
        let mut cut = false;
        while let Some(chunk) = response.chunk().await? {
            let room = MAX_OUTPUT_BYTES.saturating_sub(kept.len());
            kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
            cut |= chunk.len() > room;
        }
        Ok::<_, reqwest::Error>((status, kept, cut))
    };
    let answered = tokio::time::timeout(timeout, call).await;
    let finished = Finished::new(Via::Http, started);
    match answered {
        Ok(Ok((status, body, cut))) => {
            let mut finished = finished.with_output(&body, cut);
            finished.http_status = Some(status.as_u16());
            if status.is_success() {
                finished
            } else {
                finished.failed(Outcome::Failed, "status", format!("answered {status}"))
            }
        }
        Ok(Err(err)) => finished.failed(Outcome::Failed, "transport", error_chain(&err)),
        Err(_) => finished.failed(
            Outcome::TimedOut,
            "timeout",
            format!("no answer within {timeout:?}"),
        ),
    }
}

/// POSTs `payload` to every webhook (each with retries); `Recorded` when there are none.
pub async fn post_webhooks(
    http: &reqwest::Client,
    hooks: &[Webhook],
    payload: Vec<u8>,
) -> Finished {
    let started = Instant::now();
    if hooks.is_empty() {
        let mut finished = Finished::new(Via::None, started);
        finished.outcome = Outcome::Recorded;
        return finished;
    }
    let mut failures = Vec::new();
    for hook in hooks {
        if let Err(error) = post(http, hook, &payload).await {
            failures.push(format!("{}: {error}", hook.url));
        }
    }
    let finished = Finished::new(Via::Webhook, started);
    if failures.is_empty() {
        finished
    } else {
        finished.failed(Outcome::Failed, "webhook", failures.join("; "))
    }
}

async fn post(http: &reqwest::Client, hook: &Webhook, payload: &[u8]) -> Result<(), String> {
    let mut backoff = WEBHOOK_BACKOFF;
    let mut last_error = String::new();
    for attempt in 1..=WEBHOOK_ATTEMPTS {
        let mut request = http
            .post(&hook.url)
            .timeout(hook.timeout)
            .header("content-type", "application/json")
            .body(payload.to_vec());
        for (name, value) in &hook.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        match request.send().await {
            Ok(response) if response.status().is_success() => return Ok(()),
            Ok(response) => last_error = format!("status {}", response.status()),
            Err(err) => last_error = error_chain(&err),
        }
        if attempt < WEBHOOK_ATTEMPTS {
            tokio::time::sleep(backoff).await;
            backoff *= 2;
        }
    }
    Err(format!("{last_error} after {WEBHOOK_ATTEMPTS} attempts"))
}

/// An error with its causes, on one line.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
