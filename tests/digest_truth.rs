//! The daily digest tells operators the truth (issue 13), end to end: the real binary against the
//! simulator's scripted tenant and the embedded SMTP server (STARTTLS + AUTH), with a temporary
//! ledger. Top debtors are ranked within each currency, never across currencies; a digest from a
//! run with missing data says what is missing, and the complete digest follows that same day
//! once the data is back (each exactly once).

mod support;
mod truth;

use truth::{at, digests, noon, run, subject, text_part, world};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn top_debtors_are_ranked_within_each_currency_never_across() {
    let now = noon();
    let w = world(now, "notify", "").await;
    let smtp = w.smtp();
    let (code, out) = run(&w, now).await;
    assert_eq!(code, Some(0), "{out}");
    let digests = digests(smtp);
    assert_eq!(digests.len(), 1, "one digest");
    let text = text_part(&digests[0]);
    let section = text
        .split("TOP DEBTORS")
        .nth(1)
        .and_then(|s| s.split("\n\n").next())
        .unwrap_or_else(|| panic!("a top-debtors section: {text}"));
    // Every ranked line sits under the heading of its own currency, and each currency's ranking
    // starts at 1: KRW millions never outrank CNY or SEK thousands.
    let mut currency = String::new();
    let mut headings = Vec::new();
    for line in section.lines().skip(1) {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        if !trimmed.contains(". ") {
            currency = trimmed.to_owned();
            headings.push(currency.clone());
            continue;
        }
        assert!(
            !currency.is_empty(),
            "a ranked line before any currency heading: {section}"
        );
    }
    for expected in ["CNY", "JPY", "KRW", "SEK"] {
        assert!(
            headings.iter().any(|h| h == expected),
            "{expected} has its own ranking: {section}"
        );
    }
    let mut sorted = headings.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(headings, sorted, "one heading per currency: {section}");
    for heading in &headings {
        let after = section
            .split(&format!("  {heading}\n"))
            .nth(1)
            .expect("heading");
        assert!(
            after.trim_start().starts_with("1. "),
            "{heading}'s ranking starts at 1: {section}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incomplete_digest_says_what_is_missing_and_the_complete_one_follows_once() {
    let now = noon();
    let w = world(now, "notify", "").await;
    let smtp = w.smtp();

    // The day's first run cannot import the receivables (a malformed export).
    std::fs::write(
        w.receivables_path(),
        format!(
            "{}\nnot-a-customer,INV-X,oops\n",
            w.receivables_csv.trim_end()
        ),
    )
    .expect("break the export");
    let (code, out) = run(&w, now).await;
    assert_eq!(
        code,
        Some(3),
        "a failed import makes the run degraded: {out}"
    );
    let first = digests(smtp);
    assert_eq!(first.len(), 1, "the incomplete digest goes out: {out}");
    assert!(
        subject(&first[0]).contains("(incomplete data)"),
        "{}",
        subject(&first[0])
    );
    let text = text_part(&first[0]);
    assert!(
        text.contains("INCOMPLETE DATA: this digest comes from a run that could not read the receivables import"),
        "{text}"
    );
    assert!(text.contains("A complete digest follows today"), "{text}");

    // Still broken an hour later: no second incomplete digest.
    let (code, out) = run(&w, at(now, 1)).await;
    assert_eq!(code, Some(3), "{out}");
    assert_eq!(digests(smtp).len(), 1, "the incomplete digest is sent once");

    // The export is fixed: the complete digest follows, once.
    std::fs::write(w.receivables_path(), &w.receivables_csv).expect("fix the export");
    let (code, out) = run(&w, at(now, 2)).await;
    assert_eq!(code, Some(0), "{out}");
    let (code, out2) = run(&w, at(now, 3)).await;
    assert_eq!(code, Some(0), "{out2}");
    let all = digests(smtp);
    assert_eq!(all.len(), 2, "exactly one complete digest follows: {out}");
    let complete = text_part(&all[1]);
    assert!(
        !subject(&all[1]).contains("incomplete"),
        "{}",
        subject(&all[1])
    );
    assert!(!complete.contains("INCOMPLETE DATA"), "{complete}");
    assert!(complete.contains("TOP DEBTORS"), "{complete}");
    assert!(
        w.dir().join("reports").is_dir() || w.dir().join("state/reports").is_dir(),
        "the digest file is written beside the state"
    );
}
