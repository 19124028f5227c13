//! What people read about the shipped rules, in both languages: each of the
//! ten EMQX events (and the backup rules) fires with its placeholders
//! filled, in English and in Chinese, and its resolved notice keeps the text
//! as it fired and adds the value now and how long it lasted. Also: a rule's
//! `{en, zh}` picked per target language, `resolved_message`, errors in
//! either text at file:line:col, and a Prometheus-format rule's annotations
//! left as Prometheus keeps them.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use tocsin::alert::{AlertState, Labels, Language, Sample};
use tocsin::config::TargetTemplates;
use tocsin::eval::{QueryOutcome, RuleAlerts, RuleEnv, evaluate_rule};
use tocsin::notify::render::{Markup, Renderer};
use tocsin::notify::{AlertMessage, MessageKind};
use tocsin::rules::{Group, LoadOptions, Rule, RuleSet, load_rules, load_sources};

fn shipped(file: &str) -> RuleSet {
    load_rules(
        &[common::repo().join("rules").join(file)],
        &LoadOptions::default(),
    )
    .unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn rule<'a>(set: &'a RuleSet, name: &str) -> (&'a Arc<Group>, &'a Arc<Rule>) {
    set.groups
        .iter()
        .find_map(|g| g.rules.iter().find(|r| r.name == name).map(|r| (g, r)))
        .unwrap_or_else(|| panic!("no rule {name}"))
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 1, 8, 0, 0).unwrap()
}

/// Evaluates `outcome` at `at` and returns the messages of its transitions.
fn step(
    (group, rule): (&Group, &Rule),
    alerts: &mut RuleAlerts,
    outcome: QueryOutcome,
    at: DateTime<Utc>,
) -> Vec<AlertMessage> {
    let mut update = evaluate_rule(group, rule, alerts, outcome, RuleEnv::default(), at);
    assert_eq!(update.error, None);
    update.apply_to(alerts);
    update
        .events
        .iter()
        .filter_map(AlertMessage::for_event)
        .collect()
}

/// The firing and the resolved notice of a rule whose one series reports
/// `fired` until it has fired, then, ten minutes later, `now` (`None`: the
/// series is gone).
fn notices(
    set: &RuleSet,
    name: &str,
    series: &Labels,
    fired: f64,
    now: Option<f64>,
) -> [AlertMessage; 2] {
    let (group, rule) = rule(set, name);
    let mut alerts = HashMap::new();
    let sample = |value| {
        QueryOutcome::Samples(vec![Sample {
            labels: series.clone().into(),
            value,
        }])
    };
    let pending = Duration::from_std(rule.pending_for).unwrap();
    // Fires at once without `for`, else once it has held that long.
    let mut firing = step((group, rule), &mut alerts, sample(fired), t0());
    if !pending.is_zero() {
        firing = step((group, rule), &mut alerts, sample(fired), t0() + pending);
    }
    let resolved_at = t0() + pending + Duration::minutes(10);
    let outcome = match now {
        Some(v) => sample(v),
        None => QueryOutcome::Samples(Vec::new()),
    };
    let resolved = step((group, rule), &mut alerts, outcome, resolved_at);
    assert_eq!(firing.len(), 1, "{name}: {firing:?}");
    assert_eq!(resolved.len(), 1, "{name}: {resolved:?}");
    assert_eq!(firing[0].kind, MessageKind::Firing);
    assert_eq!(resolved[0].kind, MessageKind::Resolved);
    [firing[0].clone(), resolved[0].clone()]
}

fn body(m: &AlertMessage, lang: Language) -> String {
    Renderer::new("t", lang, TargetTemplates::default()).body(&[m.in_language(lang)], Markup::Plain)
}

struct Event {
    alert: &'static str,
    series: &'static [(&'static str, &'static str)],
    fired: f64,
    now: Option<f64>,
    en: &'static str,
    zh: &'static str,
    zh_resolution: &'static str,
}

const PROD: &[(&str, &str)] = &[("deployment", "prod")];

