//! Per-message state, kept compact: one table per stream, rows in a slab, slots in bytes.
//!
//! A message is a [`Row`] (its id, the detector time of its first trace, its timer) plus a
//! fixed run of bytes in the stream's slot arena: one 17-byte slot per location of the
//! stream (where the message sits there and when it was sent) and one 6-byte slot per
//! reading app (when it received the message, what was concluded). Every timestamp is an
//! `i32` delta from the row's anchor. The id index is a `HashTable<u32>` of row numbers,
//! so a pending message costs its id, ~32 bytes of row, its slots and ~5 bytes of index.

use hashbrown::{DefaultHashBuilder, HashMap, HashTable};
use std::hash::BuildHasher;

use super::timers::Timers;
use crate::lineage::LocIx;
use crate::model::Millis;

/// Bits of [`Row::status`].
pub(crate) mod status {
    /// The row holds a message (free rows are zeroed).
    pub const OCCUPIED: u8 = 1 << 0;
    /// Changed since the last drain (not persisted).
    pub const DIRTY: u8 = 1 << 1;
    /// Nothing is outstanding: the message waits out its dedup window, then is dropped.
    pub const LINGERING: u8 = 1 << 2;
    /// Given up on after max wait: reported stuck, never lost.
    pub const STUCK: u8 = 1 << 3;
    /// Counted as complete (once).
    pub const COMPLETE: u8 = 1 << 4;
    /// Has extra `sent` copies in the side table.
    pub const EXTRAS: u8 = 1 << 5;
    /// Stored state only: the message was shed (no memory, no disk room) and is no longer
    /// watched; the stored deadline is when it is forgotten.
    pub const SHED: u8 = 1 << 7;
    /// The bits that belong in stored state.
    pub const PERSISTED: u8 = LINGERING | STUCK | COMPLETE;
    /// Stored state only: the state lists every reader of the plan it was written under, so
    /// a reader of the restoring plan missing from it was not in that plan (see `persist`).
    pub const PLAN_LISTED: u8 = 1 << 6;
}

/// Bits of [`LocSlot::flags`].
pub(crate) mod loc_flags {
    /// A `sent` trace gave the position.
    pub const SENT: u8 = 1 << 0;
    /// The position is known: from the `sent`, else from a `received` or `filtered` (a trace gap).
    pub const POSITION: u8 = 1 << 1;
}

/// Bits of [`AppSlot::flags`]. `RX_*` is about the app's `received`, `APP_*` about its `sent` downstream.
pub(crate) mod app_flags {
    pub const RECEIVED: u16 = 1 << 0;
    pub const FILTERED: u16 = 1 << 1;
    /// The app traced its `sent` downstream (which also proves it received the message).
    pub const WROTE: u16 = 1 << 2;
    /// The reception's lost condition held at the last check; confirmed at the next.
    pub const RX_CONFIRMING: u16 = 1 << 3;
    pub const RX_LOST: u16 = 1 << 4;
    /// With `RX_LOST`: the reason was `expired`, not `committed_past`.
    pub const RX_EXPIRED: u16 = 1 << 5;
    pub const RX_RETRACTED: u16 = 1 << 6;
    pub const APP_CONFIRMING: u16 = 1 << 7;
    pub const APP_LOST: u16 = 1 << 8;
    pub const APP_RETRACTED: u16 = 1 << 9;
    /// This slot's expectation was outstanding when the message was given up on.
    pub const STUCK: u16 = 1 << 10;
    /// The app's tracer reported dropping its `received` (a gap record): unknown, not lost.
    pub const RX_UNKNOWN: u16 = 1 << 11;
    /// The app's tracer reported dropping its `sent` downstream: unknown, not lost.
    pub const APP_UNKNOWN: u16 = 1 << 12;
    /// The app joined the lineage (or changed what it reads or writes) after the message was
    /// planned: nothing is expected of it for this message.
    pub const UNPLANNED: u16 = 1 << 13;
    /// Any trace proving the app read the message.
    pub const READ: u16 = RECEIVED | FILTERED | WROTE;
}

pub(crate) const LOC_SLOT_LEN: usize = 17;
pub(crate) const APP_SLOT_LEN: usize = 6;

/// Where a message sits at one location, and when it was sent there.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct LocSlot {
    pub flags: u8,
    pub partition: i32,
    pub offset: i64,
    /// `sent.ts − anchor`, valid with `SENT`.
    pub sent_dts: i32,
}

