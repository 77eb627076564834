//! One GET of the lineage document: a 2xx answer with a UTF-8 body of at most
//! [`MAX_DOCUMENT_BYTES`], within the configured timeout (connect to last byte).

use std::time::Duration;

/// Largest document accepted: a lineage is a few kilobytes; a huge answer is a mistake (or
/// hostile) and must not become a huge allocation.
pub const MAX_DOCUMENT_BYTES: usize = 4 << 20;

/// What the control plane answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fetched {
    pub body: String,
    pub etag: Option<String>,
}

/// Why a fetch got no document. Its text goes to the log and `/api/streams`, never a label.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("request failed: {0}")]
    Request(String),
    #[error("answered HTTP {status}, expected 2xx")]
    Status { status: u16 },
    #[error("the document is larger than {MAX_DOCUMENT_BYTES} bytes")]
    TooLarge,
    #[error("the document is not UTF-8 text: {0}")]
    NotText(std::string::FromUtf8Error),
}

/// A client for the control plane. Redirects are followed (reqwest's default, at most 10).
pub fn client() -> Result<reqwest::Client, FetchError> {
    reqwest::Client::builder()
        .build()
        .map_err(|e| FetchError::Request(e.to_string()))
}

/// GETs `url`, all of it within `timeout`.
pub async fn fetch(
    client: &reqwest::Client,
    url: &str,
    timeout: Duration,
) -> Result<Fetched, FetchError> {
    match tokio::time::timeout(timeout, fetch_unbounded(client, url)).await {
        Ok(result) => result,
        Err(_) => Err(FetchError::Timeout(timeout)),
    }
}

async fn fetch_unbounded(client: &reqwest::Client, url: &str) -> Result<Fetched, FetchError> {
    let mut response = client
        .get(url)
        .header(reqwest::header::ACCEPT, "application/toml, text/plain, */*")
        .send()
        .await
        .map_err(|e| FetchError::Request(error_chain(&e)))?;
    let status = response.status();
    if !status.is_success() {
        return Err(FetchError::Status {
            status: status.as_u16(),
        });
    }
    let etag = response
        .headers()
        .get(reqwest::header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if response
        .content_length()
        .is_some_and(|n| n > MAX_DOCUMENT_BYTES as u64)
    {
        return Err(FetchError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| FetchError::Request(error_chain(&e)))?
    {
        if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
            return Err(FetchError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    let body = String::from_utf8(body).map_err(FetchError::NotText)?;
    Ok(Fetched { body, etag })
}

/// reqwest's error with its causes: "error sending request" alone does not say why.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
