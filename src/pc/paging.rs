//! Partner Center collections and paging.
//!
//! Owns: the collection envelope [`Collection`] (`{totalCount, items, links:{next:{uri, method,
//! headers:[{key,value}]}}}`) and the async pager [`Pages`], which yields one page at a time so
//! memory stays bounded by one page.
//!
//! Paging styles:
//! * seek / offset: follow `links.next.uri` (a missing `/v1` prefix is added, resolved against the
//!   base URL) and replay every `links.next.headers` entry (e.g. `MS-ContinuationToken`);
//! * page number (fraud events, new events model): `PageSize` + `PageNumber` query, bare JSON
//!   array answers, stop at a short or empty page;
//! * single: one bare-array answer.
//!
//! Invariants:
//! * a server that repeats a next link (or a page-number page) is detected and reported as
//!   [`PcError::PagingLoop`] instead of looping forever;
//! * a server that keeps sending *new* next links is stopped by the page bound
//!   ([`Limits::page_bound`](crate::pc::limits::Limits::page_bound): `totalCount` plus slack,
//!   never above the absolute cap) with [`PcError::TooManyPages`].

use std::collections::HashSet;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::pc::error::PcError;
use crate::pc::lenient;
use crate::pc::transport::{ApiRequest, Transport};
use crate::pc::url::normalize_link;

/// One `{key, value}` header of a link.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkHeader {
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub value: String,
}

/// A resource link: where to go and which headers to send.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    #[serde(default)]
    pub uri: String,
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub headers: Vec<LinkHeader>,
}

/// `links` of a collection.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Links {
    #[serde(default, rename = "self")]
    pub self_link: Option<Link>,
    #[serde(default)]
    pub next: Option<Link>,
    #[serde(default)]
    pub previous: Option<Link>,
}

/// The collection envelope.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", bound(deserialize = "T: Deserialize<'de>"))]
pub struct Collection<T> {
    #[serde(default)]
    pub total_count: Option<u64>,
    #[serde(default = "Vec::new", deserialize_with = "null_as_default")]
    pub items: Vec<T>,
    #[serde(default)]
    pub links: Option<Links>,
}

impl<T> Collection<T> {
    /// The next-page link, if any (a link with an empty uri counts as none).
    pub fn next_link(&self) -> Option<&Link> {
        self.links
            .as_ref()
            .and_then(|l| l.next.as_ref())
            .filter(|n| !n.uri.trim().is_empty())
    }
}

/// Why a collection's page bound is what it is, for the error.
fn bound_reason(limits: &crate::pc::limits::Limits, total: Option<u64>, bound: u64) -> String {
    match total {
        Some(t) if bound < limits.max_pages => format!(
            "totalCount {t} allows {bound} pages including a slack of {}",
            limits.page_slack
        ),
        _ => format!("the absolute cap is {} pages", limits.max_pages),
    }
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

enum State {
    /// Collection envelope; the next request to send (first page, or a followed link).
    Envelope(ApiRequest),
    /// Bare arrays with page numbers.
    PageNumber {
        template: ApiRequest,
        page: u32,
        size: u32,
        last_hash: Option<u64>,
    },
    /// A single bare-array answer.
    Single(ApiRequest),
    /// Fails once with this error, then is exhausted.
    Failed(PcError),
    Done,
}

/// An async pager yielding one page of `T` at a time.
pub struct Pages<T> {
    transport: Arc<Transport>,
    state: State,
    seen_links: HashSet<String>,
    pages: u64,
    /// The page bound, fixed by the first page (its `totalCount` and length).
    bound: Option<u64>,
    _t: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for Pages<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pages")
            .field("pages", &self.pages)
            .finish_non_exhaustive()
    }
}

impl<T: DeserializeOwned> Pages<T> {
    pub(crate) fn envelope(transport: Arc<Transport>, first: ApiRequest) -> Self {
        Self::with_state(transport, State::Envelope(first))
    }

    pub(crate) fn page_number(transport: Arc<Transport>, template: ApiRequest, size: u32) -> Self {
        Self::with_state(
            transport,
            State::PageNumber {
                template,
                page: 1,
                size: size.max(1),
                last_hash: None,
            },
        )
    }

    pub(crate) fn single(transport: Arc<Transport>, req: ApiRequest) -> Self {
        Self::with_state(transport, State::Single(req))
    }

    /// A pager that fails with `err` on the first call, without any HTTP call (used for
    /// errors detected up front, such as missing App+User credentials).
    pub(crate) fn failed(transport: Arc<Transport>, err: PcError) -> Self {
        Self::with_state(transport, State::Failed(err))
    }

    fn with_state(transport: Arc<Transport>, state: State) -> Self {
        Self {
            transport,
            state,
            seen_links: HashSet::new(),
            pages: 0,
            bound: None,
            _t: PhantomData,
        }
    }

    /// Pages fetched so far.
    pub fn pages_fetched(&self) -> u64 {
        self.pages
    }

