use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::mocking::MockCluster;
use rdkafka::{Offset, TopicPartitionList};

use super::wire::WireCommit;
use super::{Commit, CommittedReader, READER_ENV, serve};

/// The name of [`reader_process`] as the test harness knows it (see `launcher`).
pub(super) const READER_TEST: &str = "watch::committed::tests::reader_process";

/// Not a test: the entry of the offsets reader when a test's watch runs this harness as its
/// reader (its standard input is then the reader's socket). Run bare, it has nothing to do.
#[test]
fn reader_process() {
    if std::env::var_os(READER_ENV).is_some() {
        serve().expect("the reader serves until the watch closes its socket");
    }
}

#[test]
fn error_codes_cross_the_wire_by_number() {
    for commit in [
        Commit::Offset(Some(42)),
        Commit::Offset(None),
        Commit::Refused(Some(RDKafkaErrorCode::GroupAuthorizationFailed)),
        Commit::Failed(Some(RDKafkaErrorCode::CoordinatorLoadInProgress)),
        Commit::Failed(Some(RDKafkaErrorCode::OperationTimedOut)),
        Commit::Failed(None),
    ] {
        assert_eq!(Commit::from(WireCommit::from(commit)), commit);
    }
    // A number librdkafka does not know is an error without a name, not a panic.
    assert_eq!(
        Commit::from(WireCommit::Failed(Some(i32::MAX))),
        Commit::Failed(None)
    );
}

/// A mock cluster with topic `t` of two partitions, where group `g` committed 5 on partition 0.
fn committed_cluster() -> (
    MockCluster<'static, rdkafka::producer::DefaultProducerContext>,
    ClientConfig,
) {
    let mock = MockCluster::new(1).expect("a mock cluster");
    mock.create_topic("t", 2, 1).expect("a topic");
    let mut base = ClientConfig::new();
    base.set("bootstrap.servers", mock.bootstrap_servers());
    let committer: BaseConsumer = base
        .clone()
        .set("group.id", "g")
        .create()
        .expect("a committer");
    let mut offsets = TopicPartitionList::new();
    offsets
        .add_partition_offset("t", 0, Offset::Offset(5))
        .expect("an offset");
    committer
        .commit(&offsets, CommitMode::Sync)
        .expect("the commit");
    (mock, base)
}

#[test]
fn the_reader_process_answers_per_group_and_partition() {
    let (_mock, base) = committed_cluster();
    let reader = CommittedReader::new(&base, Duration::from_secs(5)).expect("a reader");
    let partitions = [("t".to_owned(), 0), ("t".to_owned(), 1)];
    let groups = ["g".to_owned(), "other".to_owned()];
    let answers = reader.committed(&groups, &partitions);
    assert_eq!(
        answers,
        vec![
            vec![Commit::Offset(Some(5)), Commit::Offset(None)],
            vec![Commit::Offset(None), Commit::Offset(None)],
        ]
    );
    assert_eq!(reader.take_lost(), 0);
}

#[test]
fn a_reader_that_dies_costs_one_round_and_is_replaced() {
    let (_mock, base) = committed_cluster();
    let reader = CommittedReader::new(&base, Duration::from_secs(5)).expect("a reader");
    let partitions = [("t".to_owned(), 0)];
    let groups = ["g".to_owned()];
    assert_eq!(
        reader.committed(&groups, &partitions),
        vec![vec![Commit::Offset(Some(5))]]
    );
    let pid = reader
        .process
        .lock()
        .as_ref()
        .expect("a running reader")
        .child
        .id();
    // SAFETY: kill(2) of our own child, which has not been waited for, so the pid is its own.
    let killed = unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
    assert_eq!(killed, 0, "the reader could not be killed");
    assert_eq!(
        reader.committed(&groups, &partitions),
        vec![vec![Commit::Failed(None)]],
        "a lost reader's round is unknown"
    );
    assert_eq!(reader.take_lost(), 1);
    assert_eq!(
        reader.committed(&groups, &partitions),
        vec![vec![Commit::Offset(Some(5))]],
        "the next round has a new reader"
    );
    assert_eq!(reader.take_lost(), 0);
}

#[test]
fn the_reader_is_given_the_secrets_as_they_were_set() {
    let mut base = ClientConfig::new();
    base.set("bootstrap.servers", "127.0.0.1:1")
        .set("sasl.password", "a-recognisable-secret")
        .set("ssl.key.password", "another-secret");
    let reader = CommittedReader::new(&base, Duration::from_secs(1)).expect("a reader");
    let given = |key: &str| {
        reader
            .hello
            .settings
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(
        given("sasl.password").as_deref(),
        Some("a-recognisable-secret")
    );
    assert_eq!(given("ssl.key.password").as_deref(), Some("another-secret"));
    assert_eq!(given("bootstrap.servers").as_deref(), Some("127.0.0.1:1"));
}
