//! The body template of an HTTP action: `{{cluster}}`, `{{group}}`, `{{kind}}`, `{{since}}`,
//! `{{opened_at}}` and `{{incident}}` (the record as JSON) replaced by the incident's fields.
//! Unknown placeholders are left as written, so other braces in a body are sent unchanged.

use super::policy::Decision;

/// `template` with every placeholder replaced; `incident_json` is the incident record.
pub fn render_body(template: &str, decision: &Decision, incident_json: &str) -> String {
    template
        .replace("{{cluster}}", &decision.cluster)
        .replace("{{group}}", &decision.group)
        .replace("{{kind}}", decision.incident.kind.as_str())
        .replace("{{since}}", &decision.incident.since.to_string())
        .replace("{{opened_at}}", &decision.incident.opened_at.to_string())
        .replace("{{incident}}", incident_json)
}

/// The environment a command action gets: the incident's fields and the record itself.
pub fn command_env(decision: &Decision, incident_json: &str) -> Vec<(String, String)> {
    [
        ("CAIRN_CLUSTER", decision.cluster.clone()),
        ("CAIRN_GROUP", decision.group.clone()),
        ("CAIRN_KIND", decision.incident.kind.as_str().to_owned()),
        ("CAIRN_SINCE", decision.incident.since.to_string()),
        ("CAIRN_OPENED_AT", decision.incident.opened_at.to_string()),
        ("CAIRN_ACTION", decision.action.as_str().to_owned()),
        ("CAIRN_REASON", decision.reason.as_str().to_owned()),
        ("CAIRN_INCIDENT", incident_json.to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}
