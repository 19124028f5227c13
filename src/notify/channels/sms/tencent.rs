//! Tencent Cloud SMS, API 3.0: `POST https://sms.tencentcloudapi.com/` with
//! the JSON body `{PhoneNumberSet, SmsSdkAppId, SignName, TemplateId,
//! TemplateParamSet}`, headers X-TC-Action: SendSms, X-TC-Version:
//! 2021-01-11, X-TC-Timestamp, X-TC-Region, signed with TC3-HMAC-SHA256:
//!
//! - CanonicalRequest = `POST\n/\n\ncontent-type:...\nhost:...\n\ncontent-type;host\n` + hex(SHA256(body));
//! - StringToSign = `TC3-HMAC-SHA256\n{timestamp}\n{date}/sms/tc3_request\n` + hex(SHA256(CanonicalRequest));
//! - SecretDate = HMAC("TC3" + SecretKey, date), SecretService = HMAC(SecretDate, "sms"),
//!   SecretSigning = HMAC(SecretService, "tc3_request"), Signature = hex(HMAC(SecretSigning, StringToSign)).
//!
//! Answers: `{Response: {SendStatusSet: [{PhoneNumber, Code: "Ok", ...}], RequestId}}`,
//! one status per number, or `{Response: {Error: {Code, Message}}}`.
//! `LimitExceeded.*`, `RequestLimitExceeded` and `InternalError.*` are
//! retried; `FailedOperation.*`, `InvalidParameterValue.*`, `AuthFailure.*`,
//! `UnauthorizedOperation.*` and the rest are permanent.

use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{Fields, Phone, combine};
use crate::notify::channels::{Delivery, HttpAnswer, classify_http, excerpt, execute};

