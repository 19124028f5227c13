//! Every fixed text of the console in English and Chinese: one table, so
//! that a word cannot exist in one language only (the macro needs both).

use crate::alert::Language;

/// The console's texts in one language.
#[derive(Debug, Clone, Copy)]
pub struct Words(pub Language);

macro_rules! words {
    ($($name:ident: $en:literal, $zh:literal;)*) => {
        impl Words {
            $(
                pub fn $name(&self) -> &'static str {
                    match self.0 {
                        Language::En => $en,
                        Language::Zh => $zh,
                    }
                }
            )*
        }
        #[cfg(test)]
        pub(super) const ALL: &[(&str, &str, &str)] = &[$((stringify!($name), $en, $zh)),*];
    };
}

words! {
    html_lang: "en", "zh-CN";
    other_language: "中文", "English";
    other_language_code: "zh", "en";
    nav_overview: "Overview", "概览";
    nav_alerts: "Alerts", "告警";
    nav_checks: "Heartbeats", "心跳检查";
    nav_targets: "Targets", "通知目标";
    nav_explain: "Who receives?", "谁会收到？";
    nav_silences: "Silences", "静默";
    log_in: "Log in", "登录";
    log_out: "Log out", "退出";
    logged_in_as: "signed in as", "当前用户";
    login_title: "Log in to tocsin", "登录 tocsin";
    login_token: "API token (api_token)", "API 令牌（api_token）";
    login_name: "Your name (shown on acknowledgements and silences)", "你的名字（显示在认领和静默上）";
    login_wrong: "That is not this daemon's api_token.", "令牌不正确。";
    login_not_needed: "This daemon has no api_token: anyone who reaches it may act. Give your name so that others see who did what.", "此守护进程未设置 api_token：能访问它的人都可以操作。请填写名字，以便他人看到操作人。";
    need_login: "Log in to do this.", "请先登录再操作。";
    form_expired: "This form has expired or came from another page: reload the page and try again.", "表单已过期或来自其他页面：请刷新后重试。";
    alerts_title: "Alerts", "告警";
    filter: "Filter", "筛选";
    filter_matchers: "Matchers (e.g. severity=\"error\", vault=~\"v-.*\")", "标签匹配（如 severity=\"error\", vault=~\"v-.*\"）";
    filter_text: "Text", "文本";
    group_by: "Group by label", "按标签分组";
    no_grouping: "(none)", "（不分组）";
    state_filter: "State", "状态";
    all_states: "all", "全部";
    apply: "Apply", "应用";
    no_alerts: "No alert matches.", "没有匹配的告警。";
    resolved_recently: "Resolved in the last", "最近已恢复：";
    days: "days", "天";
    no_resolved: "None resolved.", "没有已恢复的告警。";
    page_of: "page", "页";
    previous: "« previous", "« 上一页";
    next: "next »", "下一页 »";
    since: "since", "开始于";
    value: "value", "当前值";
    recipients: "recipients", "接收人";
    nobody: "nobody", "无人接收";
    silenced_by: "silenced by", "已静默，静默 ID";
    inhibited_by: "inhibited by", "被抑制，抑制来源";
    acknowledged_by: "acknowledged by", "已认领，认领人";
    escalated_since_ack: "escalated since it was acknowledged by", "认领后已升级，原认领人";
    bad_matchers: "Matchers not understood", "无法识别的标签匹配";
    alert_not_found: "No alert with this fingerprint (it may have resolved and been purged).", "没有这个指纹的告警（可能已恢复并被清理）。";
    state: "state", "状态";
    severity: "severity", "级别";
    message: "message", "告警内容";
    resolution: "resolution", "处理建议";
    labels: "Labels", "标签";
    annotations: "Annotations", "注解";
    history: "History", "历史";
    history_cols: "at|from|to|severity|value|reason", "时间|从|到|级别|值|原因";
    notifications: "Notifications", "通知记录";
    notification_cols: "created|target|kind|status|attempts|sent|answer", "创建时间|目标|类型|状态|尝试次数|发送时间|回应";
    no_notifications: "None yet.", "暂无。";
    route: "Route", "路由";
    route_scope: "decided by", "决定的路由范围";
    route_why_default: "no routing scope matches its labels: the default route", "没有路由范围匹配其标签：使用默认路由";
    route_why_all: "no routing is configured: every enabled target", "未配置路由：发往所有启用的目标";
    route_why_scope: "the most specific routing scope whose matchers all hold", "所有匹配条件都成立的最具体路由范围";
    repeat_every: "repeats every", "重复间隔";
    no_repeat: "no repeats", "不重复";
    window_closed: "muted now by the route's time windows", "当前处于路由的静默时间窗口";
    window_open: "inside the route's time windows", "处于路由的发送时间窗口内";
    graph: "Query on the datasource's graph page", "在数据源的图表页查看查询";
    acknowledge: "Acknowledge", "认领";
    unacknowledge: "Give back", "取消认领";
    ack_comment: "Comment", "备注";
    your_name: "Your name", "你的名字";
    silence: "Silence", "静默";
    silence_this: "Silence alerts like this", "静默此类告警";
    silence_matchers: "Matchers, one per line", "匹配条件，每行一个";
    duration: "Duration", "时长";
    comment: "Comment", "备注";
    create_silence: "Create silence", "创建静默";
    expire: "Expire", "立即结束";
    silences_title: "Silences", "静默";
    silence_cols: "id|matchers|starts|ends|by|comment|state", "ID|匹配条件|开始|结束|创建人|备注|状态";
    no_silences: "No active or pending silence.", "没有生效中或待生效的静默。";
    checks_title: "Heartbeat checks", "心跳检查";
    check_cols: "check|state|schedule|last ping|exit code|duration", "检查|状态|计划|最近一次 ping|退出码|耗时";
    no_checks: "No heartbeat checks.", "没有心跳检查。";
    check_not_found: "No such check.", "没有这个检查。";
    started: "started", "已开始";
    never: "never", "从未";
    pause: "Pause", "暂停";
    resume: "Resume", "恢复";
    ping_log: "Ping log", "Ping 记录";
    ping_cols: "#|at|kind|exit code|duration|from|body", "#|时间|类型|退出码|耗时|来源|内容";
    no_pings: "No pings kept.", "没有保存的 ping。";
    schedule: "schedule", "计划";
    grace: "grace", "宽限";
    targets_title: "Targets", "通知目标";
    target_cols: "target|type|enabled|rate limit|sent / retried / failed|queued|last delivery", "目标|类型|启用|速率限制|已发送 / 重试 / 失败|排队中|最近一次发送";
    no_targets: "No targets are configured.", "未配置通知目标。";
    enabled: "yes", "是";
    disabled: "disabled", "已禁用";
    send_test: "Send test message", "发送测试消息";
    test_result: "Test message", "测试消息";
    explain_title: "Who would receive this?", "谁会收到这条告警？";
    explain_labels: "Labels, one name=value per line", "标签，每行一个 name=value";
    explain_severity: "Severity", "级别";
    explain: "Explain", "查看";
    explain_cli: "The same answer on the command line:", "命令行中的相同查询：";
    silenced_now: "silenced now by", "当前被静默，静默 ID";
    not_silenced: "no silence matches", "没有匹配的静默";
    done_ack: "Acknowledged.", "已认领。";
    done_unack: "Given back.", "已取消认领。";
    done_silence: "Silence created.", "静默已创建。";
    done_expire: "Silence expired.", "静默已结束。";
    done_pause: "Check paused.", "检查已暂停。";
    done_resume: "Check resumed.", "检查已恢复。";
    link_ack_title: "Acknowledge from a message", "从通知中认领";
    link_invalid: "This link is not valid: it was changed, it expired, or the alert it was sent for has resolved.", "此链接无效：已被修改、已过期，或对应的告警已恢复。";
    link_silence_hour: "Silence it for 1 hour", "静默 1 小时";
    back: "back", "返回";
    error_title: "Something went wrong", "出错了";
}

