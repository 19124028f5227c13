//! `GET /metrics`: tocsin's own health in the Prometheus text format. Every
//! name starts with `tocsin_`, carries its unit, and counters end in `_total`.
//! Values are read at scrape time from the engine, the delivery workers and
//! the outbox; nothing is kept twice.

use std::fmt::Write as _;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use chrono::Utc;

use super::AppState;
use crate::alert::{AlertState, Severity};
use crate::eval::engine::DURATION_BUCKETS;
use crate::heartbeat::state::PingKind;

pub async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    let body = render(&s).await;
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
}

/// The exposition text (also used by tests and the dashboard check).
pub async fn render(s: &AppState) -> String {
    let mut e = Exposition::default();
    e.family("tocsin_build_info", "gauge", "Build information; always 1.");
    e.sample(
        "tocsin_build_info",
        &[("version", env!("CARGO_PKG_VERSION"))],
        1.0,
    );

    let groups = s.engine.group_statuses();
    per_group(
        &mut e,
        &groups,
        "tocsin_rule_group_evaluations_total",
        "counter",
        "Evaluations of a rule group.",
        |g| g.evaluations as f64,
    );
    per_group(
        &mut e,
        &groups,
        "tocsin_rule_group_evaluation_failures_total",
        "counter",
        "Group evaluations in which a rule failed or the result could not be recorded.",
        |g| g.failures as f64,
    );
    per_group(
        &mut e,
        &groups,
        "tocsin_rule_group_iterations_missed_total",
        "counter",
        "Ticks skipped because the previous evaluation of the group was still running.",
        |g| g.missed_iterations as f64,
    );
    per_group(
        &mut e,
        &groups,
        "tocsin_rule_group_queries_total",
        "counter",
        "Queries sent to a datasource by evaluations of the group (identical and batchable queries count once).",
        |g| g.queries_total as f64,
    );
    per_group(
        &mut e,
        &groups,
        "tocsin_rule_group_last_queries",
        "gauge",
        "Queries sent to a datasource by the group's last evaluation.",
        |g| g.last_queries as f64,
    );
    per_group(
        &mut e,
        &groups,
        "tocsin_rule_group_last_evaluation_timestamp_seconds",
        "gauge",
        "When the group was last evaluated.",
        |g| {
            g.last_evaluation
                .map(|t| t.timestamp_millis() as f64 / 1000.0)
                .unwrap_or(0.0)
        },
    );
    e.family(
        "tocsin_rule_group_evaluation_duration_seconds",
        "histogram",
        "How long group evaluations took.",
    );
    for g in &groups {
        let name = "tocsin_rule_group_evaluation_duration_seconds";
        for (bound, count) in DURATION_BUCKETS.iter().zip(g.durations.buckets) {
            e.sample(
                &format!("{name}_bucket"),
                &[("group", &g.name), ("le", &bound.to_string())],
                count as f64,
            );
        }
        e.sample(
            &format!("{name}_bucket"),
            &[("group", &g.name), ("le", "+Inf")],
            g.durations.count as f64,
        );
        e.sample(
            &format!("{name}_sum"),
            &[("group", &g.name)],
            g.durations.sum,
        );
        e.sample(
            &format!("{name}_count"),
            &[("group", &g.name)],
            g.durations.count as f64,
        );
    }

    let rules = s.engine.rule_statuses();
    e.family(
        "tocsin_rule_health",
        "gauge",
        "1 when the alerting rule's last evaluation succeeded, 0 when it failed (absent before the first); recording rules: tocsin_recording_rule_*.",
    );
    let alerting = |r: &&crate::eval::RuleStatus| r.kind == crate::eval::RuleKind::Alerting;
    for r in rules
        .iter()
        .filter(alerting)
        .filter(|r| r.health != "unknown")
    {
        let v = if r.health == "ok" { 1.0 } else { 0.0 };
        e.sample(
            "tocsin_rule_health",
            &[("group", &r.group), ("alert", &r.alert)],
            v,
        );
    }
    recording(&mut e, &s.engine);
    let reloads = s.engine.reload_stats();
    e.family(
        "tocsin_config_reloads_total",
        "counter",
        "Config and rule reloads by result.",
    );
    e.sample(
        "tocsin_config_reloads_total",
        &[("result", "success")],
        reloads.successes as f64,
    );
    e.sample(
        "tocsin_config_reloads_total",
        &[("result", "failure")],
        reloads.failures as f64,
    );
    {
        use std::sync::atomic::Ordering::Relaxed;
        let c = &crate::http::server::STATS;
        e.family(
            "tocsin_http_connections",
            "gauge",
            "HTTP connections open (at most http.max_connections).",
        );
        e.sample("tocsin_http_connections", &[], c.open.load(Relaxed) as f64);
        e.family(
            "tocsin_http_connections_closed_total",
            "counter",
            "HTTP connections closed by tocsin: evicted (idle, to make room at the cap), refused (503 at the cap), idle (idle_timeout).",
        );
        for (reason, n) in [
            ("evicted", c.evicted.load(Relaxed)),
            ("refused", c.refused.load(Relaxed)),
            ("idle", c.idle_closed.load(Relaxed)),
        ] {
            e.sample(
                "tocsin_http_connections_closed_total",
                &[("reason", reason)],
                n as f64,
            );
        }
        e.family(
            "tocsin_http_request_timeouts_total",
            "counter",
            "Requests answered 408 after http.request_timeout.",
        );
        e.sample(
            "tocsin_http_request_timeouts_total",
            &[],
            c.timed_out.load(Relaxed) as f64,
        );
    }
    e.family(
        "tocsin_clock_steps_total",
        "counter",
        "Steps of the wall clock seen (NTP step, date -s, VM restore); schedules do not stop, heartbeat due times move with them.",
    );
    e.sample(
        "tocsin_clock_steps_total",
        &[],
        crate::clock::steps() as f64,
    );
    e.family(
        "tocsin_config_last_reload_successful",
        "gauge",
        "1 if the last reload applied, 0 if it failed and the previous config runs on.",
    );
    e.sample(
        "tocsin_config_last_reload_successful",
        &[],
        if reloads.last_ok { 1.0 } else { 0.0 },
    );
    e.family(
        "tocsin_config_last_reload_success_timestamp_seconds",
        "gauge",
        "When the config in force was loaded.",
    );
    e.sample(
        "tocsin_config_last_reload_success_timestamp_seconds",
        &[],
        reloads
            .last_success
            .map(|t| t.timestamp_millis() as f64 / 1000.0)
            .unwrap_or(0.0),
    );
    e.family(
        "tocsin_datasource_consecutive_failures",
        "gauge",
        "Evaluations in a row in which Prometheus could not be queried.",
    );
    e.sample(
        "tocsin_datasource_consecutive_failures",
        &[("datasource", "prometheus")],
        f64::from(s.engine.datasource_failures()),
    );

    let counts = s.engine.alert_counts();
    e.family("tocsin_alerts", "gauge", "Alerts by state and severity.");
    for state in [
        AlertState::Pending,
        AlertState::Firing,
        AlertState::Resolved,
    ] {
        for sev in [Severity::Warning, Severity::Error] {
            let n = counts.get(&(state, sev)).copied().unwrap_or(0);
            e.sample(
                "tocsin_alerts",
                &[("state", state.as_str()), ("severity", sev.as_str())],
                n as f64,
            );
        }
    }

    let now = Utc::now();
    let checks = s.heartbeats.checks();
    e.family(
        "tocsin_heartbeat_checks",
        "gauge",
        "Heartbeat checks by state.",
    );
    for state in ["new", "up", "late", "down", "failed", "running", "paused"] {
        let n = checks
            .iter()
            .filter(|c| heartbeat_state(c, now) == state)
            .count();
        e.sample("tocsin_heartbeat_checks", &[("state", state)], n as f64);
    }
    e.family(
        "tocsin_heartbeat_store_synchronous",
        "gauge",
        "PRAGMA synchronous of the ping connection: 2 (FULL) means a ping is on disk before it is answered.",
    );
    e.sample(
        "tocsin_heartbeat_store_synchronous",
        &[],
        s.heartbeats.ping_synchronous() as f64,
    );
    e.family(
        "tocsin_heartbeat_pings_total",
        "counter",
        "Pings recorded since start, per check and kind (an exit code counts as success or fail).",
    );
    let received = s.heartbeats.received();
    for c in &checks {
        for kind in [
            PingKind::Start,
            PingKind::Success,
            PingKind::Fail,
            PingKind::Log,
        ] {
            let n = received.get(&(c.def.id, kind)).copied().unwrap_or(0);
            e.sample(
                "tocsin_heartbeat_pings_total",
                &[("check", &c.def.name), ("kind", kind.as_str())],
                n as f64,
            );
        }
    }

    let delivery = s.delivery.snapshot();
    for (name, help, get) in [
        (
            "tocsin_notifications_sent_total",
            "Alerts delivered to a target.",
            (|t: &crate::notify::dispatch::TargetStats| t.sent as f64) as fn(&_) -> f64,
        ),
        (
            "tocsin_notifications_failed_total",
            "Alerts given up for a target (permanent failure or too old).",
            |t| t.failed as f64,
        ),
        (
            "tocsin_notifications_retried_total",
            "Alerts whose delivery failed and was scheduled again.",
            |t| t.retried as f64,
        ),
        (
            "tocsin_notification_requests_total",
            "Requests made to a target.",
            |t| t.requests as f64,
        ),
        (
            "tocsin_notification_request_duration_seconds_total",
            "Time spent in requests to a target.",
            |t| t.request_seconds,
        ),
    ] {
        e.family(name, "counter", help);
        for (target, stats) in &delivery {
            e.sample(name, &[("target", target)], get(stats));
        }
    }
    let pending = s.engine.store().outbox_pending().await.unwrap_or_default();

    e.family(
        "tocsin_notifications_queued",
        "gauge",
        "Notifications waiting in the outbox (new or to be retried).",
    );
    e.family(
        "tocsin_outbox_oldest_age_seconds",
        "gauge",
        "Age of the oldest notification waiting in the outbox.",
    );
    for (target, _) in &delivery {
        let (count, age) = pending
            .iter()
            .find(|(t, _, _)| t == target)
            .map(|(_, n, oldest)| {
                (
                    *n as f64,
                    (now - *oldest).num_milliseconds().max(0) as f64 / 1000.0,
                )
            })
            .unwrap_or((0.0, 0.0));
        e.sample("tocsin_notifications_queued", &[("target", target)], count);
        e.sample(
            "tocsin_outbox_oldest_age_seconds",
            &[("target", target)],
            age,
        );
    }
    let mut text = e.finish();
    if let Some(r) = crate::replica::status() {
        text.push_str(&r.metrics_text());
    }
    text
}

