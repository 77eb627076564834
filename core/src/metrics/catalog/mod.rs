//! Every metric family cairn exports, each defined once: its name, kind, unit, help text and
//! label names.
//!
//! Whatever writes a family (the shell's `/metrics`, the tracer's `Tracer::prometheus`) or
//! reads one (`cairn score --metrics`, the demo, the tests) names it through a [`MetricDef`]
//! here, never through a string of its own. Label names are fixed per family and their values
//! are bounded: `stream`, `app`, `group`, `location` and `cluster` come from the config;
//! `reason`, `kind`, `from` and `operation` from fixed lists. Never a message id or an error
//! text. README.md's metric table lists the same families; a test keeps the two in step.

/// How a family's values behave, as its `# TYPE` line says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricKind {
    /// Only grows; the name ends in `_total`.
    Counter,
    /// Goes up and down.
    Gauge,
    /// Observations counted into buckets, with their sum and count.
    Histogram,
}

impl MetricKind {
    /// The word on the `# TYPE` line.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Histogram => "histogram",
        }
    }
}

/// What a family's values measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// A number of things: messages, traces, partitions, rounds.
    Count,
    /// 1 for yes, 0 for no.
    Flag,
    Seconds,
    Milliseconds,
}

impl Unit {
    /// How many of this unit make a second; `None` for a unit that is not a time.
    fn per_second(self) -> Option<f64> {
        match self {
            Unit::Seconds => Some(1.0),
            Unit::Milliseconds => Some(1_000.0),
            Unit::Count | Unit::Flag => None,
        }
    }

    /// Whether a value in this unit can be expressed in `to`.
    pub fn converts_to(self, to: Unit) -> bool {
        self == to || (self.per_second().is_some() && to.per_second().is_some())
    }

    /// `value`, measured in this unit, measured in `to`. Units that do not convert (see
    /// [`Unit::converts_to`]; a catalog test rules them out) leave the value as it is.
    pub fn convert(self, value: f64, to: Unit) -> f64 {
        match (self.per_second(), to.per_second()) {
            // Divide first: 2064 ms / 1000 is exactly the 2.064 a reader expects.
            (Some(from), Some(to)) if from != to => value / from * to,
            _ => value,
        }
    }
}

/// Which part of cairn counts a family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The detector core's [`Metrics`](super::Metrics), exported by `cairn detect`.
    Detector,
    /// The I/O shell and the offsets oracle of `cairn detect`.
    Shell,
    /// `cairn-tracer`, inside the traced application.
    Tracer,
    /// `cairn watch`: consumer groups judged by the watch core, and the shell around it.
    Watch,
    /// The first responder `cairn watch` runs on its incidents.
    Respond,
    /// `cairn canary`: heartbeats through every broker and the metadata check.
    Canary,
}

/// One metric family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetricDef {
    /// As exported: starts with [`PREFIX`]; a counter's ends in `_total`.
    pub name: &'static str,
    pub kind: MetricKind,
    /// The unit the family is exported in.
    pub unit: Unit,
    /// The unit its values are recorded in. It differs from `unit` only where the recording
    /// side keeps another one (the core's latency histograms count milliseconds); the
    /// exporter converts with [`MetricDef::exported`].
    pub recorded_in: Unit,
    /// The `# HELP` text.
    pub help: &'static str,
    /// Label names, in the order every sample writes them (a histogram's `le` not included).
    pub labels: &'static [&'static str],
    /// A histogram's bucket upper bounds, in `recorded_in` units; empty for other kinds.
    pub buckets: &'static [u64],
    pub source: Source,
}

impl MetricDef {
    /// A value recorded in `recorded_in`, in the exported `unit`.
    pub fn exported(&self, recorded: f64) -> f64 {
        self.recorded_in.convert(recorded, self.unit)
    }
}

/// What every family name starts with.
pub const PREFIX: &str = "cairn_";

/// Upper bounds of the latency buckets, in milliseconds (exported as 0.005 s … 3600 s).
pub const LATENCY_BUCKETS_MS: [u64; 18] = [
    5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 120_000, 300_000,
    600_000, 1_800_000, 3_600_000,
];

// Bases that the definitions below complete with a name, a help text and labels.
const COUNTER: MetricDef = MetricDef {
    name: "",
    kind: MetricKind::Counter,
    unit: Unit::Count,
    recorded_in: Unit::Count,
    help: "",
    labels: &[],
    buckets: &[],
    source: Source::Detector,
};
const GAUGE: MetricDef = MetricDef {
    kind: MetricKind::Gauge,
    ..COUNTER
};
const SHELL_COUNTER: MetricDef = MetricDef {
    source: Source::Shell,
    ..COUNTER
};
const SHELL_GAUGE: MetricDef = MetricDef {
    source: Source::Shell,
    ..GAUGE
};
const TRACER_COUNTER: MetricDef = MetricDef {
    source: Source::Tracer,
    ..COUNTER
};
const LATENCY: MetricDef = MetricDef {
    kind: MetricKind::Histogram,
    unit: Unit::Seconds,
    recorded_in: Unit::Milliseconds,
    buckets: &LATENCY_BUCKETS_MS,
    ..COUNTER
};

