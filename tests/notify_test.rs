//! `tocsin notify-test TARGET` and `POST /api/v1/targets/{name}/test` as a
//! user runs them: a sample reaches the (mock) DingTalk robot, the channel's
//! own answer is printed, a wrong secret exits 1 with DingTalk's error text,
//! and no secret is ever printed. Also `check` on a config whose mention names
//! a contact that does not exist.

mod common;

use common::mocks::DingTalkMock;

const SECRET: &str = "SECthe-right-secret";

fn config(mock: &DingTalkMock) -> String {
    format!(
        "contacts:\n  - {{name: alice, phone: '13800000000'}}\ntargets:\n\
  - {{name: good, type: dingtalk, webhook: '{url}', secret: '{SECRET}', keyword: alert, mention: [alice]}}\n\
  - {{name: bad, type: dingtalk, webhook: '{url}', secret: SECwrong-secret, keyword: alert}}\n\
  - {{name: off, type: dingtalk, webhook: '{url}', secret: '{SECRET}', enabled: false}}\n",
        url = mock.url()
    )
}

async fn run(cfg: &std::path::Path, args: &[&str]) -> (Option<i32>, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_tocsin"))
        // Debug level: no secret may appear even in the chattiest logs.
        .env("RUST_LOG", "debug")
        .arg("-c")
        .arg(cfg)
        .args(args)
        .output()
        .await
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_test_prints_the_channels_answer_and_exits_1_on_failure() {
    let mock = DingTalkMock::start("robot-token-123", Some(SECRET), &["alert"]).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("tocsin.yaml");
    std::fs::write(&cfg, config(&mock)).unwrap();

    // Every run's output, to look for secrets in at the end.
    let mut outputs = Vec::new();
    let (code, out) = run(&cfg, &["notify-test", "good"]).await;
    outputs.push(out.clone());
    assert_eq!(code, Some(0), "{out}");
    assert!(out.starts_with("good (dingtalk): sent\n"), "{out}");
    assert!(out.contains("\"errcode\":0"), "{out}");
    let hit = &mock.log.hits()[0];
    assert!(
        hit.body["markdown"]["text"]
            .as_str()
            .unwrap()
            .contains("test message")
    );
    assert!(mock.log.violations().is_empty());

    let (code, out) = run(&cfg, &["notify-test", "bad"]).await;
    outputs.push(out.clone());
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("failed") && out.contains("310000") && out.contains("sign not match"),
        "{out}"
    );

    let (code, out) = run(&cfg, &["notify-test", "off", "--json"]).await;
    outputs.push(out.clone());
    assert_eq!(code, Some(1), "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["result"], "disabled");

    let (code, out) = run(&cfg, &["notify-test", "nobody"]).await;
    outputs.push(out.clone());
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("no target is named \"nobody\""), "{out}");

    let (_, resolved) = run(&cfg, &["notify-test", "good", "--resolved"]).await;
    outputs.push(resolved);
    assert!(
        outputs[1].contains("sign not match"),
        "the wrong secret's run is among those checked"
    );
    for (i, out) in outputs.iter().enumerate() {
        for secret in [SECRET, "SECwrong-secret", "robot-token-123"] {
            assert!(!out.contains(secret), "run {i} printed {secret}:\n{out}");
        }
    }
    assert_eq!(
        mock.log.hits().len(),
        3,
        "disabled and unknown targets send nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_names_the_place_of_a_missing_contact() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("tocsin.yaml");
    std::fs::create_dir_all(dir.path().join("rules")).unwrap();
    std::fs::write(
        &cfg,
        "rules: [rules/]\ntargets:\n  - name: dt\n    type: dingtalk\n    webhook: 'https://oapi.dingtalk.com/robot/send?access_token=x'\n    mention: [alice, ghost]\n",
    )
    .unwrap();
    let (code, out) = run(&cfg, &["check"]).await;
    assert_eq!(code, Some(1), "{out}");
    let want = format!(
        "{}:6:15: mention of target \"dt\" names \"alice\", but no contact or contact group has that name",
        cfg.display()
    );
    assert!(out.contains(&want), "{out}");
    assert!(
        out.contains(":6:22: mention of target \"dt\" names \"ghost\""),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_test_endpoint_answers_json_without_secrets() {
    let mock = DingTalkMock::start("robot-token-123", Some(SECRET), &["alert"]).await;
    let dir = common::Daemon::prepare(
        "groups:\n  - name: g\n    interval: 1h\n    rules:\n      - alert: Never\n        query: vector(0)\n        when: '> 1'\n",
        &config(&mock),
    );
    let d = common::Daemon::start(&dir).await;
    let http = common::http();
    let post = |name: &str| {
        http.post(d.api(&format!("/api/v1/targets/{name}/test")))
            .send()
    };

    let r = post("good").await.unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["result"], "sent");
    assert_eq!(v["type"], "dingtalk");

    let r = post("bad").await.unwrap();
    assert_eq!(r.status(), 502);
    let text = r.text().await.unwrap();
    assert!(text.contains("sign not match"), "{text}");
    assert!(
        !text.contains("SECwrong") && !text.contains("robot-token-123"),
        "{text}"
    );

    assert_eq!(post("off").await.unwrap().status(), 409);
    assert_eq!(post("nobody").await.unwrap().status(), 404);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_test_message_is_in_the_targets_language_only() {
    let mock = DingTalkMock::start("robot-token-123", Some(SECRET), &["alert", "告警"]).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("tocsin.yaml");
    std::fs::write(
        &cfg,
        format!(
            "language: zh\ntargets:\n\
  - {{name: zh, type: dingtalk, webhook: '{url}', secret: '{SECRET}', keyword: 告警}}\n\
  - {{name: en, type: dingtalk, webhook: '{url}', secret: '{SECRET}', keyword: alert, language: en}}\n",
            url = mock.url()
        ),
    )
    .unwrap();
    for target in ["zh", "en"] {
        let (code, out) = run(&cfg, &["notify-test", target]).await;
        assert_eq!(code, Some(0), "{out}");
    }
    let hits = mock.log.hits();
    let text = |i: usize| {
        hits[i].body["markdown"]["text"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let zh = text(0);
    assert!(zh.contains("这是一条来自 tocsin 的测试消息"), "{zh}");
    assert!(
        zh.contains("> **处理建议**: 无需处理：这条消息只用于检查通知目标。"),
        "{zh}"
    );
    assert!(
        !zh.contains("Nothing to do") && !zh.contains("test message"),
        "{zh}"
    );
    let en = text(1);
    assert!(en.contains("This is a test message from tocsin."), "{en}");
    assert!(
        en.contains("> **Resolution**: Nothing to do: this message only checks the target."),
        "{en}"
    );
    assert!(!en.contains("处理建议") && !en.contains("无需处理"), "{en}");
}
