//! Templates, locales and formatting of notices: snapshots of every email in every locale, the
//! locale choice, money and date formats, strictness, overrides and `cspguard templates`.

use std::path::Path;

use cspguard::exit::Exit;
use cspguard::notices::format::{
    NBSP, SHIPPED_LOCALES, choose_locale, format_date, format_money, format_month,
};
use cspguard::notices::preview::{self as cmd, Outcome, PreviewRequest, TemplatesRequest};
use cspguard::notices::templates::{
    AgingRow, CUSTOMER_TEMPLATES, CustomerInfo, NoticeContext, RenderedEmail, Renderer, SHIPPED,
    TemplateError, samples,
};
use cspguard::plan::{ActionKind, Severity};
use jiff::civil::date;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

fn shipped() -> Renderer {
    Renderer::new(None).expect("the shipped renderer")
}

fn show(e: &RenderedEmail) -> String {
    format!(
        "Subject: {}\n\n----- text -----\n{}\n----- html -----\n{}\n",
        e.subject, e.text, e.html
    )
}

fn write(dir: &Path, rel: &str, body: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, body).unwrap();
}

#[test]
fn every_customer_template_in_every_locale_snapshot() {
    let r = shipped();
    for locale in SHIPPED_LOCALES {
        for name in CUSTOMER_TEMPLATES {
            let email = r
                .render(name, locale, &samples::notice(name, locale))
                .unwrap_or_else(|e| panic!("{locale}/{name}: {e}"));
            assert!(!email.subject.contains(['\r', '\n']));
            assert!(email.html.contains(&format!("<html lang=\"{locale}\">")));
            insta::assert_snapshot!(format!("{locale}__{name}"), show(&email));
        }
    }
}

#[test]
fn ops_templates_snapshot() {
    let r = shipped();
    let alert = r.render_ops_alert(&samples::ops_alert()).unwrap();
    insta::assert_snapshot!("en__ops-alert", show(&alert));
    let group = r
        .render_ops_alert_group(&samples::ops_alert_group())
        .unwrap();
    insta::assert_snapshot!("en__ops-alert-group", show(&group));
    let digest = r.render_digest(&samples::digest()).unwrap();
    insta::assert_snapshot!("en__digest", show(&digest));
    let clear = r.render_digest(&samples::digest_all_clear()).unwrap();
    insta::assert_snapshot!("en__digest-all-clear", show(&clear));
}

