//! Network address rules shared by every outbound connection: which hosts count as loopback and
//! which URLs may carry credentials.
//!
//! Invariant: plain `http://` (and plain SMTP) is acceptable only to a loopback host
//! (`localhost`, `127.0.0.0/8`, `::1`); everything else must be `https://` (or TLS). The config
//! validation, the mailer and the Partner Center client all ask this module, so the rule is
//! reviewed in one place. A leaf: it imports nothing from the crate.

/// True for `localhost`, `127.0.0.0/8` and `::1` (IPv6 literals may keep their brackets).
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Why a configured URL is unacceptable, if it is: it must parse, and use `https`, or `http` to a
/// loopback host.
pub fn check_url(url: &str) -> Result<(), String> {
    let parsed =
        reqwest::Url::parse(url).map_err(|e| format!("{url:?} is not a valid URL ({e})"))?;
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if is_loopback_host(parsed.host_str().unwrap_or("")) => Ok(()),
        "http" => Err(format!(
            "{url:?} uses plain http; only https is allowed (http only for loopback test servers)"
        )),
        other => Err(format!(
            "{url:?} has unsupported scheme {other:?}; use https"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for ok in [
            "localhost",
            "LOCALHOST",
            "127.0.0.1",
            "127.8.9.10",
            "::1",
            "[::1]",
        ] {
            assert!(is_loopback_host(ok), "{ok}");
        }
        for bad in ["example.com", "10.0.0.1", "::2", "localhost.evil.com", ""] {
            assert!(!is_loopback_host(bad), "{bad}");
        }
    }

    #[test]
    fn urls_need_https_except_to_loopback() {
        assert!(check_url("https://api.partnercenter.microsoft.com").is_ok());
        assert!(check_url("http://127.0.0.1:8080").is_ok());
        assert!(check_url("http://[::1]:80/").is_ok());
        assert!(check_url("http://example.com").is_err_and(|w| w.contains("plain http")));
        assert!(check_url("ftp://127.0.0.1").is_err_and(|w| w.contains("unsupported scheme")));
        assert!(check_url("not a url").is_err_and(|w| w.contains("not a valid URL")));
    }
}