impl Words {
    /// A state, severity, heartbeat state or delivery status as pages show it.
    pub fn term(&self, value: &str) -> String {
        const ZH: &[(&str, &str)] = &[
            ("firing", "告警中"),
            ("pending", "待确认"),
            ("resolved", "已恢复"),
            ("inactive", "未触发"),
            ("error", "严重"),
            ("warning", "警告"),
            ("new", "未开始"),
            ("up", "正常"),
            ("late", "迟到"),
            ("down", "失联"),
            ("failed", "失败"),
            ("running", "运行中"),
            ("paused", "已暂停"),
            ("sent", "已发送"),
            ("retry", "重试中"),
            ("success", "成功"),
            ("fail", "失败"),
            ("start", "开始"),
            ("log", "日志"),
            ("active", "生效中"),
            ("expired", "已结束"),
            ("escalated", "升级"),
            ("deescalated", "降级"),
        ];
        match self.0 {
            Language::En => value.to_string(),
            Language::Zh => ZH
                .iter()
                .find(|(k, _)| *k == value)
                .map_or(value, |(_, v)| v)
                .to_string(),
        }
    }
}

/// The words of `lang`.
pub fn of(lang: Language) -> Words {
    Words(lang)
}

/// Columns of a `a|b|c` text.
pub fn columns(text: &str) -> Vec<&str> {
    text.split('|').collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_exists_in_both_languages() {
        for (name, en, zh) in ALL {
            assert!(!en.is_empty() && !zh.is_empty(), "{name}");
            assert_eq!(
                en.matches('|').count(),
                zh.matches('|').count(),
                "{name}: the same columns in both languages"
            );
        }
    }
}
