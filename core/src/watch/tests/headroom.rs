//! Retention headroom from topic configs and partition lags.

use crate::watch::headroom::{Retention, group_headroom};
use crate::watch::report::PartitionReport;
use crate::watch::state::{ConsumerState, LagMethod};

fn partition(topic: &str, committed: Option<i64>, lag_seconds: Option<f64>) -> PartitionReport {
    PartitionReport {
        topic: topic.into(),
        partition: 0,
        state: ConsumerState::Ok,
        committed: committed.into(),
        log_start: Some(0).into(),
        log_end: Some(100).into(),
        lag_records: Some(10).into(),
        lag_seconds: lag_seconds.into(),
        lag_method: LagMethod::FirstUnreadRecord,
        stuck_since: None.into(),
        last_commit_at: None.into(),
        last_commit_age_seconds: None.into(),
        expired_records: None.into(),
        expired_since: None.into(),
    }
}

fn retention(topic: &str) -> Option<Retention> {
    match topic {
        "day" => Some(Retention::Millis(86_400_000)),
        "hour" => Some(Retention::Millis(3_600_000)),
        "forever" => Some(Retention::Forever),
        _ => None,
    }
}

#[test]
fn topic_configs_read_as_kafka_writes_them() {
    let read = Retention::from_topic_config;
    assert_eq!(
        read("604800000", "delete"),
        Some(Retention::Millis(604_800_000))
    );
    assert_eq!(read("-1", "delete"), Some(Retention::Forever));
    assert_eq!(read("3600000", "compact"), Some(Retention::Forever));
    assert_eq!(
        read("3600000", "compact,delete"),
        Some(Retention::Millis(3_600_000))
    );
    assert_eq!(read("soon", "delete"), None);
}

#[test]
fn the_group_has_the_smallest_headroom_of_its_partitions() {
    let partitions = [
        partition("day", Some(5), Some(600.0)),
        partition("hour", Some(5), Some(3_000.0)),
        partition("forever", Some(5), Some(1e9)),
    ];
    assert_eq!(group_headroom(&partitions, retention), Some(600.0));
    // Past retention: negative, records are being deleted unread.
    let late = [partition("hour", Some(5), Some(4_000.0))];
    assert_eq!(group_headroom(&late, retention), Some(-400.0));
}

#[test]
fn unknown_inputs_give_no_figure_rather_than_a_flattering_one() {
    let unknown_lag = [
        partition("day", Some(5), Some(10.0)),
        partition("hour", Some(5), None),
    ];
    assert_eq!(group_headroom(&unknown_lag, retention), None);
    let unknown_topic = [
        partition("day", Some(5), Some(10.0)),
        partition("x", Some(5), Some(1.0)),
    ];
    assert_eq!(group_headroom(&unknown_topic, retention), None);
    // Nothing expires by age, or nothing is committed: no figure either.
    assert_eq!(
        group_headroom(&[partition("forever", Some(5), Some(9.0))], retention),
        None
    );
    assert_eq!(
        group_headroom(&[partition("day", None, None)], retention),
        None
    );
}
