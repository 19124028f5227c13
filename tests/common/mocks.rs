//! Local stand-ins for the chat and paging services that check the real
//! protocol (shared/channels.md) and answer with the real error codes:
//! DingTalk and Feishu recompute the signature and check the keyword, WeCom
//! checks the key and content limits, the WeCom application issues and
//! expires tokens, PagerDuty validates the Events v2 schema, Slack answers
//! 429 with Retry-After. Every request is recorded with what was answered,
//! and protocol slips that the real service would silently accept (a
//! markdown mention without its `@mobile` token) are listed as violations.
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

/// One request a mock got, and its answer.
#[derive(Debug, Clone)]
pub struct Hit {
    pub at: Instant,
    pub path: String,
    pub query: HashMap<String, String>,
    pub headers: HeaderMap,
    pub body: Value,
    pub body_len: usize,
    pub status: u16,
    pub answer: Value,
}

/// What a stand-in saw: its requests (`H`: what one is, for this kind of
/// service) and the protocol violations among them.
pub struct Log<H = Hit> {
    pub hits: Mutex<Vec<H>>,
    pub violations: Mutex<Vec<String>>,
}

impl<H> Default for Log<H> {
    fn default() -> Self {
        Log {
            hits: Mutex::new(Vec::new()),
            violations: Mutex::new(Vec::new()),
        }
    }
}

impl<H: Clone> Log<H> {
    pub fn hits(&self) -> Vec<H> {
        self.hits.lock().unwrap().clone()
    }
    pub fn violations(&self) -> Vec<String> {
        self.violations.lock().unwrap().clone()
    }
    pub fn violation(&self, v: String) {
        eprintln!("mock: protocol violation: {v}");
        self.violations.lock().unwrap().push(v);
    }
    pub fn push(&self, h: H) {
        self.hits.lock().unwrap().push(h);
    }
}

impl Log<Hit> {
    fn record(
        &self,
        path: &str,
        query: &HashMap<String, String>,
        headers: &HeaderMap,
        raw: &str,
        status: u16,
        answer: &Value,
    ) {
        self.hits.lock().unwrap().push(Hit {
            at: Instant::now(),
            path: path.to_string(),
            query: query.clone(),
            headers: headers.clone(),
            body: serde_json::from_str(raw).unwrap_or(Value::Null),
            body_len: raw.len(),
            status,
            answer: answer.clone(),
        });
    }
}

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn ct_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Every mock asserts, when the test drops it, that it saw no protocol
/// violation (a wrong content type, a body shape the service refuses...),
/// so a test cannot pass while the mock complained.
macro_rules! no_violations_on_drop {
    ($($mock:ty),*) => {$(
        impl Drop for $mock {
            fn drop(&mut self) {
                let v = self.log.violations();
                if !v.is_empty() && !std::thread::panicking() {
                    panic!("{} saw protocol violations: {v:?}", stringify!($mock));
                }
            }
        }
    )*};
}

no_violations_on_drop!(
    DingTalkMock,
    FeishuMock,
    WeComMock,
    WeComAppMock,
    SlackMock,
    PagerDutyMock,
    JsonSink
);

