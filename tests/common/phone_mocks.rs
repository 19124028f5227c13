//! Local stand-ins for the SMS and call gateways (Alibaba Cloud SendSms,
//! SingleCallByTts and QueryCallDetailByCallId, Tencent Cloud SendSms, Twilio
//! Messages and Calls). Each
//! checks the real protocol and recomputes the signature with its own code
//! (not tocsin's), keeps the gateway's per-number limits and answers with
//! its real error codes. Everything received is recorded.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

/// One message or call a gateway accepted or refused.
#[derive(Debug, Clone)]
pub struct PhoneHit {
    pub at: Instant,
    pub action: String,
    /// The numbers, as sent.
    pub numbers: Vec<String>,
    /// Template variables (Aliyun: object; Tencent: array) or Twilio's Body / Twiml.
    pub params: Value,
    /// The gateway's answer code (`OK`, `Ok`, `201`, or the error code).
    pub code: String,
    /// The raw request (form or JSON), to check that secrets are absent.
    pub raw: String,
}

/// Sends per key over sliding windows (the gateways' per-number limits).
#[derive(Default)]
struct Windows(HashMap<String, Vec<Instant>>);

impl Windows {
    /// The index of the first window that is full, else records the send.
    fn take(&mut self, key: &str, limits: &[(usize, Duration)]) -> Option<usize> {
        let now = Instant::now();
        let v = self.0.entry(key.to_string()).or_default();
        for (i, (n, per)) in limits.iter().enumerate() {
            if v.iter().filter(|t| now.duration_since(**t) < *per).count() >= *n {
                return Some(i);
            }
        }
        v.push(now);
        None
    }
}

/// What a gateway stand-in saw.
pub type PhoneLog = super::mocks::Log<PhoneHit>;

impl PhoneLog {
    /// Accepted messages or calls.
    pub fn accepted(&self) -> Vec<PhoneHit> {
        self.hits()
            .into_iter()
            .filter(|h| matches!(h.code.as_str(), "OK" | "Ok" | "201"))
            .collect()
    }
}

// ------------------------------------------------------------------ Aliyun