const EMQX_EVENTS: &[Event] = &[
    Event {
        alert: "ConnectionCountHigh",
        series: PROD,
        fired: 9000.0,
        now: Some(7000.0),
        en: "Connection count too high on prod: 9000 connections (limit 8000)",
        zh: "部署连接数过高：9000",
        zh_resolution: "升级部署规格",
    },
    Event {
        alert: "Traffic24hHigh",
        series: PROD,
        fired: 150e9,
        now: Some(50e9),
        en: "Traffic over the last 24h is high on prod: 150GB (limit 100GB)",
        zh: "过去24小时内部署流量过高：150GB",
        zh_resolution: "检查设备流量是否正常，正常则需升级部署规格",
    },
    Event {
        alert: "CertificateExpiring",
        series: &[
            ("deployment", "prod"),
            ("listener_type", "ssl"),
            ("listener_name", "default"),
        ],
        fired: 5.5,
        now: Some(90.0),
        en: "TLS certificate of listener default on prod expires in 5.5 days",
        zh: "部署证书将在 5 天后过期，请及时更新!（ssl 监听器 default）",
        zh_resolution: "及时更新部署证书",
    },
    Event {
        alert: "AuthenticationFailuresHigh",
        series: PROD,
        fired: 150.0,
        now: Some(0.0),
        en: "150 client authentication failures in 5 minutes on prod",
        zh: "部署出现大量认证失败的客户端连接（5 分钟内 150 次）",
        zh_resolution: "检查客户端认证配置是否正确",
    },
    Event {
        alert: "AclDenialsHigh",
        series: PROD,
        fired: 101.0,
        now: Some(3.0),
        en: "101 publish/subscribe requests denied by ACL in 5 minutes on prod",
        zh: "部署出现大量 ACL 认证失败的客户端消息发布（5 分钟内 101 次）",
        zh_resolution: "检查部署访问控制配置是否正确",
    },
    Event {
        alert: "NonStandardMqttConnectionsHigh",
        series: PROD,
        fired: 60.0,
        now: Some(0.0),
        en: "60 connections closed for not speaking standard MQTT in 5 minutes on prod",
        zh: "部署出现大量非标准 MQTT 协议的客户端连接（5 分钟内 60 次）",
        zh_resolution: "检查客户端连接使用的 MQTT 协议是否为标准 MQTT 协议",
    },
    Event {
        alert: "MessagesDropped",
        series: PROD,
        fired: 500.0,
        now: Some(0.0),
        en: "500 messages dropped in 5 minutes on prod",
        zh: "部署由于客户端长期离线或主题未被订阅导致大量消息丢弃（5 分钟内 500 条）",
        zh_resolution: "客户端设置 clean session 为 False 或客户端设置自动重连",
    },
    Event {
        alert: "TpsOverLimit",
        series: PROD,
        fired: 1200.0,
        now: Some(517.0),
        en: "Inbound message rate on prod is 1200 msg/s, over the plan's 1000 TPS",
        zh: "部署超过限制请及时调整客户端发送速率，否则您将无法发送新的消息（当前 1200 条/秒，限制 1000 TPS）",
        zh_resolution: "及时调整客户端发送速率，使发送速率小于部署限制的 TPS",
    },
    Event {
        alert: "VpcPeeringAbnormal",
        series: &[("deployment", "prod"), ("peering", "pcx-1")],
        fired: 0.0,
        now: None,
        en: "VPC peering pcx-1 of prod is down: the probe across it fails",
        zh: "VPC 对等连接状态异常：探测失败（对等连接 pcx-1）",
        zh_resolution: "检查部署与对等账户的对等连接状态，以及两侧的路由表和安全组",
    },
    Event {
        alert: "RuleEngineResourceAbnormal",
        series: &[("deployment", "prod"), ("id", "kafka:events")],
        fired: 0.0,
        now: None,
        en: "Rule engine resource kafka:events on prod is not connected",
        zh: "部署数据集成 kafka:events 资源异常",
        zh_resolution: "检查部署数据集成中 kafka:events 资源配置是否正确",
    },
];

