//! No panics on input: every parser and handler check that takes text,
//! numbers, durations or times from a request, a CLI argument or a file is
//! fed arbitrary and extreme values (proptest, a bounded number of cases).

use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;

use tocsin::config::{Config, LimitsConfig};
use tocsin::http::ingest::parse_limited;
use tocsin::notify::silence::{MatcherInput, NewSilence, SilenceBounds};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Any time chrono can hold.
fn any_time() -> impl Strategy<Value = DateTime<Utc>> {
    let (lo, hi) = (
        DateTime::<Utc>::MIN_UTC.timestamp_millis(),
        DateTime::<Utc>::MAX_UTC.timestamp_millis(),
    );
    prop_oneof![
        (lo..=hi).prop_map(|ms| Utc.timestamp_millis_opt(ms).unwrap()),
        Just(DateTime::<Utc>::MIN_UTC),
        Just(DateTime::<Utc>::MAX_UTC),
        (0i64..4_102_444_800_000).prop_map(|ms| Utc.timestamp_millis_opt(ms).unwrap()),
    ]
}

/// Durations as people (and attackers) write them.
fn duration_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9]{1,25}(ns|us|ms|s|m|h|d|w|y|years|months)",
        "[0-9a-z .]{0,20}",
        Just("99999999999h".to_string()),
        Just("300000y".to_string()),
        Just("18446744073709551615s".to_string()),
        Just("-1s".to_string()),
    ]
}

