//! Matching receivables to Partner Center customers, by tenant id, by primary domain, or through
//! the partner's mapping file (customer number -> tenant id).
//!
//! Invariants: matching is exact after normalisation (tenant ids: case-insensitive GUIDs, braces
//! ignored; domains: case-insensitive, leading `www.` and trailing `.` ignored; customer numbers:
//! case-insensitive, trimmed); company names are never used; a row that matches no customer, or
//! more than one, is reported as unmatched with the reason, never guessed. Unmatched rows are not
//! an import error.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::Receivable;
use super::config::{MatchBy, ReceivablesConfig};
use super::csv::{LineIndex, decode};
use super::error::{ImportError, Problem, Problems};

/// One Partner Center customer, as the integrator builds it from the customer list (borrowed
/// from it: a directory of 50,000 customers copies no string, issue 18).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DirectoryCustomer<'a> {
    pub tenant_id: &'a str,
    pub primary_domain: &'a str,
    pub company_name: &'a str,
}

/// The Partner Center customers that receivables may be matched to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CustomerDirectory<'a> {
    pub customers: Vec<DirectoryCustomer<'a>>,
}

impl<'a> CustomerDirectory<'a> {
    /// Builds a directory from `(tenant_id, primary_domain, company_name)` triples.
    pub fn from_triples(items: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>) -> Self {
        CustomerDirectory {
            customers: items
                .into_iter()
                .map(
                    |(tenant_id, primary_domain, company_name)| DirectoryCustomer {
                        tenant_id,
                        primary_domain,
                        company_name,
                    },
                )
                .collect(),
        }
    }
}

/// The partner's customer numbers, mapped to tenant ids (normalised keys).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerMapping {
    map: HashMap<String, String>,
}

impl CustomerMapping {
    /// The tenant id mapped to customer number `number`, if any.
    pub fn get(&self, number: &str) -> Option<&str> {
        self.map.get(&normalize_number(number)).map(String::as_str)
    }

    /// How many customer numbers are mapped.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the mapping is empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Reads a mapping file: a header line (any names), then rows `customer number, tenant id`
    /// separated by `delimiter`. All or nothing, with file:line:column problems: empty values,
    /// tenant ids that are not GUIDs, and a customer number mapped twice are rejected. A file
    /// over `max_file_mb` is refused whole (`receivables.max_file_mb`, as for the receivables).
    pub fn load(
        path: &Path,
        delimiter: u8,
        max_file_mb: u64,
    ) -> Result<CustomerMapping, ImportError> {
        let bytes = super::read_bounded(path, max_file_mb)?;
        let mut problems = Problems::default();
        let mut map = HashMap::new();
        let mut first_seen: HashMap<String, u64> = HashMap::new();
        if let Some(text) = decode(&bytes, path, &mut problems) {
            let index = LineIndex::new(text);
            let mut reader = csv::ReaderBuilder::new()
                .delimiter(delimiter)
                .has_headers(false)
                .flexible(true)
                .from_reader(text.as_bytes());
            let mut header_seen = false;
            for rec in reader.records() {
                let p = |line: u64, column: u64, message: String| Problem {
                    file: path.to_path_buf(),
                    line,
                    column,
                    message,
                };
                let rec = match rec {
                    Ok(r) => r,
                    Err(e) => {
                        let (l, c) = e.position().map_or((1, 1), |p| {
                            index.pos(usize::try_from(p.byte()).unwrap_or(0))
                        });
                        problems.push(p(l, c, format!("unreadable CSV: {e}")));
                        break;
                    }
                };
                if rec.iter().all(|f| f.trim().is_empty()) {
                    continue;
                }
                let offset = rec
                    .position()
                    .and_then(|p| usize::try_from(p.byte()).ok())
                    .unwrap_or(0);
                let (line, _) = index.pos(offset);
                if !header_seen {
                    header_seen = true;
                    continue;
                }
                let (Some(number), Some(tenant), 2) = (rec.get(0), rec.get(1), rec.len()) else {
                    if !problems.push(p(
                        line,
                        1,
                        format!(
                            "expected 2 fields (customer number, tenant id), found {}",
                            rec.len()
                        ),
                    )) {
                        break;
                    }
                    continue;
                };
                // Column of the tenant id: after the first field and its delimiter.
                let tenant_col = text
                    .get(offset..)
                    .and_then(|s| s.find(char::from(delimiter)))
                    .map_or(1, |i| index.pos(offset + i + 1).1);
                let key = normalize_number(number);
                if key.is_empty() {
                    problems.push(p(line, 1, "customer number is empty".to_owned()));
                    continue;
                }
                let Some(tid) = normalize_tenant(tenant) else {
                    problems.push(p(
                        line,
                        tenant_col,
                        format!(
                            "tenant id {:?} is not a GUID like 8a4f1e2c-1b2d-4c3e-9f00-123456789abc",
                            tenant.trim()
                        ),
                    ));
                    continue;
                };
                if let Some(prev) = first_seen.get(&key) {
                    problems.push(p(
                        line,
                        1,
                        format!(
                            "customer number {:?} is mapped twice (first on line {prev}): keep one",
                            number.trim()
                        ),
                    ));
                    continue;
                }
                first_seen.insert(key.clone(), line);
                map.insert(key, tid);
            }
        }
        problems.into_result()?;
        Ok(CustomerMapping { map })
    }
}

