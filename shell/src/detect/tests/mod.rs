//! Tests of the detect job's parts that need no Kafka: workers driven through their inbox.

mod worker_spill;