// The detector core's families.

/// Label `reason`: one of [`Rejection`](crate::lineage::Rejection)'s.
pub const TRACES_REJECTED: MetricDef = MetricDef {
    name: "cairn_traces_rejected_total",
    help: "Traces naming a stream, app, location or group the lineage does not know, by reason.",
    labels: &["reason"],
    ..COUNTER
};
/// Label `reason`: why the record did not decode. Counted by the shell into the core's
/// [`Metrics`](super::Metrics); a reason appears once one is counted.
pub const TRACES_MALFORMED: MetricDef = MetricDef {
    name: "cairn_traces_malformed_total",
    help: "Trace records that did not decode and were skipped, by reason.",
    labels: &["reason"],
    ..COUNTER
};
pub const MESSAGES_SEEN: MetricDef = MetricDef {
    name: "cairn_messages_seen_total",
    help: "Messages whose first trace was seen.",
    labels: &["stream"],
    ..COUNTER
};
pub const MESSAGES_COMPLETE: MetricDef = MetricDef {
    name: "cairn_messages_complete_total",
    help: "Messages all of whose expected traces arrived.",
    labels: &["stream"],
    ..COUNTER
};
pub const MESSAGES_IN_MEMORY: MetricDef = MetricDef {
    name: "cairn_messages_in_memory",
    help: "Messages held in the detector's memory now.",
    labels: &["stream"],
    ..GAUGE
};
pub const MESSAGES_SPILLED: MetricDef = MetricDef {
    name: "cairn_messages_spilled",
    help: "Messages moved out of memory to the disk tier under [detector] max_memory, now.",
    labels: &["stream"],
    ..GAUGE
};
pub const MESSAGES_SHED: MetricDef = MetricDef {
    name: "cairn_messages_shed_total",
    help: "Messages no longer watched: over max_memory with the disk tier at max_disk. Never judged.",
    labels: &["stream"],
    ..COUNTER
};
pub const SHED_TRACES: MetricDef = MetricDef {
    name: "cairn_shed_traces_total",
    help: "Traces of shed messages, counted and skipped.",
    labels: &["stream"],
    ..COUNTER
};
pub const END_TO_END_CLOCK_SKEW: MetricDef = MetricDef {
    name: "cairn_end_to_end_clock_skew_total",
    help: "End-to-end latencies that came out negative (clock skew) and were clamped to 0.",
    labels: &["stream"],
    ..COUNTER
};
pub const TRACES_SEEN: MetricDef = MetricDef {
    name: "cairn_traces_seen_total",
    help: "Traces seen at a hop.",
    labels: &["stream", "app", "group", "location"],
    ..COUNTER
};
/// Label `reason`: one of [`Reason`](crate::model::Reason)'s.
pub const LOST: MetricDef = MetricDef {
    name: "cairn_lost_total",
    help: "Messages declared lost at a hop, by reason.",
    labels: &["stream", "app", "group", "location", "reason"],
    ..COUNTER
};
/// Label `kind`: one of [`DuplicateKind`](super::DuplicateKind)'s.
pub const DUPLICATES: MetricDef = MetricDef {
    name: "cairn_duplicates_total",
    help: "Extra copies of messages at a hop, by kind.",
    labels: &["stream", "app", "group", "location", "kind"],
    ..COUNTER
};
pub const RETRACTED: MetricDef = MetricDef {
    name: "cairn_retracted_total",
    help: "Lost verdicts withdrawn because the missing trace arrived after all (false alarms).",
    labels: &["stream", "app", "group", "location"],
    ..COUNTER
};
pub const STUCK: MetricDef = MetricDef {
    name: "cairn_stuck_total",
    help: "Expected traces given up on after the stream's max wait, never declared lost.",
    labels: &["stream", "app", "group", "location"],
    ..COUNTER
};
pub const TRACE_GAPS: MetricDef = MetricDef {
    name: "cairn_trace_gaps_total",
    help: "Traces that never came although a later trace proves the message passed (lost traces, not messages).",
    labels: &["stream", "app", "group", "location"],
    ..COUNTER
};
/// What a tracer's gap record covered (issue 13, part 2).
pub const UNKNOWN: MetricDef = MetricDef {
    name: "cairn_unknown_total",
    help: "Expected traces a tracer reported dropping (a gap record covered them): unknown at this hop, never declared lost.",
    labels: &["stream", "app", "group", "location"],
    ..COUNTER
};
pub const DROPPED_TRACES_REPORTED: MetricDef = MetricDef {
    name: "cairn_dropped_traces_reported_total",
    help: "Traces the tracers reported dropping, summed from their gap records.",
    labels: &["stream"],
    ..COUNTER
};
/// Label `reason`: `stream_removed` (messages held for a stream the new lineage lacks) or
/// `hop_removed` (expectations still open at an app the new lineage removed or changed).
pub const LINEAGE_UNWATCHED: MetricDef = MetricDef {
    name: "cairn_lineage_unwatched_total",
    help: "What the detector stopped watching when the lineage changed, by reason: messages of a removed stream, open expectations at a removed or changed app. Never judged lost.",
    labels: &["stream", "reason"],
    ..COUNTER
};
pub const CLOCK_SKEW: MetricDef = MetricDef {
    name: "cairn_clock_skew_total",
    help: "Hop latencies that came out negative (clock skew) and were clamped to 0.",
    labels: &["stream", "app", "group", "location"],
    ..COUNTER
};
/// `received.ts − sent.ts` per read hop.
pub const HOP_LATENCY: MetricDef = MetricDef {
    name: "cairn_hop_latency_seconds",
    help: "Time from a message's sent trace to a group's received trace at a hop, in seconds.",
    labels: &["stream", "app", "group", "location"],
    ..LATENCY
};
/// `last.ts − first sent.ts` per complete message.
pub const END_TO_END_LATENCY: MetricDef = MetricDef {
    name: "cairn_end_to_end_latency_seconds",
    help: "Time from a complete message's first sent trace to its last trace, in seconds.",
    labels: &["stream"],
    ..LATENCY
};

