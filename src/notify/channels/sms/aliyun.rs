//! Alibaba Cloud: SMS (`SendSms` on `dysmsapi.aliyuncs.com`) and
//! text-to-speech calls (`SingleCallByTts` on `dyvmsapi.aliyuncs.com`), both
//! API version 2017-05-25, RPC style with signature version 1.0:
//!
//! - common parameters AccessKeyId, Action, Format=JSON, RegionId,
//!   SignatureMethod=HMAC-SHA1, SignatureNonce, SignatureVersion=1.0,
//!   Timestamp (ISO 8601 UTC), Version;
//! - StringToSign = `POST&%2F&` + percentEncode(the sorted, percent-encoded
//!   `k=v&...`), with RFC 3986 encoding (space `%20`, `*` `%2A`, `~` kept);
//! - Signature = Base64(HMAC-SHA1(AccessKeySecret + "&", StringToSign)),
//!   sent with the parameters as a form body.
//!
//! A call is then watched with `QueryCallDetailByCallId` (same API, same
//! signature; parameters `CallId`, `ProdId` — 11000000300006, voice
//! notifications, else 11010000138001 — and `QueryDate`, the placing time
//! in ms): its `Data` is the call record as a JSON string whose `state` is
//! the operator's status code and `duration` the seconds connected. An
//! unanswered call is placed again after `redial_after`, up to `redial`
//! more times ([`super::call_until_answered`]); a redial within Aliyun's
//! minute (one call a minute per number) waits for it.
//!
//! Answers are JSON `{Code, Message, BizId|CallId, RequestId}`: `OK` is
//! sent; flow control (`isv.BUSINESS_LIMIT_CONTROL`, `isv.DAY_LIMIT_CONTROL`),
//! `Throttling.*`, `ServiceUnavailable`, `InternalError` and HTTP 5xx are
//! retried; every other code (wrong number, template, signature name, key,
//! signature) is permanent, recorded with Aliyun's code and message.

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use reqwest::header::CONTENT_TYPE;
use sha1::Sha1;

use super::{CallEnd, Dialer, Fields, Phone, PlacedCall, call_until_answered, combine};
use crate::notify::channels::{Delivery, HttpAnswer, classify_http, excerpt, execute};

pub const VERSION: &str = "2017-05-25";

/// Percent-encoding of Aliyun's RPC signature: everything but
/// `A-Z a-z 0-9 - _ . ~`, as UTF-8 bytes, upper-case hex.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `k=v&...` sorted by key, each part percent-encoded.
pub fn canonical_query(params: &BTreeMap<String, String>) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

pub fn string_to_sign(method: &str, params: &BTreeMap<String, String>) -> String {
    format!(
        "{method}&{}&{}",
        percent_encode("/"),
        percent_encode(&canonical_query(params))
    )
}