fn json_content_type(headers: &HeaderMap) -> bool {
    headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// Every string leaf of a JSON value.
fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(o) => o.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

// ---------------------------------------------------------------- DingTalk

/// The mock's own DingTalk signature (independent of tocsin's code).
pub fn dingtalk_sign(secret: &str, ts_ms: i64) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{ts_ms}\n{secret}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

pub struct DingTalkMock {
    pub addr: SocketAddr,
    pub token: String,
    pub log: Arc<Log>,
}

#[derive(Clone)]
struct DingTalkState {
    token: String,
    secret: Option<String>,
    keywords: Vec<String>,
    log: Arc<Log>,
    recent: Arc<Mutex<VecDeque<Instant>>>,
}

impl DingTalkMock {
    pub async fn start(token: &str, secret: Option<&str>, keywords: &[&str]) -> DingTalkMock {
        // The mock's signer must match the published vectors before it judges anyone.
        assert_eq!(
            dingtalk_sign("SECtest-secret-0123456789", 1_700_000_000_000),
            "loAs986iXlZUJyoAu2REiC16DMGrtdERSegy7jQ3Qtg="
        );
        assert_eq!(
            dingtalk_sign("demo-secret", 1_599_360_473_000),
            "YdZvxlTSCW95+TPaewZu3nSZKgiCl//mPuRKqtKCA7k="
        );
        let log = Arc::new(Log::default());
        let state = DingTalkState {
            token: token.into(),
            secret: secret.map(str::to_string),
            keywords: keywords.iter().map(|s| s.to_string()).collect(),
            log: Arc::clone(&log),
            recent: Arc::default(),
        };
        let app = Router::new()
            .route("/robot/send", post(dingtalk))
            .with_state(state);
        DingTalkMock {
            addr: serve(app).await,
            token: token.into(),
            log,
        }
    }

    /// The robot URL with `token` (the right one unless told otherwise).
    pub fn url_with(&self, token: &str) -> String {
        format!("http://{}/robot/send?access_token={token}", self.addr)
    }

    pub fn url(&self) -> String {
        self.url_with(&self.token)
    }
}

async fn dingtalk(
    State(s): State<DingTalkState>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    raw: String,
) -> Response {
    let answer = dingtalk_judge(&s, &q, &headers, &raw);
    s.log
        .record("/robot/send", &q, &headers, &raw, 200, &answer);
    // DingTalk answers HTTP 200 and signals errors in the body.
    (StatusCode::OK, axum::Json(answer)).into_response()
}

fn dingtalk_judge(
    s: &DingTalkState,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
    raw: &str,
) -> Value {
    let err = |code: i64, msg: &str| json!({"errcode": code, "errmsg": msg});
    if q.get("access_token") != Some(&s.token) {
        return err(300001, "token is not exist");
    }
    if let Some(secret) = &s.secret {
        let (Some(ts), Some(sign)) = (q.get("timestamp"), q.get("sign")) else {
            return err(
                310000,
                "sign not match, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]",
            );
        };
        let Ok(ts) = ts.parse::<i64>() else {
            return err(310000, "invalid timestamp");
        };
        if (now_ms() - ts).abs() > 3_600_000 {
            return err(310000, "invalid timestamp");
        }
        if !ct_eq(&dingtalk_sign(secret, ts), sign) {
            return err(
                310000,
                "sign not match, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]",
            );
        }
    }
    if !json_content_type(headers) {
        s.log
            .violation("content-type is not application/json".into());
    }
    if raw.len() > 20_000 {
        s.log
            .violation(format!("body is {} bytes, over 20000", raw.len()));
        return err(43004, "body 大小不合法, 请保持大小在 20000bytes 以内");
    }
    let Ok(body) = serde_json::from_str::<Value>(raw) else {
        return err(40035, "缺少参数 json");
    };
    let texts: Vec<&str> = match body["msgtype"].as_str() {
        Some("text") => vec![body["text"]["content"].as_str().unwrap_or("")],
        Some("markdown") => {
            let (Some(title), Some(text)) = (
                body["markdown"]["title"].as_str(),
                body["markdown"]["text"].as_str(),
            ) else {
                return err(40035, "缺少参数 markdown");
            };
            for m in body["at"]["atMobiles"].as_array().into_iter().flatten() {
                let m = m.as_str().unwrap_or("");
                if !text.contains(&format!("@{m}")) {
                    s.log.violation(format!(
                        "markdown mentions {m} without the @{m} token in the text"
                    ));
                }
            }
            vec![title, text]
        }
        _ => return err(40035, "缺少参数 msgtype"),
    };
    if !s.keywords.is_empty()
        && !s
            .keywords
            .iter()
            .any(|k| texts.iter().any(|t| t.contains(k.as_str())))
    {
        return err(
            310000,
            "keywords not in content, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]",
        );
    }
    let mut recent = s.recent.lock().unwrap();
    let now = Instant::now();
    while recent
        .front()
        .is_some_and(|t| now.duration_since(*t).as_secs() >= 60)
    {
        recent.pop_front();
    }
    if recent.len() >= 20 {
        return err(130101, "send too fast, exceed 20 times per minute");
    }
    recent.push_back(now);
    err(0, "ok")
}

// ---------------------------------------------------------------- Feishu

/// The mock's own Feishu signature: key = "ts\nsecret", empty message.
pub fn feishu_sign(secret: &str, ts_s: i64) -> String {
    let mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(format!("{ts_s}\n{secret}").as_bytes()).unwrap();
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

pub struct FeishuMock {
    pub addr: SocketAddr,
    pub token: String,
    pub log: Arc<Log>,
}

#[derive(Clone)]
struct FeishuState {
    token: String,
    secret: Option<String>,
    keywords: Vec<String>,
    log: Arc<Log>,
}

impl FeishuMock {
    pub async fn start(token: &str, secret: Option<&str>, keywords: &[&str]) -> FeishuMock {
        assert_eq!(
            feishu_sign("demo-secret", 1_599_360_473),
            "3/MaVZ8JLIy4TUG+7KSFJqvUkTKd+HWY8g+56DZWq8s="
        );
        assert_eq!(
            feishu_sign("SECtest", 1_599_360_473),
            "bMjxHlJJlXMW0yjKHZsmMvrFnAOfMlmWpRUsH3qMAek="
        );
        let log = Arc::new(Log::default());
        let state = FeishuState {
            token: token.into(),
            secret: secret.map(str::to_string),
            keywords: keywords.iter().map(|s| s.to_string()).collect(),
            log: Arc::clone(&log),
        };
        let app = Router::new()
            .route("/open-apis/bot/v2/hook/{token}", post(feishu))
            .with_state(state);
        FeishuMock {
            addr: serve(app).await,
            token: token.into(),
            log,
        }
    }

    pub fn url_with(&self, token: &str) -> String {
        format!("http://{}/open-apis/bot/v2/hook/{token}", self.addr)
    }

    pub fn url(&self) -> String {
        self.url_with(&self.token)
    }
}

async fn feishu(
    State(s): State<FeishuState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    raw: String,
) -> Response {
    let (status, answer) = feishu_judge(&s, &token, &headers, &raw);
    s.log.record(
        "/open-apis/bot/v2/hook",
        &HashMap::new(),
        &headers,
        &raw,
        status,
        &answer,
    );
    (StatusCode::from_u16(status).unwrap(), axum::Json(answer)).into_response()
}

fn feishu_judge(s: &FeishuState, token: &str, headers: &HeaderMap, raw: &str) -> (u16, Value) {
    let err = |code: i64, msg: &str| (200, json!({"code": code, "data": {}, "msg": msg}));
    if token != s.token {
        return (404, json!({"code": 99991201, "msg": "resource not find"}));
    }
    if !json_content_type(headers) {
        s.log
            .violation("content-type is not application/json".into());
    }
    if raw.len() > 20 * 1024 {
        s.log
            .violation(format!("body is {} bytes, over 20 KB", raw.len()));
        return (400, json!({"code": 9499, "msg": "Bad Request"}));
    }
    let Ok(body) = serde_json::from_str::<Value>(raw) else {
        return (400, json!({"code": 9499, "msg": "Bad Request"}));
    };
    if let Some(secret) = &s.secret {
        // The official example sends a string; accept an integer too.
        let ts = match &body["timestamp"] {
            Value::String(t) => t.parse::<i64>().ok(),
            Value::Number(n) => n.as_i64(),
            _ => None,
        };
        let sign = body["sign"].as_str();
        let ok = match (ts, sign) {
            (Some(ts), Some(sign)) => {
                (chrono::Utc::now().timestamp() - ts).abs() <= 3600
                    && ct_eq(&feishu_sign(secret, ts), sign)
            }
            _ => false,
        };
        if !ok {
            return err(
                19021,
                "sign match fail or timestamp is not within one hour from current time",
            );
        }
    }
    let Some(msg_type) = body["msg_type"].as_str() else {
        return err(19002, "params error, msg_type need");
    };
    let content = match msg_type {
        "interactive" => &body["card"],
        _ => &body["content"],
    };
    if msg_type == "post" {
        let post = &body["content"]["post"];
        let Some(lang) = post.as_object().and_then(|o| o.values().next()) else {
            return err(19002, "params error, post content need");
        };
        let Some(lines) = lang["content"].as_array() else {
            return err(19002, "params error, post content need");
        };
        for line in lines {
            for el in line.as_array().into_iter().flatten() {
                match el["tag"].as_str() {
                    Some("text") if el["text"].is_string() => {}
                    Some("a") if el["href"].is_string() => {}
                    Some("at") if el["user_id"].is_string() => {}
                    Some("img") => {}
                    _ => return err(19002, "params error, invalid post element"),
                }
            }
        }
    } else if msg_type == "text" && !body["content"]["text"].is_string() {
        return err(19002, "params error, text need");
    } else if msg_type == "interactive"
        && let Err(why) = feishu_card_errors(&body["card"])
    {
        s.log.violation(format!("invalid card: {why}"));
        return err(11246, &format!("card is invalid: {why}"));
    }
    let mut leaves = Vec::new();
    strings(content, &mut leaves);
    if !s.keywords.is_empty()
        && !s
            .keywords
            .iter()
            .any(|k| leaves.iter().any(|l| l.contains(k.as_str())))
    {
        return (200, json!({"code": 19024, "msg": "Key Words Not Found"}));
    }
    err(0, "success")
}

/// A message card (`msg_type: interactive`, card JSON 1.0): a header with
/// a plain-text or lark_md title, and elements the card builder knows, each
/// with what its tag needs.
fn feishu_card_errors(card: &Value) -> Result<(), String> {
    let card = card.as_object().ok_or("card is not an object")?;
    if let Some(h) = card.get("header") {
        let tag = h["title"]["tag"]
            .as_str()
            .ok_or("header.title.tag missing")?;
        if tag != "plain_text" && tag != "lark_md" {
            return Err(format!("header.title.tag {tag:?}"));
        }
        h["title"]["content"]
            .as_str()
            .ok_or("header.title.content missing")?;
        if let Some(t) = h.get("template") {
            let t = t.as_str().ok_or("header.template is not a string")?;
            const COLOURS: [&str; 13] = [
                "blue",
                "wathet",
                "turquoise",
                "green",
                "yellow",
                "orange",
                "red",
                "carmine",
                "violet",
                "purple",
                "indigo",
                "grey",
                "default",
            ];
            if !COLOURS.contains(&t) {
                return Err(format!("header.template {t:?}"));
            }
        }
    }
    let elements = card
        .get("elements")
        .and_then(|e| e.as_array())
        .ok_or("elements missing")?;
    if elements.is_empty() {
        return Err("elements is empty".into());
    }
    for (i, el) in elements.iter().enumerate() {
        let text_ok = |t: &Value| {
            matches!(t["tag"].as_str(), Some("plain_text" | "lark_md")) && t["content"].is_string()
        };
        let ok = match el["tag"].as_str() {
            Some("div") => {
                el.get("text").is_some_and(text_ok)
                    || el["fields"]
                        .as_array()
                        .is_some_and(|f| f.iter().all(|x| text_ok(&x["text"])))
            }
            Some("markdown") => el["content"].is_string(),
            Some("hr") => true,
            Some("note") => el["elements"]
                .as_array()
                .is_some_and(|n| !n.is_empty() && n.iter().all(text_ok)),
            Some("action") => el["actions"].is_array(),
            _ => false,
        };
        if !ok {
            return Err(format!("elements[{i}] is not a valid element: {el}"));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- WeCom robot

pub struct WeComMock {
    pub addr: SocketAddr,
    pub key: String,
    pub log: Arc<Log>,
}

#[derive(Clone)]
struct WeComState {
    key: String,
    log: Arc<Log>,
}

impl WeComMock {
    pub async fn start(key: &str) -> WeComMock {
        let log = Arc::new(Log::default());
        let state = WeComState {
            key: key.into(),
            log: Arc::clone(&log),
        };
        let app = Router::new()
            .route("/cgi-bin/webhook/send", post(wecom))
            .with_state(state);
        WeComMock {
            addr: serve(app).await,
            key: key.into(),
            log,
        }
    }

    pub fn url_with(&self, key: &str) -> String {
        format!("http://{}/cgi-bin/webhook/send?key={key}", self.addr)
    }

    pub fn url(&self) -> String {
        self.url_with(&self.key)
    }
}

async fn wecom(
    State(s): State<WeComState>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    raw: String,
) -> Response {
    if !json_content_type(&headers) {
        s.log
            .violation("content-type is not application/json".into());
    }
    let answer = wecom_judge(&s, &q, &raw);
    s.log
        .record("/cgi-bin/webhook/send", &q, &headers, &raw, 200, &answer);
    (StatusCode::OK, axum::Json(answer)).into_response()
}

fn wecom_judge(s: &WeComState, q: &HashMap<String, String>, raw: &str) -> Value {
    let err = |code: i64, msg: &str| json!({"errcode": code, "errmsg": format!("{msg}, hint: [1700000000_1_mock], from ip: 127.0.0.1, more info at https://open.work.weixin.qq.com/devtool/query?e={code}")});
    if q.get("key") != Some(&s.key) {
        return err(93000, "invalid webhook url");
    }
    let Ok(body) = serde_json::from_str::<Value>(raw) else {
        return err(40058, "invalid Request Parameter");
    };
    match body["msgtype"].as_str() {
        Some("text") => {
            let Some(c) = body["text"]["content"].as_str() else {
                return err(40058, "text.content missing. invalid Request Parameter");
            };
            if c.len() > 2048 {
                return err(
                    40058,
                    "text.content exceed max length 2048. invalid Request Parameter",
                );
            }
        }
        Some("markdown") => {
            let Some(c) = body["markdown"]["content"].as_str() else {
                return err(40058, "markdown.content missing. invalid Request Parameter");
            };
            if c.len() > 4096 {
                return err(
                    40058,
                    "markdown.content exceed max length 4096. invalid Request Parameter",
                );
            }
        }
        _ => return err(40008, "invalid message type"),
    }
    json!({"errcode": 0, "errmsg": "ok"})
}

// ---------------------------------------------------------------- WeCom application

pub struct WeComAppMock {
    pub addr: SocketAddr,
    pub log: Arc<Log>,
    state: WeComAppState,
}

#[derive(Clone)]
struct WeComAppState {
    corp_id: String,
    secret: String,
    agent_id: i64,
    log: Arc<Log>,
    /// Issued tokens and whether they are still valid.
    tokens: Arc<Mutex<Vec<(String, bool)>>>,
    token_calls: Arc<Mutex<u32>>,
    expires_in: u64,
}

impl WeComAppMock {
    pub async fn start(corp_id: &str, secret: &str, agent_id: i64) -> WeComAppMock {
        Self::start_with_expiry(corp_id, secret, agent_id, 7200).await
    }

    /// Issues tokens announced to live `expires_in` seconds.
    pub async fn start_with_expiry(
        corp_id: &str,
        secret: &str,
        agent_id: i64,
        expires_in: u64,
    ) -> WeComAppMock {
        let log = Arc::new(Log::default());
        let state = WeComAppState {
            corp_id: corp_id.into(),
            secret: secret.into(),
            agent_id,
            log: Arc::clone(&log),
            tokens: Arc::default(),
            token_calls: Arc::default(),
            expires_in,
        };
        let app = Router::new()
            .route("/cgi-bin/gettoken", get(wecom_gettoken))
            .route("/cgi-bin/message/send", post(wecom_app_send))
            .with_state(state.clone());
        WeComAppMock {
            addr: serve(app).await,
            log,
            state,
        }
    }

    pub fn api_url(&self) -> String {
        format!("http://{}/cgi-bin", self.addr)
    }

    /// How many times a token was asked for.
    pub fn token_calls(&self) -> u32 {
        *self.state.token_calls.lock().unwrap()
    }

    /// Expires every issued token (WeCom may do so early).
    pub fn expire_tokens(&self) {
        for t in self.state.tokens.lock().unwrap().iter_mut() {
            t.1 = false;
        }
    }
}

async fn wecom_gettoken(
    State(s): State<WeComAppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    *s.token_calls.lock().unwrap() += 1;
    let answer = if q.get("corpid") != Some(&s.corp_id) {
        json!({"errcode": 40013, "errmsg": "invalid corpid"})
    } else if q.get("corpsecret") != Some(&s.secret) {
        json!({"errcode": 40001, "errmsg": "invalid credential, hint: [mock]"})
    } else {
        let mut tokens = s.tokens.lock().unwrap();
        let token = format!("tok-{}-{}", tokens.len() + 1, "x".repeat(40));
        tokens.push((token.clone(), true));
        json!({"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": s.expires_in})
    };
    s.log.record(
        "/cgi-bin/gettoken",
        &HashMap::new(),
        &HeaderMap::new(),
        "",
        200,
        &answer,
    );
    (StatusCode::OK, axum::Json(answer)).into_response()
}

async fn wecom_app_send(
    State(s): State<WeComAppState>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    raw: String,
) -> Response {
    if !json_content_type(&headers) {
        s.log
            .violation("content-type is not application/json".into());
    }
    let answer = wecom_app_judge(&s, &q, &raw);
    s.log
        .record("/cgi-bin/message/send", &q, &headers, &raw, 200, &answer);
    (StatusCode::OK, axum::Json(answer)).into_response()
}

fn wecom_app_judge(s: &WeComAppState, q: &HashMap<String, String>, raw: &str) -> Value {
    let err = |code: i64, msg: &str| json!({"errcode": code, "errmsg": msg});
    let token = q.get("access_token").cloned().unwrap_or_default();
    match s.tokens.lock().unwrap().iter().find(|t| t.0 == token) {
        None => return err(40014, "invalid access_token"),
        Some((_, false)) => return err(42001, "access_token expired"),
        Some(_) => {}
    }
    let Ok(body) = serde_json::from_str::<Value>(raw) else {
        return err(44004, "empty content");
    };
    if body["agentid"].as_i64() != Some(s.agent_id) {
        return err(40056, "invalid agentid");
    }
    let msgtype = body["msgtype"].as_str().unwrap_or("");
    let Some(content) = body[msgtype]["content"].as_str() else {
        return err(44004, "empty content");
    };
    if content.len() > 2048 {
        return err(40058, "content exceed max length 2048");
    }
    let to = ["touser", "toparty", "totag"]
        .iter()
        .any(|k| body[*k].as_str().is_some_and(|v| !v.is_empty()));
    if !to {
        return err(81013, "user & party & tag all invalid");
    }
    json!({"errcode": 0, "errmsg": "ok", "invaliduser": "", "msgid": "mock-msg"})
}

// ---------------------------------------------------------------- Slack

pub struct SlackMock {
    pub addr: SocketAddr,
    pub log: Arc<Log>,
    limited: Arc<Mutex<u32>>,
}

#[derive(Clone)]
struct SlackState {
    log: Arc<Log>,
    /// The next N requests are answered 429.
    limited: Arc<Mutex<u32>>,
    retry_after: u64,
}

impl SlackMock {
    /// Answers the first `limited` requests 429 with `Retry-After: retry_after`.
    pub async fn start(limited: u32, retry_after: u64) -> SlackMock {
        let log = Arc::new(Log::default());
        let limited = Arc::new(Mutex::new(limited));
        let state = SlackState {
            log: Arc::clone(&log),
            limited: Arc::clone(&limited),
            retry_after,
        };
        let app = Router::new()
            .route("/services/{a}/{b}/{c}", post(slack))
            .with_state(state);
        SlackMock {
            addr: serve(app).await,
            log,
            limited,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/services/T000/B000/secretpart", self.addr)
    }
}

async fn slack(State(s): State<SlackState>, headers: HeaderMap, raw: String) -> Response {
    if !json_content_type(&headers) {
        s.log
            .violation("content-type is not application/json".into());
    }
    let body: Value = serde_json::from_str(&raw).unwrap_or(Value::Null);
    let (status, text) = {
        let mut limited = s.limited.lock().unwrap();
        if *limited > 0 {
            *limited -= 1;
            (429, "rate_limited")
        } else if !body["text"].is_string()
            && !body["blocks"].is_array()
            && !body["attachments"].is_array()
        {
            (400, "invalid_payload")
        } else {
            (200, "ok")
        }
    };
    if status == 200 {
        let blocks: usize = body["attachments"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| a["blocks"].as_array().map_or(0, Vec::len))
            .sum();
        if blocks > 50 {
            s.log.violation(format!("{blocks} blocks, over 50"));
        }
    }
    s.log.record(
        "/services",
        &HashMap::new(),
        &headers,
        &raw,
        status,
        &json!(text),
    );
    let mut resp = (StatusCode::from_u16(status).unwrap(), text).into_response();
    if status == 429 {
        resp.headers_mut()
            .insert("retry-after", s.retry_after.to_string().parse().unwrap());
    }
    resp
}

// ---------------------------------------------------------------- PagerDuty

pub struct PagerDutyMock {
    pub addr: SocketAddr,
    pub log: Arc<Log>,
}

#[derive(Clone)]
struct PagerDutyState {
    routing_key: String,
    log: Arc<Log>,
}

impl PagerDutyMock {
    pub async fn start(routing_key: &str) -> PagerDutyMock {
        let log = Arc::new(Log::default());
        let state = PagerDutyState {
            routing_key: routing_key.into(),
            log: Arc::clone(&log),
        };
        let app = Router::new()
            .route("/v2/enqueue", post(pagerduty))
            .with_state(state);
        PagerDutyMock {
            addr: serve(app).await,
            log,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/v2/enqueue", self.addr)
    }
}

async fn pagerduty(State(s): State<PagerDutyState>, headers: HeaderMap, raw: String) -> Response {
    if !json_content_type(&headers) {
        s.log
            .violation("content-type is not application/json".into());
    }
    let (status, answer) = match serde_json::from_str::<Value>(&raw) {
        Err(_) => (
            400,
            json!({"status": "invalid event", "message": "Event object is invalid", "errors": ["Invalid JSON"]}),
        ),
        Ok(body) => {
            let errors = pagerduty_errors(&s, &body);
            if errors.is_empty() {
                let key = body["dedup_key"]
                    .as_str()
                    .map_or_else(|| "generated-by-mock".to_string(), str::to_string);
                (
                    202,
                    json!({"status": "success", "message": "Event processed", "dedup_key": key}),
                )
            } else {
                (
                    400,
                    json!({"status": "invalid event", "message": "Event object is invalid", "errors": errors}),
                )
            }
        }
    };
    s.log.record(
        "/v2/enqueue",
        &HashMap::new(),
        &headers,
        &raw,
        status,
        &answer,
    );
    (StatusCode::from_u16(status).unwrap(), axum::Json(answer)).into_response()
}

/// The Events API v2 rules (shared/channels.md §5).
fn pagerduty_errors(s: &PagerDutyState, b: &Value) -> Vec<String> {
    let mut e = Vec::new();
    match b["routing_key"].as_str() {
        None => e.push("'routing_key' is missing".to_string()),
        Some(k) if k.len() != 32 => e.push("'routing_key' must be 32 characters".to_string()),
        Some(k) if k != s.routing_key => e.push("Invalid routing key".to_string()),
        _ => {}
    }
    let action = b["event_action"].as_str().unwrap_or("");
    if !matches!(action, "trigger" | "acknowledge" | "resolve") {
        e.push("'event_action' is invalid (must be one of trigger, acknowledge or resolve)".into());
    }
    if let Some(k) = b.get("dedup_key") {
        match k.as_str() {
            Some(k) if !k.is_empty() && k.chars().count() <= 255 => {}
            _ => e.push("'dedup_key' must be a string of at most 255 characters".into()),
        }
    } else if action != "trigger" {
        e.push("'dedup_key' is required for acknowledge and resolve".into());
    }
    if action == "trigger" {
        let p = &b["payload"];
        match p["summary"].as_str() {
            Some(s) if !s.is_empty() && s.chars().count() <= 1024 => {}
            _ => e.push("'payload.summary' is required, at most 1024 characters".into()),
        }
        if p["source"].as_str().is_none_or(str::is_empty) {
            e.push("'payload.source' is required".into());
        }
        if !matches!(
            p["severity"].as_str(),
            Some("critical" | "error" | "warning" | "info")
        ) {
            e.push("'payload.severity' must be one of critical, error, warning or info".into());
        }
        if let Some(t) = p.get("timestamp")
            && t.as_str()
                .is_none_or(|t| chrono::DateTime::parse_from_rfc3339(t).is_err())
        {
            e.push("'payload.timestamp' must be ISO 8601".into());
        }
        if let Some(d) = p.get("custom_details")
            && !d.is_object()
        {
            e.push("'payload.custom_details' must be an object".into());
        }
    }
    e
}

// ---------------------------------------------------------------- any JSON

/// Records any JSON request (webhook with the tocsin payload, Alertmanager's
/// `/api/v2/alerts`) and answers 200.
pub struct JsonSink {
    pub addr: SocketAddr,
    pub log: Arc<Log>,
}

impl JsonSink {
    pub async fn start() -> JsonSink {
        let log = Arc::new(Log::default());
        let l = Arc::clone(&log);
        let app = Router::new().fallback(
            move |method: axum::http::Method,
                  uri: axum::http::Uri,
                  headers: HeaderMap,
                  raw: String| {
                let l = Arc::clone(&l);
                async move {
                    let mut q = HashMap::new();
                    q.insert("method".to_string(), method.to_string());
                    let mut status = StatusCode::OK;
                    if !json_content_type(&headers) {
                        l.violation("content-type is not application/json".into());
                    }
                    if uri.path() == "/api/v2/alerts"
                        && let Err(why) = postable_alerts_errors(&raw)
                    {
                        l.violation(format!("not Alertmanager's postableAlerts: {why}"));
                        status = StatusCode::BAD_REQUEST;
                    }
                    l.record(
                        uri.path(),
                        &q,
                        &headers,
                        &raw,
                        status.as_u16(),
                        &Value::Null,
                    );
                    status
                }
            },
        );
        JsonSink {
            addr: serve(app).await,
            log,
        }
    }
}

/// Alertmanager's `postableAlerts` (api/v2/openapi.yaml): an array of
/// `{labels, annotations?, startsAt?, endsAt?, generatorURL?}`, labels and
/// annotations string maps with valid label names, `alertname` present,
/// times RFC 3339, generatorURL a URI, and no other keys.
fn postable_alerts_errors(raw: &str) -> Result<(), String> {
    let v: Value = serde_json::from_str(raw).map_err(|e| format!("not JSON: {e}"))?;
    let alerts = v.as_array().ok_or("not an array")?;
    for (i, a) in alerts.iter().enumerate() {
        let obj = a.as_object().ok_or(format!("[{i}] is not an object"))?;
        for k in obj.keys() {
            if ![
                "labels",
                "annotations",
                "startsAt",
                "endsAt",
                "generatorURL",
            ]
            .contains(&k.as_str())
            {
                return Err(format!("[{i}] has an unknown key {k:?}"));
            }
        }
        for key in ["labels", "annotations"] {
            let Some(m) = obj.get(key) else {
                if key == "labels" {
                    return Err(format!("[{i}].labels missing"));
                }
                continue;
            };
            let m = m
                .as_object()
                .ok_or(format!("[{i}].{key} is not an object"))?;
            for (name, value) in m {
                let mut c = name.chars();
                let valid = c
                    .next()
                    .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
                    && c.all(|x| x.is_ascii_alphanumeric() || x == '_');
                if !valid || !value.is_string() {
                    return Err(format!(
                        "[{i}].{key}.{name} is not a label name with a string value"
                    ));
                }
            }
        }
        if !obj["labels"]["alertname"].is_string() {
            return Err(format!("[{i}].labels.alertname missing"));
        }
        for key in ["startsAt", "endsAt"] {
            if let Some(t) = obj.get(key) {
                let t = t.as_str().ok_or(format!("[{i}].{key} is not a string"))?;
                chrono::DateTime::parse_from_rfc3339(t).map_err(|e| format!("[{i}].{key}: {e}"))?;
            }
        }
        if let Some(u) = obj.get("generatorURL") {
            let u = u
                .as_str()
                .ok_or(format!("[{i}].generatorURL is not a string"))?;
            if !u.is_empty() && reqwest::Url::parse(u).is_err() {
                return Err(format!("[{i}].generatorURL {u:?} is not a URI"));
            }
        }
    }
    Ok(())
}