// The shell's and the offsets oracle's families.

pub const TRACES_CONSUMED: MetricDef = MetricDef {
    name: "cairn_traces_consumed_total",
    help: "Records read from the tracing topic.",
    ..SHELL_COUNTER
};
pub const VERDICTS_PUBLISHED: MetricDef = MetricDef {
    name: "cairn_verdicts_published_total",
    help: "Verdicts acknowledged by the output cluster.",
    ..SHELL_COUNTER
};
pub const CHECKPOINTS: MetricDef = MetricDef {
    name: "cairn_checkpoints_total",
    help: "Checkpoints completed: state durable and tracing offsets committed.",
    ..SHELL_COUNTER
};
pub const CHECKPOINT_FAILURES: MetricDef = MetricDef {
    name: "cairn_checkpoint_failures_total",
    help: "Checkpoints that failed and will be retried; nothing is committed past them.",
    ..SHELL_COUNTER
};
pub const POSITION_RESETS: MetricDef = MetricDef {
    name: "cairn_position_resets_total",
    help: "Tracing partitions whose committed position was missing or out of range, read from the log start instead.",
    ..SHELL_COUNTER
};
/// Label `from`: `local` or `changelog`.
pub const PARTITIONS_RESTORED: MetricDef = MetricDef {
    name: "cairn_partitions_restored_total",
    help: "Tracing partitions whose detector state was restored, by source.",
    labels: &["from"],
    ..SHELL_COUNTER
};
pub const SNAPSHOT_FAILURES: MetricDef = MetricDef {
    name: "cairn_snapshot_failures_total",
    help: "Local snapshots not written or found unusable; the changelog was read instead.",
    ..SHELL_COUNTER
};
pub const STATE_UNREADABLE: MetricDef = MetricDef {
    name: "cairn_state_unreadable_total",
    help: "Message states in the changelog that did not decode on restore; skipped, no longer watched.",
    ..SHELL_COUNTER
};
pub const SESSION_RESTARTS: MetricDef = MetricDef {
    name: "cairn_session_restarts_total",
    help: "Times the job started again from the last checkpoint after a failure.",
    ..SHELL_COUNTER
};
pub const CONSUMERS_LEFT_OPEN: MetricDef = MetricDef {
    name: "cairn_consumers_left_open_total",
    help: "Tracing consumers of ended sessions that did not close in time and were left open.",
    ..SHELL_COUNTER
};
pub const PARTITIONS_ASSIGNED: MetricDef = MetricDef {
    name: "cairn_partitions_assigned",
    help: "Tracing partitions owned by this instance now.",
    ..SHELL_GAUGE
};
pub const CONSUMER_ERRORS: MetricDef = MetricDef {
    name: "cairn_consumer_errors_total",
    help: "Errors of the tracing consumer other than position resets and checkpoint failures.",
    ..SHELL_COUNTER
};
pub const LOOK_FAILURES: MetricDef = MetricDef {
    name: "cairn_log_end_look_failures_total",
    help: "Asks of the tracing partitions' log ends that failed; no message is judged past the last answer.",
    ..SHELL_COUNTER
};
pub const JUDGING_LAG: MetricDef = MetricDef {
    name: "cairn_judging_lag_seconds",
    help: "How far behind now the owned tracing partitions are judged: the largest now minus read-through time.",
    ..SHELL_GAUGE
};
pub const CHECKS_OVERDUE: MetricDef = MetricDef {
    name: "cairn_checks_overdue_seconds",
    help: "How long the earliest message check not yet run has been due: the detector's own work (timers, messages read back from the disk tier) behind its input.",
    ..SHELL_GAUGE
};
pub const ORACLE_ROUNDS: MetricDef = MetricDef {
    name: "cairn_oracle_rounds_total",
    help: "Poll rounds of the offsets oracle (committed offsets and watermarks), complete or not.",
    labels: &["cluster"],
    ..SHELL_COUNTER
};
/// Label `operation`: `metadata`, `watermarks` or `committed`.
pub const ORACLE_ERRORS: MetricDef = MetricDef {
    name: "cairn_oracle_errors_total",
    help: "Failed reads of the offsets oracle, by operation; the previous value is kept and turns stale.",
    labels: &["cluster", "operation"],
    ..SHELL_COUNTER
};
/// `+Inf` before the first complete round. The oracle keeps epoch milliseconds.
pub const ORACLE_STALENESS: MetricDef = MetricDef {
    name: "cairn_oracle_staleness_seconds",
    help: "Seconds since the offsets oracle last completed a round with every read successful; +Inf before the first.",
    unit: Unit::Seconds,
    recorded_in: Unit::Milliseconds,
    labels: &["cluster"],
    ..SHELL_GAUGE
};
/// Label `outcome`: `applied`, `unchanged`, `failed` (no answer, an HTTP error, a timeout) or
/// `invalid` (a document that does not validate). See `docs/control-plane.md`.
pub const CONTROL_PLANE_FETCHES: MetricDef = MetricDef {
    name: "cairn_control_plane_fetches_total",
    help: "Fetches of the lineage from the control plane, by outcome; on failed or invalid the last good lineage stays.",
    labels: &["outcome"],
    ..SHELL_COUNTER
};
/// Seconds since the epoch; 0 before the first.
pub const LINEAGE_APPLIED_AT: MetricDef = MetricDef {
    name: "cairn_lineage_applied_timestamp_seconds",
    help: "When the lineage in use was applied (from the file at start, or from the control plane), in seconds since the epoch.",
    unit: Unit::Seconds,
    recorded_in: Unit::Seconds,
    ..SHELL_GAUGE
};
/// 1 when `/readyz` answers 200.
pub const READY: MetricDef = MetricDef {
    name: "cairn_ready",
    help: "1 when the job has joined its group and the offsets oracle has completed a round, else 0.",
    unit: Unit::Flag,
    recorded_in: Unit::Flag,
    ..SHELL_GAUGE
};