/// Base64(HMAC-SHA1(secret + "&", StringToSign)).
pub fn signature(secret: &str, method: &str, params: &BTreeMap<String, String>) -> String {
    let key = format!("{secret}&");
    // HMAC takes keys of any length; this cannot fail.
    let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(key.as_bytes())
        .expect("HMAC accepts any key length");
    mac.update(string_to_sign(method, params).as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The common parameters plus `action`'s, signed: the form body to POST.
pub fn signed_form(
    p: &Phone,
    action: &str,
    mut params: BTreeMap<String, String>,
    nonce: &str,
    timestamp: &str,
) -> String {
    let c = &p.cfg;
    for (k, v) in [
        ("AccessKeyId", c.credentials.id.as_str()),
        ("Action", action),
        ("Format", "JSON"),
        ("RegionId", c.region.as_str()),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureNonce", nonce),
        ("SignatureVersion", "1.0"),
        ("Timestamp", timestamp),
        ("Version", VERSION),
    ] {
        params.insert(k.to_string(), v.to_string());
    }
    let sig = signature(c.credentials.secret.expose(), "POST", &params);
    params.insert("Signature".into(), sig);
    canonical_query(&params)
}

/// The template variables as Aliyun's JSON object.
fn template_param(p: &Phone, fields: &Fields) -> String {
    let map: serde_json::Map<String, serde_json::Value> = p
        .params(fields)
        .into_iter()
        .map(|(k, v)| (k, serde_json::Value::String(v)))
        .collect();
    serde_json::Value::Object(map).to_string()
}

async fn post(p: &Phone, action: &str, params: BTreeMap<String, String>) -> Delivery {
    request(p, action, params).await.0
}

/// The signed request: the answer as classified, and its JSON (`Null` when
/// there is none).
async fn request(
    p: &Phone,
    action: &str,
    params: BTreeMap<String, String>,
) -> (Delivery, serde_json::Value) {
    let nonce = uuid::Uuid::new_v4().to_string();
    let ts = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let body = signed_form(p, action, params, &nonce, &ts);
    let req = p
        .client
        .post(&p.cfg.endpoint)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body);
    match execute(req).await {
        Err(d) => (d, serde_json::Value::Null),
        Ok(a) => (
            classify(&a),
            serde_json::from_str(&a.body).unwrap_or(serde_json::Value::Null),
        ),
    }
}

/// `SendSms` to every number of the target at once (Aliyun takes a
/// comma-separated list; numbers go without `+`).
pub async fn send_sms(p: &Phone, fields: &Fields) -> Delivery {
    let c = &p.cfg;
    let numbers: Vec<&str> = c.to.iter().map(|n| n.trim_start_matches('+')).collect();
    let mut params = BTreeMap::new();
    params.insert("PhoneNumbers".to_string(), numbers.join(","));
    params.insert("SignName".to_string(), c.sign_name.clone());
    params.insert("TemplateCode".to_string(), c.template.clone());
    params.insert("TemplateParam".to_string(), template_param(p, fields));
    post(p, "SendSms", params).await
}

/// `SingleCallByTts`, one number at a time (mainland numbers, without +86);
/// unanswered calls are placed again.
pub async fn call(p: &Phone, fields: &Fields) -> Delivery {
    let c = &p.cfg;
    let mut params = BTreeMap::new();
    if let Some(show) = &c.from {
        params.insert("CalledShowNumber".to_string(), show.clone());
    }
    params.insert("TtsCode".to_string(), c.template.clone());
    params.insert("TtsParam".to_string(), template_param(p, fields));
    params.insert("PlayTimes".to_string(), "2".to_string());
    let dialer = AliyunCall {
        p,
        params,
        seen: Mutex::new(HashSet::new()),
    };
    let mut results = Vec::new();
    for n in &c.to {
        results.push((n.clone(), call_until_answered(p, &dialer, n).await));
    }
    combine(results)
}

/// `ProdId` values in `QueryCallDetailByCallId` for a `SingleCallByTts`
/// call, tried in this order until one finds its record (the CallId must
/// match the product). The SDK metadata calls 11000000300006 "voice
/// notification" and 11010000138001 "voice verification code", and says
/// `SingleCallByTts` sends both kinds; Alibaba Cloud's own demo and the code
/// that uses this API query TTS notifications with 11000000300006.
pub const PROD_IDS: [&str; 2] = ["11000000300006", "11010000138001"];

struct AliyunCall<'a> {
    p: &'a Phone,
    /// `SingleCallByTts`'s parameters but the number.
    params: BTreeMap<String, String>,
    /// The calls a record was found for.
    seen: Mutex<HashSet<String>>,
}