impl LocSlot {
    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    fn read(b: &[u8; LOC_SLOT_LEN]) -> Self {
        let [
            f,
            p0,
            p1,
            p2,
            p3,
            o0,
            o1,
            o2,
            o3,
            o4,
            o5,
            o6,
            o7,
            t0,
            t1,
            t2,
            t3,
        ] = *b;
        LocSlot {
            flags: f,
            partition: i32::from_le_bytes([p0, p1, p2, p3]),
            offset: i64::from_le_bytes([o0, o1, o2, o3, o4, o5, o6, o7]),
            sent_dts: i32::from_le_bytes([t0, t1, t2, t3]),
        }
    }

    fn write(&self, b: &mut [u8; LOC_SLOT_LEN]) {
        b[0] = self.flags;
        b[1..5].copy_from_slice(&self.partition.to_le_bytes());
        b[5..13].copy_from_slice(&self.offset.to_le_bytes());
        b[13..17].copy_from_slice(&self.sent_dts.to_le_bytes());
    }
}

/// What one reading app did with a message, and what was concluded about it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct AppSlot {
    pub flags: u16,
    /// `received.ts − anchor`, valid with `RECEIVED`.
    pub recv_dts: i32,
}

impl AppSlot {
    pub fn has(&self, flag: u16) -> bool {
        self.flags & flag != 0
    }

    fn read(b: &[u8; APP_SLOT_LEN]) -> Self {
        let [f0, f1, t0, t1, t2, t3] = *b;
        AppSlot {
            flags: u16::from_le_bytes([f0, f1]),
            recv_dts: i32::from_le_bytes([t0, t1, t2, t3]),
        }
    }

    fn write(&self, b: &mut [u8; APP_SLOT_LEN]) {
        b[0..2].copy_from_slice(&self.flags.to_le_bytes());
        b[2..6].copy_from_slice(&self.recv_dts.to_le_bytes());
    }
}

/// How many slots a message of one stream has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Shape {
    pub locs: usize,
    pub apps: usize,
}

impl Shape {
    pub fn stride(self) -> usize {
        self.locs * LOC_SLOT_LEN + self.apps * APP_SLOT_LEN
    }

    fn loc(self, slots: &[u8], ix: usize) -> Option<&[u8; LOC_SLOT_LEN]> {
        let at = ix * LOC_SLOT_LEN;
        slots.get(at..at + LOC_SLOT_LEN)?.try_into().ok()
    }

    fn loc_mut(self, slots: &mut [u8], ix: usize) -> Option<&mut [u8; LOC_SLOT_LEN]> {
        let at = ix * LOC_SLOT_LEN;
        slots.get_mut(at..at + LOC_SLOT_LEN)?.try_into().ok()
    }

    fn app(self, slots: &[u8], ix: usize) -> Option<&[u8; APP_SLOT_LEN]> {
        let at = self.locs * LOC_SLOT_LEN + ix * APP_SLOT_LEN;
        slots.get(at..at + APP_SLOT_LEN)?.try_into().ok()
    }

    fn app_mut(self, slots: &mut [u8], ix: usize) -> Option<&mut [u8; APP_SLOT_LEN]> {
        let at = self.locs * LOC_SLOT_LEN + ix * APP_SLOT_LEN;
        slots.get_mut(at..at + APP_SLOT_LEN)?.try_into().ok()
    }
}

/// A message's fixed part. 32 bytes.
#[derive(Debug, Default)]
pub(crate) struct Row {
    pub id: Box<str>,
    /// Detector time of the first trace; every other time is a delta from it.
    pub anchor: Millis,
    /// Timer deadline − anchor.
    pub deadline: u32,
    pub status: u8,
    /// How many back-off re-checks have run (the delay doubles with each).
    pub backoff: u8,
}

/// Another copy of a message written at a location (rare: kept aside, not in every row).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ExtraSent {
    pub location: u8,
    pub partition: i32,
    pub offset: i64,
}

/// Converts an absolute time to a delta from `anchor`, saturating at the `i32` range.
pub(crate) fn delta(anchor: Millis, at: Millis) -> i32 {
    at.saturating_sub(anchor)
        .clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

/// A read-only view of one message.
pub(crate) struct MessageView<'a> {
    pub row: &'a Row,
    slots: &'a [u8],
    shape: Shape,
    extras: Option<&'a Vec<ExtraSent>>,
}

