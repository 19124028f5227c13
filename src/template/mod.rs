//! Message templates.
//!
//! tocsin's own keys (`message`, `resolution`, labels and annotations of
//! `query:` rules) use minijinja: `{{ value }}`, `{{ labels.x }}`, `{{ alert }}`,
//! `{{ severity }}`, `{{ since }}`, `{{ output }}` (heartbeat `failed`
//! rules: the failed run's output tail), with the filters `duration`, `humanize` and
//! minijinja's built-ins. `humanize` is Prometheus's own ([`humanize`]), so a
//! value reads the same in a `message` as in a Prometheus rule's annotation;
//! `duration` is tocsin's [`format_duration_secs`] (`1d 1h 1m 1s`, zero units
//! left out), not Prometheus's `humanizeDuration`.
//!
//! Prometheus rules (`expr:`) keep Go text/template semantics through [`go`].
//! A template that fails while rendering produces
//! `<error expanding template: ...>`, as Prometheus does, and never stops an
//! evaluation.

pub mod go;
pub mod query;

use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::alert::Labels;
pub use go::humanize;
use go::{GoTemplate, GoTemplateData};
pub use query::{QueryRunner, QuerySample};

/// What a template can see about the alert it is rendered for.
#[derive(Clone, Serialize)]
pub struct TemplateContext<'a> {
    pub alert: &'a str,
    pub severity: &'a str,
    pub labels: &'a Labels,
    pub value: f64,
    /// When the alert became active, in the config's `timezone`
    /// (`2026-01-15 12:05:06 +08:00`, `... UTC` at UTC); empty before the
    /// alert exists.
    pub since: String,
    /// `since` as a time, to write it again in another zone.
    #[serde(skip)]
    since_at: Option<DateTime<Utc>>,
    /// Heartbeat `failed` rules: the tail of the failed run's output (the
    /// body of its `fail` ping); empty elsewhere.
    pub output: &'a str,
    /// Runs `query` in Prometheus-format templates; `None` where no
    /// datasource is at hand (`query` then renders an error marker).
    #[serde(skip)]
    pub query: Option<&'a dyn QueryRunner>,
    /// `$externalURL` of Prometheus-format templates: the datasource's pages.
    #[serde(skip)]
    pub external_url: &'a str,
}

impl std::fmt::Debug for TemplateContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TemplateContext")
            .field("alert", &self.alert)
            .field("severity", &self.severity)
            .field("labels", &self.labels)
            .field("value", &self.value)
            .field("since", &self.since)
            .field("output", &self.output)
            .field("query", &self.query.is_some())
            .field("external_url", &self.external_url)
            .finish()
    }
}

impl<'a> TemplateContext<'a> {
    pub fn new(
        alert: &'a str,
        severity: &'a str,
        labels: &'a Labels,
        value: f64,
        since: Option<DateTime<Utc>>,
    ) -> Self {
        TemplateContext {
            alert,
            severity,
            labels,
            value,
            since: since.map(|t| since_text(t, Tz::UTC)).unwrap_or_default(),
            since_at: since,
            output: "",
            query: None,
            external_url: "",
        }
    }

    /// The same context, with `$externalURL` (and `pathPrefix`) set.
    pub fn with_external_url(mut self, url: &'a str) -> Self {
        self.external_url = url;
        self
    }

    /// The same context, with `{{ since }}` written in `tz`.
    pub fn with_timezone(mut self, tz: Tz) -> Self {
        if let Some(t) = self.since_at
            && tz != Tz::UTC
        {
            self.since = since_text(t, tz);
        }
        self
    }

    /// The same context, with `{{ output }}` set.
    pub fn with_output(mut self, output: &'a str) -> Self {
        self.output = output;
        self
    }

    /// The same context, with `query` answered by `runner`.
    pub fn with_query(mut self, runner: Option<&'a dyn QueryRunner>) -> Self {
        self.query = runner;
        self
    }
}

/// `{{ since }}`: `t` in `tz` as every time in a message is written.
fn since_text(t: DateTime<Utc>, tz: Tz) -> String {
    format_time_in(t, tz, "%Y-%m-%d %H:%M:%S")
}

/// `t` in `tz` in `pattern` (strftime, no zone), then ` UTC` where the
/// offset is zero, else the offset (` +08:00`).
pub fn format_time_in(
    t: chrono::DateTime<chrono::Utc>,
    tz: chrono_tz::Tz,
    pattern: &str,
) -> String {
    use chrono::Offset;
    let local = t.with_timezone(&tz);
    let zone = if local.offset().fix().local_minus_utc() == 0 {
        "UTC".to_string()
    } else {
        local.format("%:z").to_string()
    };
    format!("{} {zone}", local.format(pattern))
}

/// A rule's or target's template, checked when loaded.
#[derive(Debug, Clone)]
pub enum Template {
    /// No placeholders at all.
    Static(String),
    /// minijinja source (checked when loaded, compiled at each render).
    Jinja(String),
    /// A Prometheus rule's Go text/template.
    Go(GoTemplate),
}

