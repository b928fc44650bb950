//! Deterministic RFC 5322 Message-IDs derived from the partner tenant and idempotency keys.
//!
//! Invariant: two partner tenants never share a Message-ID, even with the same From domain
//! ([`message_id_for_tenant`] hashes the tenant with the key), and the same action of the same
//! tenant always has the same one.
//!
//! Invariant: the output for a given (tenant, key, domain) never changes between versions: the hash is
//! implemented here (FNV-1a 64, twice with different seeds), not borrowed from std (whose hashers
//! are not stable) — a resent notice carries the same Message-ID, so mail systems deduplicate it.

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
/// Second seed: the offset basis xor a fixed constant.
const SECOND_SEED: u64 = FNV_OFFSET ^ 0x9e37_79b9_7f4a_7c15;

fn fnv1a64(seed: u64, bytes: &[u8]) -> u64 {
    let mut h = seed;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// `<cspguard.{32 hex digits}@{domain}>` for an idempotency key.
///
/// The domain is reduced to characters valid in an RFC 5322 dot-atom (letters, digits, `-`, and
/// single dots between labels); an empty result becomes `cspguard.invalid`.
pub fn message_id_for(key: &str, domain: &str) -> String {
    let h1 = fnv1a64(FNV_OFFSET, key.as_bytes());
    let h2 = fnv1a64(SECOND_SEED, key.as_bytes());
    format!("<cspguard.{h1:016x}{h2:016x}@{}>", clean_domain(domain))
}

/// `<cspguard.{32 hex digits}@{domain}>` for an idempotency key of partner tenant `tenant` (its
/// Entra tenant id or domain, compared case-insensitively). An empty tenant gives
/// [`message_id_for`].
pub fn message_id_for_tenant(tenant: &str, key: &str, domain: &str) -> String {
    let tenant = tenant.trim().to_ascii_lowercase();
    if tenant.is_empty() {
        return message_id_for(key, domain);
    }
    message_id_for(&format!("{tenant}\n{key}"), domain)
}

fn clean_domain(domain: &str) -> String {
    let labels: Vec<String> = domain
        .split('.')
        .map(|label| {
            label
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect::<String>()
        })
        .filter(|label| !label.is_empty())
        .collect();
    if labels.is_empty() {
        "cspguard.invalid".to_string()
    } else {
        labels.join(".").to_ascii_lowercase()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a64_matches_published_vectors() {
        // Reference values of FNV-1a 64 (Fowler/Noll/Vo test suite).
        assert_eq!(fnv1a64(FNV_OFFSET, b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(FNV_OFFSET, b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a64(FNV_OFFSET, b"foobar"), 0x85944171f73967e8);
    }

    #[test]
    fn tenants_never_share_a_message_id() {
        let a = message_id_for_tenant("tenant-a", "digest/2026-11-28", "example.com");
        let b = message_id_for_tenant("tenant-b", "digest/2026-11-28", "example.com");
        assert_ne!(a, b);
        assert_eq!(
            a,
            message_id_for_tenant(" TENANT-A ", "digest/2026-11-28", "example.com")
        );
        assert_eq!(
            message_id_for_tenant("", "k", "example.com"),
            message_id_for("k", "example.com")
        );
    }

    #[test]
    fn domain_is_sanitised() {
        assert_eq!(clean_domain("Mail.Example.COM"), "mail.example.com");
        assert_eq!(clean_domain("..bad domain..x"), "baddomain.x");
        assert_eq!(clean_domain("<>@"), "cspguard.invalid");
    }
}
