//! Partner Center URLs: parsing the configured base URL, building endpoint URLs with
//! percent-encoded segments, resolving next-page links, and the security rule every URL that
//! carries credentials must pass.
//!
//! Invariants:
//! * Credentials go only over `https://`, or plain `http://` to a loopback host (the rule of
//!   [`crate::net::is_loopback_host`]).
//! * A next-page link never leaves the base URL's origin, so the bearer token never goes to
//!   another host.

use reqwest::Url;

use crate::net::is_loopback_host;
use crate::pc::error::PcError;

/// Refuse plain `http://` except for loopback hosts (127.0.0.0/8, ::1, localhost), and any
/// scheme other than http/https.
pub fn check_url_security(url: &Url) -> Result<(), PcError> {
    match url.scheme() {
        "https" => Ok(()),
        "http" => {
            if url.host_str().is_some_and(is_loopback_host) {
                Ok(())
            } else {
                Err(PcError::InsecureUrl {
                    url: url.to_string(),
                })
            }
        }
        other => Err(PcError::InvalidUrl {
            url: url.to_string(),
            reason: format!("scheme {other:?} is not supported, use https://"),
        }),
    }
}

/// Parse and security-check a configured base URL.
pub fn parse_base_url(raw: &str) -> Result<Url, PcError> {
    let url = Url::parse(raw.trim()).map_err(|e| PcError::InvalidUrl {
        url: raw.to_owned(),
        reason: e.to_string(),
    })?;
    if url.cannot_be_a_base() || url.host().is_none() {
        return Err(PcError::InvalidUrl {
            url: raw.to_owned(),
            reason: "not an absolute http(s) URL with a host".to_owned(),
        });
    }
    check_url_security(&url)?;
    Ok(url)
}

/// Build `{base}/{segments...}?{query}`, percent-encoding every segment.
pub fn api_url(base: &Url, segments: &[&str], query: &[(&str, &str)]) -> Result<Url, PcError> {
    let mut url = base.clone();
    url.set_query(None);
    url.set_fragment(None);
    {
        let mut segs = url.path_segments_mut().map_err(|_| PcError::InvalidUrl {
            url: base.to_string(),
            reason: "base URL cannot have paths".to_owned(),
        })?;
        segs.pop_if_empty();
        for s in segments {
            segs.push(s);
        }
    }
    if !query.is_empty() {
        url.query_pairs_mut().extend_pairs(query.iter());
    }
    Ok(url)
}

/// Resolve a `links.*.uri` against the base URL: a missing `/v1` prefix is added
/// (`/auditrecords?x` -> `/v1/auditrecords?x`), `/v1/...` is kept, and absolute URLs must stay on
/// the base URL's origin (the bearer token never goes to another host).
pub fn normalize_link(base: &Url, uri: &str) -> Result<Url, PcError> {
    let uri = uri.trim();
    if uri.is_empty() {
        return Err(PcError::InvalidUrl {
            url: String::new(),
            reason: "empty next-page link".to_owned(),
        });
    }
    if let Ok(abs) = Url::parse(uri) {
        if abs.origin() != base.origin() {
            return Err(PcError::InvalidUrl {
                url: uri.to_owned(),
                reason: format!(
                    "next-page link leaves the Partner Center origin {}; refusing to send credentials there",
                    base.origin().ascii_serialization()
                ),
            });
        }
        check_url_security(&abs)?;
        return Ok(abs);
    }
    let (path, query) = match uri.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (uri, None),
    };
    let path = path.trim_start_matches('/');
    let versioned = if path == "v1" || path.starts_with("v1/") {
        format!("/{path}")
    } else {
        format!("/v1/{path}")
    };
    let prefix = base.path().trim_end_matches('/');
    let mut url = base.clone();
    url.set_fragment(None);
    url.set_path(&format!("{prefix}{versioned}"));
    url.set_query(query.filter(|q| !q.is_empty()));
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("https://api.partnercenter.microsoft.com").expect("url")
    }

    #[test]
    fn link_normalisation() {
        let b = base();
        assert_eq!(
            normalize_link(&b, "/auditrecords?size=50&seekOperation=Next")
                .expect("ok")
                .as_str(),
            "https://api.partnercenter.microsoft.com/v1/auditrecords?size=50&seekOperation=Next"
        );
        assert_eq!(
            normalize_link(&b, "/v1/customers?size=40&seekOperation=Next")
                .expect("ok")
                .as_str(),
            "https://api.partnercenter.microsoft.com/v1/customers?size=40&seekOperation=Next"
        );
        assert_eq!(
            normalize_link(&b, "invoices?size=2&offset=2")
                .expect("ok")
                .as_str(),
            "https://api.partnercenter.microsoft.com/v1/invoices?size=2&offset=2"
        );
        let prefixed = Url::parse("http://127.0.0.1:8080/pc/").expect("url");
        assert_eq!(
            normalize_link(&prefixed, "/customers?size=1")
                .expect("ok")
                .as_str(),
            "http://127.0.0.1:8080/pc/v1/customers?size=1"
        );
        assert_eq!(
            normalize_link(
                &b,
                "https://api.partnercenter.microsoft.com/v1/customers?x=1"
            )
            .expect("same origin ok")
            .as_str(),
            "https://api.partnercenter.microsoft.com/v1/customers?x=1"
        );
        assert!(matches!(
            normalize_link(&b, "https://evil.example/v1/customers"),
            Err(PcError::InvalidUrl { .. })
        ));
        assert!(normalize_link(&b, "  ").is_err());
    }

    #[test]
    fn url_security() {
        for ok in [
            "https://api.partnercenter.microsoft.com",
            "http://127.0.0.1:1234",
            "http://127.8.9.10/",
            "http://[::1]:80/",
            "http://localhost:99",
            "http://LOCALHOST",
        ] {
            assert!(parse_base_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://example.com",
            "http://10.0.0.1",
            "http://[::2]/",
            "http://localhost.evil.com",
        ] {
            assert!(
                matches!(parse_base_url(bad), Err(PcError::InsecureUrl { .. })),
                "{bad}"
            );
        }
        assert!(matches!(
            parse_base_url("ftp://127.0.0.1"),
            Err(PcError::InvalidUrl { .. })
        ));
        assert!(matches!(
            parse_base_url("not a url"),
            Err(PcError::InvalidUrl { .. })
        ));
    }

    #[test]
    fn api_url_percent_encodes_segments() {
        let u = api_url(
            &base(),
            &["v1", "customers", "a/b c?d", "subscriptions"],
            &[("size", "5")],
        )
        .expect("url");
        assert_eq!(
            u.as_str(),
            "https://api.partnercenter.microsoft.com/v1/customers/a%2Fb%20c%3Fd/subscriptions?size=5"
        );
        let prefixed = Url::parse("http://127.0.0.1:1/pc/").expect("url");
        assert_eq!(
            api_url(&prefixed, &["v1", "invoices"], &[])
                .expect("url")
                .as_str(),
            "http://127.0.0.1:1/pc/v1/invoices"
        );
    }
}