#[test]
fn digest_all_clear_variant_and_bars() {
    let r = shipped();
    assert!(samples::digest_all_clear().all_clear());
    assert!(!samples::digest().all_clear());
    let clear = r.render_digest(&samples::digest_all_clear()).unwrap();
    assert!(clear.subject.contains("all clear"), "{}", clear.subject);
    assert!(clear.text.contains("ALL CLEAR"));
    assert!(!clear.text.contains("NEEDS A DECISION"));
    let busy = r.render_digest(&samples::digest()).unwrap();
    assert!(!busy.text.contains("ALL CLEAR"));
    assert!(busy.text.contains("cspguard approve 7f3c9e2a"));
    // The bars are tables with inline widths and background colours; no images, no <style>.
    assert!(
        busy.html.contains(r#"width="26%""#),
        "1-30 bar of the USD row"
    );
    assert!(busy.html.contains("background-color:#d69e2e"));
    assert!(!busy.html.contains("<style"));
    assert!(!busy.html.contains("<img"));
}

#[test]
fn aging_bar_widths_are_relative_to_the_largest_bucket() {
    let row = AgingRow::new("usd", [dec!(1000), dec!(500), dec!(1), dec!(0), dec!(-20)]);
    let widths: Vec<u32> = row.buckets.iter().map(|b| b.bar_percent).collect();
    assert_eq!(widths, vec![100, 50, 1, 0, 0]);
    assert_eq!(row.currency, "USD");
    assert_eq!(row.total, dec!(1481));
    assert!(row.has_overdue());
    let empty = AgingRow::new("EUR", [Decimal::ZERO; 5]);
    assert!(empty.buckets.iter().all(|b| b.bar_percent == 0));
    assert!(!empty.has_overdue());
}

#[test]
fn locale_choice_table() {
    let avail = SHIPPED_LOCALES;
    // (override, culture, language, chosen)
    type Case = (
        Option<&'static str>,
        Option<&'static str>,
        Option<&'static str>,
        &'static str,
    );
    let cases: &[Case] = &[
        (None, None, None, "en"),
        (Some("sv"), Some("ja-JP"), Some("ja"), "sv"),
        (None, Some("ja-JP"), Some("en"), "ja"),
        (None, Some("ko-KR"), None, "ko"),
        (None, Some("zh-CN"), None, "zh-Hans"),
        (None, Some("zh-SG"), None, "zh-Hans"),
        (None, Some("zh-Hans-CN"), None, "zh-Hans"),
        (None, Some("zh_cn"), None, "zh-Hans"),
        (None, Some("ZH-HANS"), None, "zh-Hans"),
        (None, None, Some("zh"), "zh-Hans"),
        // Traditional Chinese is not shipped: fall through to the next candidate, then default.
        (None, Some("zh-TW"), Some("sv"), "sv"),
        (None, Some("zh-Hant-HK"), None, "en"),
        (None, Some("sv-FI"), None, "sv"),
        (None, Some("en-us"), Some("sv"), "en"),
        (None, Some("de-DE"), Some("sv"), "sv"),
        (None, Some("de-DE"), Some("de"), "en"),
        (Some("fr"), Some("ja-JP"), None, "ja"),
        (Some(""), Some("  "), Some("ko"), "ko"),
    ];
    for (o, c, l, want) in cases {
        assert_eq!(
            choose_locale(*o, *c, *l, avail, "en"),
            *want,
            "override {o:?}, culture {c:?}, language {l:?}"
        );
    }
    // The default is whatever the caller says, and partner-added locales are chosen too.
    assert_eq!(choose_locale(Some("xx"), None, None, avail, "sv"), "sv");
    assert_eq!(
        choose_locale(None, Some("de-AT"), None, &["en", "de"], "en"),
        "de"
    );
}

#[test]
fn money_format_table() {
    let nb = |s: &str| s.replace(' ', &NBSP.to_string());
    let cases: Vec<(Decimal, &str, &str, String)> = vec![
        (dec!(1234.5), "USD", "en", "$1,234.50".into()),
        (dec!(1234.5), "EUR", "en", "€1,234.50".into()),
        (dec!(1234.5), "GBP", "en", "£1,234.50".into()),
        (dec!(12400), "SEK", "en", "SEK 12,400.00".into()),
        (dec!(8800), "CNY", "en", "CNY 8,800.00".into()),
        (dec!(1234.5), "JPY", "en", "¥1,235".into()),
        (dec!(2450000), "KRW", "en", "KRW 2,450,000".into()),
        (dec!(-42.1), "usd", "en-GB", "-$42.10".into()),
        (dec!(0.005), "USD", "en", "$0.01".into()),
        (dec!(1234567.891), "USD", "en", "$1,234,567.89".into()),
        (dec!(1234.5), "SEK", "sv", nb("1 234,50 kr")),
        (dec!(1234.5), "EUR", "sv-SE", nb("1 234,50 €")),
        (dec!(99), "USD", "sv", nb("99,00 US$")),
        (dec!(1500), "NOK", "sv", nb("1 500,00 NOK")),
        (
            dec!(-1234.5),
            "SEK",
            "sv",
            format!("\u{2212}{}", nb("1 234,50 kr")),
        ),
        (dec!(1234.5), "JPY", "ja", "¥1,235".into()),
        (dec!(1234.49), "JPY", "ja", "¥1,234".into()),
        (dec!(1234.5), "USD", "ja-JP", "US$1,234.50".into()),
        (dec!(8800), "CNY", "ja", "CNY 8,800.00".into()),
        (dec!(2450000), "KRW", "ko", "₩2,450,000".into()),
        (dec!(2450000.5), "KRW", "ko-KR", "₩2,450,001".into()),
        (dec!(1234.5), "USD", "ko", "US$1,234.50".into()),
        (dec!(1234.5), "JPY", "ko", "JP¥1,235".into()),
        (dec!(8800), "CNY", "zh-Hans", "¥8,800.00".into()),
        (dec!(1234.5), "USD", "zh-CN", "US$1,234.50".into()),
        (dec!(1234.5), "JPY", "zh-Hans", "JP¥1,235".into()),
        (dec!(12.345), "KWD", "en", "KWD 12.345".into()),
    ];
    for (amount, cur, loc, want) in cases {
        assert_eq!(format_money(amount, cur, loc), want, "{amount} {cur} {loc}");
    }
}

#[test]
fn date_format_table() {
    let d = date(2026, 11, 21);
    let cases = [
        ("en", "November 21, 2026"),
        ("en-US", "November 21, 2026"),
        ("sv", "21 november 2026"),
        ("ja", "2026年11月21日"),
        ("ko", "2026년 11월 21일"),
        ("zh-Hans", "2026年11月21日"),
        ("zh-CN", "2026年11月21日"),
        ("de", "November 21, 2026"),
    ];
    for (loc, want) in cases {
        assert_eq!(format_date(d, loc), want, "{loc}");
    }
    assert_eq!(format_date(date(2027, 1, 5), "sv"), "5 januari 2027");
    assert_eq!(format_month(d, "en"), "November 2026");
    assert_eq!(format_month(d, "sv"), "november 2026");
    assert_eq!(format_month(d, "ja"), "2026年11月");
    assert_eq!(format_month(d, "ko"), "2026년 11월");
}

#[test]
fn html_in_company_names_is_escaped_and_subjects_stay_single_line() {
    let r = shipped();
    for company in ["<script>alert('x')</script>", "Fabrikam & Co"] {
        let mut customer = samples::customer("en");
        customer.company_name = format!("{company}\r\nBcc: victim@example.com");
        customer.contact_name = None;
        let ctx = NoticeContext::from_action(
            &samples::action("final-notice", "en"),
            "en",
            samples::partner("en"),
            customer,
            samples::subscriptions("en"),
        )
        .unwrap();
        let email = r.render("final-notice", "en", &ctx).unwrap();
        assert!(!email.subject.contains(['\r', '\n']), "{:?}", email.subject);
        assert!(
            email
                .subject
                .contains(&format!("{company} Bcc: victim@example.com"))
        );
        assert!(
            !email.html.contains(company),
            "raw {company:?} in the HTML body"
        );
        assert!(email.text.contains(company), "plain text is not escaped");
    }
    let mut customer = samples::customer("en");
    customer.company_name = "<script>alert('x')</script>".into();
    customer.contact_name = None;
    let ctx = NoticeContext::from_action(
        &samples::action("reminder-1", "en"),
        "en",
        samples::partner("en"),
        customer,
        Vec::new(),
    )
    .unwrap();
    let email = r.render("reminder-1", "en", &ctx).unwrap();
    assert!(
        email
            .html
            .contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;")
    );
    let mut customer = samples::customer("en");
    customer.company_name = "Fabrikam & Co".into();
    let ctx = NoticeContext::from_action(
        &samples::action("reactivation", "en"),
        "en",
        samples::partner("en"),
        customer,
        samples::subscriptions("en"),
    )
    .unwrap();
    let email = r.render("reactivation", "en", &ctx).unwrap();
    assert!(email.html.contains("Fabrikam &amp; Co"));
    assert!(!email.html.contains("Fabrikam & Co"));
    assert!(
        email.subject.contains("Fabrikam & Co"),
        "subjects are not HTML"
    );
}

#[test]
fn strict_undefined_is_an_error_naming_the_template_and_line() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "en/reminder-1.txt",
        "Dear {{ customer.company_name }},\n\nYou owe {{ customer.amount_due }}.\n",
    );
    let r = Renderer::new(Some(dir.path().to_path_buf())).unwrap();
    let err = r
        .render("reminder-1", "en", &samples::notice("reminder-1", "en"))
        .unwrap_err();
    let TemplateError::Template { file, line, .. } = &err else {
        panic!("unexpected error {err:?}");
    };
    assert!(file.ends_with("en/reminder-1.txt"), "{file}");
    assert!(
        file.starts_with(&dir.path().display().to_string()),
        "{file}"
    );
    assert_eq!(*line, Some(3));
    let msg = err.to_string();
    assert!(msg.contains("undefined"), "{msg}");
    assert!(msg.contains("line 3"), "{msg}");
    assert!(msg.contains("customer.amount_due"), "{msg}");
}