pub const VERSION: &str = "2021-01-11";
pub const SERVICE: &str = "sms";
pub const CONTENT: &str = "application/json; charset=utf-8";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hmac256(key: &[u8], msg: &str) -> Vec<u8> {
    // HMAC takes keys of any length; this cannot fail.
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(msg.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

pub fn sha256_hex(s: &str) -> String {
    hex(&Sha256::digest(s.as_bytes()))
}

/// The canonical request of a POST with this content type, host and body.
pub fn canonical_request(content_type: &str, host: &str, body: &str) -> String {
    format!(
        "POST\n/\n\ncontent-type:{content_type}\nhost:{host}\n\ncontent-type;host\n{}",
        sha256_hex(body)
    )
}

/// `TC3-HMAC-SHA256\n{ts}\n{date}/{service}/tc3_request\n{hash}`.
pub fn string_to_sign(timestamp: i64, service: &str, canonical: &str) -> String {
    format!(
        "TC3-HMAC-SHA256\n{timestamp}\n{}/{service}/tc3_request\n{}",
        date_of(timestamp),
        sha256_hex(canonical)
    )
}

/// The UTC date of a Unix timestamp (`2019-02-25`).
pub fn date_of(timestamp: i64) -> String {
    chrono::DateTime::from_timestamp(timestamp, 0)
        .unwrap_or_default()
        .format("%Y-%m-%d")
        .to_string()
}

pub fn signature(secret_key: &str, timestamp: i64, service: &str, string_to_sign: &str) -> String {
    let date = hmac256(format!("TC3{secret_key}").as_bytes(), &date_of(timestamp));
    let service = hmac256(&date, service);
    let signing = hmac256(&service, "tc3_request");
    hex(&hmac256(&signing, string_to_sign))
}

/// The `Authorization` header of a request.
pub fn authorization(
    secret_id: &str,
    secret_key: &str,
    timestamp: i64,
    host: &str,
    body: &str,
) -> String {
    let sts = string_to_sign(timestamp, SERVICE, &canonical_request(CONTENT, host, body));
    format!(
        "TC3-HMAC-SHA256 Credential={secret_id}/{}/{SERVICE}/tc3_request, SignedHeaders=content-type;host, Signature={}",
        date_of(timestamp),
        signature(secret_key, timestamp, SERVICE, &sts)
    )
}

/// The request body.
pub fn body(p: &Phone, fields: &Fields) -> Value {
    let c = &p.cfg;
    let params: Vec<String> = p.params(fields).into_iter().map(|(_, v)| v).collect();
    json!({
        "PhoneNumberSet": c.to,
        "SmsSdkAppId": c.sdk_app_id,
        "SignName": c.sign_name,
        "TemplateId": c.template,
        "TemplateParamSet": params,
    })
}

/// The `Host` header value of the endpoint (with a non-default port).
fn host_of(endpoint: &str) -> Option<String> {
    let u = reqwest::Url::parse(endpoint).ok()?;
    let host = u.host_str()?.to_string();
    Some(match u.port() {
        Some(p) => format!("{host}:{p}"),
        None => host,
    })
}

pub async fn send_sms(p: &Phone, fields: &Fields) -> Delivery {
    let c = &p.cfg;
    let Some(host) = host_of(&c.endpoint) else {
        return Delivery::failed("endpoint is not a URL");
    };
    let body = body(p, fields).to_string();
    let ts = chrono::Utc::now().timestamp();
    let auth = authorization(
        &c.credentials.id,
        c.credentials.secret.expose(),
        ts,
        &host,
        &body,
    );
    let req = p
        .client
        .post(&c.endpoint)
        .header(CONTENT_TYPE, CONTENT)
        .header("Authorization", auth)
        .header("X-TC-Action", "SendSms")
        .header("X-TC-Timestamp", ts.to_string())
        .header("X-TC-Version", VERSION)
        .header("X-TC-Region", &c.region)
        .body(body);
    match execute(req).await {
        Err(d) => d,
        Ok(a) => classify(&a),
    }
}

/// One code (the request's error or one number's status).
fn classify_code(code: &str, message: &str) -> Delivery {
    if code == "Ok" {
        return Delivery::sent(format!("Tencent Ok: {message}"));
    }
    let reason = format!("Tencent {code}: {message}");
    let after = match code {
        "LimitExceeded.PhoneNumberThirtySecondLimit" => Some(Duration::from_secs(30)),
        "LimitExceeded.PhoneNumberOneHourLimit" => Some(Duration::from_secs(3600)),
        "LimitExceeded.PhoneNumberDailyLimit" | "LimitExceeded.DailyLimit" => {
            Some(Duration::from_secs(6 * 3600))
        }
        _ => None,
    };
    if code.starts_with("LimitExceeded")
        || code == "RequestLimitExceeded"
        || code.starts_with("InternalError")
    {
        Delivery::retry(reason, after.or(Some(Duration::from_secs(30))))
    } else {
        Delivery::failed(reason)
    }
}

pub fn classify(a: &HttpAnswer) -> Delivery {
    let Ok(v) = serde_json::from_str::<Value>(&a.body) else {
        if a.status.is_success() {
            return Delivery::failed(format!(
                "HTTP {}: the answer is not Tencent Cloud's JSON: {}",
                a.status,
                excerpt(&a.body, 200)
            ));
        }
        return classify_http(a.status, a.header("retry-after"), &a.body);
    };
    let r = &v["Response"];
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    if let Some(e) = r.get("Error") {
        return classify_code(&s(&e["Code"]), &s(&e["Message"]));
    }
    let Some(set) = r["SendStatusSet"].as_array().filter(|s| !s.is_empty()) else {
        if !a.status.is_success() {
            return classify_http(a.status, a.header("retry-after"), &a.body);
        }
        return Delivery::failed(format!(
            "HTTP {}: the answer has no SendStatusSet: {}",
            a.status,
            excerpt(&a.body, 200)
        ));
    };
    combine(
        set.iter()
            .map(|st| {
                (
                    s(&st["PhoneNumber"]),
                    classify_code(&s(&st["Code"]), &s(&st["Message"])),
                )
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answer_vector() {
        // Tencent Cloud API 3.0, "Signature v3" (CVM DescribeInstances).
        let body = r#"{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}"#;
        assert_eq!(
            sha256_hex(body),
            "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
        );
        let canonical = canonical_request(CONTENT, "cvm.tencentcloudapi.com", body);
        assert_eq!(
            sha256_hex(&canonical),
            "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
        );
        let sts = string_to_sign(1_551_113_065, "cvm", &canonical);
        assert_eq!(
            sts,
            "TC3-HMAC-SHA256\n1551113065\n2019-02-25/cvm/tc3_request\n5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
        );
        assert_eq!(
            signature(
                "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE",
                1_551_113_065,
                "cvm",
                &sts
            ),
            "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
        );
    }

    fn answer(body: &str) -> HttpAnswer {
        HttpAnswer::of(200, body)
    }

    #[test]
    fn answers_are_classified() {
        assert!(classify(&answer(r#"{"Response":{"SendStatusSet":[{"PhoneNumber":"+8613800000000","Code":"Ok","Message":"send success"}],"RequestId":"r"}}"#)).is_sent());
        assert!(matches!(
            classify(&answer(r#"{"Response":{"SendStatusSet":[{"PhoneNumber":"+8613800000000","Code":"LimitExceeded.PhoneNumberOneHourLimit","Message":"hour limit"}],"RequestId":"r"}}"#)),
            Delivery::Retry { after: Some(d), .. } if d == Duration::from_secs(3600)
        ));
        assert_eq!(
            classify(&answer(
                r#"{"Response":{"Error":{"Code":"AuthFailure.SignatureFailure","Message":"The provided credentials could not be validated."},"RequestId":"r"}}"#
            )),
            Delivery::failed(
                "Tencent AuthFailure.SignatureFailure: The provided credentials could not be validated."
            )
        );
        assert!(matches!(
            classify(&answer(
                r#"{"Response":{"SendStatusSet":[{"PhoneNumber":"+86138","Code":"InvalidParameterValue.IncorrectPhoneNumber","Message":"bad number"}],"RequestId":"r"}}"#
            )),
            Delivery::Failed { .. }
        ));
        assert!(matches!(
            classify(&answer(
                r#"{"Response":{"Error":{"Code":"FailedOperation.TemplateIncorrectOrUnapproved","Message":"unapproved"}}}"#
            )),
            Delivery::Failed { .. }
        ));
    }
}