/// A check's state as the API spells it (`up`, `down`, ...).
pub fn heartbeat_state(
    c: &crate::heartbeat::registry::Check,
    now: chrono::DateTime<Utc>,
) -> String {
    serde_json::to_value(c.state.status(c.def.grace, now))
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Recording rules and their remote writes.
fn recording(e: &mut Exposition, engine: &crate::eval::Engine) {
    use std::sync::atomic::Ordering::Relaxed;
    let counters = engine.recording().counters(&engine.rules());
    e.family(
        "tocsin_recording_rule_evaluations_total",
        "counter",
        "Evaluations of a recording rule.",
    );
    for c in &counters {
        e.sample(
            "tocsin_recording_rule_evaluations_total",
            &[("group", &c.group), ("record", &c.record)],
            c.evaluations as f64,
        );
    }
    e.family(
        "tocsin_recording_rule_evaluation_failures_total",
        "counter",
        "Evaluations of a recording rule whose query failed or whose result broke the rule (duplicate label sets, limit); failed writes are counted apart.",
    );
    for c in &counters {
        e.sample(
            "tocsin_recording_rule_evaluation_failures_total",
            &[("group", &c.group), ("record", &c.record)],
            c.failures as f64,
        );
    }
    let w = engine.recording().write_stats();
    e.family(
        "tocsin_remote_write_samples_total",
        "counter",
        "Recorded samples the remote-write endpoint accepted.",
    );
    e.sample(
        "tocsin_remote_write_samples_total",
        &[],
        w.samples.load(Relaxed) as f64,
    );
    e.family(
        "tocsin_remote_write_failures_total",
        "counter",
        "Failed remote-write requests by reason: connection, server_error (5xx) and throttled (429) are retried, rejected (other 4xx) is not.",
    );
    for (reason, n) in crate::eval::remote_queue::FAILURE_REASONS
        .iter()
        .zip(&w.failures)
    {
        e.sample(
            "tocsin_remote_write_failures_total",
            &[("reason", reason)],
            n.load(Relaxed) as f64,
        );
    }
    e.family(
        "tocsin_remote_write_dropped_samples_total",
        "counter",
        "Recorded samples given up: rejected by the endpoint, or pushed out of a full queue (queue_full).",
    );
    e.sample(
        "tocsin_remote_write_dropped_samples_total",
        &[("reason", "rejected")],
        w.dropped_rejected.load(Relaxed) as f64,
    );
    e.sample(
        "tocsin_remote_write_dropped_samples_total",
        &[("reason", "queue_full")],
        w.dropped_queue_full.load(Relaxed) as f64,
    );
    e.family(
        "tocsin_remote_write_pending_samples",
        "gauge",
        "Recorded samples waiting to be written (retries included).",
    );
    e.sample(
        "tocsin_remote_write_pending_samples",
        &[],
        w.pending.load(Relaxed) as f64,
    );
}

/// One family with a sample per rule group (label `group`).
fn per_group(
    e: &mut Exposition,
    groups: &[crate::eval::engine::GroupStatus],
    name: &str,
    kind: &str,
    help: &str,
    value: impl Fn(&crate::eval::engine::GroupStatus) -> f64,
) {
    e.family(name, kind, help);
    for g in groups {
        e.sample(name, &[("group", &g.name)], value(g));
    }
}

/// Builds the text format: `# HELP` / `# TYPE` lines and samples.
#[derive(Default)]
struct Exposition {
    out: String,
    /// Samples are written after their family's header, in order of families.
    families: Vec<(String, String)>,
}

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let header = format!("# HELP {name} {help}\n# TYPE {name} {kind}\n");
        self.families.push((name.to_string(), header));
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        let mut line = name.to_string();
        if !labels.is_empty() {
            line.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    line.push(',');
                }
                let _ = write!(line, "{k}=\"{}\"", escape(v));
            }
            line.push('}');
        }
        let _ = writeln!(line, " {}", format_value(value));
        // attach to the family whose name prefixes the sample (histograms add suffixes)
        if let Some((_, text)) = self
            .families
            .iter_mut()
            .rev()
            .find(|(f, _)| name.starts_with(f.as_str()))
        {
            text.push_str(&line);
        } else {
            self.out.push_str(&line);
        }
    }

    fn finish(mut self) -> String {
        for (_, text) in self.families {
            self.out.push_str(&text);
        }
        self.out
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        v.to_string()
    }
}
