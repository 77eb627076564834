//! The committed offsets of many consumer groups through one admin client, with many requests
//! in flight at once: librdkafka's `ListConsumerGroupOffsets` (an OffsetFetch sent to the
//! group's coordinator), which rust-rdkafka does not wrap yet, so it is called through
//! `rdkafka::bindings` here and nowhere else.
//!
//! Why not a consumer per group (`GroupOffsetsReader`, what `cairn detect` uses for its few
//! lineage groups): librdkafka's `committed()` answers only for the client's own `group.id`,
//! so the watch held one client per watched group, each with its threads and its copy of every
//! partition asked about, and asked them one after another. At 200 groups × 2,000 partitions
//! that was 1.1 GiB resident and 30 s a round (`benches/watch_round.rs`).
//!
//! Why chunks: librdkafka files each partition of an OffsetFetch answer by a linear search of
//! the partitions filed so far, so one answer costs the square of its size, all of it on the
//! client's one main thread. A group asked for 2,000 partitions at once cost more than the
//! rest of the round; asked in chunks of [`CHUNK`], the cost is linear in the partitions.
//! At most [`IN_FLIGHT`] requests are out at once (see `committed`).

use std::ffi::{CStr, CString, c_void};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::admin::AdminClient;
use rdkafka::bindings as rd;
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

/// Partitions asked in one OffsetFetch.
pub const CHUNK: usize = 200;
/// OffsetFetch requests in flight at once.
pub const IN_FLIGHT: usize = 100;

/// One partition's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Commit {
    /// The committed offset; `None`: the group committed nothing there.
    Offset(Option<i64>),
    /// The broker answered an error for this partition alone (not authorized, unstable).
    Refused(Option<RDKafkaErrorCode>),
    /// The whole request failed (group not authorized, coordinator loading or gone, timeout).
    Failed(Option<RDKafkaErrorCode>),
}

/// One admin client for every group of a cluster.
pub struct CommittedReader {
    admin: AdminClient<DefaultClientContext>,
    timeout: Duration,
}

impl CommittedReader {
    pub fn new(base: &ClientConfig, timeout: Duration) -> Result<CommittedReader, KafkaError> {
        Ok(CommittedReader {
            admin: base.create()?,
            timeout,
        })
    }

    /// The committed offset of each of `partitions` for each of `groups`: per group, in the
    /// order of `partitions`. [`IN_FLIGHT`] (group, chunk) requests are in flight at once; a
    /// request with no answer within the timeout has its partitions `Failed(OperationTimedOut)`.
    pub fn committed(&self, groups: &[String], partitions: &[(String, i32)]) -> Vec<Vec<Commit>> {
        let timed_out = Commit::Failed(Some(RDKafkaErrorCode::OperationTimedOut));
        let mut answers = vec![vec![timed_out; partitions.len()]; groups.len()];
        if partitions.is_empty() {
            return answers;
        }
        let chunks: Vec<&[(String, i32)]> = partitions.chunks(CHUNK).collect();
        let rk = self.admin.inner().native_ptr();
        let timeout_ms = i32::try_from(self.timeout.as_millis()).unwrap_or(i32::MAX);
        // Every (group, chunk) request, by tag; a group whose name cannot be sent fails here.
        let mut names = Vec::with_capacity(groups.len());
        for (g, group) in groups.iter().enumerate() {
            match CString::new(group.as_str()) {
                Ok(name) => names.push(Some(name)),
                Err(_) => {
                    answers[g].fill(Commit::Failed(Some(RDKafkaErrorCode::InvalidGroupId)));
                    names.push(None);
                }
            }
        }
        let mut pending =
            (0..groups.len() * chunks.len()).filter(|tag| names[tag / chunks.len()].is_some());
        // SAFETY: every librdkafka object made here is destroyed here, after its last use;
        // the strings and lists passed in live until the call that copies them returns; an
        // event's results are read before the event is destroyed; the queue is destroyed
        // only once nothing sent on it is waited for, or the deadline passed.
        unsafe {
            let queue = rd::rd_kafka_queue_new(rk);
            // Each chunk's list is made once and copied by every request that carries it.
            let lists: Vec<*mut rd::rd_kafka_topic_partition_list_t> =
                chunks.iter().map(|chunk| partition_list(chunk)).collect();
            let send = |tag: usize| {
                let name = names[tag / chunks.len()].as_ref().expect("filtered");
                let list = lists[tag % chunks.len()];
                let mut request = rd::rd_kafka_ListConsumerGroupOffsets_new(name.as_ptr(), list);
                let options = rd::rd_kafka_AdminOptions_new(
                    rk,
                    rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS,
                );
                let mut errstr = [0 as std::ffi::c_char; 256];
                rd::rd_kafka_AdminOptions_set_request_timeout(
                    options,
                    timeout_ms,
                    errstr.as_mut_ptr(),
                    errstr.len(),
                );
                // Which (group, chunk) an answer is for comes back with it.
                rd::rd_kafka_AdminOptions_set_opaque(options, tag as *mut c_void);
                rd::rd_kafka_ListConsumerGroupOffsets(rk, &mut request, 1, options, queue);
                rd::rd_kafka_ListConsumerGroupOffsets_destroy(request);
                rd::rd_kafka_AdminOptions_destroy(options);
            };
            // A bounded number in flight: thousands at once time out together in librdkafka's
            // queues, and its admin timeouts then trip an assertion that aborts the process.
            let mut in_flight = 0usize;
            for tag in pending.by_ref().take(IN_FLIGHT) {
                send(tag);
                in_flight += 1;
            }
            let mut deadline = Instant::now() + self.timeout + Duration::from_secs(1);
            while in_flight > 0 {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                let event = rd::rd_kafka_queue_poll(queue, left.as_millis() as i32);
                if event.is_null() {
                    continue;
                }
                in_flight -= 1;
                let tag = rd::rd_kafka_event_opaque(event) as usize;
                let (g, c) = (tag / chunks.len(), tag % chunks.len());
                if let Some(answer) = answers.get_mut(g) {
                    let from = c * CHUNK;
                    read_event(event, chunks[c], &mut answer[from..from + chunks[c].len()]);
                }
                rd::rd_kafka_event_destroy(event);
                if let Some(tag) = pending.next() {
                    send(tag);
                    in_flight += 1;
                    // Each request has its own timeout from when it is sent.
                    deadline = Instant::now() + self.timeout + Duration::from_secs(1);
                }
            }
            for list in lists {
                rd::rd_kafka_topic_partition_list_destroy(list);
            }
            rd::rd_kafka_queue_destroy(queue);
        }
        answers
    }
}

