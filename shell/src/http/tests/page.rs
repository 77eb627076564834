//! `GET /`: the status page shows what `/api/streams` answers, as HTML for people.

use axum::http::StatusCode;

use super::{fixture, get, get_json};

#[tokio::test]
async fn the_status_page_shows_every_stream_and_hop_as_the_api_counts_them() {
    let f = fixture();
    let (status, content_type, page) = get(f.router(), "/").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "text/html; charset=utf-8");
    let api = get_json(f.router(), "/api/streams", StatusCode::OK).await;
    for stream in api["streams"].as_array().expect("streams") {
        let row = format!(
            "<td>{}</td><td>{}</td><td>{}</td>",
            stream["stream"].as_str().expect("a name"),
            stream["seen"],
            stream["complete"]
        );
        assert!(page.contains(&row), "{row} in {page}");
        for hop in stream["hops"].as_array().expect("hops") {
            let row = format!(
                "<td>{}</td><td>{}</td><td>{}</td>",
                stream["stream"].as_str().expect("a name"),
                hop["hop"]["app"].as_str().expect("an app"),
                hop["hop"]["location"].as_str().expect("a location"),
            );
            assert!(page.contains(&row), "{row} in {page}");
        }
    }
    assert!(page.contains("<a href=\"/api/lost\">"), "{page}");
    // `cairn_judging_lag_seconds` of the fixture's shell counters.
    assert!(
        page.contains("<dt>judged up to</dt><dd>2.5 s ago</dd>"),
        "{page}"
    );
}