impl Dialer for AliyunCall<'_> {
    const NAME: &'static str = "Aliyun";

    async fn place(&self, number: &str) -> Result<PlacedCall, Delivery> {
        let called = number
            .strip_prefix("+86")
            .unwrap_or(number.trim_start_matches('+'));
        let mut params = self.params.clone();
        params.insert("CalledNumber".to_string(), called.to_string());
        let at = chrono::Utc::now();
        match request(self.p, "SingleCallByTts", params).await {
            (Delivery::Sent { .. }, v) => Ok(PlacedCall {
                id: v["CallId"].as_str().unwrap_or_default().to_string(),
                at,
            }),
            (refused, _) => Err(refused),
        }
    }

    /// `QueryCallDetailByCallId` (`QueryDate`: the placing time, so that the
    /// record falls on that day and within the 24 hours after it): a refusal
    /// that retrying will not change (no permission for this API, a wrong
    /// parameter) makes the outcome unknown; a passing one, or no record
    /// yet, is looked at again.
    async fn outcome(&self, call: &PlacedCall) -> Option<CallEnd> {
        for prod in PROD_IDS {
            let mut params = BTreeMap::new();
            params.insert("CallId".to_string(), call.id.clone());
            params.insert("ProdId".to_string(), prod.to_string());
            params.insert(
                "QueryDate".to_string(),
                call.at.timestamp_millis().to_string(),
            );
            match request(self.p, "QueryCallDetailByCallId", params).await {
                (Delivery::Sent { .. }, v) => match call_record(&v["Data"]) {
                    Record::None => continue,
                    Record::Going => {
                        self.seen_record(call);
                        return None;
                    }
                    Record::Ended(end) => {
                        self.seen_record(call);
                        return Some(end);
                    }
                },
                (Delivery::Failed { reason }, _) => return Some(CallEnd::Unknown(reason)),
                (Delivery::Retry { .. }, _) => return None,
            }
        }
        None
    }

    /// A call that rings on is not answered; but when Aliyun never had a
    /// record of it, its outcome is unknown (rather than calling someone
    /// again who may have answered).
    fn still_ringing(&self, call: &PlacedCall) -> CallEnd {
        if self
            .seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&call.id)
        {
            CallEnd::Unanswered("no answer yet".into())
        } else {
            CallEnd::Unknown(format!(
                "QueryCallDetailByCallId had no record of call {} in {} s",
                call.id,
                super::CALL_WATCH.as_secs()
            ))
        }
    }
}

impl AliyunCall<'_> {
    fn seen_record(&self, call: &PlacedCall) {
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(call.id.clone());
    }
}

/// What a call record says.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// No record (yet).
    None,
    /// The call is still connecting.
    Going,
    Ended(CallEnd),
}

