//! Where the canary topic's partitions go: one partition preferred-led by every live broker
//! (its first replica), each with `replication` replicas on the next brokers in id order.

use std::collections::BTreeSet;

/// What the topic needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TopicPlan {
    /// Nothing to do.
    Keep,
    /// The topic does not exist: create it with these replica lists (partition = index).
    Create { assignments: Vec<Vec<i32>> },
    /// Add partitions with these replica lists after the existing ones, for total `total`.
    Extend {
        total: usize,
        assignments: Vec<Vec<i32>>,
    },
}

/// The plan for a cluster whose live brokers are `brokers`, given the topic's current
/// replica lists (`None`: the topic does not exist) and the wanted replication.
pub fn plan(brokers: &[i32], current: Option<&[Vec<i32>]>, replication: usize) -> TopicPlan {
    let ring: Vec<i32> = brokers
        .iter()
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if ring.is_empty() {
        return TopicPlan::Keep;
    }
    match current {
        None => {
            let rf = replication.clamp(1, ring.len());
            TopicPlan::Create {
                assignments: ring.iter().map(|&b| replicas(&ring, b, rf)).collect(),
            }
        }
        Some(current) => {
            let led: BTreeSet<i32> = current.iter().filter_map(|r| r.first().copied()).collect();
            // New partitions must have as many replicas as the topic's others.
            let rf = current.first().map_or(replication, Vec::len).max(1);
            if rf > ring.len() {
                return TopicPlan::Keep;
            }
            let assignments: Vec<Vec<i32>> = ring
                .iter()
                .filter(|b| !led.contains(b))
                .map(|&b| replicas(&ring, b, rf))
                .collect();
            if assignments.is_empty() {
                TopicPlan::Keep
            } else {
                TopicPlan::Extend {
                    total: current.len() + assignments.len(),
                    assignments,
                }
            }
        }
    }
}

/// `leader` then the next `rf - 1` brokers of the ring after it.
fn replicas(ring: &[i32], leader: i32, rf: usize) -> Vec<i32> {
    let start = ring.iter().position(|&b| b == leader).unwrap_or(0);
    (0..rf).map(|i| ring[(start + i) % ring.len()]).collect()
}
