//! The daemon config (`tocsin.yaml`). Every key is optional: the defaults run
//! out of the box (SQLite under ./data, rules/, 127.0.0.1:9750, Prometheus at
//! 127.0.0.1:9090). Relative paths are relative to the config file's folder.

mod database;
pub mod events;
mod inhibit;
mod people;
mod phones;
mod routing;
mod secret;
pub(crate) mod target_keys;
mod targets;
pub mod timezone;
pub mod windows;

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

pub use people::{
    Contact, ContactGroup, Directory, Language, MailerConfig, RawMailer, SmtpTls,
    resolve_addresses, resolve_relative, secret_or_file,
};
pub use phones::{RAW_PHONE, e164, is_phone_like, is_raw_phone};
#[cfg(test)]
pub(crate) use routing::test_fixture as routing_fixture;
pub use routing::{NotifySetting, OWNER, RoutingConfig, ScopeConfig, TargetGroup, TimingKeys};
pub use secret::{Secret, expand_env};
// The typed settings of each target type live with their channel.
pub use crate::notify::channels::alertmanager::AlertmanagerConfig;
pub use crate::notify::channels::dingtalk::DingTalkConfig;
pub use crate::notify::channels::email::{EmailConfig, EmailFormat};
pub use crate::notify::channels::feishu::{FeishuConfig, FeishuFormat};
pub use crate::notify::channels::pagerduty::PagerDutyConfig;
pub use crate::notify::channels::slack::SlackConfig;
pub use crate::notify::channels::sms::{
    ParamField, PhoneConfig, PhoneCredentials, PhoneMode, PhoneProvider,
};
pub use crate::notify::channels::webhook::{WebhookConfig, WebhookPayload};
pub use crate::notify::channels::wecom::WeComConfig;
pub use crate::notify::channels::wecom_app::WeComAppConfig;
pub use target_keys::ChatFormat;
pub use targets::{TargetConfig, TargetKind, TargetTemplates};
pub use windows::TimeWindow;

use crate::yaml::{self, HumanDuration, SourceError, SourceErrors, Spanned};

pub const DEFAULT_CONFIG_FILE: &str = "tocsin.yaml";

