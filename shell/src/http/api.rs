//! The JSON API: per-stream counts and latencies, recent verdicts, the offsets oracle's view.
//!
//! - `GET /api/streams`: the lineage in use (version, source, fetch status), and per stream the
//!   counts, rates and latency quantiles, and per hop.
//! - `GET /api/lost?stream=&limit=`: recent verdicts, newest first, each exactly as the verdict
//!   record of the lost-messages topic (`cairn_core::verdict::encode`).
//! - `GET /api/oracle`: per cluster, the poller's health and the offsets it last saw.
//!
//! A bad parameter gets a 400 with `{"error": "..."}` naming the parameter.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use cairn_core::lineage::HopRole;
use cairn_core::metrics::{DuplicateKind, HopMetrics, Metrics, StreamMetrics, Unwatched};
use cairn_core::model::{HopRef, Millis, Reason};
use cairn_core::offsets::Observed;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::HttpState;
use super::export::staleness_seconds;
use super::serving::json;
use crate::lineage::LineageCell;
use crate::oracle::snapshot::ClusterOffsets;

/// Verdicts `/api/lost` returns when no `limit` is given.
pub const DEFAULT_LOST_LIMIT: usize = 100;
/// The largest `limit` `/api/lost` accepts (it keeps [`crate::observe::RECENT_VERDICTS`]).
pub const MAX_LOST_LIMIT: usize = 1_000;

/// A request the API refuses, with a message for the caller.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    fn bad_request(message: String) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = json(&serde_json::json!({ "error": self.message }));
        *response.status_mut() = self.status;
        response
    }
}

// ---------------------------------------------------------------------------------------------
// /api/streams

#[derive(Serialize)]
pub(super) struct StreamsBody<'a> {
    /// The lineage in use: its version, where it came from, and how its control plane answers.
    pub(super) lineage: LineageView,
    pub(super) streams: Vec<StreamView<'a>>,
}

/// `lineage` of `/api/streams`. Times are milliseconds since the epoch.
#[derive(Serialize)]
pub(super) struct LineageView {
    /// The served document's `version`, else its ETag, else `sha256:` and 12 hex digits of
    /// its hash; `file` for the file's streams; `null` before a control plane served one.
    pub(super) version: Option<String>,
    /// 1 for the first lineage of the process, one more per change.
    pub(super) generation: Option<u64>,
    /// `file` or `control_plane`.
    pub(super) source: &'static str,
    /// The control plane's URL (with `source = control_plane`).
    pub(super) url: Option<String>,
    /// `sha256:<hex>` of the served document.
    pub(super) hash: Option<String>,
    /// The ETag the control plane sent with it.
    pub(super) etag: Option<String>,
    pub(super) applied_at: Option<Millis>,
    /// The streams of the lineage in use, in its order.
    pub(super) streams: Vec<String>,
    /// Only with a control plane.
    pub(super) fetch: Option<FetchView>,
}

#[derive(Serialize)]
pub(super) struct FetchView {
    pub(super) last_attempt_at: Option<Millis>,
    /// The last fetch that got the lineage in use (applied or unchanged).
    pub(super) last_success_at: Option<Millis>,
    /// The last failed fetch's or invalid document's error (kept after later successes;
    /// compare `last_error_at` with `last_success_at`).
    pub(super) last_error: Option<String>,
    pub(super) last_error_at: Option<Millis>,
    /// Fetches by outcome: `applied`, `unchanged`, `failed`, `invalid`.
    pub(super) outcomes: BTreeMap<&'static str, u64>,
}

fn lineage_view(cell: &LineageCell) -> LineageView {
    let current = cell.current();
    let fetch = cell.control_plane().map(|_| {
        let status = cell.status.lock().clone();
        FetchView {
            last_attempt_at: status.last_attempt_at,
            last_success_at: status.last_success_at,
            last_error: status.last_error,
            last_error_at: status.last_error_at,
            outcomes: cell.counters.by_outcome().into_iter().collect(),
        }
    });
    LineageView {
        version: current.as_ref().map(|c| c.version.clone()),
        generation: current.as_ref().map(|c| c.generation),
        source: match cell.control_plane() {
            Some(_) => "control_plane",
            None => "file",
        },
        url: cell.control_plane().map(str::to_owned),
        hash: current.as_ref().and_then(|c| c.hash.clone()),
        etag: current.as_ref().and_then(|c| c.etag.clone()),
        applied_at: current.as_ref().map(|c| c.applied_at),
        streams: current.as_ref().map_or_else(Vec::new, |c| {
            c.lineage.streams().iter().map(|s| s.name.clone()).collect()
        }),
        fetch,
    }
}