#[test]
fn undefined_in_a_shipped_template_names_the_shipped_file() {
    // A context without the fields a template uses: the error names the shipped file.
    #[derive(serde::Serialize)]
    struct Thin {
        locale: &'static str,
    }
    let err = shipped()
        .render_serialize("reminder-1", "ja", &Thin { locale: "ja" })
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("templates/ja/reminder-1.subject.txt (shipped)"),
        "{msg}"
    );
    assert!(msg.contains("line 1"), "{msg}");
}

#[test]
fn an_override_dir_replaces_one_template_and_keeps_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "sv/reminder-1.subject.txt",
        "Obetald faktura {{ invoices[0].number }} från {{ partner.name }}\n",
    );
    let r = Renderer::new(Some(dir.path().to_path_buf())).unwrap();
    let ctx = samples::notice("reminder-1", "sv");
    let email = r.render("reminder-1", "sv", &ctx).unwrap();
    assert_eq!(
        email.subject,
        "Obetald faktura INV-2026-10217 från Contoso Cloud Services"
    );
    let plain = shipped().render("reminder-1", "sv", &ctx).unwrap();
    assert_eq!(email.text, plain.text, "the shipped body is still used");
    assert_eq!(email.html, plain.html);
    assert_ne!(email.subject, plain.subject);
    // Other locales are untouched.
    let en = r
        .render("reminder-1", "en", &samples::notice("reminder-1", "en"))
        .unwrap();
    assert!(en.subject.starts_with("Payment reminder"));
}

