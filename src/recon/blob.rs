//! Download of export blobs: `rootDirectory/name?sasToken` from Azure storage (another origin
//! than Graph), with NO bearer token, streamed chunk by chunk through a gzip decoder into a
//! [`LineSink`], so memory does not grow with the blob.
//!
//! Owns: the blob HTTP client (no redirects, connect and read timeouts, the cspguard user agent;
//! no whole-request timeout, since a large blob may take long: the read timeout bounds each
//! wait and `max_blob_bytes`/`max_lines` bound the amount).
//!
//! Invariant: the SAS token (the URL's query) is a secret: it is registered with
//! `crate::redact`, and errors name the blob by its path only.

use std::io::Write as _;
use std::time::Duration;

use flate2::write::MultiGzDecoder;
use reqwest::Url;

use super::lines::LineSink;

/// Errors of one blob download.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("cannot build the blob HTTP client: {0}")]
    Client(String),
    #[error("blob {blob}: {message}")]
    Transfer { blob: String, message: String },
    #[error(
        "blob {blob}: HTTP {status} from storage (the SAS token may have expired: the export is tried again next run)"
    )]
    Status { blob: String, status: u16 },
    #[error("blob {blob}: {message}")]
    Content { blob: String, message: String },
}

/// The blob HTTP client.
pub fn client(
    connect_timeout: Duration,
    read_timeout: Duration,
) -> Result<reqwest::Client, BlobError> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(connect_timeout)
        .read_timeout(read_timeout)
        .user_agent(crate::pc::transport::user_agent())
        .build()
        .map_err(|e| BlobError::Client(e.without_url().to_string()))
}

/// The blob's URL without its query (the SAS token), for messages.
pub fn display_name(url: &Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    crate::redact::redact(shown.as_str())
}

/// Stream one gzip (possibly multi-member) JSON-lines blob into `sink`.
pub async fn download(
    http: &reqwest::Client,
    url: &Url,
    sink: &mut LineSink<'_>,
) -> Result<(), BlobError> {
    if let Some(q) = url.query() {
        crate::redact::register(q);
    }
    let blob = display_name(url);
    let transfer = |e: reqwest::Error| BlobError::Transfer {
        blob: blob.clone(),
        message: crate::redact::redact(&e.without_url().to_string()),
    };
    let mut resp = http.get(url.clone()).send().await.map_err(transfer)?;
    if !resp.status().is_success() {
        return Err(BlobError::Status {
            blob,
            status: resp.status().as_u16(),
        });
    }
    let content = |e: std::io::Error| BlobError::Content {
        blob: blob.clone(),
        message: crate::redact::redact(&e.to_string()),
    };
    let mut decoder = MultiGzDecoder::new(&mut *sink);
    while let Some(chunk) = resp.chunk().await.map_err(transfer)? {
        decoder.write_all(&chunk).map_err(content)?;
    }
    decoder.try_finish().map_err(content)?;
    drop(decoder);
    sink.finish();
    Ok(())
}