impl Template {
    /// A template in tocsin's syntax.
    pub fn native(source: &str) -> Result<Template, String> {
        if !source.contains("{{") && !source.contains("{%") && !source.contains("{#") {
            return Ok(Template::Static(source.to_string()));
        }
        let labels = Labels::new();
        let sample = TemplateContext::new("Sample", "warning", &labels, 1.0, Some(Utc::now()));
        check_jinja(source, minijinja::value::Serde(&sample).into())?;
        compile(source)?;
        Ok(Template::Jinja(source.to_string()))
    }

    /// A template from a Prometheus rule file (Go text/template) of the alert
    /// `alert`, named `__alert_<alert>` in error messages and markers, as
    /// Prometheus names it.
    pub fn prometheus_for_alert(source: &str, alert: &str) -> Result<Template, String> {
        if !source.contains("{{") {
            return Ok(Template::Static(source.to_string()));
        }
        GoTemplate::parse_named(&format!("__alert_{alert}"), source).map(Template::Go)
    }

    /// Whether the template may use the variable `name` (its source names
    /// it): contexts skip working out what no template shows.
    pub fn mentions(&self, name: &str) -> bool {
        match self {
            Template::Static(_) => false,
            Template::Jinja(src) => src.contains(name),
            Template::Go(t) => t.source().contains(name),
        }
    }

    /// Whether rendering runs PromQL queries (a Go template calling `query`).
    pub fn uses_query(&self) -> bool {
        matches!(self, Template::Go(t) if t.calls("query"))
    }

    /// The template's function calls that cannot work for a rule, as
    /// `(template line, column, why)`: `query` without a Prometheus
    /// datasource, console-only functions.
    pub fn unworkable_functions(&self, has_prometheus: bool) -> Vec<(usize, usize, String)> {
        let Template::Go(t) = self else {
            return Vec::new();
        };
        t.functions()
            .iter()
            .filter_map(|f| {
                let why = match f.name.as_str() {
                    "query" if !has_prometheus => {
                        "`query` needs a Prometheus datasource and this rule has none; it renders an error".to_string()
                    }
                    "tmpl" => "`tmpl` only works in Prometheus console templates (Prometheus rejects it in alert rules); it renders an error".to_string(),
                    _ => return None,
                };
                Some((f.line, f.col, why))
            })
            .collect()
    }

    pub fn render(&self, ctx: &TemplateContext) -> String {
        match self {
            Template::Static(s) => s.clone(),
            Template::Jinja(src) => render_compiled(src, ctx),
            Template::Go(t) => {
                let no_labels = Labels::new();
                t.render(&GoTemplateData {
                    labels: ctx.labels,
                    value: ctx.value,
                    external_labels: &no_labels,
                    external_url: ctx.external_url,
                    query: ctx.query,
                })
            }
        }
    }
}

/// Checks a notification template (a target's `templates:` override): it must
/// parse and use only known filters, tests and functions.
pub fn check_notification_template(source: &str) -> Result<(), String> {
    check_jinja(source, minijinja::context! {})
}

/// Parses `source` and renders it once with `sample`: unknown filters, tests,
/// functions and methods only show when rendering, so `check` catches them
/// instead of the first real alert. Other render errors (a missing value
/// in the sample) are not errors here.
fn check_jinja(source: &str, sample: minijinja::Value) -> Result<(), String> {
    let compiled = environment()
        .template_from_str(source)
        .map_err(|e| describe_jinja_error(&e))?;
    if let Err(e) = compiled.render(sample) {
        use minijinja::ErrorKind::*;
        if matches!(
            e.kind(),
            UnknownFilter | UnknownTest | UnknownFunction | UnknownMethod
        ) {
            return Err(describe_jinja_error(&e));
        }
    }
    Ok(())
}

/// Renders a notification template with any serializable context (the
/// alerts of one message). A failure renders as an error marker, never as
/// a lost notification.
pub fn render_notification_template<S: Serialize>(source: &str, ctx: &S) -> String {
    environment()
        .render_str(source, minijinja::value::Serde(ctx))
        .unwrap_or_else(|e| format!("<error expanding template: {}>", describe_jinja_error(&e)))
}

/// Rule templates compiled once, by their source: a rule's message is not
/// parsed again at each evaluation of each alert, and rules that share a
/// text share its compiled form. Sources stay for the process's life (a
/// reload adds the texts it changed).
fn compiled() -> &'static std::sync::RwLock<minijinja::Environment<'static>> {
    static COMPILED: OnceLock<std::sync::RwLock<minijinja::Environment<'static>>> = OnceLock::new();
    COMPILED.get_or_init(|| std::sync::RwLock::new(new_environment()))
}

/// Compiles `source` into [`compiled`] unless it is there.
fn compile(source: &str) -> Result<(), String> {
    if compiled()
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .get_template(source)
        .is_ok()
    {
        return Ok(());
    }
    compiled()
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .add_template_owned(source.to_string(), source.to_string())
        .map_err(|e| describe_jinja_error(&e))
}