#[derive(Serialize)]
pub(super) struct StreamView<'a> {
    pub(super) stream: &'a str,
    pub(super) seen: u64,
    pub(super) complete: u64,
    /// Messages held in the detectors' memory now.
    pub(super) in_memory: u64,
    /// Messages on the detectors' disk tier now (past `[detector] max_memory`): still watched.
    pub(super) spilled: u64,
    /// Messages shed since the start (no memory left, disk tier at `max_disk`): no longer
    /// watched, never judged.
    pub(super) shed: u64,
    /// Traces of shed messages, counted and skipped.
    pub(super) shed_traces: u64,
    pub(super) lost: LostView,
    pub(super) duplicate: DuplicateView,
    /// Lost verdicts later withdrawn (false alarms); still counted in `lost`, as the
    /// `cairn_lost_total` counter does.
    pub(super) retracted: u64,
    pub(super) stuck: u64,
    pub(super) trace_gaps: u64,
    /// Expected traces a tracer reported dropping (gap records): unknown, never lost.
    pub(super) unknown: u64,
    /// Traces the tracers reported dropping, from their gap records.
    pub(super) tracer_dropped: u64,
    /// Whether the lineage in use has the stream (a removed stream keeps its counters).
    pub(super) in_lineage: bool,
    /// Dropped from watch when the lineage changed, never judged: `stream_removed` (messages),
    /// `hop_removed` (open expectations at an app removed or changed).
    pub(super) unwatched: BTreeMap<&'static str, u64>,
    /// Messages lost for good over messages seen: `(lost.total − retracted) / seen`, 0 when
    /// nothing was seen.
    pub(super) loss_rate: f64,
    /// `duplicate.total / seen`, 0 when nothing was seen.
    pub(super) duplicate_rate: f64,
    pub(super) end_to_end: LatencyView,
    pub(super) hops: Vec<HopView<'a>>,
}

#[derive(Serialize, Default)]
pub(super) struct LostView {
    pub(super) total: u64,
    pub(super) by_reason: BTreeMap<&'static str, u64>,
}

#[derive(Serialize, Default)]
pub(super) struct DuplicateView {
    pub(super) total: u64,
    pub(super) by_kind: BTreeMap<&'static str, u64>,
}

#[derive(Serialize)]
pub(super) struct LatencyView {
    pub(super) count: u64,
    /// `null` when nothing was measured.
    pub(super) p50_ms: Option<u64>,
    pub(super) p99_ms: Option<u64>,
    /// Negative latencies (clock skew) clamped to 0 and counted here.
    pub(super) clock_skew: u64,
}

#[derive(Serialize)]
pub(super) struct HopView<'a> {
    pub(super) hop: &'a HopRef,
    /// `read` (a group must trace `received` here) or `write` (the app must trace `sent`).
    pub(super) role: &'static str,
    pub(super) traces_seen: u64,
    pub(super) lost: LostView,
    pub(super) duplicate: DuplicateView,
    pub(super) retracted: u64,
    pub(super) stuck: u64,
    pub(super) trace_gaps: u64,
    /// Expected traces at this hop that a tracer reported dropping: unknown, never lost.
    pub(super) unknown: u64,
    pub(super) latency: LatencyView,
}

pub async fn streams(State(state): State<HttpState>) -> Response {
    let metrics = state.observatory.metrics.load_full();
    json(&streams_body(&state, &metrics))
}

/// What `/api/streams` answers (the status page shows it too).
pub(super) fn streams_body<'a>(state: &HttpState, metrics: &'a Metrics) -> StreamsBody<'a> {
    let lineage = lineage_view(&state.observatory.lineage);
    let streams = metrics
        .streams()
        .iter()
        .map(|s| stream_view(s, lineage.streams.contains(&s.stream)))
        .collect();
    StreamsBody { lineage, streams }
}