#[test]
fn the_ten_emqx_events_read_well_in_both_languages_firing_and_resolved() {
    let set = shipped("emqx.yaml");
    assert_eq!(set.groups[0].rules.len(), EMQX_EVENTS.len());
    for e in EMQX_EVENTS {
        let [firing, resolved] = notices(&set, e.alert, &labels(e.series), e.fired, e.now);
        let (en, zh) = (
            firing.in_language(Language::En),
            firing.in_language(Language::Zh),
        );
        assert_eq!(en.message, e.en, "{}", e.alert);
        assert_eq!(zh.message, e.zh, "{}", e.alert);
        assert_eq!(zh.resolution, e.zh_resolution, "{}", e.alert);
        assert!(
            !en.resolution.is_empty() && en.resolution.is_ascii(),
            "{}: {}",
            e.alert,
            en.resolution
        );
        let zh_body = body(&firing, Language::Zh);
        assert!(
            zh_body.contains(&format!("告警内容: {}", e.zh)),
            "{zh_body}"
        );
        assert!(
            zh_body.contains(&format!("处理建议: {}", e.zh_resolution)),
            "{zh_body}"
        );

        // Resolved: the text as it fired (with its value then), the value
        // now and how long it lasted.
        let now = format!("{}", e.now.unwrap_or(e.fired));
        let en_body = body(&resolved, Language::En);
        assert!(
            en_body.starts_with(&format!("[RESOLVED] {} (", e.alert)),
            "{en_body}"
        );
        assert!(
            en_body.contains(&format!("Fired with: {}", e.en)),
            "{en_body}"
        );
        assert!(en_body.contains(&format!("Value now: {now}")), "{en_body}");
        assert!(en_body.ends_with("Lasted: 10m"), "{en_body}");
        let zh_body = body(&resolved, Language::Zh);
        assert!(
            zh_body.starts_with(&format!("【已恢复】{}（", e.alert)),
            "{zh_body}"
        );
        assert!(zh_body.contains(&format!("告警时: {}", e.zh)), "{zh_body}");
        assert!(zh_body.contains(&format!("当前值: {now}")), "{zh_body}");
        assert!(zh_body.ends_with("持续时间: 10m"), "{zh_body}");
    }
}

#[test]
fn resolved_message_is_rendered_at_resolution_with_the_value_then() {
    let set = shipped("emqx.yaml");
    let [_, tps] = notices(&set, "TpsOverLimit", &labels(PROD), 1200.0, Some(517.0));
    assert_eq!(
        tps.message,
        "Inbound message rate on prod is 1200 msg/s, over the plan's 1000 TPS"
    );
    let en = body(&tps, Language::En);
    assert!(
        en.contains(
            "Recovered: Inbound message rate on prod is back to 517 msg/s (limit 1000 TPS)"
        ),
        "{en}"
    );
    let zh = body(&tps, Language::Zh);
    assert!(
        zh.contains("恢复情况: 部署消息发送速率已恢复：517 条/秒（限制 1000 TPS）"),
        "{zh}"
    );

    // Without one: a sentence with the value now and the duration.
    let [_, traffic] = notices(&set, "Traffic24hHigh", &labels(PROD), 150e9, Some(50e9));
    assert!(traffic.texts.resolved_message.is_empty());
    let en = body(&traffic, Language::En);
    assert!(
        en.contains("Recovered: Back to normal: value now 50000000000, after 10m"),
        "{en}"
    );
    let zh = body(&traffic, Language::Zh);
    assert!(
        zh.contains("恢复情况: 已恢复正常，当前值 50000000000，持续时间 10m"),
        "{zh}"
    );
}

#[test]
fn backup_rules_read_well_in_both_languages() {
    let set = shipped("backup.yaml");
    for g in &set.groups {
        for r in &g.rules {
            let m = r
                .message
                .as_ref()
                .unwrap_or_else(|| panic!("{}: no message", r.name));
            let h = r
                .resolution
                .as_ref()
                .unwrap_or_else(|| panic!("{}: no resolution", r.name));
            assert!(
                m.zh.is_some() && h.zh.is_some(),
                "{}: not bilingual",
                r.name
            );
        }
    }
    let series = labels(&[
        ("check", "backup-prod-db1"),
        ("vault", "prod"),
        ("client", "db1"),
    ]);
    let [fired, resolved] = notices(&set, "BackupFailed", &series, 2.0, None);
    assert_eq!(
        fired.in_language(Language::Zh).message,
        "备份失败：备份库 prod 的客户端 db1 退出码 2"
    );
    assert_eq!(
        fired.in_language(Language::En).message,
        "Backup of client db1 of vault prod failed with exit code 2"
    );
    let zh = body(&resolved, Language::Zh);
    assert!(
        zh.contains("告警时: 备份失败：备份库 prod 的客户端 db1 退出码 2"),
        "{zh}"
    );
    assert!(zh.contains("持续时间: 10m"), "{zh}");
}

