//! `[fraud]`: the response to fraud signals ([`FraudResponse`]), whether to mark new v1 events
//! investigating, and where the signals come from ([`FraudSources`]: Graph security alerts,
//! Partner Center's v1 fraud events, or `auto`), resolved against the configured credentials
//! into a [`SourceUse`] per source.

use serde::Deserialize;

/// What cspguard does about an open fraud event, beyond the critical finding and its alert.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FraudResponse {
    /// Only the finding (and the ops alert it triggers).
    #[default]
    Alert,
    /// Plan suspension of the customer's active Azure plan subscription(s), with approval.
    Suspend,
    /// Plan cancellation of the compromised Azure subscription (irreversible), with approval.
    Cancel,
}

/// Where fraud signals come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FraudSource {
    /// Microsoft Graph partner security alerts (app-only; needs `[graph]`).
    Graph,
    /// Partner Center `GET /v1/fraudEvents` (needs App+User credentials).
    V1,
}

impl FraudSource {
    /// How the digest and the plan name the source.
    pub fn label(self) -> &'static str {
        match self {
            FraudSource::Graph => "Graph security alerts",
            FraudSource::V1 => "Partner Center fraud events (v1)",
        }
    }
}

/// `[fraud] sources`: `"auto"` (default: Graph alerts when `[graph]` is configured, v1 fraud
/// events when App+User is configured, both when both are) or a list such as `["graph"]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum FraudSources {
    #[default]
    Auto,
    Only(Vec<FraudSource>),
}

impl<'de> Deserialize<'de> for FraudSources {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Word(String),
            List(Vec<FraudSource>),
        }
        match Raw::deserialize(d).map_err(|_| {
            serde::de::Error::custom(
                "expected \"auto\" or a list of \"graph\" and \"v1\", e.g. [\"graph\", \"v1\"]",
            )
        })? {
            Raw::Word(w) if w.eq_ignore_ascii_case("auto") => Ok(FraudSources::Auto),
            Raw::Word(w) => Err(serde::de::Error::custom(format!(
                "unknown fraud source setting {w:?}: use \"auto\" or a list of \"graph\" and \"v1\""
            ))),
            Raw::List(mut l) => {
                l.sort();
                l.dedup();
                Ok(FraudSources::Only(l))
            }
        }
    }
}

/// Whether a fraud source is read this run, and why not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceUse {
    Read,
    /// Not read, with the reason the digest and the plan show.
    Skip(String),
}

impl SourceUse {
    pub fn is_read(&self) -> bool {
        matches!(self, SourceUse::Read)
    }
}

/// Which credentials exist (what `auto` decides from).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Available {
    pub graph: bool,
    pub app_user: bool,
}

impl FraudSources {
    /// Whether `source` is read, given what is configured.
    pub fn use_of(&self, source: FraudSource, available: Available) -> SourceUse {
        let configured = match source {
            FraudSource::Graph => available.graph,
            FraudSource::V1 => available.app_user,
        };
        let missing = match source {
            FraudSource::Graph => "[graph] is not configured",
            FraudSource::V1 => "App+User credentials not configured",
        };
        match self {
            FraudSources::Only(list) if !list.contains(&source) => {
                SourceUse::Skip("not selected in [fraud] sources".to_owned())
            }
            _ if !configured => SourceUse::Skip(missing.to_owned()),
            _ => SourceUse::Read,
        }
    }

    /// A configuration error when an explicitly listed source cannot be read.
    pub fn check(&self, available: Available) -> Result<(), String> {
        let FraudSources::Only(list) = self else {
            return Ok(());
        };
        if list.is_empty() {
            return Err(
                "sources = []: list at least one of \"graph\" and \"v1\", or use \"auto\""
                    .to_owned(),
            );
        }
        for s in list {
            if let SourceUse::Skip(why) = self.use_of(*s, available) {
                let fix = match s {
                    FraudSource::Graph => {
                        "add a [graph] section (app-only, permission PartnerSecurity.Read.All)"
                    }
                    FraudSource::V1 => {
                        "configure [partner_center.app_user] (the MFA consent flow in the README)"
                    }
                };
                return Err(format!(
                    "sources lists {:?} but {why}: {fix}, or remove it from sources",
                    match s {
                        FraudSource::Graph => "graph",
                        FraudSource::V1 => "v1",
                    }
                ));
            }
        }
        Ok(())
    }
}

/// `[fraud]`
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FraudConfig {
    /// `alert` (default), `suspend` or `cancel`.
    pub response: FraudResponse,
    /// Set new Active events to `Investigating` in Partner Center.
    pub mark_investigating: bool,
    /// Where fraud signals come from (default `"auto"`).
    pub sources: FraudSources,
    /// Graph alerts are read when open, or observed since the last run's watermark minus this
    /// many hours (default 24, 1..=720), so late-arriving observations are not missed.
    pub overlap_hours: u32,
}

impl Default for FraudConfig {
    fn default() -> Self {
        Self {
            response: FraudResponse::default(),
            mark_investigating: false,
            sources: FraudSources::default(),
            overlap_hours: 24,
        }
    }
}

impl FraudConfig {
    /// Check the settings (called at config load; the sources against the credentials are
    /// checked by [`FraudSources::check`]).
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=720).contains(&self.overlap_hours) {
            return Err(format!(
                "overlap_hours = {}: must be between 1 and 720",
                self.overlap_hours
            ));
        }
        Ok(())
    }
}
