use crate::canary::heartbeat::{Heartbeat, HeartbeatError};

fn beat() -> Heartbeat {
    Heartbeat {
        v: 1,
        run: "r1".into(),
        instance: "i1".into(),
        partition: 2,
        seq: 7,
        produced_at: 1_000,
        attempt: 0,
    }
}

#[test]
fn a_heartbeat_survives_the_wire() {
    let b = beat();
    assert_eq!(Heartbeat::decode(&b.encode()), Ok(b));
}

#[test]
fn garbage_is_an_error_with_a_reason_never_a_panic() {
    assert_eq!(Heartbeat::decode(b""), Err(HeartbeatError::Empty));
    let err = Heartbeat::decode(b"{not json").unwrap_err();
    assert_eq!(err.reason(), "invalid");
    let mut b = beat();
    b.v = 2;
    let err = Heartbeat::decode(&b.encode()).unwrap_err();
    assert_eq!(err, HeartbeatError::UnsupportedVersion(2));
    let err = Heartbeat::decode(
        br#"{"v":1,"run":"r","instance":"i","partition":-1,"seq":0,"produced_at":0}"#,
    )
    .unwrap_err();
    assert!(err.to_string().contains("partition"), "{err}");
    for bytes in [&b"\xff\xfe"[..], b"[]", b"null", br#"{"v":1}"#] {
        assert!(Heartbeat::decode(bytes).is_err());
    }
}