#[test]
fn a_partner_can_add_a_locale() {
    let dir = tempfile::tempdir().unwrap();
    for name in CUSTOMER_TEMPLATES {
        write(
            dir.path(),
            &format!("de/{name}.subject.txt"),
            "Zahlungserinnerung {{ partner.name }}",
        );
        write(
            dir.path(),
            &format!("de/{name}.txt"),
            "Guten Tag,\n\n{{ totals|join(\", \") }}\n",
        );
        write(
            dir.path(),
            &format!("de/{name}.html"),
            "<p>Guten Tag {{ customer.company_name }}</p>",
        );
    }
    write(dir.path(), "fr/reminder-1.txt", "Bonjour");
    let r = Renderer::new(Some(dir.path().to_path_buf())).unwrap();
    let available = r.available_locales();
    assert!(available.contains(&"de".to_string()));
    assert!(!available.contains(&"fr".to_string()), "fr is incomplete");
    let refs: Vec<&str> = available.iter().map(String::as_str).collect();
    assert_eq!(choose_locale(None, Some("de-CH"), None, &refs, "en"), "de");
    let email = r
        .render("reminder-2", "de", &samples::notice("reminder-2", "de"))
        .unwrap();
    assert_eq!(email.text, "Guten Tag,\n\n$1,655.55\n");
}