fn stream_view(s: &StreamMetrics, in_lineage: bool) -> StreamView<'_> {
    let hops: Vec<HopView<'_>> = s.hops().iter().map(hop_view).collect();
    let mut lost = LostView::default();
    let mut duplicate = DuplicateView::default();
    for reason in Reason::ALL {
        let n = s.hops().iter().map(|h| h.lost(reason)).sum();
        lost.by_reason.insert(reason.as_str(), n);
        lost.total += n;
    }
    for kind in DuplicateKind::ALL {
        let n = s.hops().iter().map(|h| h.duplicates(kind)).sum();
        duplicate.by_kind.insert(kind.as_str(), n);
        duplicate.total += n;
    }
    let seen = s.messages_seen();
    let rate = |n: u64| {
        if seen == 0 {
            0.0
        } else {
            n as f64 / seen as f64
        }
    };
    let retracted = s.hops().iter().map(HopMetrics::retracted).sum();
    StreamView {
        stream: &s.stream,
        seen,
        complete: s.messages_complete(),
        in_memory: s.messages_in_memory(),
        spilled: s.messages_spilled(),
        shed: s.messages_shed(),
        shed_traces: s.shed_traces(),
        loss_rate: rate(lost.total.saturating_sub(retracted)),
        duplicate_rate: rate(duplicate.total),
        lost,
        duplicate,
        retracted,
        stuck: s.hops().iter().map(HopMetrics::stuck).sum(),
        trace_gaps: s.hops().iter().map(HopMetrics::trace_gaps).sum(),
        unknown: s.hops().iter().map(HopMetrics::unknown).sum(),
        tracer_dropped: s.tracer_dropped(),
        in_lineage,
        unwatched: Unwatched::ALL
            .iter()
            .map(|&r| (r.as_str(), s.unwatched(r)))
            .collect(),
        end_to_end: latency_view(Some(s.end_to_end()), s.end_to_end_clock_skew()),
        hops,
    }
}

fn hop_view(h: &HopMetrics) -> HopView<'_> {
    let mut lost = LostView::default();
    for reason in Reason::ALL {
        lost.by_reason.insert(reason.as_str(), h.lost(reason));
        lost.total += h.lost(reason);
    }
    let mut duplicate = DuplicateView::default();
    for kind in DuplicateKind::ALL {
        duplicate.by_kind.insert(kind.as_str(), h.duplicates(kind));
        duplicate.total += h.duplicates(kind);
    }
    HopView {
        hop: &h.hop,
        role: match h.role {
            HopRole::Read => "read",
            HopRole::Write => "write",
        },
        traces_seen: h.traces_seen(),
        lost,
        duplicate,
        retracted: h.retracted(),
        stuck: h.stuck(),
        trace_gaps: h.trace_gaps(),
        unknown: h.unknown(),
        latency: latency_view(h.latency(), h.clock_skew()),
    }
}

/// Quantiles are HDR values: exact below 256 ms, within 1% above.
fn latency_view(histogram: Option<&Histogram<u64>>, clock_skew: u64) -> LatencyView {
    let measured = histogram.filter(|h| !h.is_empty());
    LatencyView {
        count: histogram.map_or(0, Histogram::len),
        p50_ms: measured.map(|h| h.value_at_quantile(0.5)),
        p99_ms: measured.map(|h| h.value_at_quantile(0.99)),
        clock_skew,
    }
}

// ---------------------------------------------------------------------------------------------
// /api/lost

/// Query parameters of `/api/lost`, read as text so that a bad value gets our own message.
#[derive(Deserialize)]
pub struct LostParams {
    stream: Option<String>,
    limit: Option<String>,
}

pub async fn lost(
    State(state): State<HttpState>,
    Query(params): Query<LostParams>,
) -> Result<Response, ApiError> {
    let limit = parse_limit(params.limit.as_deref())?;
    let stream = params.stream.as_deref().filter(|s| !s.is_empty());
    let verdicts = state.observatory.recent_verdicts(stream, limit);
    // Each verdict exactly as the wire contract encodes it, byte for byte.
    let mut body = Vec::with_capacity(16 + verdicts.len() * 320);
    body.extend_from_slice(b"{\"verdicts\":[");
    for (i, verdict) in verdicts.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(&cairn_core::verdict::encode(verdict));
    }
    body.extend_from_slice(b"]}");
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// `limit`: absent means [`DEFAULT_LOST_LIMIT`]; otherwise a whole number from 1 to [`MAX_LOST_LIMIT`].
pub fn parse_limit(limit: Option<&str>) -> Result<usize, ApiError> {
    let Some(text) = limit else {
        return Ok(DEFAULT_LOST_LIMIT);
    };
    match text.parse::<usize>() {
        Ok(n) if (1..=MAX_LOST_LIMIT).contains(&n) => Ok(n),
        _ => Err(ApiError::bad_request(format!(
            "`limit`: expected a whole number from 1 to {MAX_LOST_LIMIT}, got {text:?}"
        ))),
    }
}

