//! The disk tier against a real redb file: what goes out comes back whole, when due or by key,
//! dirty states reach the checkpoint once, and the disk limit sheds.

use std::borrow::Cow;
use std::sync::Arc;

use cairn_core::config::Config;
use cairn_core::lineage::Lineage;
use cairn_core::model::{Kind, Trace};

use super::*;

fn detector() -> Detector {
    let config = Config::from_toml_str(
        r#"
[clusters.c]
bootstrap = "127.0.0.1:9"
[tracing]
cluster = "c"
topic = "t"
group = "g"
[output]
cluster = "c"
topic = "o"
[[streams]]
name = "s"
[[streams.apps]]
app = "p"
writes = "c/a"
[[streams.apps]]
app = "r"
group = "r"
reads = "c/a"
"#,
    )
    .expect("a valid config");
    Detector::new(Arc::new(
        Lineage::compile(&config.streams).expect("lineage"),
    ))
}

fn sent(id: &str, offset: i64) -> Trace<'_> {
    Trace {
        id: Cow::Borrowed(id),
        stream: Cow::Borrowed("s"),
        kind: Kind::Sent,
        location: Cow::Borrowed("c/a"),
        partition: 0,
        offset,
        app: Cow::Borrowed("p"),
        group: None,
        ts: 1_000,
    }
}

#[test]
fn spilled_messages_come_back_by_key_and_when_due_and_dirty_ones_reach_a_checkpoint_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tier = SpillTier::open(dir.path(), u64::MAX).expect("open");
    let mut det = detector();
    let mut verdicts = Vec::new();
    let ids: Vec<String> = (0..50).map(|i| format!("message-{i:03}")).collect();
    for (i, id) in ids.iter().enumerate() {
        // Later messages are first checked later: they are the ones spilled first.
        det.on_trace(&sent(id, i as i64), 1_000 + i as i64 * 100, &mut verdicts);
    }
    let before = det.memory_bytes();
    let mut dirty = Vec::new();
    let mut write = tier.write().expect("write");
    let count = write
        .spill(3, &mut det, before / 2, 2_000, &mut dirty)
        .expect("spill");
    assert_eq!(write.len(3).expect("len"), count.spilled);
    write.commit().expect("commit");
    assert!(count.spilled >= 20 && count.shed == 0, "{count:?}");
    assert!(det.memory_bytes() <= before / 2);
    assert_eq!(
        dirty.len() as u64,
        count.spilled,
        "never checkpointed: all changed"
    );
    assert!(tier.used_bytes() > 0);

    // The checkpoint carries their states once, without writing them again.
    let mut write = tier.write().expect("write");
    let states = write.drain_dirty(3, dirty.clone()).expect("drain");
    assert_eq!(states.len() as u64, count.spilled);
    assert!(
        write.drain_dirty(3, dirty).expect("drain").is_empty(),
        "carried by the previous checkpoint"
    );
    write.commit().expect("commit");

    // The last message is spilled: a trace brings it back by its key.
    let last = ids.last().expect("ids");
    let at = det.spilled_at(&sent(last, 49)).expect("on the tier");
    assert_eq!(at.stream, "s");
    let mut write = tier.write().expect("write");
    assert!(
        write
            .take(3, &state_key("s", "never-spilled"))
            .expect("take")
            .is_none(),
        "a key the tier does not hold: nothing"
    );
    assert!(
        write
            .take(2, &state_key("s", last))
            .expect("take")
            .is_none(),
        "filed under its partition, not another"
    );
    let back = write
        .take(3, &state_key("s", last))
        .expect("take")
        .expect("on disk");
    assert!(!back.dirty, "drained since");
    det.unspill(last, &back.state, back.dirty, back.gap_epoch)
        .expect("unspill");
    assert!(
        write
            .take(3, &state_key("s", last))
            .expect("take")
            .is_none()
    );
    // Then the rest come back when due, earliest first.
    let first_due = det.next_spilled_due().expect("some due");
    let due = write.take_due(3, i64::MAX, usize::MAX).expect("due");
    write.commit().expect("commit");
    assert_eq!(due.len() as u64, count.spilled - 1);
    for on_disk in &due {
        let (_, id) = crate::detect::worker::split_state_key(&on_disk.key).expect("key");
        det.unspill(id, &on_disk.state, on_disk.dirty, on_disk.gap_epoch)
            .expect("unspill");
    }
    assert!(first_due <= 1_000 + 5_000 + 10_000);
    assert_eq!(det.messages_spilled(), 0);
    assert_eq!(det.messages_in_memory(), 50);
    assert_eq!(tier.used_bytes(), 0, "everything read back frees its bytes");
}

