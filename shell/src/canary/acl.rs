//! The ACL a refused canary operation needs, so an "authorization failed" error says what to
//! grant instead of only what went wrong.

/// Whether an error's text is Kafka refusing the canary's principal.
pub fn is_denied(error: &str) -> bool {
    let lower = error.to_ascii_lowercase();
    lower.contains("authorization") || lower.contains("not authorized")
}

/// The ACL `operation` needs on a cluster whose canary topic is `topic`, when `error` is an
/// authorization failure.
pub fn needed(operation: &str, topic: &str, error: &str) -> Option<String> {
    if !is_denied(error) {
        return None;
    }
    let acl = match operation {
        "metadata" | "broker_metadata" => format!("DESCRIBE on TOPIC {topic}"),
        "create" => format!("CREATE on TOPIC {topic} (or on CLUSTER)"),
        "extend" => format!("ALTER on TOPIC {topic}"),
        "produce" => format!("WRITE on TOPIC {topic}"),
        "consume" => format!("READ on TOPIC {topic}"),
        "describe_quorum" => "DESCRIBE on CLUSTER".to_owned(),
        "incidents_topic" => "WRITE on TOPIC <[canary] incidents_topic>".to_owned(),
        _ => return None,
    };
    Some(acl)
}
