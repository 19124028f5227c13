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
//! Answers are JSON `{Code, Message, BizId|CallId, RequestId}`: `OK` is
//! sent; flow control (`isv.BUSINESS_LIMIT_CONTROL`, `isv.DAY_LIMIT_CONTROL`),
//! `Throttling.*`, `ServiceUnavailable`, `InternalError` and HTTP 5xx are
//! retried; every other code (wrong number, template, signature name, key,
//! signature) is permanent, recorded with Aliyun's code and message.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use reqwest::header::CONTENT_TYPE;
use sha1::Sha1;

use super::{Fields, Phone, combine};
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
    let nonce = uuid::Uuid::new_v4().to_string();
    let ts = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let body = signed_form(p, action, params, &nonce, &ts);
    let req = p
        .client
        .post(&p.cfg.endpoint)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body);
    match execute(req).await {
        Err(d) => d,
        Ok(a) => classify(&a),
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

/// `SingleCallByTts`, one number at a time (mainland numbers, without +86).
pub async fn call(p: &Phone, fields: &Fields) -> Delivery {
    let c = &p.cfg;
    let mut results = Vec::new();
    for n in &c.to {
        let called = n.strip_prefix("+86").unwrap_or(n.trim_start_matches('+'));
        let mut params = BTreeMap::new();
        params.insert("CalledNumber".to_string(), called.to_string());
        if let Some(show) = &c.from {
            params.insert("CalledShowNumber".to_string(), show.clone());
        }
        params.insert("TtsCode".to_string(), c.template.clone());
        params.insert("TtsParam".to_string(), template_param(p, fields));
        params.insert("PlayTimes".to_string(), "2".to_string());
        results.push((n.clone(), post(p, "SingleCallByTts", params).await));
    }
    combine(results)
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
    use reqwest::header::HeaderMap;

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
        HttpAnswer {
            status: reqwest::StatusCode::from_u16(status).unwrap(),
            headers: HeaderMap::new(),
            body: body.into(),
        }
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
}
