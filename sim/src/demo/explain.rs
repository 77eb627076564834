//! A lost verdict in words: what the decision rule saw.

use cairn_core::model::{Reason, Verdict, VerdictKind};

/// One sentence saying where the message went missing and the evidence.
pub fn verdict(v: &Verdict) -> String {
    let group = v.hop.group.as_deref().unwrap_or("-");
    let m = &v.message;
    let at = format!("{}[{}]@{}", m.location, m.partition, m.offset);
    let committed = v
        .evidence
        .committed
        .map_or_else(|| "?".to_owned(), |c| c.to_string());
    let what = match v.reason {
        Reason::CommittedPast => format!(
            "lost at {app}: group {group} committed offset {committed} on {at}, past the message, and no received trace came",
            app = v.hop.app,
        ),
        Reason::LostInApp => format!(
            "lost inside {app}: it read the message at {at} and group {group} committed past it ({committed}), but it never wrote it to {out} nor filtered it",
            app = v.hop.app,
            out = v.hop.location,
        ),
        Reason::Expired => format!(
            "lost to retention: the log start of {loc} moved to {start} before group {group} read offset {offset}",
            loc = m.location,
            start = v
                .evidence
                .log_start
                .map_or_else(|| "?".to_owned(), |s| s.to_string()),
            offset = m.offset,
        ),
    };
    let retracted = match v.verdict {
        VerdictKind::Lost => "",
        VerdictKind::Retracted => " (retracted: the trace came after all)",
    };
    format!("{}: {what}{retracted}", v.id)
}

#[cfg(test)]
mod tests {
    use cairn_core::model::{Evidence, HopRef, MessageRef};

    use super::*;

    #[test]
    fn says_where_and_why() {
        let v = Verdict {
            verdict: VerdictKind::Lost,
            reason: Reason::CommittedPast,
            id: "order-0003".into(),
            stream: "orders".into(),
            hop: HopRef {
                app: "enricher".into(),
                group: Some("enricher".into()),
                location: "demo/orders-raw".into(),
            },
            message: MessageRef {
                location: "demo/orders-raw".into(),
                partition: 1,
                offset: 1,
            },
            evidence: Evidence {
                committed: Some(20),
                log_start: None,
            },
            first_seen: 0,
            detected_at: 0,
        };
        assert_eq!(
            verdict(&v),
            "order-0003: lost at enricher: group enricher committed offset 20 on demo/orders-raw[1]@1, past the message, and no received trace came"
        );
        let mut in_app = v.clone();
        in_app.reason = Reason::LostInApp;
        in_app.hop.location = "demo/orders-enriched".into();
        assert!(verdict(&in_app).contains("never wrote it to demo/orders-enriched"));
    }
}