#[test]
fn a_malformed_override_is_a_clear_error_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "ja/final-notice.html",
        "{% extends \"_layout.html\" %}\n{% block body %}\n<p>{% if suspension_date %}停止日 {{ suspension_date }}</p>\n{% endblock %}\n",
    );
    let r = Renderer::new(Some(dir.path().to_path_buf())).unwrap();
    let err = r
        .render("final-notice", "ja", &samples::notice("final-notice", "ja"))
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("ja/final-notice.html"), "{msg}");
    assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
    assert!(msg.contains("syntax error"), "{msg}");
    assert!(
        matches!(err, TemplateError::Template { line: Some(4), .. }),
        "{err:?}"
    );

    // `templates check` reports it and fails with exit code 2.
    let mut out = Vec::new();
    let outcome = cmd::run(TemplatesRequest::Check, Some(dir.path()), &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(matches!(outcome, Outcome::Failed { .. }), "{text}");
    assert_eq!(outcome.exit(), Exit::Config);
    assert_eq!(outcome.exit().code(), 2);
    assert!(text.contains("ja/final-notice.html, line 4"), "{text}");
}

#[test]
fn templates_check_passes_on_the_shipped_set() {
    let mut out = Vec::new();
    let outcome = cmd::run(TemplatesRequest::Check, None, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    // ops-alert, ops-alert-group and the digest's two variants.
    let expected = SHIPPED_LOCALES.len() * CUSTOMER_TEMPLATES.len() + 4;
    assert_eq!(outcome, Outcome::Ok { rendered: expected }, "{text}");
    assert_eq!(outcome.exit(), Exit::Ok);
    assert!(text.contains("ok     zh-Hans/final-notice"), "{text}");
    assert!(text.contains("ok     en/digest (all clear)"), "{text}");
}

#[test]
fn templates_preview_prints_subject_and_text_and_writes_html() {
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("preview.html");
    let mut out = Vec::new();
    let outcome = cmd::run(
        TemplatesRequest::Preview(PreviewRequest {
            name: "final-notice".into(),
            locale: "ko".into(),
            customer: Some("8f2c6a1e".into()),
            html: Some(html.clone()),
            all_clear: false,
        }),
        None,
        &mut out,
    )
    .unwrap();
    assert_eq!(outcome.exit(), Exit::Ok);
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("Subject: [최종 통지]"), "{text}");
    assert!(text.contains("sample data"), "{text}");
    assert!(text.contains("₩2,830,000"), "{text}");
    let written = std::fs::read_to_string(&html).unwrap();
    assert!(written.starts_with("<!DOCTYPE html>"));
    assert!(written.contains("<html lang=\"ko\">"));
}

#[test]
fn a_notice_without_the_data_its_template_needs_is_refused() {
    let r = shipped();
    let mut ctx = samples::notice("final-notice", "en");
    ctx.suspension_date = None;
    let err = r.render("final-notice", "en", &ctx).unwrap_err();
    assert!(matches!(err, TemplateError::MissingData { .. }), "{err:?}");
    assert!(err.to_string().contains("suspension date"), "{err}");
    let mut ctx = samples::notice("reminder-2", "en");
    ctx.invoices.clear();
    assert!(r.render("reminder-2", "en", &ctx).is_err());
    let ctx = samples::notice("reactivation", "en");
    assert!(r.render("budget-threshold", "en", &ctx).is_err());
}

#[test]
fn invalid_names_and_missing_templates_are_errors_not_panics() {
    let r = shipped();
    let ctx = samples::notice("reminder-1", "en");
    let err = r.render("../../etc/passwd", "en", &ctx).unwrap_err();
    assert!(matches!(err, TemplateError::InvalidName(_)), "{err:?}");
    let err = r.render("reminder-1", "../en", &ctx).unwrap_err();
    assert!(matches!(err, TemplateError::InvalidName(_)), "{err:?}");
    let err = r.render("reminder-1", "ja", &ctx).unwrap_err();
    assert!(
        matches!(err, TemplateError::LocaleMismatch { .. }),
        "{err:?}"
    );
    let ctx = samples::notice("reminder-1", "de");
    let err = r.render("reminder-1", "de", &ctx).unwrap_err();
    assert!(matches!(err, TemplateError::NotFound { .. }), "{err:?}");
    assert!(
        err.to_string().contains("de/reminder-1.subject.txt"),
        "{err}"
    );
    let err = Renderer::new(Some("/nonexistent/cspguard-templates".into())).unwrap_err();
    assert!(err.to_string().contains("templates.dir"), "{err}");
}