// `cairn watch`'s families. `group` is bounded by the config: the groups `[watch] include`
// and the lineage select on a cluster. `state` takes the fixed list of `ConsumerState` names.

const WATCH_COUNTER: MetricDef = MetricDef {
    source: Source::Watch,
    ..COUNTER
};
const WATCH_GAUGE: MetricDef = MetricDef {
    source: Source::Watch,
    ..GAUGE
};
/// Absent while the lag is unknown.
pub const WATCH_LAG_RECORDS: MetricDef = MetricDef {
    name: "cairn_watch_lag_records",
    help: "Records the group has not read yet, summed over its partitions with a commit.",
    labels: &["cluster", "group"],
    ..WATCH_GAUGE
};
/// Absent while the lag is unknown.
pub const WATCH_LAG_SECONDS: MetricDef = MetricDef {
    name: "cairn_watch_lag_seconds",
    help: "Age of the group's oldest unread record, the largest over its partitions.",
    unit: Unit::Seconds,
    recorded_in: Unit::Seconds,
    labels: &["cluster", "group"],
    ..WATCH_GAUGE
};
/// Absent while unknown, and for groups whose topics never delete by age.
pub const WATCH_RETENTION_HEADROOM: MetricDef = MetricDef {
    name: "cairn_watch_retention_headroom_seconds",
    help: "Topic retention minus the age of the oldest unread record, the smallest over the group's partitions.",
    unit: Unit::Seconds,
    recorded_in: Unit::Seconds,
    labels: &["cluster", "group"],
    ..WATCH_GAUGE
};
/// Only with `[watch] partition_metrics = true`; absent while unknown.
pub const WATCH_PARTITION_LAG_RECORDS: MetricDef = MetricDef {
    name: "cairn_watch_partition_lag_records",
    help: "Records of one partition the group has not read yet.",
    labels: &["cluster", "group", "topic", "partition"],
    ..WATCH_GAUGE
};
/// Only with `[watch] partition_metrics = true`; absent while unknown.
pub const WATCH_PARTITION_LAG_SECONDS: MetricDef = MetricDef {
    name: "cairn_watch_partition_lag_seconds",
    help: "Age of the oldest record of one partition the group has not read yet.",
    unit: Unit::Seconds,
    recorded_in: Unit::Seconds,
    labels: &["cluster", "group", "topic", "partition"],
    ..WATCH_GAUGE
};
/// One sample per state name; 1 for the group's state, 0 for the others.
pub const WATCH_GROUP_STATE: MetricDef = MetricDef {
    name: "cairn_watch_group_state",
    help: "1 for the group's current state (the worst of its partitions'), 0 for every other state.",
    unit: Unit::Flag,
    recorded_in: Unit::Flag,
    labels: &["cluster", "group", "state"],
    ..WATCH_GAUGE
};
/// Absent before the watch has seen a commit of the group.
pub const WATCH_LAST_COMMIT_AGE: MetricDef = MetricDef {
    name: "cairn_watch_last_commit_age_seconds",
    help: "Seconds since the watch saw the group's committed offset change on any partition.",
    unit: Unit::Seconds,
    recorded_in: Unit::Seconds,
    labels: &["cluster", "group"],
    ..WATCH_GAUGE
};
pub const WATCH_ROUNDS: MetricDef = MetricDef {
    name: "cairn_watch_rounds_total",
    help: "Poll rounds the watch completed on a cluster, whatever their reads gave.",
    labels: &["cluster"],
    ..WATCH_COUNTER
};
/// Label `operation`: `groups`, `metadata`, `committed`, `watermarks`, `first_unread` or `retention`;
/// `reason`: `coordinator_loading`, `coordinator_unavailable`, `authorization`, `timeout`,
/// `unknown_topic`, `broker_down` or `other`.
pub const WATCH_READ_ERRORS: MetricDef = MetricDef {
    name: "cairn_watch_read_errors_total",
    help: "Failed reads of the watch, by operation and reason; what they should have read is unknown that round.",
    labels: &["cluster", "operation", "reason"],
    ..WATCH_COUNTER
};
/// Label `kind`: `stuck` or `expired`.
pub const WATCH_INCIDENTS_OPENED: MetricDef = MetricDef {
    name: "cairn_watch_incidents_opened_total",
    help: "Incidents the watch opened, by kind.",
    labels: &["cluster", "kind"],
    ..WATCH_COUNTER
};
/// Label `kind`: `stuck` or `expired`.
pub const WATCH_INCIDENTS_CLOSED: MetricDef = MetricDef {
    name: "cairn_watch_incidents_closed_total",
    help: "Incidents the watch closed, by kind.",
    labels: &["cluster", "kind"],
    ..WATCH_COUNTER
};
pub const WATCH_WEBHOOK_FAILURES: MetricDef = MetricDef {
    name: "cairn_watch_webhook_failures_total",
    help: "Incident records a webhook did not accept after every retry.",
    ..WATCH_COUNTER
};
/// Label `kind`: `missing` (timestamp -1, lag interpolated) or `future` (clamped to now).
pub const WATCH_ODD_TIMESTAMPS: MetricDef = MetricDef {
    name: "cairn_watch_odd_timestamps_total",
    help: "First unread records whose timestamp could not be used as it was, each counted once.",
    labels: &["cluster", "kind"],
    ..WATCH_COUNTER
};
/// Label `change`: `deleted`, `recreated`, `partitions_added` or `log_went_back`.
pub const WATCH_TOPIC_CHANGES: MetricDef = MetricDef {
    name: "cairn_watch_topic_changes_total",
    help: "Changes of topics that watched groups have commits on, by kind of change.",
    labels: &["cluster", "change"],
    ..WATCH_COUNTER
};
pub const WATCH_LONG_REBALANCES: MetricDef = MetricDef {
    name: "cairn_watch_long_rebalances_total",
    help: "Rebalances that lasted longer than the group's window (stuck is not judged meanwhile).",
    labels: &["cluster"],
    ..WATCH_COUNTER
};
pub const WATCH_READERS_LOST: MetricDef = MetricDef {
    name: "cairn_watch_offsets_readers_lost_total",
    help: "Committed offsets reader processes that died, hung or did not start; that round's committed offsets are unknown.",
    labels: &["cluster"],
    ..WATCH_COUNTER
};

