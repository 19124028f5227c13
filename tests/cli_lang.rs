//! The command line in Chinese: `check` explains its errors and prints its
//! summary in the config's `language` (or `--lang` / `TOCSIN_LANG`), at the
//! same `file:line:col`; `tocsin alerts`, `silence`, `ping` say their own
//! lines in it; the JSON API carries a rule's texts in both languages.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use common::{Daemon, wait_for};

fn tocsin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tocsin"));
    c.env("RUST_LOG", "warn").env_remove("TOCSIN_LANG");
    c
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `tocsin -c CFG check [RULES]` in `dir`.
fn check(dir: &Path, cfg: &str, rules: Option<&str>, lang: Option<&str>) -> Output {
    let mut c = tocsin();
    c.current_dir(dir).args(["-c", cfg]);
    if let Some(l) = lang {
        c.args(["--lang", l]);
    }
    c.arg("check");
    if let Some(r) = rules {
        c.arg(r);
    }
    c.output().unwrap()
}

#[test]
fn check_explains_config_errors_in_the_configs_language_at_their_place() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Each config has one error; (config, the Chinese line).
    let cases: &[(&str, &str)] = &[
        (
            "language: zh\nbogus_key: 1\n",
            "c.yaml:2:1: 未知的键 `bogus_key`，可用的键：",
        ),
        (
            "language: zh\ntargets:\n  - {type: webhook, url: 'http://x'}\n",
            "c.yaml:3:21: 缺少必填的键 `name`",
        ),
        ("language: zh\nrules: 5\n", "c.yaml:2:8: 这里应为列表"),
        (
            "language: zh\nevaluation_interval: 10x\n",
            "c.yaml:2:22: 应为时长（如 30s、5m 或 1h30m），实际为 \"10x\"",
        ),
        (
            "language: zh\ntargets:\n  - {name: hook, type: webhook}\n",
            "c.yaml:3:12: webhook 目标 \"hook\" 缺少 `url`",
        ),
        (
            "language: zh\ntargets:\n  - {name: hook, type: webhook, url: 'http://x/'}\nrouting:\n  default: [hook, nobody]\n",
            "c.yaml:5:19: routing.default 引用了 \"nobody\"，但没有这个名字的目标、目标组、联系人或联系人组",
        ),
        (
            "language: zh\ncontacts:\n  - {name: zhangsan, wecom_user: zhangsan}\ntargets:\n  - {name: w, type: wecom, webhook: 'https://x/send?key=k', mention: [zhangsna]}\n",
            "c.yaml:5:71: 目标 \"w\" 的 mention 引用了 \"zhangsna\"，但没有这个名字的联系人或联系人组，它也不是电话号码（5 到 20 位数字，可带前导 +），或写作 `userid:` 加 id 的企业微信 userid（如 userid:zhangsan）；是不是想写 \"zhangsan\"？",
        ),
        (
            "language: zh\ntimezone: Asia/Shangai\n",
            "c.yaml:2:11: timezone：\"Asia/Shangai\" 不是 IANA 时区名",
        ),
    ];
    let mut wrong = Vec::new();
    for (config, want) in cases {
        write(d, "c.yaml", config);
        let out = check(d, "c.yaml", None, None);
        let err = stderr(&out);
        if out.status.code() != Some(1) || !err.lines().any(|l| l.starts_with(want)) {
            wrong.push(format!("\n{config}\n got: {err}\nwant: {want}"));
        }
        // The same config in English with --lang en.
        let en = stderr(&check(d, "c.yaml", None, Some("en")));
        if en.contains(|c: char| ('\u{4e00}'..='\u{9fff}').contains(&c) && !config.contains(c)) {
            wrong.push(format!("\n--lang en still Chinese: {en}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn check_explains_rule_errors_and_prints_its_summary_in_chinese() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "c.yaml", "language: zh\nrules: [ok.yaml]\n");
    write(
        d,
        "ok.yaml",
        "groups:\n  - name: g\n    rules:\n      - alert: A\n        query: x\n        when: '> 1'\n      - record: r\n        query: x\n",
    );
    let out = check(d, "c.yaml", None, None);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).trim(),
        "配置正确（c.yaml）：1 个文件，1 个组，1 条规则，0 个心跳检查，0 个检查模板"
    );
    assert!(
        stderr(&out).starts_with("警告：ok.yaml:7:17: 记录规则 \"r\" 已跳过"),
        "{}",
        stderr(&out)
    );

    let rule = |body: &str| format!("groups:\n  - name: g\n    rules:\n{body}\n");
    let cases: &[(&str, &str)] = &[
        (
            "      - alert: A\n        expr: 'rate(x[5m]'",
            "e.yaml:5:20: PromQL 无效：unclosed left parenthesis",
        ),
        (
            "      - alert: C\n        query: x\n        when: '> 1'\n        for: abc",
            "e.yaml:7:14: 应为时长（如 30s、5m 或 1h30m），实际为 \"abc\"",
        ),
        (
            "      - alert: D\n        query: x\n        bogus: 1",
            "e.yaml:6:9: 未知的键 `bogus`，可用的键：alert, record,",
        ),
        (
            "      - alert: E\n        when: '> 1'",
            "e.yaml:4:16: 告警 \"E\" 需要 `query:`",
        ),
        (
            "      - alert: F\n        query: x\n        when: '> 1'\n        severity: fatal",
            "e.yaml:7:19: 级别应为 warning 或 error",
        ),
        (
            "      - alert: G\n        query: x\n        when: '> 1'\n        message: '{{ value '",
            "e.yaml:7:18: 无法解析 message 模板：",
        ),
    ];
    let mut wrong = Vec::new();
    for (body, want) in cases {
        write(d, "e.yaml", &rule(body));
        let out = check(d, "c.yaml", Some("e.yaml"), None);
        let err = stderr(&out);
        let ok = out.status.code() == Some(1)
            && err.lines().any(|l| l.starts_with(want))
            && err.trim_end().ends_with("共 1 个错误");
        if !ok {
            wrong.push(format!("\n got: {err}\nwant: {want}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    // TOCSIN_LANG picks the language without a config's `language`; --lang
    // wins over both.
    write(d, "en.yaml", "rules: [ok.yaml]\n");
    let out = tocsin()
        .current_dir(d)
        .env("TOCSIN_LANG", "zh")
        .args(["-c", "en.yaml", "check"])
        .output()
        .unwrap();
    assert!(
        stdout(&out).starts_with("配置正确（en.yaml）"),
        "{}",
        stdout(&out)
    );
    let out = check(d, "c.yaml", None, Some("en"));
    assert!(
        stdout(&out).starts_with("config ok (c.yaml); 1 files"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn silence_and_ping_say_their_lines_in_chinese() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let refused = rt.block_on(async { common::refusing_port() });
    let addr = refused.local_addr().unwrap();
    write(
        dir.path(),
        "c.yaml",
        &format!("language: zh\nlisten: {addr}\n"),
    );
    let out = tocsin()
        .current_dir(dir.path())
        .args(["-c", "c.yaml", "silence", "list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.starts_with(&format!(
            "错误：无法连接 {addr} 上的 tocsin（`tocsin run` 在运行吗？）"
        )),
        "{err}"
    );
    let out = tocsin()
        .current_dir(dir.path())
        .env("TOCSIN_LANG", "zh")
        .args(["ping", "not-a-url", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        stderr(&out).trim(),
        "tocsin ping：\"not-a-url\" 不是 http(s) 的 ping 地址；命令照常运行，但不发送 ping"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_and_the_json_api_carry_the_rules_texts_in_both_languages() {
    let dir = Daemon::prepare(
        r#"groups:
  - name: zh_cli
    interval: 1s
    rules:
      - alert: ConnectionCountHigh
        query: vector(9000)
        when: "> 8000"
        severity: warning
        message: {en: "Connection count too high: {{ value | int }}", zh: "部署连接数过高：{{ value | int }}"}
        resolution: {en: "Upgrade the deployment's plan", zh: "升级部署规格"}
"#,
        "language: zh\ntimezone: Asia/Shanghai\n",
    );
    let d = Daemon::start(&dir).await;
    let views = wait_for("the alert firing", Duration::from_secs(20), || async {
        let v = d.alert_views().await;
        v.iter().any(|a| a["state"] == "firing").then_some(v)
    })
    .await;
    let a = &views[0];
    assert_eq!(a["language"], "zh");
    assert_eq!(a["message"], "部署连接数过高：9000");
    assert_eq!(a["resolution"], "升级部署规格");
    assert_eq!(
        a["texts"]["en"]["message"],
        "Connection count too high: 9000"
    );
    assert_eq!(
        a["texts"]["en"]["resolution"],
        "Upgrade the deployment's plan"
    );
    assert_eq!(a["texts"]["zh"]["message"], "部署连接数过高：9000");

    let cli = dir.join("cli.yaml");
    std::fs::write(
        &cli,
        format!(
            "listen: {}\nlanguage: zh\ntimezone: Asia/Shanghai\n",
            d.running.as_ref().unwrap().addr
        ),
    )
    .unwrap();
    let out = tocsin()
        .args(["-c", cli.to_str().unwrap(), "alerts"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let table = stdout(&out);
    let mut lines = table.lines();
    let head = lines.next().unwrap();
    for h in [
        "状态",
        "级别",
        "告警",
        "开始时间",
        "路由",
        "接收者",
        "最近通知",
        "告警内容",
    ] {
        assert!(head.contains(h), "{head}");
    }
    let row = lines.next().unwrap();
    assert!(row.starts_with("告警中"), "{row}");
    assert!(row.contains("警告"), "{row}");
    assert!(
        row.contains(" +08:00"),
        "the time in the config's zone: {row}"
    );
    assert!(row.ends_with("部署连接数过高：9000"), "{row}");
    // In English (another config language, or --lang en): the English text.
    let out = tocsin()
        .args(["-c", cli.to_str().unwrap(), "--lang", "en", "alerts"])
        .output()
        .unwrap();
    let table = stdout(&out);
    assert!(table.starts_with("STATE "), "{table}");
    assert!(
        table
            .lines()
            .nth(1)
            .unwrap()
            .ends_with("Connection count too high: 9000"),
        "{table}"
    );
    d.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