/// This machine's host name, if it has one.
pub(crate) fn host_name() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub listen: Spanned<String>,
    /// Where people and clients reach tocsin (links, the Healthchecks API's
    /// `ping_url`); default: `http://` and the listen address.
    pub external_url: Option<Spanned<String>>,
    /// Write endpoints need `Authorization: Bearer <api_token>` when set.
    pub api_token: Option<Secret>,
    /// Reads (pages, API lists, /metrics) need the token too.
    pub api_token_reads: bool,
    /// Size and count limits on every input.
    pub limits: LimitsConfig,
    /// Connections: timeouts, a cap, the Host names accepted.
    pub http: HttpConfig,
    pub data_dir: PathBuf,
    /// `postgres://…` (or the URL in `database_file`): keep the state in
    /// PostgreSQL, which several replicas may share; default: SQLite under
    /// `data_dir` (`database.rs`).
    #[serde(rename = "database")]
    raw_database: Option<Spanned<Secret>>,
    #[serde(rename = "database_file")]
    raw_database_file: Option<Spanned<PathBuf>>,
    /// `database` checked.
    #[serde(skip)]
    pub postgres: Option<crate::store::PgTarget>,
    /// With PostgreSQL: how long the leader's lease lasts unless renewed
    /// (a standby takes over at most this long after the leader died).
    pub leader_lease: Spanned<HumanDuration>,
    /// With PostgreSQL: where the other replicas reach this one when it
    /// leads (they forward what they cannot answer themselves); default:
    /// `http://` and the listen address (the host's name when it listens
    /// on every interface).
    pub advertise_url: Option<Spanned<String>>,
    /// How often `PRAGMA quick_check` looks for damage in the database (the
    /// file's identity and the disk's free space are looked at every second).
    pub database_check_interval: Spanned<HumanDuration>,
    pub rules: Vec<PathBuf>,
    /// Interval of groups that set neither `interval` nor `cron`.
    pub evaluation_interval: HumanDuration,
    pub prometheus: PrometheusConfig,
    pub evaluation: EvaluationConfig,
    pub delivery: DeliveryConfig,
    /// Default wording of messages (`en` | `zh`); targets may override it.
    pub language: Language,
    /// The IANA zone of times in messages and on the status page, as written.
    #[serde(rename = "timezone")]
    raw_timezone: Option<Spanned<String>>,
    /// `timezone` checked; default: the host's zone.
    #[serde(skip)]
    pub timezone: chrono_tz::Tz,
    /// Targets as written; checked and typed into [`Config::targets`].
    #[serde(rename = "targets")]
    raw_targets: Vec<targets::RawTarget>,
    /// The checked targets.
    #[serde(skip)]
    pub targets: Vec<TargetConfig>,
    /// The SMTP server of email targets, as written.
    #[serde(rename = "mailer")]
    raw_mailer: Option<people::RawMailer>,
    #[serde(skip)]
    pub mailer: Option<MailerConfig>,
    /// The main account: addresses or contact/group names.
    pub owner: Vec<Spanned<String>>,
    /// `owner` resolved to email addresses.
    #[serde(skip)]
    pub owner_addresses: Vec<String>,
    pub contacts: Vec<Contact>,
    pub contact_groups: Vec<ContactGroup>,
    /// The targets that reach contacts on routes by phone.
    pub phones: PhonesConfig,
    /// Send nothing to contact addresses that are not verified.
    pub require_verified_contacts: bool,
    pub target_groups: Vec<TargetGroup>,
    pub routing: RoutingConfig,
    pub heartbeat: HeartbeatConfig,
    /// Job states posted to `POST /api/v1/events` (`events.rs`).
    pub events: events::EventsConfig,
    /// Inhibition rules as written.
    #[serde(rename = "inhibit")]
    raw_inhibit: Vec<inhibit::RawInhibit>,
    /// `inhibit` checked.
    #[serde(skip)]
    pub inhibit: Vec<crate::notify::inhibit::InhibitRule>,
    /// `routing` checked, with names resolved to delivery targets.
    #[serde(skip)]
    pub routes: crate::notify::route_table::RouteTable,
    /// Targets that routes create to reach contacts and `owner`: email
    /// (named after the contact), SMS (`sms:NAME`) and calls (`call:NAME`).
    #[serde(skip)]
    pub mail_targets: Vec<TargetConfig>,
    /// Where the file was read from (None: built-in defaults).
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: yaml::unspanned("127.0.0.1:9750".to_string()),
            external_url: None,
            api_token: None,
            api_token_reads: false,
            limits: LimitsConfig::default(),
            http: HttpConfig::default(),
            data_dir: PathBuf::from("data"),
            raw_database: None,
            raw_database_file: None,
            postgres: None,
            leader_lease: yaml::unspanned(HumanDuration(Duration::from_secs(15))),
            advertise_url: None,
            database_check_interval: yaml::unspanned(HumanDuration(Duration::from_secs(60))),
            rules: vec![PathBuf::from("rules")],
            evaluation_interval: HumanDuration(Duration::from_secs(60)),
            prometheus: PrometheusConfig::default(),
            evaluation: EvaluationConfig::default(),
            delivery: DeliveryConfig::default(),
            language: Language::En,
            raw_timezone: None,
            timezone: timezone::host(),
            raw_targets: Vec::new(),
            targets: Vec::new(),
            raw_mailer: None,
            mailer: None,
            owner: Vec::new(),
            owner_addresses: Vec::new(),
            contacts: Vec::new(),
            contact_groups: Vec::new(),
            phones: PhonesConfig::default(),
            require_verified_contacts: false,
            target_groups: Vec::new(),
            routing: RoutingConfig::default(),
            heartbeat: HeartbeatConfig::default(),
            events: events::EventsConfig::default(),
            raw_inhibit: Vec::new(),
            inhibit: Vec::new(),
            routes: Default::default(),
            mail_targets: Vec::new(),
            source: None,
        }
    }
}

/// `phones:`: how routes reach contacts by phone. A contact on a route gets
/// SMS through `sms` (and, written `call:NAME`, calls through `call`): a
/// copy of that target sending to the contact's `phone` only.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PhonesConfig {
    /// A `type: sms` target.
    pub sms: Option<Spanned<String>>,
    /// A `type: call` target.
    pub call: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrometheusConfig {
    pub url: Spanned<String>,
    pub timeout: HumanDuration,
    /// Extra request headers (e.g. `Authorization: Bearer ${PROM_TOKEN}`).
    pub headers: BTreeMap<String, Secret>,
    /// Where people open the datasource's pages (its `--web.external-url`),
    /// when that is not `url`: the base of alerts' `generatorURL` and of
    /// `$externalURL` in Prometheus-format templates.
    pub external_url: Option<Spanned<String>>,
    /// Where recording rules' results go (Prometheus remote write 1.0, e.g.
    /// `http://127.0.0.1:9090/api/v1/write`); without it recording rules are
    /// skipped with a warning. Sent with the same `headers` and URL user info.
    pub remote_write_url: Option<Spanned<String>>,
    /// Timeout of one remote-write request, and the longest a group's
    /// evaluation waits for its recording rules' writes before its alerting
    /// rules run (the write goes on meanwhile).
    pub remote_write_timeout: Spanned<HumanDuration>,
}

