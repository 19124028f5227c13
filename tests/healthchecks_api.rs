//! The Healthchecks Management API v3 end to end: the real Healthchecks
//! client (`healthchecks-io` from PyPI, in the venv scripts/testenv.sh
//! makes) drives a daemon running in this process through
//! tests/healthchecks_client.py; the Rust side checks what the daemon made
//! of it (labels from tags, durability across a restart) and the error
//! answers, with plain HTTP.

mod common;

use std::time::Duration;

use common::{Daemon, http, wait_for};
use serde_json::{Value, json};

const TOKEN: &str = "rw-api-token-0123456789abcdef";
const RO_KEY: &str = "ro-api-key-0123456789abcdef";

/// A declared check, a template for backup clients, and one webhook target
/// (an integration to list); the API keys.
fn prepare() -> std::path::PathBuf {
    let dir = Daemon::prepare(
        "groups: []\n",
        &format!(
            "api_token: {TOKEN}\nheartbeat: {{read_only_api_key: {RO_KEY}}}\ntargets:\n  - {{name: ops-hook, type: webhook, url: \"http://ops-hook.invalid/hook\"}}\n"
        ),
    );
    std::fs::write(
        dir.join("rules/checks.yaml"),
        "heartbeats:\n  - {name: declared, every: 1h, grace: 5m}\n  - {name: \"backup-{vault}-{client}\", every: 1d, grace: 2h, labels: {team: backup}}\n",
    )
    .unwrap();
    dir
}

struct Answer {
    status: u16,
    json: Value,
    text: String,
}

async fn send(req: reqwest::RequestBuilder) -> Answer {
    let resp = req.send().await.expect("daemon answers");
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    Answer {
        status,
        json: serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
    }
}

fn v3(d: &Daemon, path: &str) -> String {
    d.api(&format!("/api/v3{path}"))
}

async fn list(d: &Daemon) -> Vec<Value> {
    let a = send(http().get(v3(d, "/checks/")).header("X-Api-Key", TOKEN)).await;
    assert_eq!(a.status, 200, "{}", a.text);
    a.json["checks"].as_array().cloned().unwrap()
}

