//! `cspguard templates preview` shows what the partner's customer would really get (issue 13):
//! the config's `[partner]` details, a real `--customer` as the last run saw it (from the
//! ledger), and regional locale tags mapped to the shipped language (`ja-JP` -> `ja`). Unknown
//! customers and locales are refused with exit 2.

mod support;
mod truth;

use cspguard::sim::scenario::ids;
use truth::{cli, noon, run, world};

const EXTRA: &str = "[partner.payment_instructions_by_locale]\n\
                     ja = \"JA-BANK: みずほ銀行 1234567\"\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preview_uses_the_partner_a_real_customer_and_regional_locale_tags() {
    let now = noon();
    let w = world(now, "notify", EXTRA).await;
    let (code, out) = run(&w, now).await;
    assert_eq!(code, Some(0), "{out}");

    let args = [
        "templates",
        "preview",
        "final-notice",
        "--locale",
        "ja-JP",
        "--customer",
        ids::FINAL_NOTICE,
    ];
    let preview = cli(&w, now, &args).await;
    assert_eq!(preview.code, Some(0), "{}", preview.stderr);
    let text = &preview.stdout;
    assert!(
        text.contains("# locale ja-JP uses the ja templates"),
        "{text}"
    );
    assert!(
        text.contains("Woodgrove Korea"),
        "the real customer: {text}"
    );
    assert!(
        text.contains("Contoso Cloud Services"),
        "the partner: {text}"
    );
    assert!(
        text.contains("ar@contoso-cloud.example"),
        "the partner's contact: {text}"
    );
    assert!(
        text.contains("JA-BANK: みずほ銀行 1234567"),
        "ja instructions: {text}"
    );
    assert!(
        !text.contains("株式会社ノースウィンド"),
        "no sample customer: {text}"
    );

    let unknown = cli(
        &w,
        now,
        &[
            "templates",
            "preview",
            "reminder-1",
            "--customer",
            "not-a-customer",
        ],
    )
    .await;
    assert_eq!(unknown.code, Some(2), "{}", unknown.stdout);
    assert!(
        unknown.stderr.contains("not-a-customer"),
        "{}",
        unknown.stderr
    );

    let bad_locale = cli(
        &w,
        now,
        &["templates", "preview", "reminder-1", "--locale", "xx-YY"],
    )
    .await;
    assert_eq!(bad_locale.code, Some(2));
    assert!(
        bad_locale.stderr.contains("ja, ko"),
        "{}",
        bad_locale.stderr
    );
}
