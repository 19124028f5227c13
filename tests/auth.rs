//! `api_token`: write endpoints need `Authorization: Bearer <token>`; reads
//! and pings stay open; the CLI sends the token of its config; the token is
//! never echoed; a reload can change it.

mod common;

use common::{Daemon, http};

const TOKEN: &str = "tok-9f2c7e1d";

async fn post(
    d: &Daemon,
    path: &str,
    auth: Option<&str>,
    body: serde_json::Value,
) -> (u16, String) {
    let mut req = http().post(d.api(path)).json(&body);
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let resp = req.send().await.unwrap();
    (
        resp.status().as_u16(),
        resp.text().await.unwrap_or_default(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_endpoints_need_the_bearer_token() {
    let dir = Daemon::prepare("groups: []\n", &format!("api_token: '{TOKEN}'\n"));
    let d = Daemon::start(&dir).await;
    let alerts = serde_json::json!([{"labels": {"alertname": "Pushed"}}]);

    let (status, body) = post(&d, "/api/v2/alerts", None, alerts.clone()).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("Authorization: Bearer"), "{body}");
    let (status, body) = post(
        &d,
        "/api/v2/alerts",
        Some("Bearer tok-9f2c7e1"),
        alerts.clone(),
    )
    .await;
    assert_eq!(status, 401);
    assert!(
        !body.contains("tok-9f2c7e1"),
        "the token is never echoed: {body}"
    );
    assert!(
        d.alert("Pushed").is_none(),
        "a refused request changes nothing"
    );
    let bearer = format!("Bearer {TOKEN}");
    let (status, body) = post(&d, "/api/v2/alerts", Some(&bearer), alerts).await;
    assert_eq!(status, 200, "{body}");
    assert!(d.alert("Pushed").is_some());

    // Reads and pings need no token.
    let resp = http().get(d.api("/api/v1/alerts")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let resp = http()
        .post(d.api("/ping/no-such-key"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        404,
        "pings are judged by their key, not the token"
    );
    let (status, _) = post(&d, "/-/reload", None, serde_json::json!({})).await;
    assert_eq!(status, 401);

    // The CLI sends its config's token; without it, it says why it failed.
    let addr = d.running.as_ref().unwrap().addr;
    let cli = |config: &str| {
        let path = dir.join("cli.yaml");
        std::fs::write(&path, config).unwrap();
        let (ok, _, err) = common::cli(
            &path,
            &[
                "silence",
                "add",
                "alertname=Pushed",
                "--for",
                "1h",
                "--author",
                "ci",
                "-m",
                "test",
            ],
        );
        (ok, err)
    };
    let (ok, err) = cli(&format!("listen: {addr}\n"));
    assert!(!ok);
    assert!(
        err.contains("needs `Authorization: Bearer <api_token>`"),
        "{err}"
    );
    let (ok, err) = cli(&format!("listen: {addr}\napi_token: '{TOKEN}'\n"));
    assert!(ok, "{err}");

    // A reload with a new token: the old one stops working.
    let config = std::fs::read_to_string(dir.join("tocsin.yaml")).unwrap();
    std::fs::write(dir.join("tocsin.yaml"), config.replace(TOKEN, "tok-new")).unwrap();
    let (status, body) = post(&d, "/-/reload", Some(&bearer), serde_json::json!({})).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = post(&d, "/api/v2/alerts", Some(&bearer), serde_json::json!([])).await;
    assert_eq!(status, 401);
    let (status, _) = post(
        &d,
        "/api/v2/alerts",
        Some("Bearer tok-new"),
        serde_json::json!([]),
    )
    .await;
    assert_eq!(status, 200);
    d.stop().await;
}