/// One check as `/api/v1/heartbeats` shows it to a reader with the token
/// (ping keys are shown to authenticated readers only).
async fn heartbeat(d: &Daemon, name: &str) -> Value {
    let list: Value = common::http()
        .get(d.api("/api/v1/heartbeats"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    list.as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no check {name}"))
}

#[tokio::test]
async fn the_real_healthchecks_client_manages_checks() {
    let python = common::hc_python();
    let dir = prepare();
    let d = Daemon::start(&dir).await;
    let base = d.api("");
    let script = common::repo().join("tests/healthchecks_client.py");
    let out = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new(python)
            .arg(&script)
            .args([base.as_str(), TOKEN, RO_KEY])
            .output(),
    )
    .await
    .expect("the client script finishes")
    .expect("the venv python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the Healthchecks client failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let facts: Value = serde_json::from_str(stdout.lines().last().unwrap_or("")).unwrap();
    let uuid = facts["uuid"].as_str().unwrap().to_string();
    assert_eq!(facts["checks"], 2, "declared + backup-prod-db1");

    // tocsin's view: the tags' labels over the template's, origin api
    let hb = heartbeat(&d, "backup-prod-db1").await;
    assert_eq!(hb["key"], uuid.as_str());
    assert_eq!(hb["origin"], "api");
    assert_eq!(
        hb["labels"],
        json!({"vault": "v-prod", "client": "db1", "team": "backup"})
    );
    assert_eq!(hb["every_seconds"], 7200.0, "updated by unique");
    assert_eq!(hb["grace_seconds"], 600.0, "its own, not the template's 2h");
    assert_eq!(hb["state"], "new", "resumed");

    // durable: a restart keeps the check, its settings, pings and flips
    d.stop().await;
    let d = Daemon::start(&dir).await;
    let hb = heartbeat(&d, "backup-prod-db1").await;
    assert_eq!(
        (
            &hb["key"],
            &hb["origin"],
            &hb["every_seconds"],
            &hb["grace_seconds"]
        ),
        (&json!(uuid), &json!("api"), &json!(7200.0), &json!(600.0))
    );
    let c = send(
        http()
            .get(v3(&d, &format!("/checks/{uuid}")))
            .header("X-Api-Key", TOKEN),
    )
    .await;
    assert_eq!(c.status, 200, "{}", c.text);
    assert_eq!(c.json["tags"], "prod vault=v-prod client=db1");
    assert_eq!(c.json["desc"], "nightly dump of db1, up to 2h");
    assert_eq!(c.json["n_pings"], 4);
    assert_eq!(c.json["ping_url"], d.api(&format!("/ping/{uuid}")));
    let flips = send(
        http()
            .get(v3(&d, &format!("/checks/{uuid}/flips/")))
            .header("X-Api-Key", TOKEN),
    )
    .await;
    assert_eq!(
        flips.json.as_array().map(Vec::len),
        Some(2),
        "{}",
        flips.text
    );
    // its ping URL works after the restart
    let p = send(http().get(d.api(&format!("/ping/{uuid}/")))).await;
    assert_eq!((p.status, p.text.as_str()), (200, "OK"));
    assert_eq!(heartbeat(&d, "backup-prod-db1").await["state"], "up");
    d.stop().await;
}

#[tokio::test]
async fn bad_requests_get_healthchecks_errors_and_change_nothing() {
    let dir = prepare();
    let d = Daemon::start(&dir).await;
    let before = list(&d).await;
    assert_eq!(before.len(), 1, "the declared check");
    let declared = before[0]["uuid"].as_str().unwrap().to_string();
    let body = json!({"name": "nightly", "timeout": 3600});

    // no key, a wrong key, the read-only key for a write: 401, nothing made
    for (key, want) in [
        (None, "missing api key"),
        (Some("nope"), "wrong api key"),
        (Some(RO_KEY), "wrong api key"),
    ] {
        let mut req = http().post(v3(&d, "/checks/")).json(&body);
        if let Some(k) = key {
            req = req.header("X-Api-Key", k);
        }
        let a = send(req).await;
        assert_eq!(
            (a.status, &a.json),
            (401, &json!({"error": want})),
            "{key:?}"
        );
    }
    let a = send(http().get(v3(&d, "/checks/"))).await;
    assert_eq!(
        (a.status, &a.json),
        (401, &json!({"error": "missing api key"}))
    );
    let a = send(
        http()
            .delete(v3(&d, &format!("/checks/{declared}")))
            .header("X-Api-Key", "nope"),
    )
    .await;
    assert_eq!(a.status, 401);
    assert_eq!(list(&d).await, before, "nothing changed");

    // the key may come in the body, as Healthchecks allows
    let a =
        send(http().post(v3(&d, "/checks/")).json(
            &json!({"api_key": TOKEN, "name": "nightly", "timeout": 3600, "tags": "vault=v1"}),
        ))
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
    let uuid = a.json["uuid"].as_str().unwrap().to_string();
    let nightly = a.json.clone();

    // malformed bodies: 400 with the reason
    let post = |path: String, body: &'static str| {
        http()
            .post(v3(&d, &path))
            .header("X-Api-Key", TOKEN)
            .header("content-type", "application/json")
            .body(body)
    };
    for (path, body, want) in [
        (
            "/checks/".to_string(),
            "{nope",
            "could not parse request body",
        ),
        (
            "/checks/".to_string(),
            "[1, 2]",
            "json validation error: the body is not an object",
        ),
        (
            "/checks/".to_string(),
            r#"{"timeout": 30}"#,
            "json validation error: timeout is too small",
        ),
        (
            "/checks/".to_string(),
            r#"{"grace": "1h"}"#,
            "json validation error: grace is not a number",
        ),
        (
            "/checks/".to_string(),
            r#"{"tz": "Nowhere/Else", "schedule": "* * * * *"}"#,
            "json validation error: tz is not a valid timezone",
        ),
        (
            "/checks/".to_string(),
            r#"{"unique": ["id"]}"#,
            "json validation error: an item in 'unique' has unexpected value",
        ),
        (
            "/checks/".to_string(),
            r#"{"channels": "pager"}"#,
            "invalid channel identifier: pager",
        ),
        (
            format!("/checks/{uuid}"),
            r#"{"name": 5}"#,
            "json validation error: name is not a string",
        ),
        (
            format!("/checks/{uuid}"),
            r#"{"tags": "=x"}"#,
            "looks like a label",
        ),
    ] {
        let a = send(post(path.clone(), body)).await;
        assert_eq!(a.status, 400, "{path} {body}: {}", a.text);
        let error = a.json["error"].as_str().unwrap_or_default();
        assert!(error.contains(want), "{body}: {error}");
    }
    let a = send(
        http()
            .get(v3(&d, &format!("/checks/{uuid}")))
            .header("X-Api-Key", TOKEN),
    )
    .await;
    assert_eq!(a.json, nightly, "a refused update changes nothing");

    // unknown checks: 404
    let unknown = "7ef2d1b4-8d43-4a5f-9a39-1cd7a5a7e0c1";
    for req in [
        http().get(v3(&d, &format!("/checks/{unknown}"))),
        http()
            .post(v3(&d, &format!("/checks/{unknown}")))
            .json(&json!({})),
        http().delete(v3(&d, &format!("/checks/{unknown}"))),
        http().post(v3(&d, &format!("/checks/{unknown}/pause"))),
        http().get(v3(&d, &format!("/checks/{unknown}/pings/"))),
        http().get(v3(&d, &format!("/checks/{unknown}/flips/"))),
        http().get(v3(&d, "/checks/not-a-uuid")),
    ] {
        let a = send(req.header("X-Api-Key", TOKEN)).await;
        assert_eq!((a.status, &a.json), (404, &json!({"error": "not found"})));
    }

    // a declared check: 403 with why, for changes and deletion
    for req in [
        http()
            .post(v3(&d, &format!("/checks/{declared}")))
            .json(&json!({"timeout": 60})),
        http().delete(v3(&d, &format!("/checks/{declared}"))),
        http()
            .post(v3(&d, "/checks/"))
            .json(&json!({"name": "declared", "unique": ["name"]})),
    ] {
        let a = send(req.header("X-Api-Key", TOKEN)).await;
        assert_eq!(a.status, 403, "{}", a.text);
        assert!(
            a.json["error"]
                .as_str()
                .unwrap()
                .contains("declared in a rule file"),
            "{}",
            a.text
        );
    }
    assert_eq!(heartbeat(&d, "declared").await["every_seconds"], 3600.0);

    // names and slugs are unique: 409 without `unique`, 200 with it
    let a = send(
        http()
            .post(v3(&d, "/checks/"))
            .header("X-Api-Key", TOKEN)
            .json(&body),
    )
    .await;
    assert_eq!(a.status, 409, "{}", a.text);
    let a = send(
        http()
            .post(v3(&d, "/checks/"))
            .header("X-Api-Key", TOKEN)
            .json(&json!({"name": "nightly", "timeout": 3600, "unique": ["name", "timeout"]})),
    )
    .await;
    assert_eq!(
        (a.status, a.json["uuid"].as_str()),
        (200, Some(uuid.as_str()))
    );
    let a = send(
        http()
            .post(v3(&d, "/checks/"))
            .header("X-Api-Key", TOKEN)
            .json(&json!({"name": "other", "slug": "nightly"})),
    )
    .await;
    assert_eq!(a.status, 409, "{}", a.text);

    // pings like Healthchecks: any method, a trailing slash, its answers
    let ping = d.api(&format!("/ping/{uuid}"));
    for req in [
        http().get(format!("{ping}/")),
        http().put(&ping),
        http().patch(format!("{ping}/0/")),
        http().delete(format!("{ping}/start")),
    ] {
        let a = send(req).await;
        assert_eq!((a.status, a.text.as_str()), (200, "OK"));
    }
    let a = send(http().get(format!("{ping}/256/"))).await;
    assert_eq!((a.status, a.text.as_str()), (400, "invalid url format"));
    let a = send(http().put(d.api(&format!("/ping/{unknown}/")))).await;
    assert_eq!(a.status, 404);
    assert!(a.text.starts_with("not found"), "{}", a.text);
    let a = send(
        http()
            .get(v3(&d, &format!("/checks/{uuid}/pings/")))
            .header("X-Api-Key", TOKEN),
    )
    .await;
    let methods: Vec<&str> = a.json["pings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["method"].as_str().unwrap())
        .collect();
    assert_eq!(methods, ["DELETE", "PATCH", "PUT", "GET"]);

    // the other endpoints need a key too; pings need the read-write one
    for path in ["/channels/", "/badges/", &format!("/checks/{uuid}/flips/")] {
        let a = send(http().get(v3(&d, path))).await;
        assert_eq!(a.status, 401, "{path}");
    }
    let a = send(
        http()
            .get(v3(&d, &format!("/checks/{uuid}/pings/")))
            .header("X-Api-Key", RO_KEY),
    )
    .await;
    assert_eq!(a.status, 401);
    let a = send(http().get(v3(&d, "/badges/")).header("X-Api-Key", RO_KEY)).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let a = send(http().get(v3(&d, "/checks/")).header("X-Api-Key", RO_KEY)).await;
    assert!(
        a.json["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c.get("uuid").is_none() && c["unique_key"].is_string())
    );
    // by uuid too, as Healthchecks: the answer has no uuid or URLs
    let a = send(
        http()
            .get(v3(&d, &format!("/checks/{uuid}")))
            .header("X-Api-Key", RO_KEY),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert!(
        a.json.get("ping_url").is_none() && a.json["unique_key"].is_string(),
        "{}",
        a.text
    );
    // the bearer middleware leaves /api/v3/ alone: no Authorization needed
    let a = send(
        http()
            .post(v3(&d, &format!("/checks/{uuid}/pause")))
            .header("X-Api-Key", TOKEN),
    )
    .await;
    assert_eq!(
        (a.status, &a.json["status"]),
        (200, &json!("paused")),
        "{}",
        a.text
    );
    d.stop().await;
}

#[tokio::test]
async fn a_silent_check_flips_down_and_its_next_ping_back_up() {
    let dir = prepare();
    std::fs::write(
        dir.join("rules/fast.yaml"),
        "heartbeats:\n  - {name: fast, every: 1s, grace: 1s}\n",
    )
    .unwrap();
    let d = Daemon::start(&dir).await;
    let fast = list(&d)
        .await
        .into_iter()
        .find(|c| c["name"] == "fast")
        .unwrap();
    let uuid = fast["uuid"].as_str().unwrap().to_string();
    let flips = |d: &Daemon| {
        let req = http()
            .get(v3(d, &format!("/checks/{uuid}/flips/")))
            .header("X-Api-Key", TOKEN);
        async move { send(req).await.json }
    };
    assert_eq!(flips(&d).await, json!([]), "a new check never flipped");
    let p = send(http().post(d.api(&format!("/ping/{uuid}")))).await;
    assert_eq!(p.status, 200);
    let up = flips(&d).await;
    assert_eq!(up.as_array().map(Vec::len), Some(1), "{up}");
    assert_eq!(up[0]["up"], 1);
    // silent past period + grace: down (not yet written), then up again
    let down = wait_for("the check to go down", Duration::from_secs(10), || async {
        let f = flips(&d).await;
        (f.as_array().map(Vec::len) == Some(2)).then_some(f)
    })
    .await;
    assert_eq!((&down[0]["up"], &down[1]["up"]), (&json!(0), &json!(1)));
    let c = send(
        http()
            .get(v3(&d, &format!("/checks/{uuid}")))
            .header("X-Api-Key", TOKEN),
    )
    .await;
    assert_eq!(c.json["status"], "down");
    let p = send(http().get(d.api(&format!("/ping/{uuid}/")))).await;
    assert_eq!(p.status, 200);
    let back = flips(&d).await;
    let ups: Vec<&Value> = back.as_array().unwrap().iter().map(|f| &f["up"]).collect();
    assert_eq!(ups, [&json!(1), &json!(0), &json!(1)], "{back}");
    assert_eq!(back[1], down[0], "the down flip is written as it was shown");
    d.stop().await;
}
