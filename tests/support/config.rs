//! The one builder of test configuration files (test support, not shipped).
//!
//! A [`ConfigBuilder`] holds the TOML as ordered sections of `key = value` lines, so a test
//! changes one key (`set`), drops one (`remove`) or adds a section without copying the rest.
//! Typed shortcuts cover what the end-to-end tests vary (mode, secrets, mail, digest,
//! enforcement, the dunning ladder, metrics, reports, retries, the daemon schedule); `raw`
//! appends TOML for rare cases. Values given to `set` are TOML text; `quote` makes a TOML string.
//!
//! Invariant: `text()` lists the top-level keys first, then the sections in the order they were
//! first named, so a key set later still lands in its own table.

use std::path::Path;

/// The partner the pipeline tests write notices for.
pub const PARTNER_NAME: &str = "Contoso Cloud Services";
/// Where ops alerts and the digest go.
pub const OPS: &str = "ops@contoso-cloud.example";
/// The zone every end-to-end test runs in.
pub const TZ: &str = "Europe/Stockholm";
/// The SMTP account of the embedded server.
pub const SMTP_USER: &str = "cspguard";
/// Its password, unless a test picks another.
pub const SMTP_PASSWORD: &str = "smtp-test-password-9f2c";

/// Where a secret comes from: the config key gets no suffix, `_env` or `_file`.
#[derive(Debug, Clone)]
pub enum Secret {
    Inline(String),
    Env(String),
    File(std::path::PathBuf),
}

impl Secret {
    pub fn inline(value: &str) -> Secret {
        Secret::Inline(value.to_owned())
    }

    pub fn env(name: &str) -> Secret {
        Secret::Env(name.to_owned())
    }

    /// `(key, value)` for the config key `base`.
    fn entry(&self, base: &str) -> (String, String) {
        match self {
            Secret::Inline(v) => (base.to_owned(), quote(v)),
            Secret::Env(name) => (format!("{base}_env"), quote(name)),
            Secret::File(path) => (format!("{base}_file"), quote_path(path)),
        }
    }
}

/// Whether the final dunning stage (`suspension`) waits for a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SuspendApproval {
    Required,
    Automatic,
}

