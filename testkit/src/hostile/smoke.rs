//! A short, stable stand-in for the fuzzers, run by the test command: each check over its kept
//! corpus (`fuzz/corpus/<check>`), then over seeded mutations of it (bit flips, bytes set to
//! values parsers care about, inserted, deleted and repeated ranges, truncations, splices of
//! two entries). It is not coverage-guided, so it finds far less than `cargo fuzz`; it keeps
//! every check compiling and passing on stable, and replays what the fuzzers kept. The seed is
//! fixed, so a failure repeats; the input that failed is written to a file named in the error.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::Check;

/// Bytes that decoders and parsers treat specially.
const INTERESTING: &[u8] = &[
    0, 1, 0x7f, 0x80, 0xff, b'"', b'\\', b'{', b'}', b'[', b']', b':', b',', b'=', b'\n', b'#',
];

/// What a check did not survive.
#[derive(Debug)]
pub struct Failure {
    pub check: &'static str,
    /// Where the failing input was written.
    pub input: PathBuf,
    pub panic: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} panicked on the input in {}: {}",
            self.check,
            self.input.display(),
            self.panic
        )
    }
}

/// The kept corpus of a check: every file of `dir` (none when it does not exist), by name.
pub fn corpus(dir: &Path) -> std::io::Result<Vec<Vec<u8>>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut paths: Vec<PathBuf> = entries
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    paths.sort();
    paths
        .iter()
        .filter(|p| p.is_file())
        .map(std::fs::read)
        .collect()
}

/// Runs `check` on every corpus entry and then on `mutations` mutated inputs made with `seed`;
/// returns how many inputs it ran, or the first failure (its input written under `failures`).
pub fn run(
    name: &'static str,
    check: Check,
    corpus: &[Vec<u8>],
    mutations: u64,
    seed: u64,
    failures: &Path,
) -> Result<u64, Failure> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut runs = 0;
    for input in corpus {
        try_one(name, check, input, failures)?;
        runs += 1;
    }
    for _ in 0..mutations {
        let input = mutate(&mut rng, corpus);
        try_one(name, check, &input, failures)?;
        runs += 1;
    }
    Ok(runs)
}

fn try_one(name: &'static str, check: Check, input: &[u8], failures: &Path) -> Result<(), Failure> {
    let Err(panic) = catch_unwind(AssertUnwindSafe(|| check(input))) else {
        return Ok(());
    };
    let panic = panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "a panic without a message".to_owned());
    let path = failures.join(format!("{name}-failure"));
    let _ = std::fs::create_dir_all(failures);
    let _ = std::fs::write(&path, input);
    Err(Failure {
        check: name,
        input: path,
        panic,
    })
}

/// One to four mutations of a corpus entry (or of nothing, when the corpus is empty).
fn mutate(rng: &mut StdRng, corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut data = match corpus.len() {
        0 => Vec::new(),
        n => corpus[rng.random_range(0..n)].clone(),
    };
    for _ in 0..rng.random_range(1..=4) {
        mutate_once(rng, &mut data, corpus);
    }
    data
}

fn mutate_once(rng: &mut StdRng, data: &mut Vec<u8>, corpus: &[Vec<u8>]) {
    let len = data.len();
    match rng.random_range(0..7) {
        0 if len > 0 => {
            let at = rng.random_range(0..len);
            data[at] ^= 1 << rng.random_range(0..8);
        }
        1 if len > 0 => {
            let at = rng.random_range(0..len);
            data[at] = INTERESTING[rng.random_range(0..INTERESTING.len())];
        }
        2 => {
            let at = rng.random_range(0..=len);
            let count = rng.random_range(1..=16);
            let bytes: Vec<u8> = (0..count).map(|_| rng.random()).collect();
            data.splice(at..at, bytes);
        }
        3 if len > 0 => {
            let from = rng.random_range(0..len);
            let to = rng.random_range(from..=len.min(from + 32));
            data.drain(from..to);
        }
        4 if len > 0 => {
            let from = rng.random_range(0..len);
            let to = rng.random_range(from..=len.min(from + 32));
            let copy = data[from..to].to_vec();
            let at = rng.random_range(0..=data.len());
            data.splice(at..at, copy);
        }
        5 => data.truncate(rng.random_range(0..=len)),
        _ if !corpus.is_empty() => {
            let other = &corpus[rng.random_range(0..corpus.len())];
            let cut = rng.random_range(0..=len);
            let from = rng.random_range(0..=other.len());
            data.truncate(cut);
            data.extend_from_slice(&other[from..]);
        }
        _ => data.push(rng.random()),
    }
}
