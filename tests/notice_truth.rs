//! Customer notices say only what is true for that customer (issue 13), end to end through the
//! real binary, the simulator's scripted tenant and the embedded SMTP server (STARTTLS + AUTH):
//! "earlier reminders" only after some were sent, the exact subscriptions a suspension will touch
//! (never "all subscriptions" when only licences are suspended), and payment instructions in the
//! notice's locale (`ja-JP` uses the `ja` entry).

mod support;
mod truth;

use cspguard::sim::dataset::SimSubscription;
use cspguard::sim::scenario::ids;
use support::smtp::{Received, SmtpServer};
use truth::{at, noon, run, text_part, world};

const EXTRA: &str = "[partner.payment_instructions_by_locale]\n\
                     ja = \"JA-BANK: みずほ銀行 1234567\"\n\
                     ko = \"KO-BANK: 신한은행 110-123\"\n";

fn to(smtp: &SmtpServer, domain: &str) -> Vec<Received> {
    smtp.received()
        .into_iter()
        .filter(|m| m.rcpt_to.iter().any(|r| r.ends_with(domain)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notices_state_only_what_is_true_for_the_customer() {
    let now = noon();
    let w = world(now, "notify", EXTRA).await;
    let smtp = w.smtp();
    // Woodgrove (final notice first, ko-KR) also has an Azure plan, which dunning never suspends.
    w.sim().with_dataset(|d| {
        let c = d
            .customers
            .iter_mut()
            .find(|c| c.id == ids::FINAL_NOTICE)
            .expect("Woodgrove");
        c.subscriptions.push(SimSubscription::azure_plan(format!(
            "{}-azure",
            ids::FINAL_NOTICE
        )));
    });
    let (code, out) = run(&w, now).await;
    assert_eq!(code, Some(0), "{out}");

    // A final notice as the first email: no "earlier reminders"; it names the licence it will
    // suspend, not the Azure plan and not "all subscriptions"; Korean payment instructions.
    let woodgrove = to(smtp, "woodgrovekorea.example");
    assert_eq!(woodgrove.len(), 1, "{out}");
    let text = text_part(&woodgrove[0]);
    assert!(!text.contains("여러 차례 안내해 드렸음에도"), "{text}");
    assert!(
        text.contains("아래 청구서가 아직 납부되지 않았습니다."),
        "{text}"
    );
    assert!(
        text.contains("  - Microsoft 365 Business Premium\n"),
        "{text}"
    );
    assert!(!text.contains("Azure plan"), "{text}");
    assert!(
        !text.contains("모든 구독"),
        "never all subscriptions: {text}"
    );
    assert!(text.contains("KO-BANK: 신한은행 110-123"), "{text}");

    // ja-JP gets the `ja` payment instructions; Swedish falls back to the default ones.
    let tailspin = to(smtp, "tailspintoyskk.example");
    assert_eq!(tailspin.len(), 1);
    assert!(text_part(&tailspin[0]).contains("JA-BANK: みずほ銀行 1234567"));
    let fabrikam = to(smtp, "fabrikamab.example");
    let sv = text_part(&fabrikam[0]);
    assert!(!sv.contains("JA-BANK") && !sv.contains("KO-BANK"), "{sv}");

    // A week later Tailspin's final notice follows the reminder it really got: now it says so.
    let (code, out) = run(&w, at(now, 7 * 24)).await;
    assert_eq!(code, Some(0), "{out}");
    let tailspin = to(smtp, "tailspintoyskk.example");
    assert_eq!(tailspin.len(), 2, "{out}");
    let final_notice = text_part(&tailspin[1]);
    assert!(
        final_notice.contains("これまでにもご案内しておりますとおり"),
        "{final_notice}"
    );
    assert!(
        final_notice.contains("・Microsoft 365 Business Premium"),
        "{final_notice}"
    );
}