/// RFC 3986 encoding as Aliyun's RPC signature wants it (written apart from tocsin's).
pub fn aliyun_encode(s: &str) -> String {
    const KEEP: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~";
    s.bytes()
        .map(|b| {
            if KEEP.contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

pub fn aliyun_sign(secret: &str, method: &str, params: &BTreeMap<String, String>) -> String {
    let query: Vec<String> = params
        .iter()
        .filter(|(k, _)| k.as_str() != "Signature")
        .map(|(k, v)| format!("{}={}", aliyun_encode(k), aliyun_encode(v)))
        .collect();
    let sts = format!("{method}&%2F&{}", aliyun_encode(&query.join("&")));
    let mut mac =
        <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(format!("{secret}&").as_bytes()).unwrap();
    mac.update(sts.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

struct AliyunState {
    key_id: String,
    secret: String,
    sign_name: String,
    /// Approved templates and their variables.
    templates: HashMap<String, Vec<String>>,
    nonces: Mutex<HashSet<String>>,
    windows: Mutex<Windows>,
    /// Calls to these numbers (as sent) go unanswered this many times first.
    no_answer: Mutex<HashMap<String, u32>>,
    /// CallId → the call placed.
    calls: Mutex<HashMap<String, AliyunCall>>,
    /// The key's RAM user may not call QueryCallDetailByCallId.
    deny_queries: std::sync::atomic::AtomicBool,
    log: Arc<PhoneLog>,
}

struct AliyunCall {
    callee: String,
    show: String,
    placed: chrono::DateTime<chrono::Utc>,
    answered: bool,
}

pub struct AliyunMock {
    pub addr: SocketAddr,
    pub log: Arc<PhoneLog>,
    state: Arc<AliyunState>,
}

/// Aliyun's default flow control per number and template.
const ALIYUN_LIMITS: &[(usize, Duration)] = &[
    (1, Duration::from_secs(60)),
    (5, Duration::from_secs(3600)),
    (10, Duration::from_secs(86_400)),
];

impl AliyunMock {
    /// A gateway for `key_id`/`secret`, signature name `sign_name`, and
    /// approved templates (code → variable names); serves SendSms,
    /// SingleCallByTts and QueryCallDetailByCallId (calls are answered unless
    /// [`AliyunMock::unanswered`] says otherwise).
    pub async fn start(
        key_id: &str,
        secret: &str,
        sign_name: &str,
        templates: &[(&str, &[&str])],
    ) -> AliyunMock {
        let log = Arc::new(PhoneLog::default());
        let state = Arc::new(AliyunState {
            key_id: key_id.into(),
            secret: secret.into(),
            sign_name: sign_name.into(),
            templates: templates
                .iter()
                .map(|(c, v)| (c.to_string(), v.iter().map(|s| s.to_string()).collect()))
                .collect(),
            nonces: Mutex::new(HashSet::new()),
            windows: Mutex::new(Windows::default()),
            no_answer: Mutex::new(HashMap::new()),
            calls: Mutex::new(HashMap::new()),
            deny_queries: Default::default(),
            log: log.clone(),
        });
        let app = Router::new()
            .route("/", post(aliyun))
            .with_state(state.clone());
        AliyunMock {
            addr: serve(app).await,
            log,
            state,
        }
    }

    /// From now on the key may not read call records (a RAM user without
    /// `dyvms:QueryCallDetailByCallId`).
    pub fn deny_call_queries(&self) {
        self.state
            .deny_queries
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// The next `times` calls to `number` (as sent: `13600000000`) ring
    /// unanswered.
    pub fn unanswered(&self, number: &str, times: u32) {
        self.state
            .no_answer
            .lock()
            .unwrap()
            .insert(number.to_string(), times);
    }

    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }
}

fn aliyun_answer(status: u16, code: &str, message: &str, extra: Value) -> (u16, Value) {
    let mut v =
        json!({"Code": code, "Message": message, "RequestId": uuid::Uuid::new_v4().to_string()});
    if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
        for (k, x) in e {
            o.insert(k.clone(), x.clone());
        }
    }
    (status, v)
}

async fn aliyun(State(s): State<Arc<AliyunState>>, headers: HeaderMap, body: Bytes) -> Response {
    let raw = String::from_utf8_lossy(&body).to_string();
    let ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !ct.starts_with("application/x-www-form-urlencoded") {
        s.log.violation(format!("content-type {ct:?}"));
    }
    let p: BTreeMap<String, String> = form_urlencoded::parse(raw.as_bytes())
        .into_owned()
        .collect();
    let action = p.get("Action").cloned().unwrap_or_default();
    let (status, answer) = aliyun_check(&s, &p);
    let code = answer["Code"].as_str().unwrap_or_default().to_string();
    let (numbers, params) = match action.as_str() {
        "QueryCallDetailByCallId" => (
            s.calls
                .lock()
                .unwrap()
                .get(p.get("CallId").map_or("", |c| c.as_str()))
                .map(|c| vec![c.callee.clone()])
                .unwrap_or_default(),
            json!({"CallId": p.get("CallId"), "ProdId": p.get("ProdId"), "QueryDate": p.get("QueryDate"), "state": answer["Data"].as_str().and_then(|d| serde_json::from_str::<Value>(d).ok()).map(|d| d["state"].clone())}),
        ),
        "SingleCallByTts" => (
            vec![p.get("CalledNumber").cloned().unwrap_or_default()],
            serde_json::from_str(p.get("TtsParam").map_or("null", |v| v)).unwrap_or(Value::Null),
        ),
        _ => (
            p.get("PhoneNumbers")
                .map(|n| n.split(',').map(str::to_string).collect())
                .unwrap_or_default(),
            serde_json::from_str(p.get("TemplateParam").map_or("null", |v| v))
                .unwrap_or(Value::Null),
        ),
    };
    s.log.push(PhoneHit {
        at: Instant::now(),
        action,
        numbers,
        params,
        code,
        raw,
    });
    (StatusCode::from_u16(status).unwrap(), axum::Json(answer)).into_response()
}

fn aliyun_check(s: &AliyunState, p: &BTreeMap<String, String>) -> (u16, Value) {
    let get = |k: &str| p.get(k).map(String::as_str).unwrap_or_default();
    for (k, want) in [
        ("Format", "JSON"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureVersion", "1.0"),
        ("Version", "2017-05-25"),
    ] {
        if get(k) != want {
            s.log.violation(format!("{k} = {:?}", get(k)));
            return aliyun_answer(
                400,
                "MissingParameter",
                &format!("{k} is mandatory for this action."),
                json!({}),
            );
        }
    }
    if get("RegionId").is_empty() {
        s.log.violation("no RegionId".into());
    }
    match chrono::NaiveDateTime::parse_from_str(get("Timestamp"), "%Y-%m-%dT%H:%M:%SZ") {
        Ok(t) if (chrono::Utc::now().naive_utc() - t).num_minutes().abs() <= 15 => {}
        _ => {
            return aliyun_answer(
                400,
                "InvalidTimeStamp.Expired",
                "Specified time stamp or date value is expired.",
                json!({}),
            );
        }
    }
    if get("SignatureNonce").is_empty()
        || !s
            .nonces
            .lock()
            .unwrap()
            .insert(get("SignatureNonce").to_string())
    {
        return aliyun_answer(
            400,
            "SignatureNonceUsed",
            "Specified signature nonce was used already.",
            json!({}),
        );
    }
    if get("AccessKeyId") != s.key_id {
        return aliyun_answer(
            404,
            "InvalidAccessKeyId.NotFound",
            "Specified access key is not found.",
            json!({}),
        );
    }
    if aliyun_sign(&s.secret, "POST", p) != get("Signature") {
        return aliyun_answer(
            400,
            "SignatureDoesNotMatch",
            "Specified signature is not matched with our calculation.",
            json!({}),
        );
    }
    let (template, vars_key) = match get("Action") {
        "QueryCallDetailByCallId" => return aliyun_call_detail(s, p),
        "SendSms" => {
            if get("SignName") != s.sign_name {
                return aliyun_answer(
                    200,
                    "isv.SMS_SIGNATURE_ILLEGAL",
                    "该账号下找不到对应签名",
                    json!({}),
                );
            }
            ("TemplateCode", "TemplateParam")
        }
        "SingleCallByTts" => ("TtsCode", "TtsParam"),
        other => {
            return aliyun_answer(
                404,
                "InvalidApi.NotFound",
                &format!("Specified api {other} is not found"),
                json!({}),
            );
        }
    };
    let Some(vars) = s.templates.get(get(template)) else {
        return aliyun_answer(
            200,
            "isv.SMS_TEMPLATE_ILLEGAL",
            "该账号下找不到对应模板",
            json!({}),
        );
    };
    let params: Value = serde_json::from_str(get(vars_key)).unwrap_or(Value::Null);
    for v in vars {
        match params.get(v).and_then(Value::as_str) {
            None => {
                return aliyun_answer(
                    200,
                    "isv.TEMPLATE_MISSING_PARAMETERS",
                    &format!("模板变量缺少对应参数值: {v}"),
                    json!({}),
                );
            }
            Some(x) if x.chars().count() > 35 => {
                s.log
                    .violation(format!("variable {v} has {} characters", x.chars().count()));
                return aliyun_answer(200, "isv.PARAM_LENGTH_LIMIT", "参数超出长度限制", json!({}));
            }
            Some(_) => {}
        }
    }
    let numbers: Vec<&str> = if get("Action") == "SendSms" {
        get("PhoneNumbers").split(',').collect()
    } else {
        vec![get("CalledNumber")]
    };
    for n in &numbers {
        let national = n.strip_prefix("86").filter(|r| r.len() == 11).unwrap_or(n);
        if national.len() != 11
            || !national.starts_with('1')
            || !national.chars().all(|c| c.is_ascii_digit())
        {
            return aliyun_answer(200, "isv.MOBILE_NUMBER_ILLEGAL", "非法手机号", json!({}));
        }
    }
    for n in &numbers {
        let key = format!("{}/{}", n.trim_start_matches("86"), get(template));
        if let Some(i) = s.windows.lock().unwrap().take(&key, ALIYUN_LIMITS) {
            let msg = [
                "触发分钟级流控Permits:1",
                "触发小时级流控Permits:5",
                "触发天级流控Permits:10",
            ][i];
            return aliyun_answer(200, "isv.BUSINESS_LIMIT_CONTROL", msg, json!({}));
        }
    }
    match get("Action") {
        "SendSms" => aliyun_answer(200, "OK", "OK", json!({"BizId": "900619746936498440^0"})),
        _ => {
            let id = format!(
                "1160{:08}^1028{:08}",
                rand_digits(),
                s.calls.lock().unwrap().len()
            );
            let callee = get("CalledNumber").to_string();
            let answered = match s.no_answer.lock().unwrap().get_mut(&callee) {
                Some(n) if *n > 0 => {
                    *n -= 1;
                    false
                }
                _ => true,
            };
            s.calls.lock().unwrap().insert(
                id.clone(),
                AliyunCall {
                    callee,
                    show: get("CalledShowNumber").to_string(),
                    placed: chrono::Utc::now(),
                    answered,
                },
            );
            aliyun_answer(200, "OK", "OK", json!({"CallId": id}))
        }
    }
}

fn rand_digits() -> u32 {
    (uuid::Uuid::new_v4().as_u128() % 100_000_000) as u32
}

/// Voice notifications' product id in QueryCallDetailByCallId.
const ALIYUN_VOICE_NOTIFICATION: &str = "11000000300006";

/// QueryCallDetailByCallId (signature already checked): `CallId`, `ProdId`,
/// `QueryDate` (ms; records from then to 24 hours later) required; `Data`
/// is the record as a JSON string, as the SDK metadata describes it.
fn aliyun_call_detail(s: &AliyunState, p: &BTreeMap<String, String>) -> (u16, Value) {
    let get = |k: &str| p.get(k).map(String::as_str).unwrap_or_default();
    if s.deny_queries.load(std::sync::atomic::Ordering::SeqCst) {
        return aliyun_answer(
            403,
            "Forbidden.RAM",
            "User not authorized to operate on the specified resource, or this API doesn't support RAM.",
            json!({}),
        );
    }
    for k in ["CallId", "ProdId", "QueryDate"] {
        if get(k).is_empty() {
            s.log
                .violation(format!("QueryCallDetailByCallId without {k}"));
            return aliyun_answer(
                400,
                "MissingParameter",
                &format!("{k} is mandatory for this action."),
                json!({}),
            );
        }
    }
    // The mock's TTS calls are all voice notifications: the CallId matches
    // that product only; the voice verification code product finds nothing.
    match get("ProdId") {
        ALIYUN_VOICE_NOTIFICATION => {}
        "11010000138001" => return aliyun_answer(200, "OK", "OK", json!({"Data": ""})),
        other => {
            s.log.violation(format!("ProdId {other:?}"));
            return aliyun_answer(200, "OK", "OK", json!({"Data": ""}));
        }
    }
    let Ok(date) = get("QueryDate").parse::<i64>() else {
        s.log
            .violation(format!("QueryDate {:?} is not ms", get("QueryDate")));
        return aliyun_answer(
            400,
            "InvalidParameter",
            "QueryDate is not valid.",
            json!({}),
        );
    };
    let calls = s.calls.lock().unwrap();
    let Some(c) = calls.get(get("CallId")) else {
        return aliyun_answer(200, "OK", "OK", json!({"Data": ""}));
    };
    let placed = c.placed.timestamp_millis();
    // Seconds of clock skew aside, the record lies within a day after QueryDate.
    if placed + 5_000 < date || placed >= date + 86_400_000 {
        s.log.violation(format!(
            "QueryDate {date} misses the call placed at {placed}"
        ));
        return aliyun_answer(200, "OK", "OK", json!({"Data": ""}));
    }
    let at = |secs: i64| {
        (c.placed + chrono::Duration::seconds(secs))
            .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap())
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
    };
    let record = if c.answered {
        json!({"caller": "", "startDate": at(8), "stateDesc": "用户听完语音", "duration": 21,
            "callerShowNumber": c.show, "gmtCreate": at(0), "state": "200000", "endDate": at(29),
            "calleeShowNumber": c.show, "callee": c.callee, "bRingTime": at(1), "bEndTime": at(8)})
    } else {
        json!({"caller": "", "startDate": "", "stateDesc": "用户收到呼叫但未接听", "duration": 0,
            "callerShowNumber": c.show, "gmtCreate": at(0), "state": "200003", "endDate": "",
            "calleeShowNumber": c.show, "callee": c.callee, "bRingTime": at(1), "bEndTime": at(46)})
    };
    aliyun_answer(200, "OK", "OK", json!({"Data": record.to_string()}))
}

// ------------------------------------------------------------------ Tencent

fn tc3_hmac(key: &[u8], msg: &str) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
    mac.update(msg.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// TC3-HMAC-SHA256 over `content-type;host`, written apart from tocsin's.
pub fn tc3_sign(secret_key: &str, ts: i64, host: &str, content_type: &str, body: &[u8]) -> String {
    let date = chrono::DateTime::from_timestamp(ts, 0)
        .unwrap()
        .format("%Y-%m-%d")
        .to_string();
    let canonical = format!(
        "POST\n/\n\ncontent-type:{content_type}\nhost:{host}\n\ncontent-type;host\n{}",
        hex(&Sha256::digest(body))
    );
    let sts = format!(
        "TC3-HMAC-SHA256\n{ts}\n{date}/sms/tc3_request\n{}",
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let k = tc3_hmac(format!("TC3{secret_key}").as_bytes(), &date);
    let k = tc3_hmac(&k, "sms");
    let k = tc3_hmac(&k, "tc3_request");
    hex(&tc3_hmac(&k, &sts))
}

struct TencentState {
    secret_id: String,
    secret_key: String,
    app_id: String,
    sign_name: String,
    /// Approved template ids and their variable count.
    templates: HashMap<String, usize>,
    windows: Mutex<Windows>,
    log: Arc<PhoneLog>,
}

pub struct TencentMock {
    pub addr: SocketAddr,
    pub log: Arc<PhoneLog>,
}

/// Tencent's default per number: 1 in 30 s, 5 an hour, 10 a day.
const TENCENT_LIMITS: &[(usize, Duration)] = &[
    (1, Duration::from_secs(30)),
    (5, Duration::from_secs(3600)),
    (10, Duration::from_secs(86_400)),
];

impl TencentMock {
    pub async fn start(
        secret_id: &str,
        secret_key: &str,
        app_id: &str,
        sign_name: &str,
        templates: &[(&str, usize)],
    ) -> TencentMock {
        let log = Arc::new(PhoneLog::default());
        let state = Arc::new(TencentState {
            secret_id: secret_id.into(),
            secret_key: secret_key.into(),
            app_id: app_id.into(),
            sign_name: sign_name.into(),
            templates: templates.iter().map(|(t, n)| (t.to_string(), *n)).collect(),
            windows: Mutex::new(Windows::default()),
            log: log.clone(),
        });
        let app = Router::new().route("/", post(tencent)).with_state(state);
        TencentMock {
            addr: serve(app).await,
            log,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }
}

fn tencent_error(code: &str, message: &str) -> Value {
    json!({"Response": {"Error": {"Code": code, "Message": message}, "RequestId": uuid::Uuid::new_v4().to_string()}})
}

async fn tencent(State(s): State<Arc<TencentState>>, headers: HeaderMap, body: Bytes) -> Response {
    let raw = String::from_utf8_lossy(&body).to_string();
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let answer = tencent_check(&s, &headers, &body, &v);
    let codes: Vec<String> = match answer["Response"]["SendStatusSet"].as_array() {
        Some(set) => set
            .iter()
            .map(|x| x["Code"].as_str().unwrap_or_default().to_string())
            .collect(),
        None => vec![
            answer["Response"]["Error"]["Code"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        ],
    };
    let code = codes
        .iter()
        .find(|c| c.as_str() != "Ok")
        .cloned()
        .unwrap_or_else(|| "Ok".into());
    s.log.push(PhoneHit {
        at: Instant::now(),
        action: "SendSms".into(),
        numbers: v["PhoneNumberSet"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
        params: v["TemplateParamSet"].clone(),
        code,
        raw,
    });
    (StatusCode::OK, axum::Json(answer)).into_response()
}

fn tencent_check(s: &TencentState, h: &HeaderMap, body: &[u8], v: &Value) -> Value {
    let header = |k: &str| {
        h.get(k)
            .and_then(|x| x.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    for (k, want) in [("x-tc-action", "SendSms"), ("x-tc-version", "2021-01-11")] {
        if header(k) != want {
            s.log.violation(format!("{k}: {:?}", header(k)));
            return tencent_error("InvalidAction", &format!("{k} is wrong"));
        }
    }
    if header("x-tc-region").is_empty() {
        return tencent_error("MissingParameter", "X-TC-Region is missing");
    }
    let ts: i64 = header("x-tc-timestamp").parse().unwrap_or(0);
    if (chrono::Utc::now().timestamp() - ts).abs() > 300 {
        return tencent_error("AuthFailure.SignatureExpire", "The signature has expired.");
    }
    let auth = header("authorization");
    let Some(rest) = auth.strip_prefix("TC3-HMAC-SHA256 Credential=") else {
        return tencent_error(
            "AuthFailure.InvalidAuthorization",
            "Authorization is not TC3-HMAC-SHA256",
        );
    };
    let parts: Vec<&str> = rest.split(", ").collect();
    let cred: Vec<&str> = parts.first().unwrap_or(&"").split('/').collect();
    if cred.first() != Some(&s.secret_id.as_str()) {
        return tencent_error("AuthFailure.SecretIdNotFound", "The SecretId is not found.");
    }
    let date = chrono::DateTime::from_timestamp(ts, 0)
        .unwrap()
        .format("%Y-%m-%d")
        .to_string();
    if cred.get(1) != Some(&date.as_str())
        || cred.get(2) != Some(&"sms")
        || cred.get(3) != Some(&"tc3_request")
    {
        return tencent_error(
            "AuthFailure.SignatureFailure",
            "The credential scope is wrong.",
        );
    }
    if parts.get(1) != Some(&"SignedHeaders=content-type;host") {
        s.log
            .violation(format!("signed headers {:?}", parts.get(1)));
    }
    let sig = tc3_sign(
        &s.secret_key,
        ts,
        &header("host"),
        &header("content-type"),
        body,
    );
    if parts.get(2) != Some(&format!("Signature={sig}").as_str()) {
        return tencent_error(
            "AuthFailure.SignatureFailure",
            "The provided credentials could not be validated. Please check your signature is correct.",
        );
    }
    if v["SmsSdkAppId"] != s.app_id.as_str() {
        return tencent_error(
            "FailedOperation.SmsSdkAppIdVerifyFail",
            "SmsSdkAppId verification failed.",
        );
    }
    if v["SignName"] != s.sign_name.as_str() {
        return tencent_error(
            "FailedOperation.SignatureIncorrectOrUnapproved",
            "The signature is incorrect or unapproved.",
        );
    }
    let Some(n) = v["TemplateId"].as_str().and_then(|t| s.templates.get(t)) else {
        return tencent_error(
            "FailedOperation.TemplateIncorrectOrUnapproved",
            "The template is incorrect or unapproved.",
        );
    };
    let params = v["TemplateParamSet"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if params.len() != *n || params.iter().any(|p| !p.is_string()) {
        return tencent_error(
            "InvalidParameterValue.TemplateParameterFormatError",
            "The template parameters do not match the template.",
        );
    }
    let mut set = Vec::new();
    for num in v["PhoneNumberSet"].as_array().cloned().unwrap_or_default() {
        let num = num.as_str().unwrap_or_default().to_string();
        let national = num.strip_prefix("+86").unwrap_or_default();
        let (code, msg) = if national.len() != 11 || !national.chars().all(|c| c.is_ascii_digit()) {
            (
                "InvalidParameterValue.IncorrectPhoneNumber",
                "The phone number is incorrect.",
            )
        } else {
            match s.windows.lock().unwrap().take(&num, TENCENT_LIMITS) {
                Some(0) => (
                    "LimitExceeded.PhoneNumberThirtySecondLimit",
                    "The 30-second limit of this number is reached.",
                ),
                Some(1) => (
                    "LimitExceeded.PhoneNumberOneHourLimit",
                    "The one-hour limit of this number is reached.",
                ),
                Some(_) => (
                    "LimitExceeded.PhoneNumberDailyLimit",
                    "The daily limit of this number is reached.",
                ),
                None => ("Ok", "send success"),
            }
        };
        set.push(json!({"SerialNo": "2028:0", "PhoneNumber": num, "Fee": 1, "SessionContext": "", "Code": code, "Message": msg, "IsoCode": "CN"}));
    }
    json!({"Response": {"SendStatusSet": set, "RequestId": uuid::Uuid::new_v4().to_string()}})
}

// ------------------------------------------------------------------ Twilio

struct TwilioState {
    sid: String,
    token: String,
    from: String,
    unsubscribed: Vec<String>,
    /// Calls to these numbers go unanswered this many times first.
    no_answer: Mutex<HashMap<String, u32>>,
    calls: Mutex<HashMap<String, String>>,
    windows: Mutex<Windows>,
    log: Arc<PhoneLog>,
}

pub struct TwilioMock {
    pub addr: SocketAddr,
    pub log: Arc<PhoneLog>,
}

impl TwilioMock {
    /// `no_answer`: numbers whose first calls nobody answers, and how many.
    pub async fn start(
        sid: &str,
        token: &str,
        from: &str,
        unsubscribed: &[&str],
        no_answer: &[(&str, u32)],
    ) -> TwilioMock {
        let log = Arc::new(PhoneLog::default());
        let state = Arc::new(TwilioState {
            sid: sid.into(),
            token: token.into(),
            from: from.into(),
            unsubscribed: unsubscribed.iter().map(|s| s.to_string()).collect(),
            no_answer: Mutex::new(no_answer.iter().map(|(n, c)| (n.to_string(), *c)).collect()),
            calls: Mutex::new(HashMap::new()),
            windows: Mutex::new(Windows::default()),
            log: log.clone(),
        });
        let app = Router::new()
            .route("/2010-04-01/Accounts/{sid}/{resource}", post(twilio_create))
            .route(
                "/2010-04-01/Accounts/{sid}/Calls/{call}",
                get(twilio_call_status),
            )
            .with_state(state);
        TwilioMock {
            addr: serve(app).await,
            log,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

fn twilio_error(status: u16, code: u32, message: &str) -> (u16, Value) {
    (
        status,
        json!({"code": code, "message": message, "more_info": format!("https://www.twilio.com/docs/errors/{code}"), "status": status}),
    )
}

fn twilio_auth(s: &TwilioState, sid: &str, h: &HeaderMap) -> bool {
    let want = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", s.sid, s.token))
    );
    sid == s.sid && h.get("authorization").and_then(|v| v.to_str().ok()) == Some(want.as_str())
}

fn e164(n: &str) -> bool {
    n.strip_prefix('+')
        .is_some_and(|r| (8..=15).contains(&r.len()) && r.chars().all(|c| c.is_ascii_digit()))
}

async fn twilio_create(
    State(s): State<Arc<TwilioState>>,
    Path((sid, resource)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let raw = String::from_utf8_lossy(&body).to_string();
    let f: HashMap<String, String> = form_urlencoded::parse(raw.as_bytes())
        .into_owned()
        .collect();
    let get = |k: &str| f.get(k).cloned().unwrap_or_default();
    let to = get("To");
    let (status, answer, params) = {
        let params = if resource == "Calls.json" {
            json!(get("Twiml"))
        } else {
            json!(get("Body"))
        };
        let (status, answer) = if !twilio_auth(&s, &sid, &headers) {
            twilio_error(401, 20003, "Authenticate")
        } else if !matches!(resource.as_str(), "Messages.json" | "Calls.json") {
            twilio_error(404, 20404, "The requested resource was not found")
        } else if !e164(&to) {
            twilio_error(
                400,
                21211,
                &format!("The 'To' number {to} is not a valid phone number."),
            )
        } else if s.unsubscribed.contains(&to) {
            twilio_error(400, 21610, "Attempt to send to unsubscribed recipient")
        } else if get("From") != s.from && get("MessagingServiceSid").is_empty() {
            twilio_error(
                400,
                21606,
                "The From phone number is not a valid, SMS-capable inbound phone number or short code for your account.",
            )
        } else if resource == "Messages.json"
            && (get("Body").is_empty() || get("Body").chars().count() > 1600)
        {
            twilio_error(
                400,
                21617,
                "The concatenated message body exceeds the 1600 character limit.",
            )
        } else if resource == "Calls.json" && !get("Twiml").starts_with("<Response><Say") {
            twilio_error(400, 21205, "Invalid Twiml")
        } else if s
            .windows
            .lock()
            .unwrap()
            .take(&s.from, &[(1, Duration::from_millis(900))])
            .is_some()
        {
            twilio_error(429, 20429, "Too Many Requests")
        } else if resource == "Calls.json" {
            let call = format!("CA{}", uuid::Uuid::new_v4().simple());
            let mut left = s.no_answer.lock().unwrap();
            let status = match left.get_mut(&to) {
                Some(n) if *n > 0 => {
                    *n -= 1;
                    "no-answer"
                }
                _ => "completed",
            };
            s.calls.lock().unwrap().insert(call.clone(), status.into());
            (
                201,
                json!({"sid": call, "status": "queued", "to": to, "from": get("From")}),
            )
        } else {
            (
                201,
                json!({"sid": format!("SM{}", uuid::Uuid::new_v4().simple()), "status": "queued", "to": to, "body": get("Body")}),
            )
        };
        (status, answer, params)
    };
    s.log.push(PhoneHit {
        at: Instant::now(),
        action: resource.trim_end_matches(".json").to_string(),
        numbers: vec![to],
        params,
        code: if status == 201 {
            "201".into()
        } else {
            answer["code"].to_string()
        },
        raw,
    });
    (StatusCode::from_u16(status).unwrap(), axum::Json(answer)).into_response()
}

async fn twilio_call_status(
    State(s): State<Arc<TwilioState>>,
    Path((sid, call)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if !twilio_auth(&s, &sid, &headers) {
        let (st, v) = twilio_error(401, 20003, "Authenticate");
        return (StatusCode::from_u16(st).unwrap(), axum::Json(v)).into_response();
    }
    let id = call.trim_end_matches(".json");
    match s.calls.lock().unwrap().get(id) {
        Some(status) => axum::Json(json!({"sid": id, "status": status})).into_response(),
        None => {
            let (st, v) = twilio_error(404, 20404, "The requested resource was not found");
            (StatusCode::from_u16(st).unwrap(), axum::Json(v)).into_response()
        }
    }
}