#[test]
fn an_empty_override_subject_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "en/reminder-1.subject.txt",
        "{% if false %}x{% endif %}\n",
    );
    let r = Renderer::new(Some(dir.path().to_path_buf())).unwrap();
    let err = r
        .render("reminder-1", "en", &samples::notice("reminder-1", "en"))
        .unwrap_err();
    assert!(
        matches!(
            err,
            TemplateError::Empty {
                part: "subject",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn the_money_filter_refuses_floats_and_the_date_filter_needs_iso_dates() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "en/reminder-1.subject.txt",
        "{{ 12.5|money(\"USD\") }}",
    );
    let r = Renderer::new(Some(dir.path().to_path_buf())).unwrap();
    let ctx = samples::notice("reminder-1", "en");
    let err = r.render("reminder-1", "en", &ctx).unwrap_err();
    assert!(err.to_string().contains("money"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "ja/reminder-1.subject.txt",
        "{{ \"1234.5\"|money(\"JPY\") }} {{ 7|money(\"USD\") }} {{ \"2026-11-21\"|date }}",
    );
    let r = Renderer::new(Some(dir.path().to_path_buf())).unwrap();
    let email = r
        .render("reminder-1", "ja", &samples::notice("reminder-1", "ja"))
        .unwrap();
    assert_eq!(email.subject, "¥1,235 US$7.00 2026年11月21日");

    write(
        dir.path(),
        "ja/reminder-1.subject.txt",
        "{{ \"21/11/2026\"|date }}",
    );
    let r = Renderer::new(Some(dir.path().to_path_buf())).unwrap();
    let err = r
        .render("reminder-1", "ja", &samples::notice("reminder-1", "ja"))
        .unwrap_err();
    assert!(err.to_string().contains("ISO date"), "{err}");
}

#[test]
fn notice_context_from_an_action() {
    let action = samples::action("reminder-2", "sv");
    let ctx = NoticeContext::from_action(
        &action,
        "sv",
        samples::partner("sv"),
        CustomerInfo {
            id: "t1".into(),
            company_name: "  Fabrikam\tAB \n".into(),
            contact_name: Some(" ".into()),
        },
        Vec::new(),
    )
    .unwrap();
    assert_eq!(ctx.customer.company_name, "Fabrikam AB");
    assert_eq!(ctx.customer.contact_name, None);
    assert_eq!(ctx.invoices.len(), 2);
    assert_eq!(ctx.invoices[0].due_date, "15 oktober 2026");
    assert_eq!(ctx.totals, vec![format!("13{NBSP}634,50{NBSP}kr")]);
    assert_eq!(ctx.max_days_past_due, 37);

    let alert = ActionKind::OpsAlert {
        fingerprint: "f".into(),
        severity: Severity::Info,
        summary: "s".into(),
    };
    let err = NoticeContext::from_action(
        &alert,
        "en",
        samples::partner("en"),
        samples::customer("en"),
        Vec::new(),
    )
    .unwrap_err();
    assert!(matches!(err, TemplateError::NotANotice("ops_alert")));
}

#[test]
fn the_shipped_list_matches_the_templates_directory() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    let mut on_disk = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p
                    .strip_prefix(&root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                on_disk.push(rel);
            }
        }
    }
    on_disk.sort();
    let mut listed: Vec<String> = SHIPPED.iter().map(|(p, _)| p.to_string()).collect();
    listed.sort();
    assert_eq!(listed, on_disk);
}