/// A TOML basic string.
pub fn quote(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// A path as a TOML string.
pub fn quote_path(p: &Path) -> String {
    quote(&p.display().to_string())
}

#[derive(Debug, Clone)]
struct Section {
    /// `partner_center.retry`, or `[dunning.stages]` style text for arrays of tables.
    header: String,
    array: bool,
    entries: Vec<(String, String)>,
}

/// See the module doc.
#[derive(Debug, Clone, Default)]
pub struct ConfigBuilder {
    top: Vec<(String, String)>,
    sections: Vec<Section>,
    tail: String,
}

impl ConfigBuilder {
    /// Time zone, Partner Center at `url` (authority and base URL) with `client_secret`, and an
    /// App+User refresh token when `refresh_token` is given; the simulator's ids.
    pub fn partner_center(
        url: &str,
        client_secret: &Secret,
        refresh_token: Option<&Secret>,
    ) -> ConfigBuilder {
        let mut c = ConfigBuilder::default();
        c.set("", "timezone", &quote(TZ));
        let (k, v) = client_secret.entry("client_secret");
        c.set("partner_center", "tenant_id", &quote("sim-partner-tenant"))
            .set("partner_center", "client_id", &quote("sim-client-id"))
            .set("partner_center", &k, &v)
            .set("partner_center", "authority", &quote(url))
            .set("partner_center", "base_url", &quote(url));
        if let Some(token) = refresh_token {
            c.app_user(token);
        }
        c
    }

    /// Sets `key` in `section` ("" for the top level) to the TOML text `value`, replacing it.
    pub fn set(&mut self, section: &str, key: &str, value: &str) -> &mut Self {
        let entries = if section.is_empty() {
            &mut self.top
        } else {
            &mut self.section_mut(section).entries
        };
        match entries.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = value.to_owned(),
            None => entries.push((key.to_owned(), value.to_owned())),
        }
        self
    }

    /// Removes `key` from `section` ("" for the top level).
    pub fn remove(&mut self, section: &str, key: &str) -> &mut Self {
        if section.is_empty() {
            self.top.retain(|(k, _)| k != key);
        } else if let Some(s) = self.sections.iter_mut().find(|s| s.header == section) {
            s.entries.retain(|(k, _)| k != key);
        }
        self
    }

    /// Removes a whole section (and the arrays of tables under that name).
    pub fn remove_section(&mut self, section: &str) -> &mut Self {
        self.sections.retain(|s| s.header != section);
        self
    }

    /// Appends one `[[name]]` table with `entries` (TOML text values).
    pub fn table_array(&mut self, name: &str, entries: &[(&str, String)]) -> &mut Self {
        self.sections.push(Section {
            header: name.to_owned(),
            array: true,
            entries: entries
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
        });
        self
    }

    /// Appends TOML text after everything else (sections of its own).
    pub fn raw(&mut self, toml: &str) -> &mut Self {
        self.tail.push_str(toml);
        if !toml.ends_with('\n') {
            self.tail.push('\n');
        }
        self
    }

    fn section_mut(&mut self, header: &str) -> &mut Section {
        let at = match self
            .sections
            .iter()
            .position(|s| s.header == header && !s.array)
        {
            Some(at) => at,
            None => {
                self.sections.push(Section {
                    header: header.to_owned(),
                    array: false,
                    entries: Vec::new(),
                });
                self.sections.len() - 1
            }
        };
        &mut self.sections[at]
    }

    /// The config file's text.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let line = |out: &mut String, (k, v): &(String, String)| {
            out.push_str(&format!("{k} = {v}\n"));
        };
        self.top.iter().for_each(|e| line(&mut out, e));
        for s in &self.sections {
            if s.array {
                out.push_str(&format!("[[{}]]\n", s.header));
            } else {
                out.push_str(&format!("[{}]\n", s.header));
            }
            s.entries.iter().for_each(|e| line(&mut out, e));
        }
        out.push_str(&self.tail);
        out
    }

    // ---- typed shortcuts -------------------------------------------------------------------

    pub fn mode(&mut self, mode: &str) -> &mut Self {
        self.set("", "mode", &quote(mode))
    }

    /// The partner the notices are signed by.
    pub fn partner(&mut self) -> &mut Self {
        self.set("partner", "name", &quote(PARTNER_NAME))
            .set(
                "partner",
                "contact_email",
                &quote("ar@contoso-cloud.example"),
            )
            .set(
                "partner",
                "payment_instructions",
                &quote("IBAN SE00 0000 0000 0000 0000 0000"),
            )
    }

    /// Sets the secret `base` of `section` from `secret`, replacing any other source of it.
    pub fn secret(&mut self, section: &str, base: &str, secret: &Secret) -> &mut Self {
        for suffix in ["", "_env", "_file"] {
            self.remove(section, &format!("{base}{suffix}"));
        }
        let (k, v) = secret.entry(base);
        self.set(section, &k, &v)
    }

    /// `[partner_center.app_user]` with this refresh token.
    pub fn app_user(&mut self, refresh_token: &Secret) -> &mut Self {
        self.secret("partner_center.app_user", "refresh_token", refresh_token)
    }

    /// Where the client secret comes from.
    pub fn client_secret(&mut self, secret: &Secret) -> &mut Self {
        self.secret("partner_center", "client_secret", secret)
    }

    /// Where the SMTP password comes from.
    pub fn smtp_password(&mut self, secret: &Secret) -> &mut Self {
        self.secret("mail", "smtp_password", secret)
    }

    /// `[partner_center.retry] max_attempts`.
    pub fn retry_attempts(&mut self, n: u32) -> &mut Self {
        self.set("partner_center.retry", "max_attempts", &n.to_string())
    }

    pub fn state(&mut self, path: &Path) -> &mut Self {
        self.set("state", "path", &quote_path(path))
    }

    pub fn receivables(&mut self, path: &Path) -> &mut Self {
        self.set("receivables", "path", &quote_path(path))
    }

    /// The digest goes out at the first run after local `hour`.
    pub fn digest_hour(&mut self, hour: u8) -> &mut Self {
        self.remove_section("digest")
            .set("digest", "hour", &hour.to_string())
    }

    pub fn digest_off(&mut self) -> &mut Self {
        self.remove_section("digest")
            .set("digest", "enabled", "false")
    }

    /// The mode, the partner and a digest due at every run: what a pipeline run needs besides
    /// Partner Center, state, receivables and mail.
    pub fn pipeline(&mut self, mode: &str) -> &mut Self {
        self.mode(mode).partner().digest_hour(0)
    }

    /// SMTP with STARTTLS and AUTH on localhost:`port`, trusting the test CA.
    pub fn smtp(&mut self, port: u16, password: &Secret) -> &mut Self {
        let (k, v) = password.entry("smtp_password");
        self.set("mail", "transport", &quote("smtp"))
            .set(
                "mail",
                "from",
                &quote("Contoso Billing <billing@contoso-cloud.example>"),
            )
            .set("mail", "ops_to", &format!("[{}]", quote(OPS)))
            .set("mail", "host", &quote("localhost"))
            .set("mail", "port", &port.to_string())
            .set("mail", "tls", &quote("starttls"))
            .set("mail", "username", &quote(SMTP_USER))
            .set("mail", &k, &v)
            .set("mail", "ca_file", &quote_path(&super::ca_pem()))
            .set("mail", "timeout_secs", "5")
    }

    /// Points the mail section at another port.
    pub fn smtp_port(&mut self, port: u16) -> &mut Self {
        self.set("mail", "port", &port.to_string())
    }

    /// Business hours 08:00-17:00 on every day of the week.
    pub fn business_hours_every_day(&mut self) -> &mut Self {
        self.set("enforcement", "business_hours", &quote("08:00-17:00"))
            .set(
                "enforcement",
                "business_days",
                r#"["mon", "tue", "wed", "thu", "fri", "sat", "sun"]"#,
            )
    }

    /// The default ladder spelled out: reminders at 1 and 7 days, the final notice at 14, the
    /// suspension at 21 days.
    pub fn dunning_ladder(&mut self, approval: SuspendApproval) -> &mut Self {
        self.section_mut("dunning");
        self.sections.retain(|s| s.header != "dunning.stages");
        let stage = |name: &str, days: u32, template: &str| {
            vec![
                ("name", quote(name)),
                ("days", days.to_string()),
                ("template", quote(template)),
            ]
        };
        self.table_array("dunning.stages", &stage("reminder-1", 1, "reminder-1"))
            .table_array("dunning.stages", &stage("reminder-2", 7, "reminder-2"));
        let mut last = stage("final-notice", 14, "final-notice");
        last.push(("kind", quote("final_notice")));
        self.table_array("dunning.stages", &last);
        let mut suspend = stage("suspension", 21, "suspension-notice");
        suspend.push(("kind", quote("suspend")));
        suspend.push((
            "requires_approval",
            (approval == SuspendApproval::Required).to_string(),
        ));
        self.table_array("dunning.stages", &suspend)
    }

    pub fn metrics_textfile(&mut self, path: &Path) -> &mut Self {
        self.set("metrics", "textfile", &quote_path(path))
    }

    pub fn reports_keep_days(&mut self, days: u32) -> &mut Self {
        self.set("reports", "keep_days", &days.to_string())
    }

    pub fn daemon_schedule(&mut self, cron: &str) -> &mut Self {
        self.set("daemon", "schedule", &quote(cron))
    }

    /// Writes the text to `path`, readable by the owner only (as the docs ask for secrets).
    pub fn write(&self, path: &Path) {
        std::fs::write(path, self.text())
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        set_mode(path, 0o600);
    }
}

/// Sets a file's Unix permission bits.
pub fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}
