use crate::canary::placement::{TopicPlan, plan};

#[test]
fn a_new_topic_has_a_partition_led_by_every_broker() {
    assert_eq!(
        plan(&[3, 1, 2], None, 3),
        TopicPlan::Create {
            assignments: vec![vec![1, 2, 3], vec![2, 3, 1], vec![3, 1, 2]]
        }
    );
    // Replication is at most the brokers there are.
    assert_eq!(
        plan(&[1, 2], None, 3),
        TopicPlan::Create {
            assignments: vec![vec![1, 2], vec![2, 1]]
        }
    );
}

#[test]
fn a_broker_that_leads_nothing_gets_a_partition_with_the_topics_replication() {
    let current = vec![vec![1, 2], vec![2, 1]];
    assert_eq!(
        plan(&[1, 2, 3], Some(&current), 3),
        TopicPlan::Extend {
            total: 3,
            assignments: vec![vec![3, 1]]
        }
    );
    let full = vec![vec![1, 2], vec![2, 3], vec![3, 1]];
    assert_eq!(plan(&[1, 2, 3], Some(&full), 3), TopicPlan::Keep);
    // A dead broker keeps the partitions it prefers: nothing is added for the others.
    assert_eq!(plan(&[1, 3], Some(&full), 3), TopicPlan::Keep);
    assert_eq!(plan(&[], None, 3), TopicPlan::Keep);
}