#[test]
fn past_max_disk_messages_are_shed_and_a_dropped_partition_frees_its_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tier = SpillTier::open(dir.path(), 2_000).expect("open");
    let mut det = detector();
    let mut verdicts = Vec::new();
    for i in 0..40 {
        det.on_trace(&sent(&format!("message-{i:03}"), i), 1_000, &mut verdicts);
    }
    let mut dirty = Vec::new();
    let mut write = tier.write().expect("write");
    let count = write
        .spill(1, &mut det, 0, 2_000, &mut dirty)
        .expect("spill");
    write.commit().expect("commit");
    assert!(count.spilled > 0 && count.shed > 0, "{count:?}");
    assert!(tier.used_bytes() <= 2_000);
    assert_eq!(
        det.metrics().total("cairn_messages_shed_total", None),
        count.shed
    );
    tier.drop_partition(1).expect("drop");
    assert_eq!(tier.used_bytes(), 0);
    let mut seen = 0;
    tier.for_each(1, |_, _| {
        seen += 1;
        Ok(())
    })
    .expect("read");
    assert_eq!(seen, 0);
}

#[test]
fn a_fresh_tier_forgets_the_previous_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let tier = SpillTier::open(dir.path(), u64::MAX).expect("open");
        let mut det = detector();
        det.on_trace(&sent("m", 1), 1_000, &mut Vec::new());
        let mut write = tier.write().expect("write");
        write
            .spill(0, &mut det, 0, 1_000, &mut Vec::new())
            .expect("spill");
        write.commit().expect("commit");
    }
    let tier = SpillTier::open(dir.path(), u64::MAX).expect("reopen");
    let mut seen = 0;
    tier.for_each(0, |_, _| {
        seen += 1;
        Ok(())
    })
    .expect("read");
    assert_eq!(seen, 0);
}

#[test]
fn due_messages_come_back_in_deadline_order_up_to_now_and_at_most_the_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tier = SpillTier::open(dir.path(), u64::MAX).expect("open");
    let mut det = detector();
    let ids: Vec<String> = (0..20).map(|i| format!("message-{i:03}")).collect();
    // Fed newest first: the table's key order (deadline first) is not the arrival order.
    for (i, id) in ids.iter().enumerate().rev() {
        det.on_trace(&sent(id, i as i64), 1_000 + i as i64 * 100, &mut Vec::new());
    }
    let mut write = tier.write().expect("write");
    let count = write
        .spill(2, &mut det, 0, 2_000, &mut Vec::new())
        .expect("spill");
    assert_eq!(count.spilled, 20);
    let deadlines: Vec<Millis> = ids
        .iter()
        .map(|id| write.filed_at(2, &state_key("s", id)).expect("filed"))
        .collect();
    assert!(deadlines.windows(2).all(|w| w[0] < w[1]), "{deadlines:?}");
    let now = deadlines[10];
    let first = write.take_due(2, now, 5).expect("due");
    let rest = write.take_due(2, now, usize::MAX).expect("due");
    let none = write.take_due(2, now, usize::MAX).expect("due");
    write.commit().expect("commit");
    let names = |v: &[OnDisk]| -> Vec<String> {
        v.iter()
            .map(|d| d.key.split_once('\0').expect("key").1.to_owned())
            .collect()
    };
    assert_eq!(
        names(&first),
        ids[..5].to_vec(),
        "earliest first, at most 5"
    );
    assert_eq!(
        names(&rest),
        ids[5..=10].to_vec(),
        "then up to now, inclusive"
    );
    assert!(none.is_empty(), "nothing else is due by now");
    let mut write = tier.write().expect("write");
    assert_eq!(write.len(2).expect("len"), 9, "the later ones stay");
    assert_eq!(write.ids_len(2), 9, "and only they are in the id table");
    write.commit().expect("commit");
}

#[test]
fn a_state_a_checkpoint_carried_comes_back_unchanged_and_one_not_yet_carried_comes_back_changed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tier = SpillTier::open(dir.path(), u64::MAX).expect("open");
    let mut det = detector();
    det.on_trace(&sent("carried", 1), 1_000, &mut Vec::new());
    let mut dirty = Vec::new();
    let mut write = tier.write().expect("write");
    write
        .spill(0, &mut det, 0, 1_000, &mut dirty)
        .expect("spill");
    let carried = write
        .drain_dirty(0, std::mem::take(&mut dirty))
        .expect("drain");
    assert_eq!(carried.len(), 1);
    assert_eq!(carried[0].0, state_key("s", "carried"));
    // A message spilled after that checkpoint, with changes it has not carried.
    det.on_trace(&sent("fresh", 2), 1_500, &mut Vec::new());
    write
        .spill(0, &mut det, 0, 1_500, &mut dirty)
        .expect("spill");
    assert_eq!(dirty.len(), 1, "only the new one is changed");
    let key = |id: &str| state_key("s", id);
    let old = write
        .take(0, &key("carried"))
        .expect("take")
        .expect("on disk");
    let new = write
        .take(0, &key("fresh"))
        .expect("take")
        .expect("on disk");
    write.commit().expect("commit");
    assert!(!old.dirty, "carried by the checkpoint: unchanged since");
    assert!(new.dirty, "the next checkpoint must carry it from memory");
}

