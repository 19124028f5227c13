//! Twilio: `POST /2010-04-01/Accounts/{AccountSid}/Messages.json` (form:
//! `To`, `From` or `MessagingServiceSid`, `Body`) and `Calls.json` (`To`,
//! `From`, `Twiml` = `<Response><Say>...</Say></Response>`), HTTP Basic auth
//! with the Account SID and Auth Token.
//!
//! Answers: 201 is sent (a call is then watched through `GET Calls/{Sid}.json`
//! until it ends, and called again after `redial_after` when nobody answered,
//! up to `redial` more times); 429 or error 20429 and 5xx are retried; 400
//! with Twilio's `code` (21211 invalid `To`, 21610 unsubscribed, 21408 no
//! permission for the region...) and 401 (20003, wrong SID or token) are
//! permanent, recorded with the code and message.

use std::sync::Mutex;

use serde_json::Value;

use super::{CallEnd, Dialer, Phone, PlacedCall, call_until_answered, combine};
use crate::notify::channels::{Delivery, HttpAnswer, excerpt, execute};

fn account_url(p: &Phone, resource: &str) -> String {
    format!(
        "{}/2010-04-01/Accounts/{}/{resource}",
        p.cfg.endpoint.trim_end_matches('/'),
        p.cfg.credentials.id
    )
}

async fn post_form(p: &Phone, resource: &str, form: &[(&str, &str)]) -> Result<Value, Delivery> {
    let req = p
        .client
        .post(account_url(p, resource))
        .basic_auth(
            &p.cfg.credentials.id,
            Some(p.cfg.credentials.secret.expose()),
        )
        .form(form);
    let a = execute(req).await?;
    match classify(&a) {
        Delivery::Sent { .. } => Ok(serde_json::from_str(&a.body).unwrap_or(Value::Null)),
        other => Err(other),
    }
}

/// One text to each number of the target.
pub async fn send_sms(p: &Phone, text: &str) -> Delivery {
    let c = &p.cfg;
    let mut results = Vec::new();
    for to in &c.to {
        let mut form: Vec<(&str, &str)> = vec![("To", to), ("Body", text)];
        match (&c.messaging_service_sid, &c.from) {
            (Some(m), _) => form.push(("MessagingServiceSid", m)),
            (None, Some(f)) => form.push(("From", f)),
            (None, None) => {}
        }
        let d = match post_form(p, "Messages.json", &form).await {
            Ok(v) => Delivery::sent(format!(
                "Twilio {} {}",
                v["status"].as_str().unwrap_or("accepted"),
                v["sid"].as_str().unwrap_or_default()
            )),
            Err(d) => d,
        };
        results.push((to.clone(), d));
    }
    combine(results)
}

/// `<Response><Say>text</Say></Response>`, escaped.
pub fn twiml(text: &str, language: crate::config::Language) -> String {
    let escaped = text
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;");
    let lang = match language {
        crate::config::Language::Zh => " language=\"zh-CN\"",
        crate::config::Language::En => "",
    };
    format!("<Response><Say{lang}>{escaped}</Say></Response>")
}

/// Calls each number; unanswered calls are placed again.
pub async fn call(p: &Phone, text: &str) -> Delivery {
    let dialer = TwilioCall {
        p,
        twiml: twiml(text, p.renderer.language()),
        last: Mutex::new(String::new()),
    };
    let mut results = Vec::new();
    for to in &p.cfg.to {
        results.push((to.clone(), call_until_answered(p, &dialer, to).await));
    }
    combine(results)
}

struct TwilioCall<'a> {
    p: &'a Phone,
    twiml: String,
    /// The last status seen, reported when a call does not end in time.
    last: Mutex<String>,
}

impl Dialer for TwilioCall<'_> {
    const NAME: &'static str = "Twilio";

    async fn place(&self, number: &str) -> Result<PlacedCall, Delivery> {
        let form = [
            ("To", number),
            ("From", self.p.cfg.from.as_deref().unwrap_or_default()),
            ("Twiml", self.twiml.as_str()),
        ];
        let at = chrono::Utc::now();
        let v = post_form(self.p, "Calls.json", &form).await?;
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = "queued".into();
        Ok(PlacedCall {
            id: v["sid"].as_str().unwrap_or_default().to_string(),
            at,
        })
    }

    /// `GET Calls/{Sid}.json`: `completed` (or `in-progress`) is answered;
    /// `busy`, `no-answer`, `failed`, `canceled` are not.
    async fn outcome(&self, call: &PlacedCall) -> Option<CallEnd> {
        let p = self.p;
        let req = p
            .client
            .get(account_url(p, &format!("Calls/{}.json", call.id)))
            .basic_auth(
                &p.cfg.credentials.id,
                Some(p.cfg.credentials.secret.expose()),
            );
        let a = execute(req).await.ok().filter(|a| a.status.is_success())?;
        let v = serde_json::from_str::<Value>(&a.body).ok()?;
        let s = v["status"].as_str()?;
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = s.to_string();
        match s {
            "completed" | "in-progress" => Some(CallEnd::Answered),
            "busy" | "no-answer" | "failed" | "canceled" => Some(CallEnd::Unanswered(s.into())),
            _ => None,
        }
    }

    fn still_ringing(&self, _call: &PlacedCall) -> CallEnd {
        CallEnd::Unanswered(self.last.lock().unwrap_or_else(|e| e.into_inner()).clone())
    }
}

pub fn classify(a: &HttpAnswer) -> Delivery {
    if a.status.is_success() {
        return Delivery::sent(format!("HTTP {}", a.status));
    }
    let v: Value = serde_json::from_str(&a.body).unwrap_or(Value::Null);
    let code = v["code"].as_i64();
    let message = v["message"]
        .as_str()
        .map_or_else(|| excerpt(&a.body, 200), str::to_string);
    let reason = match code {
        Some(c) => format!("Twilio HTTP {} error {c}: {message}", a.status.as_u16()),
        None => format!("Twilio HTTP {}: {message}", a.status.as_u16()),
    };
    if a.status.as_u16() == 429 || code == Some(20429) || a.status.is_server_error() {
        Delivery::retry(reason, a.retry_after())
    } else {
        Delivery::failed(reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> HttpAnswer {
        HttpAnswer::of(status, body)
    }

    #[test]
    fn answers_are_classified() {
        assert!(classify(&answer(201, r#"{"sid":"SM1","status":"queued"}"#)).is_sent());
        assert!(matches!(
            classify(&answer(
                429,
                r#"{"code":20429,"message":"Too Many Requests"}"#
            )),
            Delivery::Retry { .. }
        ));
        assert_eq!(
            classify(&answer(
                400,
                r#"{"code":21211,"message":"The 'To' number +1555 is not a valid phone number.","more_info":"https://www.twilio.com/docs/errors/21211","status":400}"#
            )),
            Delivery::failed(
                "Twilio HTTP 400 error 21211: The 'To' number +1555 is not a valid phone number."
            )
        );
        assert!(matches!(
            classify(&answer(401, r#"{"code":20003,"message":"Authenticate"}"#)),
            Delivery::Failed { .. }
        ));
        assert!(matches!(classify(&answer(503, "")), Delivery::Retry { .. }));
    }

    #[test]
    fn twiml_is_escaped() {
        assert_eq!(
            twiml("a < b & \"c\"", crate::config::Language::En),
            "<Response><Say>a &lt; b &amp; &quot;c&quot;</Say></Response>"
        );
        assert!(twiml("x", crate::config::Language::Zh).contains("language=\"zh-CN\""));
    }
}