impl Default for PrometheusConfig {
    fn default() -> Self {
        PrometheusConfig {
            url: yaml::unspanned("http://127.0.0.1:9090".to_string()),
            timeout: HumanDuration(Duration::from_secs(10)),
            headers: BTreeMap::new(),
            external_url: None,
            remote_write_url: None,
            remote_write_timeout: yaml::unspanned(HumanDuration(Duration::from_secs(5))),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvaluationConfig {
    /// Queries in flight at once, across all groups.
    pub max_concurrent_queries: usize,
    /// Serve rules of a group whose queries differ only in one label's
    /// value from one query (`l=~"v1|v2|..."`): plain selectors, and
    /// expressions that keep series of different values apart
    /// (`sum by (l) (rate(x{l="v"}[5m]))`).
    pub batch_selectors: bool,
    /// Consecutive failed evaluations before `DatasourceUnavailable` fires.
    pub datasource_unavailable_after: u32,
    /// How long resolved alerts stay listed in the API.
    pub resolved_retention: HumanDuration,
    /// How long transition history (`alert_events`) and finished
    /// notifications (sent or failed) are kept.
    pub history_retention: HumanDuration,
}

impl Default for EvaluationConfig {
    fn default() -> Self {
        EvaluationConfig {
            max_concurrent_queries: 16,
            batch_selectors: true,
            datasource_unavailable_after: 3,
            resolved_retention: HumanDuration(Duration::from_secs(3600)),
            history_retention: HumanDuration(Duration::from_secs(30 * 86400)),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// First retry delay; doubles per attempt up to `retry_max`.
    pub retry_initial: HumanDuration,
    pub retry_max: HumanDuration,
    /// A notification still failing after this long is given up (recorded, not deleted).
    pub give_up_after: HumanDuration,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            retry_initial: HumanDuration(Duration::from_secs(1)),
            retry_max: HumanDuration(Duration::from_secs(300)),
            give_up_after: HumanDuration(Duration::from_secs(24 * 3600)),
        }
    }
}

/// Limits on what clients may send (`limits:`); past one the request is
/// answered 413 (too large), 400 (too many in one request) or 429 (a total
/// is reached), with the key to raise in the reason.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Body of a JSON API write (silences, and every other endpoint's default).
    pub api_body_bytes: Spanned<usize>,
    /// Body of `POST /api/v2/alerts`.
    pub alerts_body_bytes: Spanned<usize>,
    /// Alerts in one `POST /api/v2/alerts`.
    pub alerts_per_post: Spanned<usize>,
    /// Labels of one alert (and, separately, annotations).
    pub labels_per_alert: Spanned<usize>,
    /// Bytes of one label (name and value).
    pub label_bytes: Spanned<usize>,
    /// Bytes of one annotation value.
    pub annotation_bytes: Spanned<usize>,
    /// Bytes of all labels and annotations of one alert.
    pub alert_bytes: Spanned<usize>,
    /// Active alerts posted to `/api/v2/alerts`, in all.
    pub external_alerts: Spanned<usize>,
    /// Active and pending silences, in all.
    pub silences: Spanned<usize>,
    /// Longest silence.
    pub silence_duration: Spanned<HumanDuration>,
    /// Matchers of one silence.
    pub matchers_per_silence: Spanned<usize>,
    /// Items of one API list answer (`?limit=` asks for fewer, `?offset=` pages on).
    pub list_items: Spanned<usize>,
    /// Rows of one table of the status page.
    pub page_rows: Spanned<usize>,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            api_body_bytes: yaml::unspanned(64 << 10),
            alerts_body_bytes: yaml::unspanned(4 << 20),
            alerts_per_post: yaml::unspanned(1_000),
            labels_per_alert: yaml::unspanned(64),
            label_bytes: yaml::unspanned(2_048),
            annotation_bytes: yaml::unspanned(16 << 10),
            alert_bytes: yaml::unspanned(32 << 10),
            external_alerts: yaml::unspanned(20_000),
            silences: yaml::unspanned(10_000),
            silence_duration: yaml::unspanned(HumanDuration(Duration::from_secs(3650 * 86_400))),
            matchers_per_silence: yaml::unspanned(64),
            list_items: yaml::unspanned(10_000),
            page_rows: yaml::unspanned(500),
        }
    }
}