fn render_compiled(source: &str, ctx: &TemplateContext) -> String {
    let env = compiled().read().unwrap_or_else(|p| p.into_inner());
    let rendered = match env.get_template(source) {
        Ok(t) => t.render(minijinja::value::Serde(ctx)),
        // Not compiled (a template built without `Template::native`).
        Err(_) => environment().render_str(source, minijinja::value::Serde(ctx)),
    };
    rendered.unwrap_or_else(|e| format!("<error expanding template: {}>", describe_jinja_error(&e)))
}

fn describe_jinja_error(e: &minijinja::Error) -> String {
    let mut msg = e.kind().to_string();
    if let Some(detail) = e.detail() {
        msg.push_str(": ");
        msg.push_str(detail);
    }
    if let Some(line) = e.line() {
        msg.push_str(&format!(" (template line {line})"));
    }
    msg
}

fn environment() -> &'static minijinja::Environment<'static> {
    static ENV: OnceLock<minijinja::Environment<'static>> = OnceLock::new();
    ENV.get_or_init(new_environment)
}

/// minijinja as tocsin's templates use it: lenient undefined values, and
/// Prometheus's `humanize` and a `duration` filter.
fn new_environment() -> minijinja::Environment<'static> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Lenient);
    env.add_filter("duration", |secs: f64| format_duration_secs(secs));
    env.add_filter("humanize", |v: f64| humanize(v));
    env
}

/// `90061` → `1d 1h 1m 1s`; sub-second values keep milliseconds.
pub fn format_duration_secs(secs: f64) -> String {
    if !secs.is_finite() {
        return format!("{secs}");
    }
    let negative = secs < 0.0;
    let total = secs.abs();
    let whole = total.trunc() as u64;
    let (d, h, m, s) = (
        whole / 86400,
        whole / 3600 % 24,
        whole / 60 % 60,
        whole % 60,
    );
    let mut parts = Vec::new();
    if d > 0 {
        parts.push(format!("{d}d"));
    }
    if h > 0 {
        parts.push(format!("{h}h"));
    }
    if m > 0 {
        parts.push(format!("{m}m"));
    }
    if s > 0 || parts.is_empty() {
        if whole == 0 && total > 0.0 {
            parts.push(format!("{}ms", (total * 1000.0).round()));
        } else {
            parts.push(format!("{s}s"));
        }
    }
    let out = parts.join(" ");
    if negative { format!("-{out}") } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(labels: &Labels, value: f64) -> TemplateContext<'_> {
        TemplateContext::new("ConnectionCountHigh", "warning", labels, value, None)
    }

    #[test]
    fn native_placeholders_render() {
        let mut labels = Labels::new();
        labels.insert("deployment".into(), "d-1".into());
        let t = Template::native(
            "{{ alert }} on {{ labels.deployment }}: {{ value }} ({{ severity }})",
        )
        .unwrap();
        assert_eq!(
            t.render(&ctx(&labels, 8123.0)),
            "ConnectionCountHigh on d-1: 8123.0 (warning)"
        );
        let t = Template::native(
            "{{ value | round(1) }} / {{ value | duration }} / {{ value | humanize }}",
        )
        .unwrap();
        assert_eq!(
            t.render(&ctx(&labels, 90061.0)),
            "90061.0 / 1d 1h 1m 1s / 90.06k"
        );
    }

    #[test]
    fn compiled_once_rendered_many_times_with_each_context() {
        let labels = Labels::new();
        let a = Template::native("{{ value }} now ({{ alert }})").unwrap();
        let b = Template::native("{{ value }} now ({{ alert }})").unwrap();
        for v in [1.0, 2.5, 1.0] {
            assert_eq!(
                a.render(&ctx(&labels, v)),
                format!("{v:?} now (ConnectionCountHigh)")
            );
            assert_eq!(a.render(&ctx(&labels, v)), b.render(&ctx(&labels, v)));
        }
        // A template made without Template::native still renders.
        let raw = Template::Jinja("raw {{ value }}".into());
        assert_eq!(raw.render(&ctx(&labels, 3.0)), "raw 3.0");
        assert!(a.mentions("value") && !a.mentions("since"));
        assert!(!Template::Static("since then".into()).mentions("since"));
    }

    #[test]
    fn unparseable_native_template_is_an_error() {
        let err = Template::native("{{ value ").unwrap_err();
        assert!(err.contains("syntax error"), "{err}");
    }

    #[test]
    fn render_failure_becomes_a_marker() {
        let t = Template::native("{{ value | nosuchfilter }}");
        // unknown filters are caught when the template is loaded
        assert!(t.unwrap_err().contains("unknown filter"));
        let labels = Labels::new();
        let t = Template::native("{{ 1 / 0 }}").unwrap();
        assert!(
            t.render(&ctx(&labels, 1.0))
                .starts_with("<error expanding template:")
        );
    }

    #[test]
    fn humanize_and_duration_helpers() {
        assert_eq!(humanize(1234567.0), "1.235M");
        assert_eq!(humanize(12.0), "12");
        assert_eq!(humanize(0.0012), "1.2m");
        assert_eq!(format_duration_secs(0.25), "250ms");
        assert_eq!(format_duration_secs(3600.0), "1h");
    }
}