/// RFC 3339-looking times, extreme years included.
fn time_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9]{4}-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9](\\.[0-9]{1,12})?(Z|[+-][0-2][0-9]:[0-5][0-9])",
        Just("0001-01-01T00:00:00Z".to_string()),
        Just("9999-12-31T23:59:59Z".to_string()),
        Just("0000-01-01T00:00:00+23:59".to_string()),
        ".{0,30}",
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn alert_posts_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_limited(&body, &LimitsConfig::default());
    }

    #[test]
    fn alert_times_and_labels_never_panic(
        starts in time_text(),
        ends in time_text(),
        name in ".{0,40}",
        value in ".{0,40}",
        url in ".{0,40}",
    ) {
        let body = serde_json::json!([{
            "labels": {"alertname": name, "x": value},
            "annotations": {"summary": value},
            "startsAt": starts, "endsAt": ends, "generatorURL": url,
        }]);
        let _ = parse_limited(body.to_string().as_bytes(), &LimitsConfig::default());
    }

    #[test]
    fn silences_never_panic(
        now in any_time(),
        starts in proptest::option::of(any_time()),
        ends in proptest::option::of(any_time()),
        duration in proptest::option::of(duration_text()),
        matcher in ".{0,40}",
    ) {
        let s = NewSilence {
            matchers: vec![MatcherInput::Text(matcher)],
            starts_at: starts,
            ends_at: ends,
            duration,
            created_by: "fuzz".into(),
            comment: "fuzz".into(),
        };
        if let Ok(silence) = s.check_within(now, &SilenceBounds::default()) {
            prop_assert!(silence.ends_at > silence.starts_at);
            prop_assert!(silence.ends_at - silence.starts_at <= chrono::Duration::days(3650));
        }
    }

    #[test]
    fn durations_in_files_never_panic_and_stay_bounded(text in duration_text()) {
        if let Ok(d) = tocsin::yaml::HumanDuration::parse(&text) {
            prop_assert!(d.0 <= tocsin::yaml::MAX_DURATION);
        }
    }

    #[test]
    fn matchers_never_panic(text in ".{0,60}") {
        let _ = tocsin::alert::matcher::Matcher::parse(&text);
    }

    #[test]
    fn ping_urls_never_panic(action in ".{0,12}", key in ".{0,40}", code in any::<u64>()) {
        let _ = tocsin::heartbeat::state::Signal::from_action(&action);
        let _ = tocsin::heartbeat::state::Signal::from_action(&code.to_string());
        let _ = tocsin::heartbeat::pattern::parse_canonical_uuid(&key);
        let _ = tocsin::heartbeat::pattern::NamePattern::parse(&key);
    }

    #[test]
    fn config_files_never_panic(
        key in prop_oneof![
            Just("evaluation_interval"), Just("listen"), Just("database_check_interval"),
        ],
        value in prop_oneof![duration_text(), ".{0,30}"],
        limit in any::<u64>(),
    ) {
        let text = format!(
            "{key}: \"{}\"\nlimits: {{alerts_per_post: {limit}, silence_duration: \"{}\"}}\nhttp: {{max_connections: {limit}}}\n",
            value.replace(['"', '\\'], ""), value.replace(['"', '\\'], "")
        );
        let _ = Config::from_text(std::path::Path::new("fuzz.yaml"), &text);
    }

    #[test]
    fn rule_files_never_panic(
        every in duration_text(),
        pending in duration_text(),
        grace in duration_text(),
        cron in "[0-9*/, -]{0,30}",
        zone in "[A-Za-z/_]{0,20}",
        name in ".{0,20}",
    ) {
        let clean = |s: &str| s.replace(['"', '\\', '\n', '\r'], "");
        let text = format!(
            "heartbeats:\n  - {{name: \"c-{}\", every: \"{}\", grace: \"{}\"}}\ngroups:\n  - name: g\n    interval: \"{}\"\n    rules:\n      - alert: \"{}\"\n        query: up\n        for: \"{}\"\n        keep_firing_for: \"{}\"\n        severity: warning\n  - name: c\n    cron: \"{}\"\n    timezone: \"{}\"\n    rules:\n      - alert: B\n        heartbeat: {{checks: \"c-*\", condition: missing}}\n        severity: error\n",
            clean(&name), clean(&every), clean(&grace), clean(&every), clean(&name),
            clean(&pending), clean(&pending), clean(&cron), clean(&zone),
        );
        let opts = tocsin::rules::LoadOptions { default_interval: std::time::Duration::from_secs(60) };
        let _ = tocsin::rules::load_sources(&[("fuzz.yaml".into(), text)], &opts);
    }

    #[test]
    fn arbitrary_yaml_never_panics(text in ".{0,200}") {
        let opts = tocsin::rules::LoadOptions { default_interval: std::time::Duration::from_secs(60) };
        let _ = tocsin::rules::load_sources(&[("fuzz.yaml".into(), text.clone())], &opts);
        let _ = Config::from_text(std::path::Path::new("fuzz.yaml"), &text);
    }

    #[test]
    fn heartbeat_due_times_never_overflow(
        at in any_time(),
        now in any_time(),
        grace in any::<u64>(),
        every in 1u64..u64::MAX,
    ) {
        use tocsin::heartbeat::state::{CheckState, Signal};
        let schedule = tocsin::rules::Schedule::Every(std::time::Duration::from_secs(every));
        let mut s = CheckState::default();
        s.apply(Signal::from_action("").unwrap(), None, at, &schedule);
        let _ = s.status(std::time::Duration::from_secs(grace), now);
        let _ = s.age(now);
    }

    #[test]
    fn the_text_log_escapes_everything(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let out = tocsin::log_escape::escape(&bytes);
        let body = out.strip_suffix(b"\n").unwrap_or(&out);
        prop_assert!(!body.iter().any(|b| b.is_ascii_control()), "{:?}", String::from_utf8_lossy(&out));
    }

    #[test]
    fn clock_readings_never_overflow(
        a in any::<u64>(), b in any::<u64>(), t1 in any_time(), t2 in any_time(),
    ) {
        let mut d = tocsin::clock::StepDetector::default();
        let _ = d.observe(std::time::Duration::from_nanos(a), t1);
        let _ = d.observe(std::time::Duration::from_nanos(b), t2);
    }
}