impl MessageView<'_> {
    pub fn loc(&self, ix: usize) -> LocSlot {
        self.shape
            .loc(self.slots, ix)
            .map(LocSlot::read)
            .unwrap_or_default()
    }

    pub fn app(&self, ix: usize) -> AppSlot {
        self.shape
            .app(self.slots, ix)
            .map(AppSlot::read)
            .unwrap_or_default()
    }

    pub fn deadline(&self) -> Millis {
        self.row
            .anchor
            .saturating_add(Millis::from(self.row.deadline))
    }

    pub fn extra_sent(&self) -> &[ExtraSent] {
        self.extras.map(|v| v.as_slice()).unwrap_or(&[])
    }
}

/// A mutable view of one message; remembers whether anything worth persisting changed.
pub(crate) struct Message<'a> {
    pub row: &'a mut Row,
    slots: &'a mut [u8],
    shape: Shape,
    row_ix: u32,
    extras: &'a mut HashMap<u32, Vec<ExtraSent>>,
    changed: bool,
}

impl Message<'_> {
    pub fn anchor(&self) -> Millis {
        self.row.anchor
    }

    /// A trace timestamp as a delta from the anchor.
    pub fn dts(&self, ts: Millis) -> i32 {
        delta(self.row.anchor, ts)
    }

    pub fn changed(&self) -> bool {
        self.changed
    }

    pub fn has_status(&self, bit: u8) -> bool {
        self.row.status & bit != 0
    }

    pub fn set_status(&mut self, bit: u8, on: bool) {
        let before = self.row.status;
        if on {
            self.row.status |= bit;
        } else {
            self.row.status &= !bit;
        }
        self.changed |= before != self.row.status;
    }

    pub fn loc(&self, ix: LocIx) -> LocSlot {
        self.shape
            .loc(self.slots, ix.index())
            .map(LocSlot::read)
            .unwrap_or_default()
    }

    pub fn set_loc(&mut self, ix: LocIx, slot: LocSlot) {
        if let Some(bytes) = self.shape.loc_mut(self.slots, ix.index()) {
            let before = *bytes;
            slot.write(bytes);
            self.changed |= before != *bytes;
        }
    }

    pub fn app(&self, slot: u8) -> AppSlot {
        self.shape
            .app(self.slots, usize::from(slot))
            .map(AppSlot::read)
            .unwrap_or_default()
    }

    pub fn set_app(&mut self, slot: u8, value: AppSlot) {
        if let Some(bytes) = self.shape.app_mut(self.slots, usize::from(slot)) {
            let before = *bytes;
            value.write(bytes);
            self.changed |= before != *bytes;
        }
    }

    /// Whether `(partition, offset)` is a copy of the message already seen at `location`
    /// (besides the first one, which lives in the location slot).
    pub fn has_extra_sent(&self, location: LocIx, partition: i32, offset: i64) -> bool {
        self.has_status(status::EXTRAS)
            && self.extras.get(&self.row_ix).is_some_and(|v| {
                v.contains(&ExtraSent {
                    location: location.0,
                    partition,
                    offset,
                })
            })
    }

    pub fn add_extra_sent(&mut self, location: LocIx, partition: i32, offset: i64) {
        self.extras.entry(self.row_ix).or_default().push(ExtraSent {
            location: location.0,
            partition,
            offset,
        });
        self.set_status(status::EXTRAS, true);
        self.changed = true;
    }

    /// The earliest trace timestamp held for the message (its anchor if it holds none).
    pub fn first_seen(&self) -> Millis {
        let sent = (0..self.shape.locs)
            .map(|i| self.loc(LocIx(i as u8)))
            .filter(|l| l.has(loc_flags::SENT))
            .map(|l| l.sent_dts);
        let received = (0..self.shape.apps)
            .map(|i| self.app(i as u8))
            .filter(|a| a.has(app_flags::RECEIVED))
            .map(|a| a.recv_dts);
        let earliest = sent.chain(received).min().unwrap_or(0);
        self.row.anchor.saturating_add(Millis::from(earliest))
    }
}

/// Bytes of one id-index bucket (a row number and hashbrown's control byte), allowing for the
/// table's spare buckets.
const INDEX_ENTRY_BYTES: usize = 8;
/// Bytes of a row's timer links.
const TIMER_LINK_BYTES: usize = 8;