// The first responder of `cairn watch`. `group` is bounded by `[[respond.groups]]`; `action`,
// `outcome` and `cause` take fixed lists.

const RESPOND_COUNTER: MetricDef = MetricDef {
    source: Source::Respond,
    ..COUNTER
};
/// Labels `action`: `relaunch`, `notify`, `escalate`; `outcome`: `ok`, `failed`, `timed_out`,
/// `recorded`.
pub const RESPOND_ACTIONS: MetricDef = MetricDef {
    name: "cairn_respond_actions_total",
    help: "Actions the first responder took, by what it did and how it ended.",
    labels: &["cluster", "group", "action", "outcome"],
    ..RESPOND_COUNTER
};
/// Label `cause`: `exit` (non-zero exit), `timeout` (killed or abandoned), `spawn` (could not
/// start), `status` (an HTTP error status), `transport` (no HTTP answer), `webhook` (a
/// webhook refused a notice or an escalation after every retry).
pub const RESPOND_ACTION_FAILURES: MetricDef = MetricDef {
    name: "cairn_respond_action_failures_total",
    help: "Actions of the first responder that failed or hung; a failed relaunch is escalated, never retried.",
    labels: &["cluster", "group", "cause"],
    ..RESPOND_COUNTER
};
pub const RESPOND_AUDIT_FAILURES: MetricDef = MetricDef {
    name: "cairn_respond_audit_failures_total",
    help: "Audit records the actions topic or the store did not take (they stay in /api/actions and the log).",
    ..RESPOND_COUNTER
};