impl LimitsConfig {
    fn validate(&self, file: &Path, errors: &mut Vec<SourceError>) {
        let counts = [
            (&self.api_body_bytes, "api_body_bytes"),
            (&self.alerts_body_bytes, "alerts_body_bytes"),
            (&self.alerts_per_post, "alerts_per_post"),
            (&self.labels_per_alert, "labels_per_alert"),
            (&self.label_bytes, "label_bytes"),
            (&self.annotation_bytes, "annotation_bytes"),
            (&self.alert_bytes, "alert_bytes"),
            (&self.external_alerts, "external_alerts"),
            (&self.silences, "silences"),
            (&self.matchers_per_silence, "matchers_per_silence"),
            (&self.list_items, "list_items"),
            (&self.page_rows, "page_rows"),
        ];
        for (v, name) in counts {
            if v.value == 0 || v.value > 1 << 30 {
                errors.push(SourceError::at(
                    file,
                    v,
                    format!("expected limits.{name} between 1 and 1073741824"),
                ));
            }
        }
        let d = self.silence_duration.value.0;
        if d.is_zero() || d > Duration::from_secs(100 * 366 * 86_400) {
            errors.push(SourceError::at(
                file,
                &self.silence_duration,
                "expected limits.silence_duration between 1s and 100 years",
            ));
        }
    }
}

/// The HTTP server's connections (`http:`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Connections open at once; past it a new one gets a 503 and is closed.
    pub max_connections: Spanned<usize>,
    /// Time for a client to send a request's headers.
    pub header_timeout: Spanned<HumanDuration>,
    /// An idle keep-alive connection is closed after this long.
    pub idle_timeout: Spanned<HumanDuration>,
    /// Time for a whole request, body included (a slow body gets a 408).
    pub request_timeout: Spanned<HumanDuration>,
    /// `Host` names accepted (besides loopback addresses, and any when
    /// `api_token` is set and this is empty): keeps DNS rebinding out.
    pub allowed_hosts: Vec<Spanned<String>>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            max_connections: yaml::unspanned(512),
            header_timeout: yaml::unspanned(HumanDuration(Duration::from_secs(10))),
            idle_timeout: yaml::unspanned(HumanDuration(Duration::from_secs(60))),
            request_timeout: yaml::unspanned(HumanDuration(Duration::from_secs(30))),
            allowed_hosts: Vec::new(),
        }
    }
}

impl HttpConfig {
    fn validate(&self, file: &Path, errors: &mut Vec<SourceError>) {
        if self.max_connections.value == 0 || self.max_connections.value > 1 << 20 {
            errors.push(SourceError::at(
                file,
                &self.max_connections,
                "expected http.max_connections between 1 and 1048576",
            ));
        }
        for (v, name) in [
            (&self.header_timeout, "header_timeout"),
            (&self.idle_timeout, "idle_timeout"),
            (&self.request_timeout, "request_timeout"),
        ] {
            let d = v.value.0;
            if d < Duration::from_millis(100) || d > Duration::from_secs(86_400) {
                errors.push(SourceError::at(
                    file,
                    v,
                    format!("expected http.{name} between 100ms and 1d"),
                ));
            }
        }
        for h in &self.allowed_hosts {
            let ok = !h.value.is_empty()
                && h.value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b));
            if !ok {
                errors.push(SourceError::at(
                    file,
                    h,
                    "expected a host name (optionally with :port) in http.allowed_hosts",
                ));
            }
        }
    }
}

/// The ping API and heartbeat checks.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HeartbeatConfig {
    /// Bytes of a ping's body kept; the rest is cut, never refused.
    pub ping_body_limit: Spanned<usize>,
    /// Bytes of ping bodies kept over all checks; past it the oldest bodies
    /// are emptied (the pings stay).
    pub max_ping_bytes: Spanned<u64>,
    /// Pings kept per check; older ones are deleted as new ones arrive.
    pub keep_pings: Spanned<u64>,
    /// Whether `/ping/{ping_key}/{slug}?create=1` creates a missing check.
    pub auto_create: bool,
    /// Most checks in all; creation on first ping stops there.
    pub max_checks: Spanned<usize>,
    /// The key of slug URLs `/ping/{ping_key}/{slug}`; without one only the
    /// checks' own keys (`/ping/{uuid}`) work.
    pub ping_key: Option<Spanned<Secret>>,
    /// Schedule of checks that set neither `every` nor `cron`.
    pub default_every: HumanDuration,
    /// Grace of checks that set no `grace`.
    pub default_grace: HumanDuration,
    /// A key for the Healthchecks API (`/api/v3/`) that reads but never
    /// changes anything (`api_token` is the read-write key).
    pub read_only_api_key: Option<Spanned<Secret>>,
}