/// How to match, resolved from the config (the mapping file already loaded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatchRule {
    TenantId,
    Domain,
    Mapping(CustomerMapping),
}

impl MatchRule {
    /// Resolves `config.match_by`, loading `mapping_file` when matching by mapping.
    pub fn from_config(config: &ReceivablesConfig) -> Result<MatchRule, ImportError> {
        match config.match_by {
            MatchBy::TenantId => Ok(MatchRule::TenantId),
            MatchBy::Domain => Ok(MatchRule::Domain),
            MatchBy::Mapping => {
                let path: &PathBuf = config
                    .mapping_file
                    .as_ref()
                    .ok_or(super::config::ConfigError::MissingMappingFile)?;
                let delim = config.delimiter_byte()?;
                let mapping = CustomerMapping::load(path, delim, config.max_file_mb)?;
                Ok(MatchRule::Mapping(mapping))
            }
        }
    }
}

/// Why a receivable matched no customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "reason")]
pub enum UnmatchedReason {
    /// No Partner Center customer has this tenant id / primary domain.
    NotInDirectory,
    /// The customer reference is not a GUID (when matching by tenant id).
    NotATenantId,
    /// Several Partner Center customers share this domain.
    Ambiguous { tenant_ids: Vec<String> },
    /// The customer number is not in the mapping file.
    NotInMapping,
    /// The mapping file names a tenant id that is not among the Partner Center customers.
    MappedTenantUnknown { tenant_id: String },
}

impl std::fmt::Display for UnmatchedReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UnmatchedReason::NotInDirectory => {
                f.write_str("no Partner Center customer has this reference")
            }
            UnmatchedReason::NotATenantId => {
                f.write_str("the customer reference is not a tenant id (GUID)")
            }
            UnmatchedReason::Ambiguous { tenant_ids } => write!(
                f,
                "several Partner Center customers match ({}); not guessing",
                tenant_ids.join(", ")
            ),
            UnmatchedReason::NotInMapping => {
                f.write_str("the customer number is not in the mapping file")
            }
            UnmatchedReason::MappedTenantUnknown { tenant_id } => write!(
                f,
                "the mapping file maps it to tenant {tenant_id}, which is not a Partner Center customer"
            ),
        }
    }
}

/// A receivable that matched no customer, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unmatched {
    pub receivable: Receivable,
    pub reason: UnmatchedReason,
}

/// Receivables grouped by the tenant id (as spelled in the directory) they matched, plus the rows
/// that matched nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MatchOutcome {
    pub matched: BTreeMap<String, Vec<Receivable>>,
    pub unmatched: Vec<Unmatched>,
}

/// Lower-case GUID without braces, or `None` when `s` is not a GUID.
pub fn normalize_tenant(s: &str) -> Option<String> {
    tenant_key(s).map(Cow::into_owned)
}

/// [`normalize_tenant`], borrowing `s` when it is already normal.
fn tenant_key(s: &str) -> Option<Cow<'_, str>> {
    let t = s.trim();
    let t = t
        .strip_prefix('{')
        .and_then(|x| x.strip_suffix('}'))
        .unwrap_or(t);
    let mut parts = t.split('-');
    let shape_ok = [8, 4, 4, 4, 12].iter().all(|&n| {
        parts
            .next()
            .is_some_and(|g| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
    }) && parts.next().is_none();
    shape_ok.then(|| lower(t))
}

/// Lower-case domain without a leading `www.` or trailing `.`.
pub fn normalize_domain(s: &str) -> String {
    domain_key(s).into_owned()
}

/// [`normalize_domain`], borrowing `s` when it is already normal.
fn domain_key(s: &str) -> Cow<'_, str> {
    let d = s.trim();
    let d = d.strip_suffix('.').unwrap_or(d);
    let d = match d.get(..4) {
        Some(p) if p.eq_ignore_ascii_case("www.") => &d[4..],
        _ => d,
    };
    lower(d)
}

/// `s` in ASCII lower case, borrowed when it already is.
fn lower(s: &str) -> Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(s.to_ascii_lowercase())
    } else {
        Cow::Borrowed(s)
    }
}

/// Directory entries sorted by a normalised key (stable: equal keys keep directory order), for
/// binary search; no copy of a key that is already normal.
struct SortedIndex<'a>(Vec<(Cow<'a, str>, &'a str)>);

impl<'a> SortedIndex<'a> {
    fn new(entries: impl Iterator<Item = (Cow<'a, str>, &'a str)>) -> Self {
        let mut v: Vec<_> = entries.collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        SortedIndex(v)
    }