// The autoscaling advisor's families (run by `cairn watch`). `group` is bounded by the
// `[[scale.groups]]` entries.

/// Absent while nothing can be recommended (`/api/scale` says why).
pub const SCALE_RECOMMENDED_INSTANCES: MetricDef = MetricDef {
    name: "cairn_watch_scale_recommended_instances",
    help: "Instances the autoscaling advisor recommends for the group, to clear its backlog within the target.",
    labels: &["cluster", "group"],
    ..WATCH_GAUGE
};
/// Label `outcome`: `ok`, `failed` or `timed_out`.
pub const SCALE_HOOK_RUNS: MetricDef = MetricDef {
    name: "cairn_watch_scale_hook_runs_total",
    help: "Runs of a [[scale.groups]] action hook after the recommendation changed, by how they ended.",
    labels: &["cluster", "group", "outcome"],
    ..WATCH_COUNTER
};
pub const SCALE_CLAMPED_FORECASTS: MetricDef = MetricDef {
    name: "cairn_watch_scale_clamped_forecasts_total",
    help: "Traffic forecasts that went negative or NaN over the horizon and were clamped to 0.",
    labels: &["cluster", "group"],
    ..WATCH_COUNTER
};

// `cairn canary`'s families. `broker` is a broker id of the cluster (bounded by its size).