    /// Fetch the next page; `Ok(None)` when the collection is exhausted. A page may be empty
    /// only if the server sends an empty page with a next link.
    pub async fn next_page(&mut self) -> Result<Option<Vec<T>>, PcError> {
        let state = std::mem::replace(&mut self.state, State::Done);
        match state {
            State::Done => Ok(None),
            State::Failed(e) => Err(e),
            State::Single(req) => {
                let got = self
                    .transport
                    .execute(&req, lenient::from_slice::<Vec<T>>)
                    .await?;
                self.pages += 1;
                Ok(Some(got.value))
            }
            State::Envelope(req) => {
                let got = self
                    .transport
                    .execute(&req, lenient::from_slice::<Collection<T>>)
                    .await?;
                self.pages += 1;
                let collection = got.value;
                let limits = *self.transport.limits();
                let bound = *self.bound.get_or_insert_with(|| {
                    limits.page_bound(collection.total_count, collection.items.len())
                });
                if let Some(next) = collection.next_link() {
                    if self.pages >= bound {
                        return Err(PcError::TooManyPages {
                            endpoint: req.label.clone(),
                            pages: self.pages,
                            why: bound_reason(&limits, collection.total_count, bound),
                        });
                    }
                    let url = normalize_link(self.transport.base(), &next.uri)?;
                    let mut fingerprint = url.to_string();
                    for h in &next.headers {
                        fingerprint.push('\n');
                        fingerprint.push_str(&h.key.to_ascii_lowercase());
                        fingerprint.push(':');
                        fingerprint.push_str(&h.value);
                    }
                    if !self.seen_links.insert(fingerprint) {
                        return Err(PcError::PagingLoop {
                            endpoint: req.label.clone(),
                            detail: format!(
                                "next link {} repeated after {} pages",
                                url.path(),
                                self.pages
                            ),
                        });
                    }
                    let mut next_req =
                        ApiRequest::new(reqwest::Method::GET, req.label.clone(), url, req.kind);
                    // Keep the call's own non-paging headers (e.g. X-NewEventsModel), then the
                    // link's headers.
                    // Headers of the link replace same-named ones, so nothing accumulates.
                    next_req.headers = req
                        .headers
                        .iter()
                        .filter(|(k, _)| {
                            !k.eq_ignore_ascii_case("ms-continuationtoken")
                                && !next
                                    .headers
                                    .iter()
                                    .any(|h| h.key.trim().eq_ignore_ascii_case(k.trim()))
                        })
                        .cloned()
                        .collect();
                    next_req.headers.extend(
                        next.headers
                            .iter()
                            .map(|h| (h.key.clone(), h.value.clone())),
                    );
                    self.state = State::Envelope(next_req);
                }
                Ok(Some(collection.items))
            }
            State::PageNumber {
                template,
                page,
                size,
                last_hash,
            } => {
                let mut req = template.clone();
                req.url
                    .query_pairs_mut()
                    .append_pair("PageSize", &size.to_string())
                    .append_pair("PageNumber", &page.to_string());
                let got = self
                    .transport
                    .execute(&req, lenient::from_slice::<Vec<T>>)
                    .await?;
                self.pages += 1;
                let items = got.value;
                if items.is_empty() {
                    return Ok(None);
                }
                if last_hash == Some(got.body_hash) {
                    return Err(PcError::PagingLoop {
                        endpoint: req.label.clone(),
                        detail: format!("page {page} is identical to page {}", page - 1),
                    });
                }
                let full = u32::try_from(items.len()).is_ok_and(|n| n >= size);
                let max_pages = self.transport.limits().max_pages.max(1);
                if full && self.pages >= max_pages {
                    return Err(PcError::TooManyPages {
                        endpoint: req.label.clone(),
                        pages: self.pages,
                        why: format!("the absolute cap is {max_pages} pages"),
                    });
                }
                if full && let Some(next) = page.checked_add(1) {
                    self.state = State::PageNumber {
                        template,
                        page: next,
                        size,
                        last_hash: Some(got.body_hash),
                    };
                }
                Ok(Some(items))
            }
        }
    }

    /// Drain every page into one vector (only for collections known to be small).
    pub async fn collect_all(self) -> Result<Vec<T>, PcError> {
        self.collect_compacted(|_| {}).await
    }

    /// Drain every page into one exactly sized vector, passing each page to `compact` as it
    /// arrives (so what it drops never accumulates; `crate::compact`).
    pub async fn collect_compacted(
        mut self,
        mut compact: impl FnMut(&mut [T]),
    ) -> Result<Vec<T>, PcError> {
        let mut all = Vec::new();
        while let Some(mut page) = self.next_page().await? {
            compact(&mut page);
            all.extend(page);
        }
        all.shrink_to_fit();
        Ok(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_parses_fixture_shapes_and_next_link() {
        let v = serde_json::json!({
            "TotalCount": 2,
            "Items": [1, 2],
            "Links": {"Next": {"Uri": "/customers?size=2&seekOperation=Next", "Method": "GET",
                "Headers": [{"Key": "MS-ContinuationToken", "Value": "tok"}]}},
            "Attributes": {"ObjectType": "Collection"}
        });
        let c: Collection<u32> = lenient::from_value(v).expect("parses");
        assert_eq!(c.items, vec![1, 2]);
        assert_eq!(c.total_count, Some(2));
        let next = c.next_link().expect("next");
        assert_eq!(next.headers[0].key, "MS-ContinuationToken");
        assert_eq!(next.headers[0].value, "tok");
    }

    #[test]
    fn envelope_tolerates_missing_or_null_parts() {
        let c: Collection<u32> =
            lenient::from_slice(br#"{"items": null, "links": {"next": {"uri": ""}}}"#)
                .expect("parses");
        assert!(c.items.is_empty());
        assert!(c.next_link().is_none());
        let c: Collection<u32> = lenient::from_slice(br#"{}"#).expect("parses");
        assert!(c.items.is_empty());
    }

    #[test]
    fn offset_style_link_without_headers() {
        let c: Collection<u32> = lenient::from_slice(
            br#"{"totalCount": 3, "items": [1, 2], "links": {"next": {"uri": "/invoices?size=2&offset=2", "method": "GET", "headers": []}}}"#,
        )
        .expect("parses");
        let next = c.next_link().expect("next");
        assert_eq!(next.uri, "/invoices?size=2&offset=2");
        assert!(next.headers.is_empty());
    }
}
