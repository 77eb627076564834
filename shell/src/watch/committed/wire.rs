//! What the watch and its offsets reader say to each other over their socket: frames of a
//! 4-byte little-endian length and a bincode body. The two ends are always the same build of
//! cairn, so the format needs no version.

use std::borrow::Cow;
use std::io::{self, Read, Write};

use rdkafka::error::RDKafkaErrorCode;
use rdkafka::types::RDKafkaRespErr;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::Commit;

/// A frame larger than this is a broken stream, not an answer (400,000 answers are ~4 MB).
const MAX_FRAME: usize = 1 << 30;

/// The first frame from the watch: how to make the admin client.
#[derive(Debug, Serialize, Deserialize)]
pub struct Hello {
    /// The cluster's librdkafka settings (secrets included: the socket is the process's own).
    pub settings: Vec<(String, String)>,
    pub timeout_ms: u64,
}

/// One round's question.
#[derive(Debug, Serialize, Deserialize)]
pub struct Ask<'a> {
    pub groups: Cow<'a, [String]>,
    pub partitions: Cow<'a, [(String, i32)]>,
}

/// The answer to an [`Ask`]: per group, one per partition, in the order asked.
#[derive(Debug, Serialize, Deserialize)]
pub struct Answer {
    pub groups: Vec<Vec<WireCommit>>,
}

/// A [`Commit`] in 16 bytes (24 as a `Commit`; the reader holds one per group and partition
/// of the cluster until it answers), its error code the number librdkafka gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WireCommit {
    Offset(i64),
    NoCommit,
    Refused(Option<i32>),
    Failed(Option<i32>),
}

impl From<Commit> for WireCommit {
    fn from(commit: Commit) -> WireCommit {
        let code = |c: Option<RDKafkaErrorCode>| c.map(|c| c as i32);
        match commit {
            Commit::Offset(Some(offset)) => WireCommit::Offset(offset),
            Commit::Offset(None) => WireCommit::NoCommit,
            Commit::Refused(c) => WireCommit::Refused(code(c)),
            Commit::Failed(c) => WireCommit::Failed(code(c)),
        }
    }
}

impl From<WireCommit> for Commit {
    fn from(commit: WireCommit) -> Commit {
        // A number this build's librdkafka does not know stays an unnamed error.
        let code = |c: Option<i32>| {
            c.and_then(|c| RDKafkaRespErr::try_from(c).ok())
                .map(RDKafkaErrorCode::from)
        };
        match commit {
            WireCommit::Offset(offset) => Commit::Offset(Some(offset)),
            WireCommit::NoCommit => Commit::Offset(None),
            WireCommit::Refused(c) => Commit::Refused(code(c)),
            WireCommit::Failed(c) => Commit::Failed(code(c)),
        }
    }
}

/// Writes one frame.
pub fn send(out: &mut impl Write, message: &impl Serialize) -> io::Result<()> {
    let body = bincode::serde::encode_to_vec(message, bincode::config::standard())
        .map_err(io::Error::other)?;
    let len = u32::try_from(body.len()).map_err(io::Error::other)?;
    out.write_all(&len.to_le_bytes())?;
    out.write_all(&body)?;
    out.flush()
}

/// Reads one frame; `UnexpectedEof` when the other end closed the socket between frames.
pub fn receive<T: DeserializeOwned>(input: &mut impl Read) -> io::Result<T> {
    let mut len = [0u8; 4];
    input.read_exact(&mut len)?;
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a frame of {len} bytes, more than the {MAX_FRAME} expected at most"),
        ));
    }
    let mut body = vec![0u8; len];
    input.read_exact(&mut body)?;
    let (message, _) = bincode::serde::decode_from_slice(&body, bincode::config::standard())
        .map_err(|err| io::Error::new(io::ErrorKind::InvalidData, err))?;
    Ok(message)
}