    /// The tenant ids under `key`, in directory order.
    fn all(&self, key: &str) -> Vec<&'a str> {
        let from = self.0.partition_point(|(k, _)| k.as_ref() < key);
        self.0[from..]
            .iter()
            .take_while(|(k, _)| k.as_ref() == key)
            .map(|(_, t)| *t)
            .collect()
    }
}

fn normalize_number(s: &str) -> String {
    s.trim().to_lowercase()
}

/// Matches every receivable to at most one customer of `directory` using `rule`.
pub fn match_customers(
    receivables: Vec<Receivable>,
    directory: &CustomerDirectory<'_>,
    rule: &MatchRule,
) -> MatchOutcome {
    // Only the index the rule reads is built.
    let index = match rule {
        MatchRule::TenantId | MatchRule::Mapping(_) => SortedIndex::new(
            directory
                .customers
                .iter()
                .filter_map(|c| Some((tenant_key(c.tenant_id)?, c.tenant_id))),
        ),
        MatchRule::Domain => SortedIndex::new(
            directory
                .customers
                .iter()
                .map(|c| (domain_key(c.primary_domain), c.tenant_id))
                .filter(|(d, _)| !d.is_empty()),
        ),
    };
    // A tenant id listed twice (after normalisation) is the same customer: the last one wins.
    let tenant = |key: &str| index.all(key).last().copied();
    let mut out = MatchOutcome::default();
    for r in receivables {
        let found: Result<&str, UnmatchedReason> = match rule {
            MatchRule::TenantId => match tenant_key(&r.customer_ref) {
                None => Err(UnmatchedReason::NotATenantId),
                Some(t) => tenant(&t).ok_or(UnmatchedReason::NotInDirectory),
            },
            MatchRule::Domain => {
                let many = index.all(&domain_key(&r.customer_ref));
                match many.as_slice() {
                    [] => Err(UnmatchedReason::NotInDirectory),
                    [one] => Ok(*one),
                    _ => Err(UnmatchedReason::Ambiguous {
                        tenant_ids: many.iter().map(|s| (*s).to_owned()).collect(),
                    }),
                }
            }
            MatchRule::Mapping(m) => match m.get(&r.customer_ref) {
                None => Err(UnmatchedReason::NotInMapping),
                Some(t) => tenant(t).ok_or_else(|| UnmatchedReason::MappedTenantUnknown {
                    tenant_id: t.to_owned(),
                }),
            },
        };
        match found {
            Ok(tenant) => out.matched.entry(tenant.to_owned()).or_default().push(r),
            Err(reason) => out.unmatched.push(Unmatched {
                receivable: r,
                reason,
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation() {
        assert_eq!(
            normalize_tenant("{8A4F1E2C-1B2D-4C3E-9F00-123456789ABC}").as_deref(),
            Some("8a4f1e2c-1b2d-4c3e-9f00-123456789abc")
        );
        assert_eq!(normalize_tenant("contoso.com"), None);
        assert_eq!(normalize_tenant("8a4f1e2c1b2d4c3e9f00123456789abc"), None);
        assert_eq!(normalize_domain(" WWW.Contoso.com. "), "contoso.com");
        assert_eq!(normalize_domain("wwwcontoso.com"), "wwwcontoso.com");
        assert_eq!(normalize_domain("www."), "www");
        assert_eq!(
            normalize_tenant("8a4f1e2c-1b2d-4c3e-9f00-123456789abc-00"),
            None
        );
        assert_eq!(normalize_tenant("8a4f1e2c-1b2d-4c3e-9f00"), None);
        // Keys already normal are borrowed: the index copies nothing for them.
        let id = "8a4f1e2c-1b2d-4c3e-9f00-123456789abc";
        assert!(matches!(tenant_key(id), Some(Cow::Borrowed(k)) if k == id));
        assert!(matches!(
            domain_key("contoso.com"),
            Cow::Borrowed("contoso.com")
        ));
        assert!(matches!(domain_key("Contoso.com"), Cow::Owned(_)));
    }

    #[test]
    fn the_mapping_file_obeys_the_configured_size_bound() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("mapping.csv");
        let mut text = String::from("customer,tenant\n");
        let mut n = 0u64;
        while text.len() <= 1024 * 1024 {
            text.push_str(&format!("C{n:07},8a4f1e2c-1b2d-4c3e-9f00-{n:012}\n"));
            n += 1;
        }
        std::fs::write(&path, &text).expect("write");
        let config = |max_file_mb| ReceivablesConfig {
            match_by: MatchBy::Mapping,
            mapping_file: Some(path.clone()),
            max_file_mb,
            ..ReceivablesConfig::default()
        };
        let refused = MatchRule::from_config(&config(1)).expect_err("over 1 MiB");
        assert!(refused.to_string().contains("max_file_mb = 1"), "{refused}");
        match MatchRule::from_config(&config(2)).expect("under 2 MiB") {
            MatchRule::Mapping(m) => assert_eq!(m.len() as u64, n),
            other => panic!("not a mapping: {other:?}"),
        }
    }
}