const CANARY_COUNTER: MetricDef = MetricDef {
    source: Source::Canary,
    ..COUNTER
};
const CANARY_GAUGE: MetricDef = MetricDef {
    source: Source::Canary,
    ..GAUGE
};
/// Canary latencies are a few milliseconds on a healthy cluster: finer low buckets.
pub const CANARY_LATENCY_BUCKETS_MS: [u64; 16] = [
    1, 2, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 300_000,
];
pub const CANARY_PRODUCED: MetricDef = MetricDef {
    name: "cairn_canary_produced_total",
    help: "Heartbeats sent (first sends), by the partition leader they went through.",
    labels: &["cluster", "broker"],
    ..CANARY_COUNTER
};
pub const CANARY_ACKNOWLEDGED: MetricDef = MetricDef {
    name: "cairn_canary_acknowledged_total",
    help: "Heartbeats the cluster acknowledged, by the leader they were sent through.",
    labels: &["cluster", "broker"],
    ..CANARY_COUNTER
};
pub const CANARY_SEND_FAILURES: MetricDef = MetricDef {
    name: "cairn_canary_send_failures_total",
    help: "Heartbeat sends not acknowledged within the send timeout, by the leader they were sent through.",
    labels: &["cluster", "broker"],
    ..CANARY_COUNTER
};
pub const CANARY_CONSUMED: MetricDef = MetricDef {
    name: "cairn_canary_consumed_total",
    help: "Distinct heartbeats read back, by the partition's leader.",
    labels: &["cluster", "broker"],
    ..CANARY_COUNTER
};
pub const CANARY_LOST: MetricDef = MetricDef {
    name: "cairn_canary_lost_total",
    help: "Acknowledged heartbeats the consumer passed without reading, by the leader they were sent through.",
    labels: &["cluster", "broker"],
    ..CANARY_COUNTER
};
pub const CANARY_DUPLICATED: MetricDef = MetricDef {
    name: "cairn_canary_duplicated_total",
    help: "Heartbeats read again under the same attempt, by the partition's leader.",
    labels: &["cluster", "broker"],
    ..CANARY_COUNTER
};
pub const CANARY_PRODUCE_AVAILABILITY: MetricDef = MetricDef {
    name: "cairn_canary_produce_availability",
    help: "Share of heartbeat sends acknowledged over the availability window, by leader; 0 while the broker is gone.",
    unit: Unit::Flag,
    recorded_in: Unit::Flag,
    labels: &["cluster", "broker"],
    ..CANARY_GAUGE
};
pub const CANARY_CONSUME_AVAILABILITY: MetricDef = MetricDef {
    name: "cairn_canary_consume_availability",
    help: "Share of ticks over the availability window in which the broker's canary partitions had nothing overdue or lost.",
    unit: Unit::Flag,
    recorded_in: Unit::Flag,
    labels: &["cluster", "broker"],
    ..CANARY_GAUGE
};
pub const CANARY_LATENCY: MetricDef = MetricDef {
    name: "cairn_canary_latency_seconds",
    help: "Heartbeat end-to-end latency (read time - produced_at) of first sends, by the partition's leader.",
    labels: &["cluster", "broker"],
    buckets: &CANARY_LATENCY_BUCKETS_MS,
    source: Source::Canary,
    ..LATENCY
};
pub const CANARY_METADATA_CONSISTENT: MetricDef = MetricDef {
    name: "cairn_canary_metadata_consistent",
    help: "1 while the broker's metadata agrees with the quorum's (within grace), else 0.",
    unit: Unit::Flag,
    recorded_in: Unit::Flag,
    labels: &["cluster", "broker"],
    ..CANARY_GAUGE
};
/// Label `reason`: `other_run`, `unknown_partition`, `empty`, `invalid` or `version`.
pub const CANARY_SKIPPED: MetricDef = MetricDef {
    name: "cairn_canary_skipped_records_total",
    help: "Records on the canary topic that were not this run's heartbeats, skipped, by reason.",
    labels: &["cluster", "reason"],
    ..CANARY_COUNTER
};
pub const CANARY_CLOCK_SKEW: MetricDef = MetricDef {
    name: "cairn_canary_clock_skew_total",
    help: "Heartbeat latencies that came out negative (clock skew) and were clamped to 0.",
    labels: &["cluster"],
    ..CANARY_COUNTER
};
/// Label `kind`: `created`, `extended` or `recreated`.
pub const CANARY_TOPIC_CHANGES: MetricDef = MetricDef {
    name: "cairn_canary_topic_changes_total",
    help: "Changes the canary made to its topic, by kind.",
    labels: &["cluster", "kind"],
    ..CANARY_COUNTER
};
/// Label `operation`: `metadata`, `create`, `extend`, `produce`, `consume`, `broker_metadata`,
/// `describe_quorum`, or an incident sink: `incidents_topic`, `webhook`, `incidents_queue`.
pub const CANARY_ERRORS: MetricDef = MetricDef {
    name: "cairn_canary_errors_total",
    help: "Failed Kafka operations of the canary, by operation; it keeps going.",
    labels: &["cluster", "operation"],
    ..CANARY_COUNTER
};
/// Label `kind`: `metadata_mismatch`.
pub const CANARY_INCIDENTS_OPENED: MetricDef = MetricDef {
    name: "cairn_canary_incidents_opened_total",
    help: "Incidents the canary opened, by kind.",
    labels: &["cluster", "kind"],
    ..CANARY_COUNTER
};
/// 1 on the active instance, 0 on a standby; always 1 without an election.
pub const WATCH_ACTIVE: MetricDef = MetricDef {
    name: "cairn_watch_active",
    help: "1 while this cairn watch instance is the active one (it publishes incidents), 0 while it stands by.",
    unit: Unit::Flag,
    recorded_in: Unit::Flag,
    ..WATCH_GAUGE
};
/// Absent before the cluster's first round.
pub const WATCH_ROUND_DURATION: MetricDef = MetricDef {
    name: "cairn_watch_round_duration_seconds",
    help: "How long the cluster's last completed round took: its Kafka reads and its judging.",
    unit: Unit::Seconds,
    recorded_in: Unit::Seconds,
    labels: &["cluster"],
    ..WATCH_GAUGE
};
pub const WATCH_ROLE_SINCE: MetricDef = MetricDef {
    name: "cairn_watch_role_since_timestamp_seconds",
    help: "When this instance took its current role (active or standby), in seconds since the epoch.",
    unit: Unit::Seconds,
    recorded_in: Unit::Seconds,
    ..WATCH_GAUGE
};

// The tracer's families, labelled with the tracer's own app and stream.

pub const TRACER_EMITTED: MetricDef = MetricDef {
    name: "cairn_tracer_emitted_total",
    help: "Traces queued for the tracing topic.",
    labels: &["app", "stream"],
    ..TRACER_COUNTER
};
pub const TRACER_DELIVERED: MetricDef = MetricDef {
    name: "cairn_tracer_delivered_total",
    help: "Traces acknowledged by the tracing cluster.",
    labels: &["app", "stream"],
    ..TRACER_COUNTER
};
pub const TRACER_DROPPED_QUEUE_FULL: MetricDef = MetricDef {
    name: "cairn_tracer_dropped_queue_full_total",
    help: "Traces dropped because the tracer's queue was full.",
    labels: &["app", "stream"],
    ..TRACER_COUNTER
};
pub const TRACER_FAILED: MetricDef = MetricDef {
    name: "cairn_tracer_failed_total",
    help: "Traces that could not be delivered.",
    labels: &["app", "stream"],
    ..TRACER_COUNTER
};
pub const TRACER_GAP_RECORDS: MetricDef = MetricDef {
    name: "cairn_tracer_gap_records_total",
    help: "Gap record copies delivered: reports of dropped traces, one copy per tracing partition.",
    labels: &["app", "stream"],
    ..TRACER_COUNTER
};
pub const TRACER_DROPS_REPORTED: MetricDef = MetricDef {
    name: "cairn_tracer_drops_reported_total",
    help: "Dropped traces that delivered gap records reported to the detector.",
    labels: &["app", "stream"],
    ..TRACER_COUNTER
};
pub const TRACER_SAMPLED_OUT: MetricDef = MetricDef {
    name: "cairn_tracer_sampled_out_total",
    help: "Messages not traced because of the stream's sample rate.",
    labels: &["app", "stream"],
    ..TRACER_COUNTER
};

