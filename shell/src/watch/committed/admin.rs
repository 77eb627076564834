//! The child's side of [`super`]: every group's committed offsets through one admin client,
//! every request in flight at once. librdkafka's `ListConsumerGroupOffsets` (an OffsetFetch
//! sent to the group's coordinator) is not wrapped by rust-rdkafka yet, so it is called
//! through `rdkafka::bindings` here and nowhere else.
//!
//! Why chunks: librdkafka files each partition of an OffsetFetch answer by a linear search of
//! the partitions filed so far, so one answer costs the square of its size, all of it on the
//! client's one main thread. A group asked for 2,000 partitions at once cost more than the
//! rest of the round; asked in chunks of [`CHUNK`], the cost is linear in the partitions.

use std::ffi::{CStr, CString, c_void};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::admin::AdminClient;
use rdkafka::bindings as rd;
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

use super::wire::WireCommit;

/// Partitions asked in one OffsetFetch.
pub const CHUNK: usize = 100;
/// Requests out at once. With every request of a round out at once (2,000 at issue 10's
/// size), some timed out on a healthy local broker, and librdkafka 2.12 aborts in its admin
/// timeout path (`rd_kafka_enq_once_del_source_return`, librdkafka issues #3663 and #4605):
/// a bounded window keeps the broker's queue short, so requests are answered, not timed out.
pub const IN_FLIGHT: usize = 32;

/// One admin client for every group of a cluster.
pub struct AdminReader {
    admin: AdminClient<DefaultClientContext>,
    timeout: Duration,
}

impl AdminReader {
    pub fn new(base: &ClientConfig, timeout: Duration) -> Result<AdminReader, KafkaError> {
        Ok(AdminReader {
            admin: base.create()?,
            timeout,
        })
    }

    /// The committed offset of each of `partitions` for each of `groups`: per group, in the
    /// order of `partitions`. At most [`IN_FLIGHT`] (group, chunk) requests are out at once; a
    /// request with no answer within the timeout, or not sent by then, has its partitions
    /// `Failed(OperationTimedOut)`.
    pub fn committed(
        &self,
        groups: &[String],
        partitions: &[(String, i32)],
    ) -> Vec<Vec<WireCommit>> {
        let timed_out = WireCommit::Failed(Some(RDKafkaErrorCode::OperationTimedOut as i32));
        let mut answers = vec![vec![timed_out; partitions.len()]; groups.len()];
        if partitions.is_empty() {
            return answers;
        }
        let chunks: Vec<&[(String, i32)]> = partitions.chunks(CHUNK).collect();
        let names: Vec<Option<CString>> = groups
            .iter()
            .map(|group| CString::new(group.as_str()).ok())
            .collect();
        for (g, name) in names.iter().enumerate() {
            if name.is_none() {
                answers[g].fill(WireCommit::Failed(Some(
                    RDKafkaErrorCode::InvalidGroupId as i32,
                )));
            }
        }
        // Every request to send, as (group, chunk).
        let mut requests = (0..groups.len())
            .filter(|g| names[*g].is_some())
            .flat_map(|g| (0..chunks.len()).map(move |c| (g, c)));
        let rk = self.admin.inner().native_ptr();
        let timeout_ms = i32::try_from(self.timeout.as_millis()).unwrap_or(i32::MAX);
        let deadline = Instant::now() + self.timeout + Duration::from_secs(1);
        // SAFETY: every librdkafka object made here is destroyed here, after its last use;
        // the strings and lists passed in live until the call that copies them returns; an
        // event's results are read before the event is destroyed.
        unsafe {
            let queue = rd::rd_kafka_queue_new(rk);
            // Each chunk's list is made once and copied by every request that carries it.
            let lists: Vec<*mut rd::rd_kafka_topic_partition_list_t> =
                chunks.iter().map(|chunk| partition_list(chunk)).collect();
            let send = |(g, c): (usize, usize)| {
                let Some(name) = &names[g] else { return };
                let mut request =
                    rd::rd_kafka_ListConsumerGroupOffsets_new(name.as_ptr(), lists[c]);
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
                let tag = g * chunks.len() + c;
                rd::rd_kafka_AdminOptions_set_opaque(options, tag as *mut c_void);
                rd::rd_kafka_ListConsumerGroupOffsets(rk, &mut request, 1, options, queue);
                rd::rd_kafka_ListConsumerGroupOffsets_destroy(request);
                rd::rd_kafka_AdminOptions_destroy(options);
            };
            let mut in_flight = 0usize;
            for request in requests.by_ref().take(IN_FLIGHT) {
                send(request);
                in_flight += 1;
            }
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
                if let Some(request) = requests.next() {
                    send(request);
                    in_flight += 1;
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
    out: &mut [WireCommit],
) {
    unsafe {
        let failed = |code: rd::rd_kafka_resp_err_t| WireCommit::Failed(Some(code as i32));
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
            out.fill(WireCommit::Failed(None));
            return;
        }
        let group = *groups;
        let group_error = rd::rd_kafka_group_result_error(group);
        if !group_error.is_null() {
            out.fill(failed(rd::rd_kafka_error_code(group_error)));
            return;
        }
        // Asked partitions missing from the answer: no commit, as the consumer's read says.
        out.fill(WireCommit::NoCommit);
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
                WireCommit::Refused(Some(element.err as i32))
            } else if element.offset < 0 {
                WireCommit::NoCommit
            } else {
                WireCommit::Offset(element.offset)
            };
        }
    }
}