/// What one message costs in memory, as the budget counts it: its row, its slots, its id on
/// the heap (rounded to the allocator's 8-byte steps, plus its header), its index entry and
/// its timer links. Extra `sent` copies are counted apart.
pub(crate) fn message_bytes(id_len: usize, stride: usize) -> u64 {
    let id_heap = id_len.div_ceil(8) * 8 + 8;
    (std::mem::size_of::<Row>() + stride + id_heap + INDEX_ENTRY_BYTES + TIMER_LINK_BYTES) as u64
}

/// Grows `v` by an eighth when full, not by doubling: under a memory budget the slab's spare
/// room stays within an eighth of its peak.
fn reserve_an_eighth<T>(v: &mut Vec<T>, more: usize) {
    if v.len() + more > v.capacity() {
        v.reserve_exact((v.len() / 8).max(more).max(64));
    }
}

/// Every message of one stream.
pub(crate) struct MessageTable {
    shape: Shape,
    hasher: DefaultHashBuilder,
    index: HashTable<u32>,
    rows: Vec<Row>,
    slots: Vec<u8>,
    free: Vec<u32>,
    pub timers: Timers,
    track_changes: bool,
    dirty: Vec<u32>,
    removed: Vec<Box<str>>,
    extras: HashMap<u32, Vec<ExtraSent>>,
    /// [`message_bytes`] summed over the messages held.
    live_bytes: u64,
}

impl MessageTable {
    /// Hashes ids as `other` does, so hashes kept elsewhere (the spilled index) stay valid when
    /// `other`'s messages move here. Only while this table is empty.
    pub(crate) fn hash_like(&mut self, other: &MessageTable) {
        if self.index.is_empty() {
            self.hasher = other.hasher.clone();
        }
    }

    pub fn new(shape: Shape, track_changes: bool) -> Self {
        MessageTable {
            shape,
            hasher: DefaultHashBuilder::default(),
            index: HashTable::new(),
            rows: Vec::new(),
            slots: Vec::new(),
            free: Vec::new(),
            timers: Timers::default(),
            track_changes,
            dirty: Vec::new(),
            removed: Vec::new(),
            extras: HashMap::new(),
            live_bytes: 0,
        }
    }

    /// What the messages held cost, as the memory budget counts it ([`message_bytes`], and
    /// the side table of extra copies).
    pub fn live_bytes(&self) -> u64 {
        self.live_bytes + (self.extras.len() * 64) as u64
    }

    /// Whether the row changed since the last drain.
    pub fn is_dirty(&self, row: u32) -> bool {
        self.rows
            .get(row as usize)
            .is_some_and(|r| r.status & status::DIRTY != 0)
    }

    /// The budget's cost of one message of this table with an id of `id_len` bytes.
    pub fn cost_of(&self, id_len: usize) -> u64 {
        message_bytes(id_len, self.shape.stride())
    }

    /// The hash the id index uses for `id`.
    pub fn hash_id(&self, id: &str) -> u64 {
        self.hasher.hash_one(id)
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn find(&self, id: &str) -> Option<u32> {
        let hash = self.hasher.hash_one(id);
        self.index
            .find(hash, |&r| &*self.rows[r as usize].id == id)
            .copied()
    }

    /// The row of `id`, creating it (anchored at `now`, first checked at `first_check`) if absent.
    /// Says whether it was created.
    pub fn find_or_insert(&mut self, id: &str, now: Millis, first_check: Millis) -> (u32, bool) {
        let hash = self.hasher.hash_one(id);
        if let Some(&row) = self.index.find(hash, |&r| &*self.rows[r as usize].id == id) {
            return (row, false);
        }
        let row = self.allocate(id, now);
        let (rows, hasher) = (&self.rows, &self.hasher);
        self.index
            .insert_unique(hash, row, |&r| hasher.hash_one(&*rows[r as usize].id));
        self.rearm(row, now.saturating_add(first_check));
        (row, true)
    }

    fn allocate(&mut self, id: &str, anchor: Millis) -> u32 {
        let row = Row {
            id: id.into(),
            anchor,
            deadline: 0,
            status: status::OCCUPIED,
            backoff: 0,
        };
        self.live_bytes += message_bytes(id.len(), self.shape.stride());
        if let Some(ix) = self.free.pop() {
            self.rows[ix as usize] = row;
            return ix;
        }
        // Row numbers are u32: four billion messages in memory is far past any budget.
        let ix = self.rows.len() as u32;
        reserve_an_eighth(&mut self.rows, 1);
        self.rows.push(row);
        let stride = self.shape.stride();
        reserve_an_eighth(&mut self.slots, stride);
        self.slots.resize(self.slots.len() + stride, 0);
        ix
    }

    pub fn is_occupied(&self, row: u32) -> bool {
        self.rows
            .get(row as usize)
            .is_some_and(|r| r.status & status::OCCUPIED != 0)
    }

    pub fn message(&mut self, row: u32) -> Message<'_> {
        let stride = self.shape.stride();
        let at = row as usize * stride;
        Message {
            row: &mut self.rows[row as usize],
            slots: &mut self.slots[at..at + stride],
            shape: self.shape,
            row_ix: row,
            extras: &mut self.extras,
            changed: false,
        }
    }