impl Default for HeartbeatConfig {
    fn default() -> Self {
        HeartbeatConfig {
            ping_body_limit: yaml::unspanned(10_000),
            max_ping_bytes: yaml::unspanned(256 << 20),
            keep_pings: yaml::unspanned(100),
            auto_create: true,
            max_checks: yaml::unspanned(10_000),
            ping_key: None,
            default_every: HumanDuration(Duration::from_secs(86_400)),
            default_grace: HumanDuration(Duration::from_secs(3_600)),
            read_only_api_key: None,
        }
    }
}

impl HeartbeatConfig {
    fn validate(&self, file: &Path, errors: &mut Vec<SourceError>) {
        if self.ping_body_limit.value > 10 << 20 {
            errors.push(SourceError::at(
                file,
                &self.ping_body_limit,
                "expected a ping_body_limit of at most 10485760 bytes (10 MiB)",
            ));
        }
        if self.max_ping_bytes.value == 0 {
            errors.push(SourceError::at(
                file,
                &self.max_ping_bytes,
                "expected max_ping_bytes of at least 1",
            ));
        }
        if self.keep_pings.value == 0 {
            errors.push(SourceError::at(
                file,
                &self.keep_pings,
                "expected keep_pings of at least 1",
            ));
        }
        if self.max_checks.value == 0 {
            errors.push(SourceError::at(
                file,
                &self.max_checks,
                "expected max_checks of at least 1",
            ));
        }
        if let Some(key) = &self.ping_key {
            let k = key.value.expose();
            let charset = k
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if k.len() < 16 || !charset {
                // The key is a secret: say what is wrong, not what it is.
                errors.push(SourceError::at(
                    file,
                    key,
                    "expected a ping_key of at least 16 characters from A-Z, a-z, 0-9, - and _",
                ));
            } else if crate::heartbeat::pattern::parse_canonical_uuid(k).is_some() {
                errors.push(SourceError::at(
                    file,
                    key,
                    "expected a ping_key that is not a UUID (UUIDs are the checks' own keys)",
                ));
            }
        }
    }
}

impl Config {
    /// Loads `path`; with `None`, `./tocsin.yaml` if it exists, else the defaults.
    pub fn load(path: Option<&Path>) -> Result<Config, SourceErrors> {
        let path = match path {
            Some(p) => p.to_path_buf(),
            None => {
                let p = PathBuf::from(DEFAULT_CONFIG_FILE);
                if !p.exists() {
                    return Ok(Config::default());
                }
                p
            }
        };
        let text = yaml::read_text(&path, "config").map_err(|e| SourceErrors(vec![e]))?;
        Config::from_text(&path, &text)
    }

    /// Parses and validates config text that came from `path`.
    pub fn from_text(path: &Path, text: &str) -> Result<Config, SourceErrors> {
        let mut config: Config = if text.trim().is_empty() {
            Config::default()
        } else {
            yaml::parse(path, text).map_err(|e| SourceErrors(vec![e]))?
        };
        config.source = Some(path.to_path_buf());
        config.resolve_paths(path.parent().unwrap_or(Path::new(".")));
        config.validate(path)?;
        Ok(config)
    }

    fn resolve_paths(&mut self, base: &Path) {
        if base.as_os_str().is_empty() {
            return;
        }
        if self.data_dir.is_relative() {
            self.data_dir = base.join(&self.data_dir);
        }
        for r in &mut self.rules {
            if r.is_relative() {
                *r = base.join(&*r);
            }
        }
    }

