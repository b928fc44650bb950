//! Bounds of the Partner Center client against a hostile or broken server.
//!
//! Owns: [`Limits`] (pages per collection and response body size) and the page bound of one
//! collection, [`Limits::page_bound`]. The transport enforces the body cap while streaming; the pager
//! enforces the page bound.

/// Default absolute cap on the pages of one collection.
pub const DEFAULT_MAX_PAGES: u64 = 10_000;
/// Default pages allowed beyond what `totalCount` implies.
pub const DEFAULT_PAGE_SLACK: u64 = 5;
/// Default largest response body read (32 MiB).
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 32 * 1024 * 1024;

/// How far the client follows a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Absolute cap on the pages of one collection, whatever the server says.
    pub max_pages: u64,
    /// Pages allowed beyond `ceil(totalCount / page length)` when the server gives `totalCount`.
    pub page_slack: u64,
    /// Largest response body read; a longer body is refused without reading it whole.
    pub max_response_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_pages: DEFAULT_MAX_PAGES,
            page_slack: DEFAULT_PAGE_SLACK,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }
}

impl Limits {
    /// The most pages one collection may have: `ceil(total / page_len) + slack` when the server
    /// gave a `totalCount` larger than the first page (so it counts the whole collection; seek
    /// paging answers the count of the page itself), never above `max_pages`.
    pub fn page_bound(&self, total_count: Option<u64>, first_page_len: usize) -> u64 {
        let cap = self.max_pages.max(1);
        match (total_count, first_page_len) {
            (Some(total), len) if len > 0 && total > len as u64 => total
                .div_ceil(len as u64)
                .saturating_add(self.page_slack)
                .max(1)
                .min(cap),
            _ => cap,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bound_follows_total_count_plus_slack_under_the_cap() {
        let l = Limits {
            max_pages: 100,
            page_slack: 2,
            max_response_bytes: 1,
        };
        assert_eq!(l.page_bound(Some(10), 2), 7);
        assert_eq!(
            l.page_bound(Some(0), 2),
            100,
            "a per-page count says nothing"
        );
        assert_eq!(
            l.page_bound(Some(2), 2),
            100,
            "a per-page count says nothing"
        );
        assert_eq!(l.page_bound(None, 2), 100);
        assert_eq!(l.page_bound(Some(10), 0), 100);
        assert_eq!(l.page_bound(Some(u64::MAX), 1), 100);
    }
}