    pub fn view(&self, row: u32) -> MessageView<'_> {
        let stride = self.shape.stride();
        let at = row as usize * stride;
        let r = &self.rows[row as usize];
        MessageView {
            row: r,
            slots: &self.slots[at..at + stride],
            shape: self.shape,
            extras: if r.status & status::EXTRAS != 0 {
                self.extras.get(&row)
            } else {
                None
            },
        }
    }

    /// Every occupied row.
    pub fn rows(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.rows.len() as u32).filter(|&r| self.is_occupied(r))
    }

    /// Sets the row's timer. The row must not be waiting in another timer list.
    pub fn rearm(&mut self, row: u32, at: Millis) {
        let r = &mut self.rows[row as usize];
        r.deadline = u32::try_from(at.saturating_sub(r.anchor).max(0)).unwrap_or(u32::MAX);
        self.timers.schedule(row, at);
    }

    /// Marks the row for the next [`MessageTable::drain_changes`].
    pub fn mark_dirty(&mut self, row: u32) {
        let r = &mut self.rows[row as usize];
        if self.track_changes && r.status & status::DIRTY == 0 {
            r.status |= status::DIRTY;
            self.dirty.push(row);
        }
    }

    /// Drops a message (its timer must have fired: it is in no timer list).
    pub fn remove(&mut self, row: u32) {
        if let Some(id) = self.free_row(row)
            && self.track_changes
        {
            self.removed.push(id);
        }
    }

    /// Takes a message out of memory without dropping its state (it is spilled or shed):
    /// its timer is cancelled and no removal is logged. Returns its id.
    /// `at` is the deadline its timer is armed at.
    pub fn evict(&mut self, row: u32, at: Millis) -> Option<Box<str>> {
        self.timers.cancel(row, at);
        self.free_row(row)
    }

    fn free_row(&mut self, row: u32) -> Option<Box<str>> {
        let r = self.rows.get_mut(row as usize)?;
        if r.status & status::OCCUPIED == 0 {
            return None;
        }
        let id = std::mem::take(&mut r.id);
        self.live_bytes = self
            .live_bytes
            .saturating_sub(message_bytes(id.len(), self.shape.stride()));
        let had_extras = r.status & status::EXTRAS != 0;
        *r = Row::default();
        let hash = self.hasher.hash_one(&*id);
        if let Ok(entry) = self.index.find_entry(hash, |&x| x == row) {
            entry.remove();
        }
        let stride = self.shape.stride();
        self.slots[row as usize * stride..(row as usize + 1) * stride].fill(0);
        if had_extras {
            self.extras.remove(&row);
        }
        self.free.push(row);
        Some(id)
    }

    /// Logs the removal of a message that is not in memory (a shed message forgotten).
    pub fn log_removed(&mut self, id: Box<str>) {
        if self.track_changes {
            self.removed.push(id);
        }
    }

    /// Ids removed since the last call.
    pub fn take_removed(&mut self) -> Vec<Box<str>> {
        std::mem::take(&mut self.removed)
    }

    /// The next row changed since the last call, clearing its mark.
    /// Rows marked dirty (and removals) not drained yet; an upper bound when rows were freed.
    pub fn pending_changes(&self) -> usize {
        self.dirty.len() + self.removed.len()
    }

    pub fn pop_dirty(&mut self) -> Option<u32> {
        while let Some(row) = self.dirty.pop() {
            let r = &mut self.rows[row as usize];
            // A row freed (or freed and reused) since it was marked is listed twice or stale.
            if r.status & (status::DIRTY | status::OCCUPIED) == (status::DIRTY | status::OCCUPIED) {
                r.status &= !status::DIRTY;
                return Some(row);
            }
        }
        if self.dirty.capacity() > 1024 {
            // A burst of changes should not pin its peak in memory.
            self.dirty.shrink_to(1024);
        }
        None
    }

    /// Puts a row back on the changed list (after a failed drain).
    pub fn unpop_dirty(&mut self, row: u32) {
        self.mark_dirty(row);
    }

    /// Creates a row for a restored message, anchored at `anchor`, without marking it changed.
    pub fn insert_restored(&mut self, id: &str, anchor: Millis) -> Option<u32> {
        if self.find(id).is_some() {
            return None;
        }
        let hash = self.hasher.hash_one(id);
        let row = self.allocate(id, anchor);
        let (rows, hasher) = (&self.rows, &self.hasher);
        self.index
            .insert_unique(hash, row, |&r| hasher.hash_one(&*rows[r as usize].id));
        Some(row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_bit_is_its_own() {
        use status::*;
        let bits = [
            OCCUPIED,
            DIRTY,
            LINGERING,
            STUCK,
            COMPLETE,
            EXTRAS,
            SHED,
            PLAN_LISTED,
        ];
        for (i, a) in bits.iter().enumerate() {
            assert_eq!(a.count_ones(), 1);
            for b in &bits[i + 1..] {
                assert_eq!(a & b, 0, "two status flags share bit {a:#010b}");
            }
        }
    }

    #[test]
    fn slots_round_trip_through_bytes() {
        let loc = LocSlot {
            flags: loc_flags::SENT | loc_flags::POSITION,
            partition: -7,
            offset: i64::MAX - 3,
            sent_dts: i32::MIN,
        };
        let mut b = [0u8; LOC_SLOT_LEN];
        loc.write(&mut b);
        assert_eq!(LocSlot::read(&b), loc);
        let app = AppSlot {
            flags: app_flags::APP_RETRACTED | app_flags::RECEIVED,
            recv_dts: -42,
        };
        let mut b = [0u8; APP_SLOT_LEN];
        app.write(&mut b);
        assert_eq!(AppSlot::read(&b), app);
    }

    #[test]
    fn row_stays_32_bytes() {
        assert_eq!(std::mem::size_of::<Row>(), 32);
    }

    #[test]
    fn rows_are_reused_and_the_index_follows() {
        let mut t = MessageTable::new(Shape { locs: 2, apps: 1 }, true);
        let (a, created) = t.find_or_insert("a", 100, 5);
        assert!(created);
        let (b, _) = t.find_or_insert("b", 100, 5);
        assert_eq!(t.find_or_insert("a", 200, 5), (a, false));
        let mut m = t.message(a);
        m.set_app(
            0,
            AppSlot {
                flags: 1,
                recv_dts: 9,
            },
        );
        assert!(m.changed());
        t.remove(a);
        assert_eq!(t.find("a"), None);
        assert_eq!(t.find("b"), Some(b));
        let (c, created) = t.find_or_insert("c", 300, 5);
        assert!(created);
        assert_eq!(c, a, "the freed row is reused");
        assert_eq!(
            t.message(c).app(0),
            AppSlot::default(),
            "reused slots start empty"
        );
        assert_eq!(t.take_removed(), vec![Box::<str>::from("a")]);
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn dirty_rows_drain_once_and_skip_freed_rows() {
        let mut t = MessageTable::new(Shape { locs: 1, apps: 0 }, true);
        let (a, _) = t.find_or_insert("a", 0, 5);
        let (b, _) = t.find_or_insert("b", 0, 5);
        t.mark_dirty(a);
        t.mark_dirty(a);
        t.mark_dirty(b);
        t.remove(b);
        assert_eq!(t.pop_dirty(), Some(a));
        assert_eq!(t.pop_dirty(), None);
    }

    #[test]
    fn deltas_saturate() {
        assert_eq!(delta(0, i64::MAX), i32::MAX);
        assert_eq!(delta(0, i64::MIN), i32::MIN);
        assert_eq!(delta(1_000, 1_250), 250);
    }
}