#[test]
fn a_rebuilt_index_holds_exactly_what_the_id_table_holds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tier = SpillTier::open(dir.path(), u64::MAX).expect("open");
    let mut det = detector();
    let ids: Vec<String> = (0..20).map(|i| format!("message-{i:03}")).collect();
    for (i, id) in ids.iter().enumerate() {
        det.on_trace(&sent(id, i as i64), 1_000 + i as i64 * 100, &mut Vec::new());
    }
    let mut write = tier.write().expect("write");
    let count = write
        .spill(1, &mut det, 0, 1_000, &mut Vec::new())
        .expect("spill");
    assert_eq!(count.spilled, 20);
    // The 15 earliest come back when due: their filter entries go stale.
    let now = write.filed_at(1, &state_key("s", &ids[14])).expect("filed");
    for back in write.take_due(1, now, usize::MAX).expect("due") {
        let (_, id) = split_state_key(&back.key).expect("key");
        det.unspill(id, &back.state, back.dirty, back.gap_epoch)
            .expect("unspill");
    }
    assert_eq!(det.messages_spilled(), 5);
    write.rebuild_index(1, &mut det).expect("rebuild");
    assert_eq!(det.messages_spilled(), write.len(1).expect("len"));
    for id in &ids[15..] {
        let at = det.spilled_at(&sent(id, 0)).expect("still on the tier");
        let back = write
            .take(1, &state_key(at.stream, id))
            .expect("take")
            .expect("found by its key");
        det.unspill(id, &back.state, back.dirty, back.gap_epoch)
            .expect("unspill");
    }
    assert_eq!((det.messages_spilled(), write.ids_len(1)), (0, 0));
    write.commit().expect("commit");
}

#[test]
fn a_message_read_back_and_spilled_again_in_one_batch_is_filed_once_where_it_last_went() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tier = SpillTier::open(dir.path(), u64::MAX).expect("open");
    let mut det = detector();
    let ids: Vec<String> = (0..10).map(|i| format!("message-{i:03}")).collect();
    for (i, id) in ids.iter().enumerate() {
        det.on_trace(&sent(id, i as i64), 1_000 + i as i64 * 100, &mut Vec::new());
    }
    let key = state_key("s", &ids[3]);
    let mut write = tier.write().expect("write");
    write
        .spill(0, &mut det, 0, 2_000, &mut Vec::new())
        .expect("spill");
    let filed = write.filed_at(0, &key).expect("filed in this batch");
    for _ in 0..2 {
        // Back by its key and out again, all before the batch commits.
        let back = write.take(0, &key).expect("take").expect("on the tier");
        assert_eq!(write.filed_at(0, &key), None, "taken: not on the tier");
        assert!(write.take(0, &key).expect("take").is_none(), "taken once");
        det.unspill(&ids[3], &back.state, back.dirty, back.gap_epoch)
            .expect("unspill");
        write
            .spill(0, &mut det, 0, 2_000, &mut Vec::new())
            .expect("spill");
    }
    write.commit().expect("commit");

    let mut write = tier.write().expect("write");
    assert_eq!(write.filed_at(0, &key), Some(filed), "read from the table");
    assert_eq!(write.ids_len(0), 10, "one id each");
    assert_eq!(write.len(0).expect("len"), 10);
    let due = write.take_due(0, i64::MAX, usize::MAX).expect("due");
    assert_eq!(due.len(), 10);
    assert_eq!(write.filed_at(0, &key), None, "read back when due");
    write.commit().expect("commit");
    let mut write = tier.write().expect("write");
    assert_eq!(write.ids_len(0), 0, "the id table is empty again");
    write.commit().expect("commit");
}

#[test]
fn a_batch_writes_its_id_changes_once_it_holds_many_and_still_finds_every_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tier = SpillTier::open(dir.path(), u64::MAX).expect("open");
    let mut det = detector();
    let n = MAX_HELD_ID_CHANGES + 10;
    let ids: Vec<String> = (0..n).map(|i| format!("m-{i:06}")).collect();
    for (i, id) in ids.iter().enumerate() {
        det.on_trace(&sent(id, i as i64), 1_000 + i as i64, &mut Vec::new());
    }
    let held = |write: &TierWrite<'_>| -> usize { write.ids.values().map(BTreeMap::len).sum() };
    let mut write = tier.write().expect("write");
    write
        .spill(0, &mut det, 0, 2_000, &mut Vec::new())
        .expect("spill");
    assert_eq!(held(&write), n, "one spill is held whole");
    let first = write
        .take(0, &state_key("s", &ids[0]))
        .expect("take")
        .expect("on the tier");
    assert!(!first.state.is_empty());
    assert_eq!(
        held(&write),
        1,
        "written before the take: only its own change is held"
    );
    assert_eq!(write.ids_len(0), (n - 1) as u64);
    assert!(
        write
            .take(0, &state_key("s", &ids[n - 1]))
            .expect("take")
            .is_some(),
        "found through the table"
    );
    write.commit().expect("commit");
}