    fn validate(&mut self, file: &Path) -> Result<(), SourceErrors> {
        let mut errors = Vec::new();
        if let Some(tz) = &self.raw_timezone {
            match timezone::parse(file, "timezone", tz) {
                Ok(tz) => self.timezone = tz,
                Err(e) => errors.push(e),
            }
        }
        self.resolve_notifications(file, &mut errors);
        if self.listen.value.parse::<SocketAddr>().is_err() {
            errors.push(SourceError::at(
                file,
                &self.listen,
                format!(
                    "expected an address like 127.0.0.1:9750, got {:?}",
                    self.listen.value
                ),
            ));
        }
        if let Err(e) = reqwest::Url::parse(&self.prometheus.url.value) {
            errors.push(SourceError::at(
                file,
                &self.prometheus.url,
                format!("expected an http(s) URL for Prometheus ({e})"),
            ));
        }
        if let Some(url) = &self.prometheus.remote_write_url {
            let ok = reqwest::Url::parse(&url.value)
                .map_err(|e| e.to_string())
                .and_then(|u| match u.scheme() {
                    "http" | "https" => Ok(()),
                    other => Err(format!("scheme {other:?}")),
                });
            if let Err(e) = ok {
                errors.push(SourceError::at(
                    file,
                    url,
                    format!(
                        "expected an http(s) URL for remote write, like http://127.0.0.1:9090/api/v1/write ({e})"
                    ),
                ));
            }
        }
        let rw_timeout = &self.prometheus.remote_write_timeout;
        if rw_timeout.value.0.is_zero() {
            errors.push(SourceError::at(
                file,
                rw_timeout,
                "expected a remote_write_timeout of more than 0s",
            ));
        }
        // Targets, contacts and contact groups share one namespace.
        let mut names = HashSet::new();
        let named = self
            .contacts
            .iter()
            .map(|c| (&c.name, "contact"))
            .chain(
                self.contact_groups
                    .iter()
                    .map(|g| (&g.name, "contact group")),
            )
            .chain(self.raw_targets.iter().map(|t| (t.name(), "target")))
            .chain(self.target_groups.iter().map(|g| (&g.name, "target group")));
        for (name, what) in named {
            if what == "target" && name.value.trim().is_empty() {
                errors.push(SourceError::at(
                    file,
                    name,
                    "expected a non-empty target name",
                ));
            }
            if !names.insert(name.value.as_str()) {
                errors.push(SourceError::at(
                    file,
                    name,
                    format!(
                        "{what} name {:?} is used twice; names of targets, target groups, contacts and contact groups must be unique",
                        name.value
                    ),
                ));
            }
            if name.value == OWNER {
                errors.push(SourceError::at(
                    file,
                    name,
                    format!("{what} name \"owner\" is reserved for the main account"),
                ));
            }
        }
        self.heartbeat.validate(file, &mut errors);
        for (url, key) in [
            (&self.external_url, "external_url"),
            (&self.prometheus.external_url, "external_url"),
            (&self.advertise_url, "advertise_url"),
        ]
        .into_iter()
        .filter_map(|(u, k)| Some((u.as_ref()?, k)))
        {
            let u = url.value.as_str();
            let rest = u
                .strip_prefix("http://")
                .or_else(|| u.strip_prefix("https://"));
            if rest.is_none_or(|r| r.is_empty() || r.contains(char::is_whitespace)) {
                errors.push(SourceError::at(
                    file,
                    url,
                    format!("expected an {key} starting with http:// or https://"),
                ));
            }
        }
        if let (Some(ro), Some(rw)) = (&self.heartbeat.read_only_api_key, &self.api_token)
            && ro.value.expose() == rw.expose()
        {
            errors.push(SourceError::at(
                file,
                ro,
                "expected a read_only_api_key other than api_token",
            ));
        }
        self.postgres = database::resolve(
            file,
            self.raw_database.as_ref(),
            self.raw_database_file.as_ref(),
            &mut errors,
        );
        let between = |d: &Spanned<HumanDuration>, min: u64, max: u64, what: &str| {
            let secs = Duration::from_secs;
            (d.value.0 < secs(min) || d.value.0 > secs(max))
                .then(|| SourceError::at(file, d, format!("expected a {what}")))
        };
        errors.extend(between(
            &self.leader_lease,
            3,
            300,
            "leader_lease between 3s and 5m",
        ));
        self.limits.validate(file, &mut errors);
        errors.extend(between(
            &self.database_check_interval,
            1,
            86_400,
            "database_check_interval between 1s and 1d",
        ));
        self.http.validate(file, &mut errors);
        self.events.validate(file, &mut errors);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(SourceErrors(errors))
        }
    }

    /// Checks contacts, groups, `owner`, `mailer` and every target, and
    /// builds the typed targets with their references resolved.
    fn resolve_notifications(&mut self, file: &Path, errors: &mut Vec<SourceError>) {
        people::validate_people(file, &self.contacts, &self.contact_groups, errors);
        let directory = Directory::new(&self.contacts, &self.contact_groups);
        self.owner_addresses =
            people::resolve_addresses(file, &self.owner, "owner", &directory, errors);
        self.mailer = self.raw_mailer.as_ref().map(|m| m.resolve(file, errors));
        let cx = targets::TargetContext {
            file,
            directory: &directory,
            owner: &self.owner_addresses,
            has_mailer: self.mailer.is_some(),
            mailer: self.mailer.as_ref(),
        };
        self.targets = self
            .raw_targets
            .iter()
            .filter_map(|t| t.resolve(&cx, errors))
            .collect();
        let phone_target = |key: &str,
                            at: &Option<Spanned<String>>,
                            want: &str,
                            errors: &mut Vec<SourceError>| {
            let at = at.as_ref()?;
            match self.targets.iter().find(|t| t.name() == at.value) {
                Some(t) if t.type_name() == want => Some(t.clone()),
                Some(t) => {
                    errors.push(SourceError::at(
                        file,
                        at,
                        format!("phones.{key} names {:?}, a {} target; expected a `type: {want}` target", at.value, t.type_name()),
                    ));
                    None
                }
                None => {
                    if !self.raw_targets.iter().any(|t| t.name().value == at.value) {
                        errors.push(SourceError::at(
                            file,
                            at,
                            format!(
                                "phones.{key} names {:?}, but no target has that name",
                                at.value
                            ),
                        ));
                    }
                    None
                }
            }
        };
        let sms_target = phone_target("sms", &self.phones.sms, "sms", errors);
        let call_target = phone_target("call", &self.phones.call, "call", errors);
        let cx = routing::RoutingContext {
            file,
            sms_target: sms_target.as_ref(),
            call_target: call_target.as_ref(),
            contacts: &self.contacts,
            groups: &self.contact_groups,
            targets: &self.targets,
            target_groups: &self.target_groups,
            owner: &self.owner_addresses,
            has_mailer: self.mailer.is_some(),
            timezone: self.timezone,
        };
        (self.routes, self.mail_targets) = routing::resolve_routing(&cx, &self.routing, errors);
        self.inhibit = inhibit::resolve_inhibit(file, &self.raw_inhibit, errors);
    }

    /// Every target a delivery worker runs for: the configured ones and the
    /// mail targets routes create for contacts and `owner`.
    pub fn delivery_targets(&self) -> impl Iterator<Item = &TargetConfig> {
        self.targets.iter().chain(self.mail_targets.iter())
    }

    /// The wording language of a target (its own, else the config's).
    pub fn language_of(&self, target: &TargetConfig) -> Language {
        target.language.unwrap_or(self.language)
    }

    /// The zone of a target's times (its own, else the config's).
    pub fn timezone_of(&self, target: &TargetConfig) -> chrono_tz::Tz {
        target.timezone.unwrap_or(self.timezone)
    }

    pub fn target(&self, name: &str) -> Option<&TargetConfig> {
        self.targets.iter().find(|t| t.name() == name)
    }

    pub fn listen_addr(&self) -> SocketAddr {
        self.listen
            .value
            .parse()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 9750)))
    }

    /// `external_url` without a trailing slash, or `http://` and `addr`
    /// (the address the daemon listens on).
    pub fn public_url(&self, addr: SocketAddr) -> String {
        match &self.external_url {
            Some(u) => u.value.trim_end_matches('/').to_string(),
            None => format!("http://{addr}"),
        }
    }

    /// Where other replicas reach this one (`advertise_url`, without a
    /// trailing slash), listening on `addr`.
    pub fn advertised_url(&self, addr: SocketAddr) -> String {
        if let Some(u) = &self.advertise_url {
            return u.value.trim_end_matches('/').to_string();
        }
        if addr.ip().is_unspecified()
            && let Some(host) = host_name()
        {
            return format!("http://{host}:{}", addr.port());
        }
        format!("http://{addr}")
    }

    /// The SQLite file under `data_dir` (used unless `database` is set).
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("tocsin.db")
    }

    /// Where the state lives: `database`, else SQLite under `data_dir`.
    pub fn database(&self) -> crate::store::Database {
        match &self.postgres {
            Some(t) => crate::store::Database::Postgres(t.clone()),
            None => crate::store::Database::Sqlite(self.database_path()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config, SourceErrors> {
        Config::from_text(Path::new("tocsin.yaml"), text)
    }

    #[test]
    fn defaults_run_out_of_the_box() {
        let c = load("").unwrap();
        assert_eq!(c.listen_addr().to_string(), "127.0.0.1:9750");
        assert_eq!(c.prometheus.url.value, "http://127.0.0.1:9090");
        assert_eq!(c.database_path(), PathBuf::from("data/tocsin.db"));
        assert!(matches!(c.routing.default.value, NotifySetting::AllTargets));
    }

    #[test]
    fn webhook_target_with_env_secret() {
        // SAFETY: tests in this module use distinct variable names.
        unsafe { std::env::set_var("TOCSIN_TEST_HOOK_TOKEN", "tkn") };
        let c = load(
            "targets:\n  - name: hook\n    type: webhook\n    url: http://127.0.0.1:1/x\n    headers: {Authorization: \"Bearer ${TOCSIN_TEST_HOOK_TOKEN}\"}\nrouting:\n  default: [hook]\n",
        )
        .unwrap();
        let TargetKind::Webhook(w) = &c.targets[0].kind else {
            panic!("not a webhook: {:?}", c.targets[0].kind)
        };
        assert_eq!(w.headers["Authorization"].expose(), "Bearer tkn");
        assert!(
            !format!("{c:?}").contains("tkn"),
            "secret leaked into Debug"
        );
    }

    #[test]
    fn errors_point_at_the_place() {
        let cases: &[(&str, &str)] = &[
            ("listen: nowhere\n", "tocsin.yaml:1:9: expected an address"),
            (
                "prometheus: {url: 'http://x', timeuot: 1s}\n",
                "tocsin.yaml:1:",
            ),
            (
                "prometheus:\n  remote_write_url: 'ftp://x/write'\n",
                "tocsin.yaml:2:21: expected an http(s) URL for remote write",
            ),
            (
                "prometheus:\n  remote_write_url: 'http://x/api/v1/write'\n  remote_write_timeout: 0s\n",
                "tocsin.yaml:3:25: expected a remote_write_timeout of more than 0s",
            ),
            (
                "targets:\n  - name: a\n    type: carrier-pigeon\n",
                "tocsin.yaml:3:11: ",
            ),
            (
                "targets:\n  - name: a\n    type: webhook\n",
                "tocsin.yaml:2:11: webhook target \"a\" needs a `url`",
            ),
            (
                "targets:\n  - {name: a, type: webhook, url: 'http://x'}\n  - {name: a, type: webhook, url: 'http://y'}\n",
                "tocsin.yaml:3:12: target name \"a\" is used twice",
            ),
            (
                "routing:\n  default: [nobody]\n",
                "tocsin.yaml:2:13: routing.default names \"nobody\"",
            ),
            (
                "targets:\n  - {name: a, type: webhook, url: '${TOCSIN_TEST_UNSET_VAR}'}\n",
                "tocsin.yaml:2:35: environment variable TOCSIN_TEST_UNSET_VAR is not set",
            ),
            (
                "evaluation_interval: sometimes\n",
                "tocsin.yaml:1:22: expected a duration",
            ),
            (
                "heartbeat:\n  ping_key: short\n",
                "tocsin.yaml:2:13: expected a ping_key of at least 16 characters",
            ),
            (
                "external_url: tocsin.example.com\n",
                "tocsin.yaml:1:15: expected an external_url starting with http:// or https://",
            ),
            (
                "advertise_url: 10.0.0.11:9750\n",
                "tocsin.yaml:1:16: expected an advertise_url starting with http:// or https://",
            ),
            (
                "api_token: same-key-0123456789\nheartbeat: {read_only_api_key: same-key-0123456789}\n",
                "tocsin.yaml:2:32: expected a read_only_api_key other than api_token",
            ),
            (
                "heartbeat: {keep_pings: 0}\n",
                "tocsin.yaml:1:25: expected keep_pings of at least 1",
            ),
            (
                "heartbeat: {ping_body_limit: 99999999}\n",
                "tocsin.yaml:1:30: expected a ping_body_limit of at most",
            ),
            ("heartbeat: {auto_creat: true}\n", "tocsin.yaml:1:"),
        ];
        for (text, want) in cases {
            let got = load(text).unwrap_err().to_string();
            assert!(got.starts_with(want), "\n got: {got}\nwant: {want}...");
        }
    }

    #[test]
    fn timezone_top_level_and_per_target() {
        let c = load(
            "timezone: Asia/Shanghai\ntargets:\n  - {name: a, type: webhook, url: 'http://x/a'}\n  - {name: b, type: webhook, url: 'http://x/b', timezone: Europe/Berlin}\n",
        )
        .unwrap();
        assert_eq!(c.timezone, chrono_tz::Tz::Asia__Shanghai);
        assert_eq!(c.timezone_of(&c.targets[0]), chrono_tz::Tz::Asia__Shanghai);
        assert_eq!(c.timezone_of(&c.targets[1]), chrono_tz::Tz::Europe__Berlin);
        for (text, want) in [
            (
                "timezone: Asia/Shangai\n",
                "tocsin.yaml:1:11: timezone: \"Asia/Shangai\" is not an IANA time zone",
            ),
            (
                "targets:\n  - {name: a, type: webhook, url: 'http://x', timezone: CEST}\n",
                "tocsin.yaml:2:57: timezone: \"CEST\" is not an IANA time zone",
            ),
        ] {
            let got = load(text).unwrap_err().to_string();
            assert!(got.starts_with(want), "\n got: {got}\nwant: {want}...");
        }
    }

    #[test]
    fn relative_paths_follow_the_config_file() {
        let c =
            Config::from_text(Path::new("/etc/tocsin/tocsin.yaml"), "rules: [rules/]\n").unwrap();
        assert_eq!(c.rules, vec![PathBuf::from("/etc/tocsin/rules/")]);
        assert_eq!(c.data_dir, PathBuf::from("/etc/tocsin/data"));
    }
}
