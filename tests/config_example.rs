//! The shipped example config must always parse with the current binary's schema.

use std::path::Path;

use cspguard::config::{Config, Mode, TokenStyle};

#[test]
fn shipped_example_config_parses_with_safe_defaults() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/cspguard.example.toml");
    let loaded = Config::load(&path).expect("example config must parse");
    let c = loaded.config;
    assert_eq!(c.mode, Mode::DryRun, "a fresh install starts in dry-run");
    assert_eq!(c.partner_center.token_style, TokenStyle::V1);
    assert_eq!(*c.partner_center.rate_limit_per_minute.get_ref(), 450);
    assert!(
        c.partner_center.client_secret.is_none(),
        "no inline secret in the example"
    );
    assert!(c.partner_center.app_user.is_some());
    assert_eq!(c.time_zone().iana_name(), Some("Europe/Stockholm"));
    assert!(c.receivables.is_some() && c.mail.is_some());
    assert_eq!(c.dunning.stages.len(), 4);
    assert!(c.dunning.stages.last().is_some_and(|s| s.requires_approval));
    assert_eq!(c.partner.name, "Contoso Cloud Services");
    assert!(
        c.partner
            .payment_instructions_for("sv-SE")
            .starts_with("Bankgiro 555-0100 eller")
    );
    assert!(
        c.partner
            .payment_instructions_for("ja-JP")
            .starts_with("Bankgiro 555-0100 or")
    );
    let policy = c.policy();
    assert!(
        policy
            .customer("22222222-2222-2222-2222-222222222222")
            .is_some_and(|o| o.exempt)
    );
}