fn load(text: &str) -> Result<RuleSet, String> {
    load_sources(
        &[(PathBuf::from("r.yaml"), text.to_string())],
        &LoadOptions::default(),
    )
    .map_err(|e| e.to_string())
}

#[test]
fn a_rule_with_two_languages_picks_per_target_and_falls_back() {
    let set = load(
        r#"groups:
  - name: g
    rules:
      - alert: Both
        query: up
        message: {en: "{{ labels.job }} is down", zh: "{{ labels.job }} 已停止"}
        resolution: "restart it"
      - alert: OnlyZh
        query: up
        message: {zh: "{{ labels.job }} 已停止"}
"#,
    )
    .unwrap();
    let series = labels(&[("job", "api")]);
    let [both, _] = notices(&set, "Both", &series, 0.0, None);
    assert_eq!(both.in_language(Language::En).message, "api is down");
    assert_eq!(both.in_language(Language::Zh).message, "api 已停止");
    // one text: the same in both
    assert_eq!(both.in_language(Language::Zh).resolution, "restart it");
    let [only, _] = notices(&set, "OnlyZh", &series, 0.0, None);
    assert_eq!(only.in_language(Language::En).message, "api 已停止");
    assert_eq!(only.in_language(Language::Zh).message, "api 已停止");
}

#[test]
fn an_error_in_either_text_is_reported_where_it_is() {
    let err = load(
        r#"groups:
  - name: g
    rules:
      - alert: A
        query: up
        message:
          en: "fine"
          zh: "{{ broken"
        resolved_message: {en: "{% if %}", zh: "好"}
"#,
    )
    .unwrap_err();
    assert!(
        err.contains("r.yaml:8:15: cannot parse message (zh) template"),
        "{err}"
    );
    assert!(
        err.contains("r.yaml:9:32: cannot parse resolved_message (en) template"),
        "{err}"
    );

    let err = load(
        "groups:\n  - name: g\n    rules:\n      - alert: A\n        query: up\n        message: {en: a, fr: b}\n",
    )
    .unwrap_err();
    assert!(
        err.contains("r.yaml:6:") && err.contains("unknown language \"fr\", expected en or zh"),
        "{err}"
    );
    let err = load("groups:\n  - name: g\n    rules:\n      - alert: A\n        query: up\n        resolution: {}\n").unwrap_err();
    assert!(
        err.contains("r.yaml:6:") && err.contains("at least one of en or zh"),
        "{err}"
    );
}

#[test]
fn a_prometheus_rule_keeps_its_annotations_when_it_resolves() {
    let set = load(
        r#"groups:
  - name: g
    rules:
      - alert: High
        expr: x > 5
        annotations:
          summary: "x is {{ $value }} on {{ $labels.job }}"
          runbook_url: "https://runbooks/x"
"#,
    )
    .unwrap();
    let series = labels(&[("job", "api")]);
    let (group, rule) = rule(&set, "High");
    let mut alerts = HashMap::new();
    let sample = |value| {
        QueryOutcome::Samples(vec![Sample {
            labels: series.clone().into(),
            value,
        }])
    };
    step((group, rule), &mut alerts, sample(7.0), t0());
    let active = alerts.values().next().unwrap().sent_annotations();
    assert_eq!(active["summary"], "x is 7 on api");
    // The series is gone (x > 5 no longer holds): resolved, annotations as
    // they were while active, as Prometheus keeps them.
    let resolved = step(
        (group, rule),
        &mut alerts,
        QueryOutcome::Samples(Vec::new()),
        t0() + Duration::minutes(1),
    );
    let a = alerts.values().next().unwrap();
    assert_eq!(a.state, AlertState::Resolved);
    assert_eq!(a.sent_annotations(), active);
    assert_eq!(resolved[0].sent_annotations(), active);
    assert_eq!(resolved[0].message, "x is 7 on api");
}
