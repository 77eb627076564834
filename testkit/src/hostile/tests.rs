use std::path::{Path, PathBuf};

use super::CHECKS;
use super::smoke::{self, Failure};

/// Mutated inputs per check: about five seconds in all in a debug build.
const MUTATIONS: u64 = 10_000;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

#[test]
fn every_reader_survives_its_corpus_and_seeded_mutations_of_it() {
    let failures = std::env::temp_dir().join("cairn-fuzz-smoke");
    for (seed, &(name, check)) in CHECKS.iter().enumerate() {
        let corpus = smoke::corpus(&fuzz_dir().join("corpus").join(name))
            .unwrap_or_else(|err| panic!("reading the corpus of {name}: {err}"));
        assert!(!corpus.is_empty(), "fuzz/corpus/{name} keeps no input");
        let runs = smoke::run(name, check, &corpus, MUTATIONS, seed as u64, &failures)
            .unwrap_or_else(|failure| panic!("{failure}"));
        assert_eq!(runs, corpus.len() as u64 + MUTATIONS);
        eprintln!("{name}: {runs} inputs ({} from the corpus)", corpus.len());
    }
}

#[test]
fn every_check_is_a_fuzz_target() {
    for (name, _) in CHECKS {
        let target = fuzz_dir().join("fuzz_targets").join(format!("{name}.rs"));
        let text = std::fs::read_to_string(&target)
            .unwrap_or_else(|err| panic!("{}: {err}", target.display()));
        assert!(
            text.contains(&format!("hostile::{name}(")),
            "{} runs hostile::{name}",
            target.display()
        );
    }
}

#[test]
fn a_panicking_check_is_reported_with_its_input() {
    fn fragile(data: &[u8]) {
        assert!(!data.starts_with(b"boom"), "it went boom");
    }
    let dir = tempfile::tempdir().expect("a temporary directory");
    let Err(Failure {
        check,
        input,
        panic,
    }) = smoke::run("fragile", fragile, &[b"boom!".to_vec()], 0, 0, dir.path())
    else {
        panic!("the corpus entry makes the check panic");
    };
    assert_eq!(check, "fragile");
    assert_eq!(std::fs::read(&input).expect("the input kept"), b"boom!");
    assert!(panic.contains("it went boom"), "{panic}");
}

#[test]
fn mutations_repeat_with_their_seed() {
    use std::sync::Mutex;
    static SEEN: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());
    fn record(data: &[u8]) {
        SEEN.lock().unwrap().push(data.to_vec());
    }
    let dir = tempfile::tempdir().expect("a temporary directory");
    let corpus = [b"{\"v\":1}".to_vec(), b"abc".to_vec()];
    smoke::run("record", record, &corpus, 200, 7, dir.path()).expect("no panic");
    let first = std::mem::take(&mut *SEEN.lock().unwrap());
    smoke::run("record", record, &corpus, 200, 7, dir.path()).expect("no panic");
    let second = std::mem::take(&mut *SEEN.lock().unwrap());
    assert_eq!(first, second);
    assert!(
        first.iter().skip(2).any(|input| !corpus.contains(input)),
        "mutations change the inputs"
    );
}