/// Every family, grouped by [`Source`].
pub const ALL: &[&MetricDef] = &[
    &TRACES_REJECTED,
    &TRACES_MALFORMED,
    &MESSAGES_SEEN,
    &MESSAGES_COMPLETE,
    &MESSAGES_IN_MEMORY,
    &MESSAGES_SPILLED,
    &MESSAGES_SHED,
    &SHED_TRACES,
    &END_TO_END_CLOCK_SKEW,
    &TRACES_SEEN,
    &LOST,
    &DUPLICATES,
    &RETRACTED,
    &STUCK,
    &UNKNOWN,
    &DROPPED_TRACES_REPORTED,
    &LINEAGE_UNWATCHED,
    &TRACE_GAPS,
    &CLOCK_SKEW,
    &HOP_LATENCY,
    &END_TO_END_LATENCY,
    &TRACES_CONSUMED,
    &VERDICTS_PUBLISHED,
    &CHECKPOINTS,
    &CHECKPOINT_FAILURES,
    &POSITION_RESETS,
    &PARTITIONS_RESTORED,
    &SNAPSHOT_FAILURES,
    &STATE_UNREADABLE,
    &SESSION_RESTARTS,
    &CONSUMERS_LEFT_OPEN,
    &PARTITIONS_ASSIGNED,
    &CONSUMER_ERRORS,
    &LOOK_FAILURES,
    &JUDGING_LAG,
    &CHECKS_OVERDUE,
    &ORACLE_ROUNDS,
    &ORACLE_ERRORS,
    &ORACLE_STALENESS,
    &CONTROL_PLANE_FETCHES,
    &LINEAGE_APPLIED_AT,
    &READY,
    &TRACER_EMITTED,
    &TRACER_DELIVERED,
    &TRACER_DROPPED_QUEUE_FULL,
    &TRACER_FAILED,
    &TRACER_SAMPLED_OUT,
    &TRACER_GAP_RECORDS,
    &TRACER_DROPS_REPORTED,
    &WATCH_LAG_RECORDS,
    &WATCH_LAG_SECONDS,
    &WATCH_RETENTION_HEADROOM,
    &WATCH_PARTITION_LAG_RECORDS,
    &WATCH_PARTITION_LAG_SECONDS,
    &WATCH_GROUP_STATE,
    &WATCH_LAST_COMMIT_AGE,
    &WATCH_ROUNDS,
    &WATCH_READ_ERRORS,
    &WATCH_INCIDENTS_OPENED,
    &WATCH_INCIDENTS_CLOSED,
    &WATCH_WEBHOOK_FAILURES,
    &WATCH_ODD_TIMESTAMPS,
    &WATCH_TOPIC_CHANGES,
    &WATCH_LONG_REBALANCES,
    &WATCH_READERS_LOST,
    &RESPOND_ACTIONS,
    &RESPOND_ACTION_FAILURES,
    &RESPOND_AUDIT_FAILURES,
    &SCALE_RECOMMENDED_INSTANCES,
    &SCALE_CLAMPED_FORECASTS,
    &SCALE_HOOK_RUNS,
    &CANARY_PRODUCED,
    &CANARY_ACKNOWLEDGED,
    &CANARY_SEND_FAILURES,
    &CANARY_CONSUMED,
    &CANARY_LOST,
    &CANARY_DUPLICATED,
    &CANARY_PRODUCE_AVAILABILITY,
    &CANARY_CONSUME_AVAILABILITY,
    &CANARY_LATENCY,
    &CANARY_METADATA_CONSISTENT,
    &CANARY_SKIPPED,
    &CANARY_CLOCK_SKEW,
    &CANARY_TOPIC_CHANGES,
    &CANARY_ERRORS,
    &CANARY_INCIDENTS_OPENED,
    &WATCH_ACTIVE,
    &WATCH_ROLE_SINCE,
    &WATCH_ROUND_DURATION,
];

/// The family called `name`, if cairn has one.
pub fn by_name(name: &str) -> Option<&'static MetricDef> {
    ALL.iter().copied().find(|def| def.name == name)
}

/// Every family one part of cairn counts, in catalog order.
pub fn counted_by(source: Source) -> impl Iterator<Item = &'static MetricDef> {
    ALL.iter().copied().filter(move |def| def.source == source)
}

#[cfg(test)]
mod tests;
