//! Alertmanager's API v2 driven by the real `amtool` (Debian package
//! `prometheus-alertmanager`, installed by scripts/testenv.sh): alerts added
//! and queried with matchers, silences added, queried, expired and imported,
//! `config show` and `config routes test` walking tocsin's routing with
//! Alertmanager's own router, with and without the api_token; a real
//! Prometheus sending to tocsin as its Alertmanager while amtool reads what
//! it sent; and the answers to bad input.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Daemon, Receiver, http, push, wait_for, wait_prometheus_value};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);
const TOKEN: &str = "am-api-token-0123456789";

/// Runs the real amtool against `d`; (exit ok, stdout, stderr).
async fn amtool(d: &Daemon, extra: &[&str], args: &[&str]) -> (bool, String, String) {
    let url = format!(
        "--alertmanager.url=http://{}",
        d.running.as_ref().unwrap().addr
    );
    let out = tokio::process::Command::new("amtool")
        .arg(url)
        .args(extra)
        .args(args)
        .output()
        .await
        .expect("amtool (Debian package prometheus-alertmanager, installed by scripts/testenv.sh install)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// amtool that must succeed; its stdout.
async fn amtool_ok(d: &Daemon, extra: &[&str], args: &[&str]) -> String {
    let (ok, out, err) = amtool(d, extra, args).await;
    assert!(ok, "amtool {args:?} failed:\n{out}\n{err}");
    out
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

const ROUTING: &str = "
routing:
  default: [ops-hook]
  group_by: [vault]
  repeat_interval: 4h
  scopes:
    - match: {vault: v-prod}
      notify: {warning: [ops-hook], error: [ops-hook, dba-hook]}
    - match: {vault: v-prod, client: c-7}
      notify: inherit
    - match: {vault: v-test}
      notify: off
    - match: {vault: v-test, client: c-1}
      notify: [dba-hook]
      group_by: [client]
inhibit:
  - {source: {severity: critical}, target: {severity: warning}, equal: [vault]}
";

fn targets(ops: &Receiver, dba: &Receiver) -> String {
    format!(
        "targets:\n  - {{name: ops-hook, type: webhook, url: \"{}\"}}\n  - {{name: dba-hook, type: webhook, url: \"{}\"}}\n",
        ops.url(),
        dba.url()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amtool_adds_queries_and_silences_alerts() {
    let (ops, dba) = (Receiver::start(&[]).await, Receiver::start(&[]).await);
    let dir = Daemon::prepare("groups: []\n", &format!("{}{ROUTING}", targets(&ops, &dba)));
    let d = Daemon::start(&dir).await;

    // amtool alert add posts to /api/v2/alerts.
    for args in [
        &[
            "alert",
            "add",
            "BackupFailed",
            "vault=v-prod",
            "client=db1",
            "severity=critical",
            "--annotation=summary=db1 failed",
        ][..],
        &[
            "alert",
            "add",
            "BackupSlow",
            "vault=v-prod",
            "client=db2",
            "severity=warning",
        ][..],
        &[
            "alert",
            "add",
            "BackupSlow",
            "vault=v-test",
            "client=c-1",
            "severity=warning",
        ][..],
    ] {
        amtool_ok(&d, &[], args).await;
    }
    wait_for("three firing alerts", WAIT, || async {
        (d.engine().firing_alerts().len() == 3).then_some(())
    })
    .await;

    // The simple table and the JSON of a matcher query.
    let table = amtool_ok(&d, &[], &["alert", "query"]).await;
    assert!(
        table.contains("BackupFailed") && table.contains("db1 failed"),
        "{table}"
    );
    // amtool's default asks for active alerts only: the inhibited warning
    // is left out; -a -i shows both; -i alone the inhibited one.
    let names = |v: &Value| -> Vec<String> {
        let mut n: Vec<String> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["labels"]["alertname"].as_str().unwrap().to_string())
            .collect();
        n.sort();
        n
    };
    let default =
        json_of(&amtool_ok(&d, &[], &["-o", "json", "alert", "query", "vault=v-prod"]).await);
    assert_eq!(names(&default), ["BackupFailed"]);
    let inhibited = json_of(
        &amtool_ok(
            &d,
            &[],
            &["-o", "json", "alert", "query", "-i", "vault=v-prod"],
        )
        .await,
    );
    assert_eq!(names(&inhibited), ["BackupSlow"]);
    let prod = json_of(
        &amtool_ok(
            &d,
            &[],
            &["-o", "json", "alert", "query", "-a", "-i", "vault=v-prod"],
        )
        .await,
    );
    let prod = prod.as_array().unwrap();
    assert_eq!(prod.len(), 2, "{prod:?}");
    let failed = prod
        .iter()
        .find(|a| a["labels"]["alertname"] == "BackupFailed")
        .unwrap();
    assert_eq!(failed["status"]["state"], "active");
    let receivers: Vec<&str> = failed["receivers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(receivers, ["ops-hook", "dba-hook"]);
    assert_eq!(failed["annotations"]["summary"], "db1 failed");
    assert_eq!(failed["fingerprint"].as_str().unwrap().len(), 16);
    // The critical alert inhibits the warning of the same vault, not the other.
    let slow = prod
        .iter()
        .find(|a| a["labels"]["alertname"] == "BackupSlow")
        .unwrap();
    assert_eq!(slow["status"]["state"], "suppressed", "{slow}");
    assert_eq!(
        slow["status"]["inhibitedBy"],
        json!([failed["fingerprint"]])
    );
    let regex = json_of(
        &amtool_ok(
            &d,
            &[],
            &[
                "-o",
                "json",
                "alert",
                "query",
                "alertname=~Backup.*",
                "client!=db2",
            ],
        )
        .await,
    );
    assert_eq!(regex.as_array().unwrap().len(), 2, "{regex}");
    // --active alone leaves out the inhibited one; -r filters by receiver.
    let active = json_of(&amtool_ok(&d, &[], &["-o", "json", "alert", "query", "--active"]).await);
    assert_eq!(active.as_array().unwrap().len(), 2, "{active}");
    let dba_only =
        json_of(&amtool_ok(&d, &[], &["-o", "json", "alert", "query", "-r", "dba.*"]).await);
    assert_eq!(dba_only.as_array().unwrap().len(), 2, "{dba_only}");

    // A silence from amtool holds the alert back; `silence query` lists it.
    let id = amtool_ok(
        &d,
        &[],
        &[
            "silence",
            "add",
            "client=db1",
            "-c",
            "disk swap",
            "-a",
            "alice",
            "-d",
            "2h",
        ],
    )
    .await;
    let id = id.trim().to_string();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let listed = amtool_ok(&d, &[], &["silence", "query", "-q"]).await;
    assert_eq!(listed.trim(), id);
    let table = amtool_ok(&d, &[], &["silence", "query", "client=db1"]).await;
    assert!(
        table.contains("alice") && table.contains("disk swap"),
        "{table}"
    );
    let silenced = json_of(
        &amtool_ok(
            &d,
            &[],
            &["-o", "json", "alert", "query", "-s", "client=db1"],
        )
        .await,
    );
    assert_eq!(
        silenced[0]["status"]["silencedBy"],
        json!([id]),
        "{silenced}"
    );
    // One set of silences: tocsin's own API shows amtool's.
    let v1 = d.get_json("/api/v1/silences").await;
    assert_eq!(v1[0]["id"], id.as_str());
    let views = d.alert_views().await;
    let db1 = views
        .iter()
        .find(|v| v["labels"]["client"] == "db1")
        .unwrap();
    assert_eq!(db1["silenced_by"], id.as_str());

    // Export, expire, import: the imported copy is a new active silence.
    let exported = amtool_ok(&d, &[], &["-o", "json", "silence", "query"]).await;
    amtool_ok(&d, &[], &["silence", "expire", &id]).await;
    assert_eq!(
        amtool_ok(&d, &[], &["silence", "query", "-q"]).await.trim(),
        ""
    );
    let expired = amtool_ok(&d, &[], &["silence", "query", "--expired", "-q"]).await;
    assert_eq!(expired.trim(), id);
    let file = dir.join("silences.json");
    std::fs::write(&file, &exported).unwrap();
    let imported = amtool_ok(&d, &[], &["silence", "import", file.to_str().unwrap()]).await;
    let new_id = imported.trim();
    assert!(
        new_id.len() == 36 && new_id != id,
        "import made a new silence: {imported}"
    );
    assert_eq!(
        amtool_ok(&d, &[], &["silence", "query", "-q"]).await.trim(),
        new_id
    );

    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amtool_walks_our_routing_to_the_receivers_we_pick() {
    let (ops, dba) = (Receiver::start(&[]).await, Receiver::start(&[]).await);
    let dir = Daemon::prepare("groups: []\n", &format!("{}{ROUTING}", targets(&ops, &dba)));
    let d = Daemon::start(&dir).await;

    // `config show` prints a configuration Alertmanager's own loader takes
    // (`config routes` parses it with Alertmanager's config package).
    let shown = amtool_ok(&d, &[], &["config", "show"]).await;
    assert!(
        shown.contains("route:") && shown.contains("inhibit_rules:"),
        "{shown}"
    );
    assert!(!shown.contains(&ops.url()), "target URLs stay out: {shown}");
    let tree = amtool_ok(&d, &[], &["config", "routes", "show"]).await;
    assert!(tree.contains("receiver: ops-hook"), "{tree}");

    // For each label set: the receivers Alertmanager's router picks from
    // that config, against the recipients tocsin routes an alert to.
    let cases: &[&[(&str, &str)]] = &[
        &[("vault", "v-prod"), ("severity", "critical")],
        &[("vault", "v-prod"), ("severity", "warning")],
        &[
            ("vault", "v-prod"),
            ("client", "c-7"),
            ("severity", "critical"),
        ],
        &[
            ("vault", "v-test"),
            ("client", "c-1"),
            ("severity", "warning"),
        ],
        &[
            ("vault", "v-test"),
            ("client", "c-2"),
            ("severity", "warning"),
        ],
        &[("vault", "v-dev"), ("severity", "critical")],
    ];
    for (i, labels) in cases.iter().enumerate() {
        let name = format!("Route{i}");
        let mut alert = json!({"alertname": name});
        for (k, v) in labels.iter() {
            alert[*k] = json!(v);
        }
        d.post_alerts(&json!([{"labels": alert}])).await;
        let ours: Vec<String> = wait_for("the alert's view", WAIT, || async {
            d.alert_views()
                .await
                .into_iter()
                .find(|v| v["alert"] == name.as_str())
        })
        .await["recipients"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap().to_string())
            .collect();
        let ours = if ours.is_empty() {
            "off".to_string()
        } else {
            ours.join(",")
        };
        let mut args = vec!["config".to_string(), "routes".into(), "test".into()];
        args.push(format!("alertname={name}"));
        args.extend(labels.iter().map(|(k, v)| format!("{k}={v}")));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let theirs = amtool_ok(&d, &[], &args).await;
        assert_eq!(theirs.trim(), ours, "labels {labels:?}\n{shown}");
        // GET /api/v2/alerts names the same receivers.
        let alerts = d
            .get_json(&format!("/api/v2/alerts?filter=alertname%3D{name}"))
            .await;
        let names: Vec<&str> = alerts[0]["receivers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert_eq!(names.join(","), ours);
    }

    // Groups: one per receiver and group_by value.
    let groups = d
        .get_json("/api/v2/alerts/groups?filter=vault%3Dv-prod")
        .await;
    let groups = groups.as_array().unwrap();
    let dba_group = groups
        .iter()
        .find(|g| g["receiver"]["name"] == "dba-hook")
        .unwrap();
    assert_eq!(dba_group["labels"], json!({"vault": "v-prod"}));
    assert_eq!(dba_group["routeLabels"], json!({"vault": "v-prod"}));
    assert_eq!(
        dba_group["alerts"].as_array().unwrap().len(),
        2,
        "{dba_group}"
    );
    let receivers = d.get_json("/api/v2/receivers").await;
    assert_eq!(
        receivers,
        json!([{"name": "dba-hook"}, {"name": "off"}, {"name": "ops-hook"}])
    );
    let status = d.get_json("/api/v2/status").await;
    assert_eq!(status["cluster"]["status"], "disabled");
    assert!(status["uptime"].as_str().is_some() && status["versionInfo"]["version"].is_string());
    for path in ["/-/healthy", "/-/ready"] {
        let r = http().get(d.api(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amtool_writes_need_the_token_and_reads_do_not() {
    let dir = Daemon::prepare("groups: []\n", &format!("api_token: '{TOKEN}'\n"));
    let d = Daemon::start(&dir).await;
    let http_config = dir.join("amtool-http.yml");
    write_http_config(&http_config, TOKEN);
    let wrong = dir.join("amtool-wrong.yml");
    write_http_config(&wrong, "not-the-token");
    let with = ["--http.config.file", http_config.to_str().unwrap()];
    let wrong = ["--http.config.file", wrong.to_str().unwrap()];

    for extra in [&[][..], &wrong[..]] {
        let (ok, out, err) =
            amtool(&d, extra, &["silence", "add", "vault=v-prod", "-c", "x"]).await;
        assert!(!ok, "refused without the token: {out}");
        assert!(
            err.contains("401") || err.to_lowercase().contains("unauthorized"),
            "{err}"
        );
        let (ok, _, err) = amtool(&d, extra, &["alert", "add", "Tokenless"]).await;
        assert!(!ok, "alert add refused: {err}");
    }
    assert!(d.engine().firing_alerts().is_empty(), "nothing changed");
    assert_eq!(
        amtool_ok(&d, &[], &["silence", "query", "-q"]).await.trim(),
        "",
        "reads stay open"
    );

    amtool_ok(&d, &with, &["alert", "add", "WithToken", "vault=v-prod"]).await;
    let id = amtool_ok(
        &d,
        &with,
        &["silence", "add", "vault=v-prod", "-c", "maintenance"],
    )
    .await;
    let listed = amtool_ok(&d, &[], &["silence", "query", "-q"]).await;
    assert_eq!(listed.trim(), id.trim());
    let (ok, _, _) = amtool(&d, &[], &["silence", "expire", id.trim()]).await;
    assert!(!ok, "expire needs the token");
    amtool_ok(&d, &with, &["silence", "expire", id.trim()]).await;
    let shown = amtool_ok(&d, &[], &["config", "show"]).await;
    assert!(!shown.contains(TOKEN), "the token is never shown");
    d.stop().await;
}

fn write_http_config(path: &Path, token: &str) {
    std::fs::write(
        path,
        format!("authorization:\n  type: Bearer\n  credentials: '{token}'\n"),
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_alertmanagers_answers() {
    let dir = Daemon::prepare("groups: []\n", "");
    let d = Daemon::start(&dir).await;
    let get = |path: &str| http().get(d.api(path)).send();
    for path in [
        "/api/v2/alerts?filter=al!!ert",
        "/api/v2/alerts?active=maybe",
        "/api/v2/alerts?receiver=(",
        "/api/v2/alerts/groups?filter=x%3D~(",
        "/api/v2/silences?filter=nomatcher",
        "/api/v2/receivers?receiver_matchers=x",
    ] {
        let r = get(path).await.unwrap();
        assert_eq!(r.status(), 400, "{path}");
        let body: Value = r.json().await.unwrap();
        assert!(
            body.as_str().is_some_and(|s| !s.is_empty()),
            "{path}: a JSON string saying why: {body}"
        );
    }
    for r in [
        get("/api/v2/silence/0b0a3d8c-1111-4222-8333-444455556666")
            .await
            .unwrap(),
        http()
            .delete(d.api("/api/v2/silence/0b0a3d8c-1111-4222-8333-444455556666"))
            .send()
            .await
            .unwrap(),
    ] {
        assert_eq!(r.status(), 404);
    }
    let post = |body: Value| http().post(d.api("/api/v2/silences")).json(&body).send();
    let now = chrono::Utc::now();
    let t = |mins: i64| (now + chrono::Duration::minutes(mins)).to_rfc3339();
    let m = json!([{"name": "vault", "value": "v-prod", "isRegex": false, "isEqual": true}]);
    let bad = [
        (
            json!({"matchers": [], "startsAt": t(0), "endsAt": t(60), "createdBy": "a", "comment": "c"}),
            "matchers",
        ),
        (
            json!({"matchers": [{"name": "x", "value": ".*", "isRegex": true}], "startsAt": t(0), "endsAt": t(60), "createdBy": "a", "comment": "c"}),
            "empty string",
        ),
        (
            json!({"matchers": m, "startsAt": t(60), "endsAt": t(30), "createdBy": "a", "comment": "c"}),
            "endsAt",
        ),
        (
            json!({"matchers": m, "startsAt": t(-60), "endsAt": t(-30), "createdBy": "a", "comment": "c"}),
            "past",
        ),
        (
            json!({"matchers": m, "endsAt": "tomorrow", "createdBy": "a", "comment": "c"}),
            "expected a silence",
        ),
        (
            json!({"matchers": [{"name": "x", "value": "(", "isRegex": true}], "startsAt": t(0), "endsAt": t(60), "createdBy": "a", "comment": "c"}),
            "regex",
        ),
    ];
    for (body, want) in bad {
        let r = post(body.clone()).await.unwrap();
        assert_eq!(r.status(), 400, "{body}");
        let why: Value = r.json().await.unwrap();
        assert!(why.as_str().unwrap_or("").contains(want), "{body}: {why}");
    }
    let unknown = post(json!({"id": "0b0a3d8c-1111-4222-8333-444455556666", "matchers": m, "startsAt": t(0), "endsAt": t(60), "createdBy": "a", "comment": "c"})).await.unwrap();
    assert_eq!(unknown.status(), 404);
    assert_eq!(
        d.get_json("/api/v2/silences").await,
        json!([]),
        "nothing was added"
    );

    // Updates as Alertmanager makes them: a new end keeps the id; new
    // matchers expire the old silence and make a new one.
    let created: Value = post(
        json!({"matchers": m, "startsAt": t(0), "endsAt": t(60), "createdBy": "a", "comment": "c"}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let id = created["silenceID"].as_str().unwrap().to_string();
    let before = d.get_json(&format!("/api/v2/silence/{id}")).await;
    let same: Value = post(json!({"id": id, "matchers": m, "startsAt": before["startsAt"], "endsAt": t(120), "createdBy": "b", "comment": "longer"})).await.unwrap().json().await.unwrap();
    assert_eq!(same["silenceID"], id.as_str());
    let after = d.get_json(&format!("/api/v2/silence/{id}")).await;
    assert_eq!(
        (after["comment"].as_str(), after["createdBy"].as_str()),
        (Some("longer"), Some("b"))
    );
    assert_eq!(after["status"]["state"], "active");
    let other = json!([{"name": "vault", "value": "v-test", "isRegex": false, "isEqual": true}]);
    let replaced: Value = post(json!({"id": id, "matchers": other, "startsAt": t(0), "endsAt": t(60), "createdBy": "b", "comment": "other"})).await.unwrap().json().await.unwrap();
    let new_id = replaced["silenceID"].as_str().unwrap();
    assert_ne!(new_id, id);
    assert_eq!(
        d.get_json(&format!("/api/v2/silence/{id}")).await["status"]["state"],
        "expired"
    );
    let states: Vec<Value> = d
        .get_json("/api/v2/silences")
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"]["state"].clone())
        .collect();
    assert_eq!(
        states,
        [json!("active"), json!("expired")],
        "active first, then expired"
    );
    let only_expired = d.get_json("/api/v2/silences?active=false").await;
    assert_eq!(only_expired[0]["id"], id.as_str());
    let filtered = d
        .get_json("/api/v2/silences?filter=vault%3D%22v-test%22")
        .await;
    assert_eq!(filtered.as_array().unwrap().len(), 1);
    // Deleting an expired silence is a 200, as in Alertmanager.
    let r = http()
        .delete(d.api(&format!("/api/v2/silence/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amtool_shows_what_a_real_prometheus_sent() {
    push("t_am_api", "t_am_api_value{deployment=\"d1\"} 10\n").await;
    wait_prometheus_value("t_am_api_value", 10.0).await;
    let dir = Daemon::prepare("groups: []\n", "");
    let d = Daemon::start(&dir).await;
    let addr = d.running.as_ref().unwrap().addr;

    let _prometheus = common::OwnPrometheus::start(Some((
        addr,
        "groups:\n  - name: am-api\n    rules:\n      - alert: AmApiHigh\n        expr: t_am_api_value > 5\n        labels: {severity: critical, team: data}\n        annotations: {summary: \"value {{ $value }} on {{ $labels.deployment }}\"}\n",
    )));

    let alerts = wait_for("amtool to show Prometheus's alert", WAIT, || async {
        let (ok, out, _) = amtool(
            &d,
            &[],
            &["-o", "json", "alert", "query", "alertname=AmApiHigh"],
        )
        .await;
        let v: Value = serde_json::from_str(&out).ok()?;
        (ok && v.as_array().is_some_and(|a| !a.is_empty())).then_some(v)
    })
    .await;
    let a = &alerts[0];
    for (k, v) in [
        ("alertname", "AmApiHigh"),
        ("deployment", "d1"),
        ("severity", "critical"),
        ("team", "data"),
    ] {
        assert_eq!(a["labels"][k], v, "the labels Prometheus sent: {a}");
    }
    assert_eq!(
        a["annotations"],
        json!({"summary": "value 10 on d1"}),
        "nothing added"
    );
    assert_eq!(a["annotations"]["summary"], "value 10 on d1");
    assert!(
        a["generatorURL"]
            .as_str()
            .unwrap()
            .contains("/graph?g0.expr="),
        "Prometheus's generatorURL kept: {a}"
    );
    let simple = amtool_ok(&d, &[], &["alert", "query", "team=data"]).await;
    assert!(
        simple.contains("AmApiHigh") && simple.contains("value 10 on d1"),
        "{simple}"
    );
    d.stop().await;
}
