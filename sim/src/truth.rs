//! The ground truth of a simulated run (`truth.jsonl`), the contract between `cairn simulate`,
//! which writes it from what really reached each topic and each sink, and `cairn score`, which
//! grades verdicts against it. `schemas/truth.schema.json` describes the same record.
//!
//! One line per message per expected hop: what really happened to message `id` at `hop`.
//! A hop has the shape of a verdict's hop, so verdicts and truth join on (id, hop):
//! - a read hop `{app, group, location: reads}` expects a `received` by `group`;
//! - a write hop `{app, group, location: writes}` expects a `sent` by a processor, or by a
//!   producer (no group; never lost, `duplicated` when it wrote the message twice).
//!
//! A message lost at one hop is `lost` there and `unreached` at every hop after it on that
//! branch, as cairn reports it: once, at the first hop where it went missing.

use std::io::{BufRead, Write};

use cairn_core::model::{HopRef, Kind, MessageRef, Millis, Reason};
use serde::{Deserialize, Serialize};

/// The version of the truth record this build writes and reads.
pub const TRUTH_VERSION: u32 = 1;

/// What really happened to one message at one expected hop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The hop happened exactly once.
    Delivered,
    /// The hop happened more than once (`count` says how often).
    Duplicated,
    /// The first hop of its branch where the message went missing.
    Lost,
    /// An upstream hop of this branch lost the message, so this hop never had a chance.
    Unreached,
    /// An upstream processor dropped the message on purpose (a `filtered` trace).
    Filtered,
}

/// One line of `truth.jsonl`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TruthRecord {
    /// Always [`TRUTH_VERSION`].
    pub v: u32,
    pub id: String,
    pub stream: String,
    /// The expected hop, shaped like a verdict's `hop`.
    pub hop: HopRef,
    /// The trace this hop expects: `received` for a read hop, `sent` for a write hop.
    pub kind: Kind,
    pub outcome: Outcome,
    /// How many times the hop really happened: 0 when lost or unreached, 1 delivered, 2+ duplicated.
    pub count: u32,
    /// For `lost`: the reason a correct verdict gives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    /// Where the message sat when this hop should have picked it up (the read location for a
    /// read hop, the processor's input for a write hop), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<MessageRef>,
    /// For `lost`: when the responsible group's committed offset (or, for `expired`, the log
    /// start) was first observed past the message, in ms since the epoch. Detection delay is
    /// measured from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passed_at: Option<Millis>,
}

/// A line of a truth file that could not be read, naming the line and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum TruthError {
    #[error(
        "truth line {line}: {source}; expected one truth record per line (schemas/truth.schema.json)"
    )]
    Malformed {
        line: usize,
        #[source]
        source: serde_json::Error,
    },
    #[error("truth line {line}: version {found}, expected {TRUTH_VERSION}")]
    Version { line: usize, found: u32 },
    #[error("reading truth: {0}")]
    Io(#[from] std::io::Error),
}

/// Writes records as JSONL.
pub fn write_truth<'a>(
    out: &mut impl Write,
    records: impl IntoIterator<Item = &'a TruthRecord>,
) -> std::io::Result<()> {
    for record in records {
        serde_json::to_writer(&mut *out, record)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// Reads a JSONL truth file; blank lines are skipped, any other bad line is an error.
pub fn read_truth(input: impl BufRead) -> Result<Vec<TruthRecord>, TruthError> {
    let mut records = Vec::new();
    for (ix, line) in input.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let record: TruthRecord =
            serde_json::from_str(&line).map_err(|source| TruthError::Malformed {
                line: ix + 1,
                source,
            })?;
        if record.v != TRUTH_VERSION {
            return Err(TruthError::Version {
                line: ix + 1,
                found: record.v,
            });
        }
        records.push(record);
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lost() -> TruthRecord {
        TruthRecord {
            v: TRUTH_VERSION,
            id: "m-1".into(),
            stream: "playback".into(),
            hop: HopRef {
                app: "enricher".into(),
                group: Some("enricher".into()),
                location: "fronting/playback".into(),
            },
            kind: Kind::Received,
            outcome: Outcome::Lost,
            count: 0,
            reason: Some(Reason::CommittedPast),
            message: Some(MessageRef {
                location: "fronting/playback".into(),
                partition: 3,
                offset: 1234,
            }),
            passed_at: Some(1_763_800_000_123),
        }
    }

    #[test]
    fn records_round_trip_through_jsonl() {
        let mut delivered = lost();
        delivered.outcome = Outcome::Delivered;
        delivered.count = 1;
        delivered.reason = None;
        delivered.passed_at = None;
        let records = vec![lost(), delivered];
        let mut bytes = Vec::new();
        write_truth(&mut bytes, &records).unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.contains(r#""outcome":"lost""#), "{text}");
        assert!(text.contains(r#""reason":"committed_past""#), "{text}");
        assert!(!text.lines().nth(1).unwrap().contains("reason"), "{text}");
        assert_eq!(read_truth(&bytes[..]).unwrap(), records);
    }

    #[test]
    fn a_bad_line_is_named() {
        let mut bytes = Vec::new();
        write_truth(&mut bytes, [&lost()]).unwrap();
        bytes.extend_from_slice(b"\n{\"v\":1,\"id\":\"x\"}\n");
        let err = read_truth(&bytes[..]).unwrap_err().to_string();
        assert!(err.starts_with("truth line 3:"), "{err}");
        assert!(err.contains("missing field"), "{err}");
    }

    #[test]
    fn another_version_is_refused() {
        let line = serde_json::to_string(&lost())
            .unwrap()
            .replace(r#""v":1"#, r#""v":2"#);
        let err = read_truth(line.as_bytes()).unwrap_err().to_string();
        assert_eq!(err, "truth line 1: version 2, expected 1");
    }
}