// ---------------------------------------------------------------------------------------------
// /api/oracle

#[derive(Serialize)]
struct OracleBody {
    clusters: Vec<ClusterView>,
}

#[derive(Serialize)]
struct ClusterView {
    cluster: String,
    rounds: u64,
    errors: BTreeMap<&'static str, u64>,
    /// Milliseconds since the epoch; `null` before the first complete round.
    last_complete_round: Option<Millis>,
    /// `null` before the first complete round.
    staleness_seconds: Option<f64>,
    topics: Vec<TopicView>,
}

#[derive(Serialize)]
struct TopicView {
    location: String,
    partitions: Vec<PartitionView>,
    groups: Vec<GroupView>,
}

#[derive(Serialize)]
struct PartitionView {
    partition: usize,
    log_start: Option<i64>,
    log_end: Option<i64>,
}

#[derive(Serialize)]
struct GroupView {
    group: String,
    partitions: Vec<GroupPartitionView>,
    /// The sum of the partitions' lags that are known.
    lag: i64,
}

#[derive(Serialize)]
struct GroupPartitionView {
    partition: usize,
    /// The next offset the group will read; `null` when it committed nothing (or was not read).
    committed: Option<i64>,
    /// `log_end − committed` when both are known.
    lag: Option<i64>,
}

pub async fn oracle(State(state): State<HttpState>) -> Response {
    let now = crate::clock::now_millis();
    let mut stats: Vec<_> = state
        .observatory
        .oracle
        .lock()
        .iter()
        .map(|(cluster, stats)| (cluster.clone(), stats.clone()))
        .collect();
    stats.sort_by(|a, b| a.0.cmp(&b.0));
    let clusters = stats
        .into_iter()
        .map(|(cluster, stats)| {
            let last = stats.last_complete_round.load(Ordering::Relaxed);
            let topics = state
                .board
                .cluster(&cluster)
                .map(|offsets| topic_views(&cluster, &offsets))
                .unwrap_or_default();
            ClusterView {
                rounds: stats.rounds.load(Ordering::Relaxed),
                errors: BTreeMap::from([
                    ("metadata", stats.errors_metadata.load(Ordering::Relaxed)),
                    (
                        "watermarks",
                        stats.errors_watermarks.load(Ordering::Relaxed),
                    ),
                    ("committed", stats.errors_committed.load(Ordering::Relaxed)),
                ]),
                last_complete_round: (last > 0).then_some(last),
                staleness_seconds: (last > 0).then(|| staleness_seconds(last, now)),
                topics,
                cluster,
            }
        })
        .collect();
    json(&OracleBody { clusters })
}

fn topic_views(cluster: &str, offsets: &ClusterOffsets) -> Vec<TopicView> {
    let value = |o: &Option<Observed<i64>>| o.map(|o| o.value);
    let mut topics: Vec<TopicView> = offsets
        .topics
        .iter()
        .map(|(topic, t)| {
            let log_end = |p: usize| t.log_end.get(p).and_then(value);
            let partitions = (0..t.log_start.len().max(t.log_end.len()))
                .map(|p| PartitionView {
                    partition: p,
                    log_start: t.log_start.get(p).and_then(value),
                    log_end: log_end(p),
                })
                .collect();
            let mut groups: Vec<GroupView> = t
                .committed
                .iter()
                .map(|(group, committed)| {
                    let partitions: Vec<GroupPartitionView> = committed
                        .iter()
                        .enumerate()
                        .map(|(p, c)| {
                            let committed = value(c);
                            GroupPartitionView {
                                partition: p,
                                committed,
                                lag: committed.zip(log_end(p)).map(|(c, end)| (end - c).max(0)),
                            }
                        })
                        .collect();
                    GroupView {
                        group: group.clone(),
                        lag: partitions.iter().filter_map(|p| p.lag).sum(),
                        partitions,
                    }
                })
                .collect();
            groups.sort_by(|a, b| a.group.cmp(&b.group));
            TopicView {
                location: format!("{cluster}/{topic}"),
                partitions,
                groups,
            }
        })
        .collect();
    topics.sort_by(|a, b| a.location.cmp(&b.location));
    topics
}