/// A librdkafka list of `partitions`; the caller destroys it.
///
/// # Safety
/// Calls into librdkafka; the returned list must be destroyed once.
unsafe fn partition_list(partitions: &[(String, i32)]) -> *mut rd::rd_kafka_topic_partition_list_t {
    unsafe {
        let list = rd::rd_kafka_topic_partition_list_new(partitions.len() as i32);
        for (topic, partition) in partitions {
            // A topic name with a NUL byte cannot come from the broker's metadata.
            if let Ok(topic) = CString::new(topic.as_str()) {
                rd::rd_kafka_topic_partition_list_add(list, topic.as_ptr(), *partition);
            }
        }
        list
    }
}

/// Files one ListConsumerGroupOffsets answer into `out`, the slots of `asked`.
///
/// # Safety
/// `event` must be a live ListConsumerGroupOffsets result event.
unsafe fn read_event(
    event: *mut rd::rd_kafka_event_t,
    asked: &[(String, i32)],
    out: &mut [Commit],
) {
    unsafe {
        let failed = |code: rd::rd_kafka_resp_err_t| Commit::Failed(Some(code.into()));
        let error = rd::rd_kafka_event_error(event);
        if error != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            out.fill(failed(error));
            return;
        }
        let result = rd::rd_kafka_event_ListConsumerGroupOffsets_result(event);
        let mut count = 0usize;
        let groups = if result.is_null() {
            std::ptr::null()
        } else {
            rd::rd_kafka_ListConsumerGroupOffsets_result_groups(result, &mut count)
        };
        if groups.is_null() || count == 0 {
            out.fill(Commit::Failed(None));
            return;
        }
        let group = *groups;
        let group_error = rd::rd_kafka_group_result_error(group);
        if !group_error.is_null() {
            out.fill(failed(rd::rd_kafka_error_code(group_error)));
            return;
        }
        // Asked partitions missing from the answer: no commit, as the consumer's read says.
        out.fill(Commit::Offset(None));
        let list = rd::rd_kafka_group_result_partitions(group);
        if list.is_null() {
            return;
        }
        let list = &*list;
        let elements =
            std::slice::from_raw_parts(list.elems, usize::try_from(list.cnt).unwrap_or(0));
        // The answer usually keeps the order asked: look at the same slot first.
        for (i, element) in elements.iter().enumerate() {
            let topic = CStr::from_ptr(element.topic).to_bytes();
            let matches = |(t, p): &(String, i32)| t.as_bytes() == topic && *p == element.partition;
            let slot = if asked.get(i).is_some_and(matches) {
                Some(i)
            } else {
                asked.iter().position(matches)
            };
            let Some(slot) = slot else { continue };
            out[slot] = if element.err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
                Commit::Refused(Some(element.err.into()))
            } else if element.offset < 0 {
                Commit::Offset(None)
            } else {
                Commit::Offset(Some(element.offset))
            };
        }
    }
}
