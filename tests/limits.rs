//! Limits on every input: oversized and overflowing requests are refused
//! with 413/400/429 and the key that raises the limit, never a panic; lists
//! and the status page are capped.

mod common;

use common::{Daemon, http};
use serde_json::json;

async fn post(d: &Daemon, path: &str, body: Vec<u8>) -> (u16, String) {
    let r = http()
        .post(d.api(path))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

fn alert(name: &str) -> serde_json::Value {
    json!({"labels": {"alertname": name}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_alert_posts_are_refused_with_the_limit_to_raise() {
    let dir = Daemon::prepare(
        "groups: []\n",
        "limits: {external_alerts: 5, page_rows: 3, list_items: 4}\n",
    );
    let d = Daemon::start(&dir).await;

    // A body over limits.alerts_body_bytes (4 MiB).
    let big = json!([{"labels": {"alertname": "Big"}, "annotations": {"x": "y".repeat(5 << 20)}}]);
    let (status, text) = post(&d, "/api/v2/alerts", big.to_string().into_bytes()).await;
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("limits.alerts_body_bytes"), "{text}");

    // 1.5 MB in one annotation: within the body limit, over annotation_bytes.
    let fat = json!([{"labels": {"alertname": "Fat"}, "annotations": {"summary": "y".repeat(1_500_000)}}]);
    let (status, text) = post(&d, "/api/v2/alerts", fat.to_string().into_bytes()).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("limits.annotation_bytes"), "{text}");

    // 10 000 labels.
    let mut labels = serde_json::Map::new();
    labels.insert("alertname".into(), json!("Wide"));
    for i in 0..10_000 {
        labels.insert(format!("l{i}"), json!("v"));
    }
    let wide = json!([{"labels": labels}]);
    let (status, text) = post(&d, "/api/v2/alerts", wide.to_string().into_bytes()).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("limits.labels_per_alert"), "{text}");

    // One long label value.
    let long = json!([{"labels": {"alertname": "Long", "x": "v".repeat(5000)}}]);
    let (status, text) = post(&d, "/api/v2/alerts", long.to_string().into_bytes()).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("limits.label_bytes"), "{text}");

    // More alerts in one post than limits.alerts_per_post (1 000).
    let many: Vec<_> = (0..1001).map(|i| alert(&format!("M{i}"))).collect();
    let (status, text) = post(&d, "/api/v2/alerts", json!(many).to_string().into_bytes()).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("limits.alerts_per_post"), "{text}");

    // limits.external_alerts: 5 active in all; a batch past it is refused whole.
    let four: Vec<_> = (0..4).map(|i| alert(&format!("A{i}"))).collect();
    assert_eq!(
        post(&d, "/api/v2/alerts", json!(four).to_string().into_bytes())
            .await
            .0,
        200
    );
    let two: Vec<_> = (4..6).map(|i| alert(&format!("A{i}"))).collect();
    let (status, text) = post(&d, "/api/v2/alerts", json!(two).to_string().into_bytes()).await;
    assert_eq!(status, 429, "{text}");
    assert!(text.contains("limits.external_alerts"), "{text}");
    assert!(
        d.alert("A4").is_none(),
        "nothing of a refused batch is applied"
    );
    // Re-posting active ones is always fine.
    assert_eq!(
        post(&d, "/api/v2/alerts", json!(four).to_string().into_bytes())
            .await
            .0,
        200
    );
    let one = json!([alert("A4")]);
    assert_eq!(
        post(&d, "/api/v2/alerts", one.to_string().into_bytes())
            .await
            .0,
        200
    );

    // Lists are paged and capped (limits.list_items: 4).
    let r = http().get(d.api("/api/v1/alerts")).send().await.unwrap();
    assert_eq!(r.headers()["x-total-count"], "5");
    let all: Vec<serde_json::Value> = r.json().await.unwrap();
    assert_eq!(all.len(), 4, "capped at list_items");
    let page = d.get_json("/api/v1/alerts?limit=2&offset=4").await;
    let page = page.as_array().unwrap();
    assert_eq!(page.len(), 1);

    // The status page shows limits.page_rows rows per table.
    let html = d.get_text("/").await;
    assert!(html.contains("2 more not shown"), "{html}");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_and_overflowing_silences_are_refused_not_panicking() {
    let dir = Daemon::prepare("groups: []\n", "limits: {silences: 2}\n");
    let d = Daemon::start(&dir).await;
    let silence = |extra: serde_json::Value| {
        let mut s = json!({"matchers": ["a=b"], "createdBy": "me", "comment": "why"});
        s.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        s.to_string().into_bytes()
    };
    for (extra, want) in [
        (
            json!({"duration": "99999999999h"}),
            "limits.silence_duration",
        ),
        (json!({"duration": "300000y"}), "duration"),
        (json!({"duration": "11years"}), "limits.silence_duration"),
        (
            json!({"endsAt": "9999-12-31T23:59:59Z"}),
            "limits.silence_duration",
        ),
        (
            json!({"startsAt": "9000-01-01T00:00:00Z", "duration": "1h"}),
            "startsAt",
        ),
    ] {
        let (status, text) = post(&d, "/api/v1/silences", silence(extra.clone())).await;
        assert_eq!(status, 400, "{extra}: {text}");
        assert!(text.contains(want), "{extra}: {text}");
    }
    let (status, text) = post(&d, "/api/v1/silences", vec![b' '; 100 << 10]).await;
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("limits.api_body_bytes"), "{text}");
    let matchers: Vec<String> = (0..100).map(|i| format!("l{i}=v")).collect();
    let (status, text) = post(
        &d,
        "/api/v1/silences",
        json!({"matchers": matchers, "duration": "1h", "createdBy": "me", "comment": "c"})
            .to_string()
            .into_bytes(),
    )
    .await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("limits.matchers_per_silence"), "{text}");

    // The CLI's --for goes through the same checks.
    let cli_config = dir.join("cli.yaml");
    std::fs::write(
        &cli_config,
        format!("listen: {}\n", d.running.as_ref().unwrap().addr),
    )
    .unwrap();
    let (ok, _, err) = common::cli(
        &cli_config,
        &[
            "silence",
            "add",
            "a=b",
            "--for",
            "300000y",
            "--comment",
            "x",
        ],
    );
    assert!(!ok, "refused");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains("duration"), "{err}");

    // limits.silences: 2 in force.
    for _ in 0..2 {
        assert_eq!(
            post(&d, "/api/v1/silences", silence(json!({"duration": "1h"})))
                .await
                .0,
            200
        );
    }
    let (status, text) = post(&d, "/api/v1/silences", silence(json!({"duration": "1h"}))).await;
    assert_eq!(status, 429, "{text}");
    assert!(text.contains("limits.silences"), "{text}");
    // The daemon still answers.
    assert_eq!(
        http().get(d.api("/healthz")).send().await.unwrap().status(),
        200
    );
    d.stop().await;
}