/// The call record of `QueryCallDetailByCallId`'s `Data` (a JSON string;
/// an object is taken too).
///
/// Confirmed from Alibaba Cloud's SDK metadata (the response model of
/// dyvmsapi 2017-05-25): the answer is `{Code, Data, Message, RequestId}`,
/// `Data` a JSON string with `state` (the operator's status code),
/// `stateDesc`, `duration` (seconds connected; 0: not connected), `callee`,
/// `startDate`, `endDate`, `gmtCreate`... The codes, from Aliyun's list of
/// operator receipt codes: 200000 (listened to the end) and 200001 (hung up
/// before the end) are answered; 200101/200102 are still connecting; every
/// other code (200002 busy, 200003 rang unanswered, 200005 unreachable or
/// rejected, 200007 out of the service area, 200010 off, 200011
/// suspended...) is not. Assumed: that a call with no record yet answers
/// with an empty `Data` or one without `state` (either is looked at again).
pub fn call_record(data: &serde_json::Value) -> Record {
    let record: serde_json::Value = match data {
        serde_json::Value::String(s) if !s.trim().is_empty() => match serde_json::from_str(s) {
            Ok(v @ serde_json::Value::Object(_)) => v,
            _ => return Record::None,
        },
        serde_json::Value::Object(_) => data.clone(),
        _ => return Record::None,
    };
    let text = |k: &str| match &record[k] {
        serde_json::Value::String(s) => s.trim().to_string(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => String::new(),
    };
    let state = text("state");
    let duration: u64 = text("duration").parse().unwrap_or(0);
    if matches!(state.as_str(), "200000" | "200001") || duration > 0 {
        return Record::Ended(CallEnd::Answered);
    }
    if state.is_empty() {
        return Record::None;
    }
    if matches!(state.as_str(), "200101" | "200102") {
        return Record::Going;
    }
    let desc = text("stateDesc");
    Record::Ended(CallEnd::Unanswered(if desc.is_empty() || desc == state {
        state
    } else {
        format!("{state} {desc}")
    }))
}

/// Aliyun's answer: its `Code` decides, whatever the HTTP status.
pub fn classify(a: &HttpAnswer) -> Delivery {
    let v: Option<serde_json::Value> = serde_json::from_str(&a.body).ok();
    let field = |k: &str| {
        v.as_ref()
            .and_then(|v| v.get(k))
            .and_then(serde_json::Value::as_str)
            .map(str::to_string)
    };
    let Some(code) = field("Code") else {
        if a.status.is_success() {
            return Delivery::failed(format!(
                "HTTP {}: the answer is not Aliyun's JSON: {}",
                a.status,
                excerpt(&a.body, 200)
            ));
        }
        return classify_http(a.status, a.header("retry-after"), &a.body);
    };
    let message = field("Message").unwrap_or_default();
    if code.eq_ignore_ascii_case("OK") {
        let id = field("BizId")
            .map(|b| format!("BizId {b}"))
            .or_else(|| field("CallId").map(|c| format!("CallId {c}")))
            .unwrap_or_default();
        return Delivery::sent(format!("Aliyun OK {id}").trim_end().to_string());
    }
    let reason = format!("Aliyun {code}: {message}");
    match code.as_str() {
        "isv.BUSINESS_LIMIT_CONTROL" | "isv.DAY_LIMIT_CONTROL" => {
            Delivery::retry(reason, Some(flow_control_wait(&code, &message)))
        }
        "ServiceUnavailable" | "InternalError" | "isp.SYSTEM_ERROR" => {
            Delivery::retry(reason, None)
        }
        c if c.starts_with("Throttling") => Delivery::retry(reason, Some(Duration::from_secs(60))),
        _ if a.status.is_server_error() => Delivery::retry(reason, None),
        _ => Delivery::failed(reason),
    }
}

/// How long the number's flow control lasts: "触发分钟级流控" a minute,
/// "触发小时级流控" an hour, a day's limit (天级 / 日) some hours.
fn flow_control_wait(code: &str, message: &str) -> Duration {
    if message.contains("分钟") || message.to_ascii_lowercase().contains("minute") {
        Duration::from_secs(60)
    } else if message.contains("小时") || message.to_ascii_lowercase().contains("hour") {
        Duration::from_secs(3600)
    } else if code == "isv.DAY_LIMIT_CONTROL" || message.contains('天') || message.contains('日')
    {
        Duration::from_secs(6 * 3600)
    } else {
        Duration::from_secs(60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn known_answer_vectors() {
        // Alibaba Cloud, "RPC signature" (DescribeRegions), GET.
        let p = params(&[
            ("AccessKeyId", "testid"),
            ("Action", "DescribeRegions"),
            ("Format", "XML"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"),
            ("SignatureVersion", "1.0"),
            ("Timestamp", "2016-02-23T12:46:24Z"),
            ("Version", "2014-05-26"),
        ]);
        assert_eq!(
            string_to_sign("GET", &p),
            "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf%26SignatureVersion%3D1.0%26Timestamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26"
        );
        assert_eq!(
            signature("testsecret", "GET", &p),
            "OLeaidS1JvxuMvnyHOwuJ+uX5qY="
        );
        // Alibaba Cloud SMS, "HTTP signature" example (SendSms), GET.
        let p = params(&[
            ("AccessKeyId", "testId"),
            ("Action", "SendSms"),
            ("Format", "XML"),
            ("OutId", "123"),
            ("PhoneNumbers", "15300000001"),
            ("RegionId", "cn-hangzhou"),
            ("SignName", "阿里云短信测试专用"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "45e25e9b-0a6f-4070-8c85-2956eda1b466"),
            ("SignatureVersion", "1.0"),
            ("TemplateCode", "SMS_71390007"),
            ("TemplateParam", "{\"customer\":\"test\"}"),
            ("Timestamp", "2017-07-12T02:42:19Z"),
            ("Version", "2017-05-25"),
        ]);
        assert_eq!(
            signature("testSecret", "GET", &p),
            "zJDF+Lrzhj/ThnlvIToysFRq6t4="
        );
    }

    #[test]
    fn percent_encoding_follows_rfc3986() {
        assert_eq!(percent_encode("a b*c~d"), "a%20b%2Ac~d");
        assert_eq!(percent_encode("/=&+"), "%2F%3D%26%2B");
        assert_eq!(percent_encode("派"), "%E6%B4%BE");
    }

    fn answer(status: u16, body: &str) -> HttpAnswer {
        HttpAnswer::of(status, body)
    }

    #[test]
    fn codes_are_classified() {
        assert_eq!(
            classify(&answer(
                200,
                r#"{"Code":"OK","Message":"OK","BizId":"9006197469364984400","RequestId":"F655A8D5"}"#
            )),
            Delivery::sent("Aliyun OK BizId 9006197469364984400")
        );
        assert!(matches!(
            classify(&answer(200, r#"{"Code":"isv.BUSINESS_LIMIT_CONTROL","Message":"触发小时级流控Permits:5"}"#)),
            Delivery::Retry { after: Some(d), .. } if d == Duration::from_secs(3600)
        ));
        assert!(matches!(
            classify(&answer(200, r#"{"Code":"isv.BUSINESS_LIMIT_CONTROL","Message":"触发分钟级流控Permits:1"}"#)),
            Delivery::Retry { after: Some(d), .. } if d == Duration::from_secs(60)
        ));
        assert!(matches!(
            classify(&answer(
                400,
                r#"{"Code":"Throttling.User","Message":"Request was denied due to user flow control."}"#
            )),
            Delivery::Retry { .. }
        ));
        assert!(matches!(
            classify(&answer(503, "busy")),
            Delivery::Retry { .. }
        ));
        for (status, code) in [
            (200, "isv.MOBILE_NUMBER_ILLEGAL"),
            (200, "isv.SMS_TEMPLATE_ILLEGAL"),
            (200, "isv.SMS_SIGNATURE_ILLEGAL"),
            (200, "isv.TEMPLATE_MISSING_PARAMETERS"),
            (404, "InvalidAccessKeyId.NotFound"),
            (400, "SignatureDoesNotMatch"),
        ] {
            let body = format!(r#"{{"Code":"{code}","Message":"text of {code}"}}"#);
            assert_eq!(
                classify(&answer(status, &body)),
                Delivery::failed(format!("Aliyun {code}: text of {code}")),
                "{code}"
            );
        }
        assert!(matches!(
            classify(&answer(200, "<xml/>")),
            Delivery::Failed { .. }
        ));
    }

    #[test]
    fn call_records_say_whether_the_call_was_answered() {
        let rec = |v: serde_json::Value| call_record(&serde_json::Value::String(v.to_string()));
        let ended = |e: CallEnd| Record::Ended(e);
        // The SDK's example record: not connected.
        assert_eq!(
            rec(
                serde_json::json!({"caller":"18767****","startDate":"","stateDesc":"502","duration":0,"callerShowNumber":"05344****","gmtCreate":"2017-11-27 20:09:06","state":"502","endDate":"","calleeShowNumber":"053447****","callee":"1373546****"})
            ),
            ended(CallEnd::Unanswered("502".into()))
        );
        assert_eq!(
            rec(
                serde_json::json!({"state":"200003","stateDesc":"用户收到呼叫但未接听","duration":0})
            ),
            ended(CallEnd::Unanswered("200003 用户收到呼叫但未接听".into()))
        );
        assert_eq!(
            rec(serde_json::json!({"state":"200000","stateDesc":"用户听完语音","duration":21})),
            ended(CallEnd::Answered)
        );
        assert_eq!(
            rec(serde_json::json!({"state":200001,"duration":"4"})),
            ended(CallEnd::Answered)
        );
        assert_eq!(rec(serde_json::json!({"state":"200102"})), Record::Going);
        assert_eq!(
            rec(serde_json::json!({"callee":"13600000000"})),
            Record::None
        );
        assert_eq!(call_record(&serde_json::json!("")), Record::None);
        assert_eq!(call_record(&serde_json::json!("not json")), Record::None);
        assert_eq!(call_record(&serde_json::Value::Null), Record::None);
        assert_eq!(
            call_record(&serde_json::json!({"state":"200002","duration":0})),
            ended(CallEnd::Unanswered("200002".into()))
        );
    }
}
