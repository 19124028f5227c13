//! Browsers cannot be used against the daemon: cross-site form and
//! text/plain posts, foreign Origins and foreign Host names (DNS rebinding)
//! are refused; pings and JSON clients (curl, amtool, Prometheus) keep
//! working; with a token, reads can be protected and ping keys are shown
//! only to authenticated readers.

mod common;

use common::{Daemon, http};

const KEY: &str = "0123456789abcdef-key";

async fn send(req: reqwest::RequestBuilder) -> (u16, String) {
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_site_writes_and_foreign_hosts_are_refused_without_a_token() {
    let dir = Daemon::prepare("groups: []\n", "");
    std::fs::write(
        dir.join("rules/checks.yaml"),
        "heartbeats:\n  - {name: nightly, every: 1h, grace: 1h}\n",
    )
    .unwrap();
    let d = Daemon::start(&dir).await;
    let alerts = r#"[{"labels": {"alertname": "FromABrowser"}}]"#;

    // A page on any site: text/plain and form posts (no preflight needed).
    let (status, text) = send(
        http()
            .post(d.api("/api/v2/alerts"))
            .header("content-type", "text/plain")
            .body(alerts),
    )
    .await;
    assert_eq!(status, 415, "{text}");
    let (status, text) = send(
        http()
            .post(d.api("/api/v1/silences"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("origin", "https://evil.example")
            .body("matchers=a%3Db&duration=1h&createdBy=x&comment=y"),
    )
    .await;
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("cross-site"), "{text}");
    let (status, _) = send(
        http()
            .post(d.api("/api/v2/alerts"))
            .header("content-type", "application/json")
            .header("sec-fetch-site", "cross-site")
            .body(alerts),
    )
    .await;
    assert_eq!(status, 403);
    assert!(d.alert("FromABrowser").is_none());

    // DNS rebinding: a foreign name in Host, for reads and writes.
    for path in ["/api/v1/alerts", "/api/v1/heartbeats", "/"] {
        let (status, text) =
            send(http().get(d.api(path)).header("host", "evil.example:9750")).await;
        assert_eq!(status, 403, "{path}: {text}");
        assert!(text.contains("http.allowed_hosts"), "{text}");
    }

    // curl / amtool / Prometheus: JSON, no Origin: fine. Same-origin too.
    let (status, text) = send(
        http()
            .post(d.api("/api/v2/alerts"))
            .header("content-type", "application/json")
            .body(alerts),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let own = d.api("");
    let (status, _) = send(
        http()
            .post(d.api("/api/v2/alerts"))
            .header("content-type", "application/json")
            .header("origin", own.trim_end_matches('/'))
            .body(alerts),
    )
    .await;
    assert_eq!(status, 200);
    // An empty form post (no Origin, as old browsers sent it) is refused too.
    let (status, _) = send(
        http()
            .post(d.api("/-/reload"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("content-length", "0"),
    )
    .await;
    assert_eq!(status, 415);
    // A body-less POST (curl -XPOST .../-/reload) needs no content type.
    assert_eq!(send(http().post(d.api("/-/reload"))).await.0, 200);

    // Pings stay usable by anything, with any Host and method.
    let list: serde_json::Value = d.get_json("/api/v1/heartbeats").await;
    let key = list[0]["key"].as_str().expect("key shown without a token");
    let (status, _) = send(
        http()
            .post(d.api(&format!("/ping/{key}")))
            .header("host", "backups.example")
            .header("content-type", "text/plain")
            .header("origin", "https://elsewhere.example")
            .body("log"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        send(http().get(d.api("/healthz")).header("host", "evil.example"))
            .await
            .0,
        200
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_token_reads_can_be_protected_and_ping_keys_are_hidden() {
    let dir = Daemon::prepare(
        "groups: []\n",
        &format!("api_token: {KEY}\nhttp: {{allowed_hosts: [tocsin.example]}}\n"),
    );
    std::fs::write(
        dir.join("rules/checks.yaml"),
        "heartbeats:\n  - {name: nightly, every: 1h, grace: 1h}\n",
    )
    .unwrap();
    let d = Daemon::start(&dir).await;
    let bearer = format!("Bearer {KEY}");
    let list = |auth: bool| {
        let mut r = http().get(d.api("/api/v1/heartbeats"));
        if auth {
            r = r.header("authorization", &bearer);
        }
        async move {
            r.send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    };
    assert!(
        list(false).await[0]["key"].is_null(),
        "hidden from anonymous readers"
    );
    assert!(
        list(true).await[0]["key"].is_string(),
        "shown with the token"
    );
    // Listed names and IP addresses are served, others not.
    assert_eq!(
        send(
            http()
                .get(d.api("/api/v1/alerts"))
                .header("host", "tocsin.example:9750")
        )
        .await
        .0,
        200
    );
    assert_eq!(
        send(
            http()
                .get(d.api("/api/v1/alerts"))
                .header("host", "evil.example")
        )
        .await
        .0,
        403
    );
    // With the token a write needs no JSON content type (not a simple request).
    let (status, text) = send(
        http()
            .post(d.api("/api/v2/alerts"))
            .header("authorization", &bearer)
            .header("content-type", "text/plain")
            .body(r#"[{"labels": {"alertname": "Scripted"}}]"#),
    )
    .await;
    assert_eq!(status, 200, "{text}");

    // api_token_reads: reads need the token; /healthz and pings do not.
    let cfg = dir.join("tocsin.yaml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, format!("{text}api_token_reads: true\n")).unwrap();
    d.running.as_ref().unwrap().reload().await.unwrap();
    let (status, text) = send(http().get(d.api("/api/v1/alerts"))).await;
    assert_eq!(status, 401, "{text}");
    assert_eq!(send(http().get(d.api("/"))).await.0, 401);
    assert_eq!(send(http().get(d.api("/metrics"))).await.0, 401);
    assert_eq!(
        send(
            http()
                .get(d.api("/api/v1/alerts"))
                .header("authorization", &bearer)
        )
        .await
        .0,
        200
    );
    assert_eq!(send(http().get(d.api("/healthz"))).await.0, 200);
    let (status, _) = send(http().get(d.api("/ping/00000000-0000-0000-0000-000000000000"))).await;
    assert_eq!(status, 404, "pings are answered, not refused");
    d.stop().await;
}
