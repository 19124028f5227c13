//! The command line's own lines, in English and Chinese. `{name}` holes
//! are filled with [`super::Text::fill`].

use super::Text;

const fn t(en: &'static str, zh: &'static str) -> Text {
    Text { en, zh }
}

// --- check, run
pub const CHECK_OK: Text = t(
    "config ok ({source}); {files} files, {groups} groups, {rules} rules, {checks} heartbeat checks, {templates} check templates",
    "配置正确（{source}）：{files} 个文件，{groups} 个组，{rules} 条规则，{checks} 个心跳检查，{templates} 个检查模板",
);
pub const BUILTIN_DEFAULTS: Text = t("built-in defaults", "内置默认配置");
pub const ERROR_COUNT: Text = t("{n} error(s)", "共 {n} 个错误");
pub const WARNING: Text = t("warning: {what}", "警告：{what}");
pub const ERROR: Text = t("error: {what}", "错误：{what}");
pub const NOT_STARTED: Text = t(
    "error: the config is invalid; tocsin did not start",
    "错误：配置无效，tocsin 没有启动",
);

// --- test
pub const TEST_PASS: Text = t("  PASS {name}", "  通过 {name}");
pub const TEST_FAIL: Text = t("  FAIL {name}", "  失败 {name}");
pub const TEST_SUMMARY: Text = t(
    "{passed} passed, {failed} failed",
    "{passed} 个通过，{failed} 个失败",
);

// --- reaching the daemon
pub const NO_DAEMON: Text = t(
    "cannot reach the daemon at {addr} (is `tocsin run` running?)",
    "无法连接 {addr} 上的 tocsin（`tocsin run` 在运行吗？）",
);

// --- alerts
pub const NO_ALERTS: Text = t("no alerts", "没有告警");
pub const ALERTS_STATE: Text = t("STATE", "状态");
pub const ALERTS_SEVERITY: Text = t("SEVERITY", "级别");
pub const ALERTS_ALERT: Text = t("ALERT", "告警");
pub const ALERTS_SINCE: Text = t("SINCE", "开始时间");
pub const ALERTS_ROUTE: Text = t("ROUTE", "路由");
pub const ALERTS_RECIPIENTS: Text = t("RECIPIENTS", "接收者");
pub const ALERTS_LAST: Text = t("LAST NOTIFICATION", "最近通知");
pub const ALERTS_MESSAGE: Text = t("MESSAGE", "告警内容");
pub const SILENCED: Text = t(" (silenced)", "（已静默）");
pub const INHIBITED: Text = t(" (inhibited)", "（已抑制）");
pub const STATE_FIRING: Text = t("firing", "告警中");
pub const STATE_PENDING: Text = t("pending", "待确认");
pub const STATE_RESOLVED: Text = t("resolved", "已恢复");
pub const SEVERITY_WARNING: Text = t("warning", "警告");
pub const SEVERITY_ERROR: Text = t("error", "严重");

/// An alert's state as `tocsin alerts` writes it.
pub fn state(s: &str) -> Option<Text> {
    match s {
        "firing" => Some(STATE_FIRING),
        "pending" => Some(STATE_PENDING),
        "resolved" => Some(STATE_RESOLVED),
        _ => None,
    }
}

/// A severity as `tocsin alerts` writes it.
pub fn severity(s: &str) -> Option<Text> {
    match s {
        "warning" => Some(SEVERITY_WARNING),
        "error" => Some(SEVERITY_ERROR),
        _ => None,
    }
}

// --- silence
pub const NO_SILENCES: Text = t("no silences", "没有静默");
pub const SILENCE_EXPIRED: Text = t("expired {id}", "已结束静默 {id}");
pub const NOT_RFC3339: Text = t(
    "--{flag} {value} is not an RFC 3339 time",
    "--{flag} {value} 不是 RFC 3339 时间",
);
pub const BAD_TOKEN: Text = t(
    "api_token is not a valid HTTP header value",
    "api_token 不能用作 HTTP 头的值",
);

// --- notify-test
pub const RETRY_AFTER: Text = t(
    "the channel asks to retry after {s}s",
    "通道要求 {s} 秒后重试",
);
pub const NAME_A_TARGET: Text = t("name a target or --contact", "请给出目标名或 --contact");
pub const RESULT_SENT: Text = t("sent", "已发送");
pub const RESULT_FAILED: Text = t("failed", "失败");
pub const RESULT_RETRY: Text = t("retry", "稍后重试");
pub const RESULT_DISABLED: Text = t("disabled", "已停用");
pub const RESULT_UNKNOWN: Text = t("unknown", "未知目标");

/// A test send's result as `tocsin notify-test` writes it.
pub fn result(r: &str) -> Option<Text> {
    match r {
        "sent" => Some(RESULT_SENT),
        "failed" => Some(RESULT_FAILED),
        "retry" => Some(RESULT_RETRY),
        "disabled" => Some(RESULT_DISABLED),
        "unknown" => Some(RESULT_UNKNOWN),
        _ => None,
    }
}

// --- contact
pub const CODE_SENT: Text = t(
    "code sent to the {kind} of {contact}: {address} ({answer})",
    "验证码已发送到 {contact} 的 {kind}：{address}（{answer}）",
);
pub const CONFIRM_WITH: Text = t(
    "confirm it with: tocsin contact confirm {name} CODE",
    "请用以下命令确认：tocsin contact confirm {name} 验证码",
);
pub const VERIFIED_ADDRESS: Text = t(
    "verified: the {kind} of {contact}: {address}",
    "已验证：{contact} 的 {kind}：{address}",
);
pub const VERIFIED: Text = t("verified", "已验证");
pub const UNVERIFIED: Text = t("unverified", "未验证");
pub const CONTACT_ROW: Text = t(
    "{name}\temail {email}\tphone {phone}",
    "{name}\t邮箱 {email}\t电话 {phone}",
);

// --- ping (prefixed with `tocsin ping: `)
pub const PING_PREFIX: Text = t("tocsin ping: {what}", "tocsin ping：{what}");
pub const PING_BAD_URL: Text = t(
    "{url} is not an http(s) ping URL; running the command without pings",
    "{url} 不是 http(s) 的 ping 地址；命令照常运行，但不发送 ping",
);
pub const PING_NO_CLIENT: Text = t(
    "cannot build an HTTP client ({why}); running the command without pings",
    "无法创建 HTTP 客户端（{why}）；命令照常运行，但不发送 ping",
);
pub const PING_REFUSED: Text = t(
    "{action} ping refused: {why}",
    "{action} ping 被拒绝：{why}",
);
pub const PING_GAVE_UP: Text = t(
    "{action} ping not delivered after {attempts} attempts: {why}",
    "{action} ping 尝试 {attempts} 次后仍未送达：{why}",
);
pub const PING_RETRYING: Text = t(
    "{action} ping failed ({why}); retrying in {secs}s",
    "{action} ping 失败（{why}）；{secs} 秒后重试",
);
pub const PING_CANNOT_RUN: Text = t("cannot run {program}: {why}", "无法运行 {program}：{why}");
pub const PING_LOST: Text = t("lost the command: {why}", "与命令失去联系：{why}");
