//! Phones: SMS (`type: sms`) and voice calls (`type: call`), one file per
//! provider — Alibaba Cloud ([`aliyun`]: SendSms, SingleCallByTts, RPC
//! signature), Tencent Cloud ([`tencent`]: SendSms, TC3-HMAC-SHA256) and
//! Twilio ([`twilio`]: Messages and Calls, HTTP Basic). Their keys, each
//! provider's own, and the typed settings ([`PhoneConfig`]) are in
//! `config.rs`.
//!
//! What they share lives here: the alert fields a template carries
//! ([`Fields`]: name, severity, status, short message, count, since), each
//! shortened to the gateway's variable limit; the plain text of Twilio's SMS
//! and of spoken calls; the per-number send limits (a phone target sends each
//! message to all its numbers at once, so the target's limiter is the
//! per-number one, and routes give each contact a target of their own); how
//! the answers for several numbers combine into one [`Delivery`]; and the
//! calls' "place, watch, place again" loop ([`call_until_answered`]), each
//! gateway bringing how it places a call and reads its outcome ([`Dialer`]).

pub mod aliyun;
mod config;
pub mod tencent;
pub mod twilio;

pub use config::{
    ALIYUN_SMS_URL, ALIYUN_VOICE_URL, ParamField, PhoneConfig, PhoneCredentials, PhoneMode,
    PhoneProvider, RawParams, TENCENT_SMS_URL, TWILIO_URL,
};

use std::time::Duration;

use reqwest::header::HeaderMap;

use super::http_target::HttpTarget;
use super::registry::ChannelType;
use super::{ChannelError, Delivery, Notifier, RateLimit, Sending};
use crate::config::TargetConfig;
use crate::notify::message::{AlertMessage, MessageKind};
use crate::notify::render::{Renderer, shorten_chars};

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Alerts one text or call sums up (the count and the first alert are in it).
const MAX_BATCH: usize = 100;
/// Bytes of a run's output in a text message (one short line of it).
const OUTPUT_ROOM: usize = 120;

/// An SMS or call target.
pub type Phone = HttpTarget<PhoneConfig>;

pub const SMS: ChannelType<PhoneConfig> = ChannelType {
    name: "sms",
    aliases: &[],
    keys: config::SMS_KEYS,
    check: config::check_sms,
    build: |cfg, kind, renderer, _| Ok(Box::new(Phone::new(cfg, kind.clone(), renderer)?)),
};

pub const CALL: ChannelType<PhoneConfig> = ChannelType {
    name: "call",
    aliases: &[],
    keys: config::CALL_KEYS,
    check: config::check_call,
    build: SMS.build,
};

const fn limit(count: u32, secs: u64) -> RateLimit {
    RateLimit {
        count,
        per: Duration::from_secs(secs),
    }
}

/// Aliyun's default flow control per number and template: 1 a minute,
/// 5 an hour, 10 a day.
const ALIYUN: &[RateLimit] = &[limit(1, 60), limit(5, 3600), limit(10, 86_400)];
/// Tencent's default per number: 1 in 30 s, 5 an hour, 10 a day.
const TENCENT: &[RateLimit] = &[limit(1, 30), limit(5, 3600), limit(10, 86_400)];
/// Twilio queues at about one message (or call) a second per sender.
const TWILIO: &[RateLimit] = &[limit(1, 1)];

/// How long a placed call is watched for an answer, and how often.
const CALL_WATCH: Duration = Duration::from_secs(180);
const CALL_POLL: Duration = Duration::from_secs(2);
/// A redial the gateway holds back for at most this long (Aliyun: one call
/// a minute per number) waits and is placed once more; a longer hold (the
/// hourly or daily limit) ends the calls with the gateway's answer.
const REDIAL_HOLD_MAX: Duration = Duration::from_secs(60);

impl Phone {
    pub fn new(
        cfg: &TargetConfig,
        kind: PhoneConfig,
        renderer: Renderer,
    ) -> Result<Phone, ChannelError> {
        HttpTarget::build(cfg, kind, renderer, DEFAULT_TIMEOUT, HeaderMap::new())
    }

    async fn send_batch(&self, batch: &[AlertMessage]) -> Delivery {
        if batch.is_empty() {
            return Delivery::sent("nothing to send");
        }
        if self.cfg.to.is_empty() {
            return Delivery::failed(
                "the target has no numbers (`to` is empty); routes use it through `phones` for contacts",
            );
        }
        let fields = Fields::of(&self.renderer, batch);
        let d = match (self.cfg.provider, self.cfg.mode) {
            (PhoneProvider::Aliyun, PhoneMode::Sms) => aliyun::send_sms(self, &fields).await,
            (PhoneProvider::Aliyun, PhoneMode::Call) => aliyun::call(self, &fields).await,
            (PhoneProvider::Tencent, _) => tencent::send_sms(self, &fields).await,
            (PhoneProvider::Twilio, PhoneMode::Sms) => {
                twilio::send_sms(self, &sms_text(&fields, self.cfg.segments)).await
            }
            (PhoneProvider::Twilio, PhoneMode::Call) => {
                twilio::call(self, &spoken_text(&fields)).await
            }
        };
        tracing::debug!(target_name = %self.name, provider = self.cfg.provider.as_str(),
            numbers = self.cfg.to.len(), alerts = batch.len(), sent = d.is_sent(), "phone send");
        d
    }

    /// A verification code to the target's numbers: through the
    /// `verify_template` on China's gateways, as `text` on Twilio.
    pub async fn send_code(&self, code: &str, text: &str) -> Delivery {
        let c = &self.cfg;
        if c.provider == PhoneProvider::Twilio {
            return twilio::send_sms(self, text).await;
        }
        let Some(template) = &c.verify_template else {
            return Delivery::failed(format!(
                "sms target {:?} needs a `verify_template` (an approved template with one variable for the code) to send verification codes",
                self.name
            ));
        };
        let mut cfg = c.clone();
        cfg.template = template.clone();
        let var = if c.provider == PhoneProvider::Aliyun {
            "code"
        } else {
            "1"
        };
        cfg.params = vec![(var.to_string(), ParamField::Message)];
        let p = HttpTarget {
            name: self.name.clone(),
            cfg,
            client: self.client.clone(),
            renderer: self.renderer.clone(),
            max_alerts: 0,
        };
        let mut fields = Fields::of(
            &self.renderer,
            &[AlertMessage::sample(
                MessageKind::Firing,
                "",
                chrono::Utc::now(),
            )],
        );
        fields.message = code.to_string();
        match c.provider {
            PhoneProvider::Aliyun => aliyun::send_sms(&p, &fields).await,
            _ => tencent::send_sms(&p, &fields).await,
        }
    }

    /// The template variables with their values, each shortened.
    pub fn params(&self, fields: &Fields) -> Vec<(String, String)> {
        self.cfg
            .params
            .iter()
            .map(|(name, f)| {
                (
                    name.clone(),
                    shorten_chars(&fields.get(f), self.cfg.param_max_chars),
                )
            })
            .collect()
    }
}

impl Notifier for Phone {
    fn max_batch(&self) -> usize {
        self.limit(MAX_BATCH)
    }

    /// The gateway's limits per number.
    fn rate_limits(&self) -> &'static [RateLimit] {
        match self.cfg.provider {
            PhoneProvider::Aliyun => ALIYUN,
            PhoneProvider::Tencent => TENCENT,
            PhoneProvider::Twilio => TWILIO,
        }
    }

    /// A text message is short: a run's output gets a line or two.
    fn output_limit(&self) -> usize {
        OUTPUT_ROOM
    }

    fn send<'a>(&'a self, batch: &'a [AlertMessage]) -> Sending<'a> {
        Box::pin(self.send_batch(batch))
    }
}

/// The alert fields a text or call carries, for one batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Fields {
    /// The alert's name; for several, the first and how many more (`A +2`).
    pub alert: String,
    /// The highest severity, in the target's language.
    pub severity: String,
    /// Firing / resolved, in the target's language.
    pub status: String,
    /// The first alert's message (one line).
    pub message: String,
    pub count: usize,
    /// When the earliest started (UTC).
    pub since: String,
    first: AlertMessage,
}

impl Fields {
    pub fn of(renderer: &Renderer, batch: &[AlertMessage]) -> Fields {
        // Firing alerts first: they are what the text is about.
        let first = batch
            .iter()
            .find(|m| m.kind != MessageKind::Resolved)
            .unwrap_or(&batch[0])
            .clone();
        let mut names: Vec<&str> = Vec::new();
        for m in batch {
            if !names.contains(&m.alert.as_str()) {
                names.push(&m.alert);
            }
        }
        let alert = if batch.len() == 1 {
            first.alert.clone()
        } else {
            format!("{} +{}", first.alert, batch.len() - 1)
        };
        let severity = batch
            .iter()
            .map(|m| m.severity)
            .max()
            .unwrap_or(first.severity);
        let since = batch
            .iter()
            .map(|m| m.starts_at)
            .min()
            .unwrap_or(first.starts_at);
        Fields {
            alert,
            severity: renderer.severity_text(severity).to_string(),
            status: renderer.status_text(first.kind).to_string(),
            message: one_line(&first.headline()),
            count: batch.len(),
            since: renderer.time_as(since, "%m-%d %H:%M"),
            first,
        }
    }

    pub fn get(&self, f: &ParamField) -> String {
        match f {
            ParamField::Alert => self.alert.clone(),
            ParamField::Severity => self.severity.clone(),
            ParamField::Status => self.status.clone(),
            ParamField::Message => self.message.clone(),
            ParamField::Count => self.count.to_string(),
            ParamField::Since => self.since.clone(),
            ParamField::Label(l) => self.first.labels.get(l).cloned().unwrap_or_default(),
        }
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `[firing] DiskFull (error): Disk on db-1 is 98% full; since 12-01 14:00 UTC`,
/// with `(3 alerts)` for a batch.
fn plain(f: &Fields) -> String {
    let count = if f.count > 1 {
        format!(" ({} alerts)", f.count)
    } else {
        String::new()
    };
    format!(
        "[{}] {} ({}){count}: {}; since {}",
        f.status, f.alert, f.severity, f.message, f.since
    )
}

/// Twilio's text, shortened to `segments` SMS segments: GSM-7 text takes
/// 160 characters in one segment and 153 per segment beyond; anything else
/// is UCS-2 (70, or 67 per segment).
pub fn sms_text(f: &Fields, segments: usize) -> String {
    fit_segments(&plain(f), segments.max(1))
}

pub fn fit_segments(text: &str, segments: usize) -> String {
    let gsm = text.chars().all(is_gsm7);
    let max = match (gsm, segments) {
        (true, 1) => 160,
        (true, n) => 153 * n,
        (false, 1) => 70,
        (false, n) => 67 * n,
    };
    let cost = |c: char| if gsm && is_gsm7_extension(c) { 2 } else { 1 };
    let total: usize = text.chars().map(cost).sum();
    if total <= max {
        return text.to_string();
    }
    // "..." stays GSM-7 where "…" would turn the text into UCS-2.
    let marker = if gsm { "..." } else { "…" };
    let room = max - marker.chars().count();
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        if used + cost(c) > room {
            break;
        }
        used += cost(c);
        out.push(c);
    }
    format!("{}{marker}", out.trim_end())
}

/// Characters of the GSM 03.38 default alphabet (with its extension table).
fn is_gsm7(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || " \n\r@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ!\"#¤%&'()*+,-./:;<=>?¡ÄÖÑÜ§¿äöñüà".contains(c)
        || is_gsm7_extension(c)
}

fn is_gsm7_extension(c: char) -> bool {
    "^{}\\[~]|€".contains(c)
}

/// What a call says.
pub fn spoken_text(f: &Fields) -> String {
    shorten_chars(&plain(f), 400)
}

/// A call the gateway accepted.
#[derive(Debug, Clone)]
pub struct PlacedCall {
    /// The gateway's id for it (Twilio's `CA...` sid, Aliyun's CallId).
    pub id: String,
    /// When it was placed (just before the request).
    pub at: chrono::DateTime<chrono::Utc>,
}

/// How a watched call ended.
#[derive(Debug, Clone, PartialEq)]
pub enum CallEnd {
    Answered,
    /// Nobody answered: the gateway's status (`no-answer`, `busy`, Aliyun's
    /// `200003`...), or the last one seen when the call had not ended in time.
    Unanswered(String),
    /// The outcome cannot be read (the gateway refuses the query): the call
    /// counts as placed and is not placed again.
    Unknown(String),
}

/// A gateway's voice calls: how one is placed and how its outcome is read.
pub(crate) trait Dialer {
    /// The gateway's name in outcomes (`Twilio`, `Aliyun`).
    const NAME: &'static str;
    /// Places one call to `number`; the gateway's refusal as a [`Delivery`].
    async fn place(&self, number: &str) -> Result<PlacedCall, Delivery>;
    /// One look at the call: `None` while it has not ended.
    async fn outcome(&self, call: &PlacedCall) -> Option<CallEnd>;
    /// What to report when the call has not ended after [`CALL_WATCH`].
    fn still_ringing(&self, _call: &PlacedCall) -> CallEnd {
        CallEnd::Unanswered("no answer yet".into())
    }
}

/// Watches `call` until it ends, or for [`CALL_WATCH`].
async fn watch(d: &impl Dialer, call: &PlacedCall) -> CallEnd {
    let started = std::time::Instant::now();
    loop {
        if let Some(end) = d.outcome(call).await {
            return end;
        }
        if started.elapsed() >= CALL_WATCH {
            return d.still_ringing(call);
        }
        tokio::time::sleep(CALL_POLL).await;
    }
}

/// Calls `number` until someone answers: an unanswered call is placed again
/// after `redial_after`, up to `redial` more times, then fails.
pub(crate) async fn call_until_answered<D: Dialer>(p: &Phone, d: &D, number: &str) -> Delivery {
    let c = &p.cfg;
    let name = D::NAME;
    let mut unanswered: Option<String> = None;
    for attempt in 0..=c.redial {
        if attempt > 0 {
            tokio::time::sleep(c.redial_after).await;
        }
        let mut placed = d.place(number).await;
        if attempt > 0
            && let Err(Delivery::Retry { after: Some(w), .. }) = &placed
            && *w <= REDIAL_HOLD_MAX
        {
            tracing::info!(target_name = %p.name, wait = ?w, attempt = attempt + 1,
                "the gateway holds the redial back; waiting");
            tokio::time::sleep(*w).await;
            placed = d.place(number).await;
        }
        let call = match placed {
            Ok(call) => call,
            Err(refused) => {
                let Some(status) = unanswered else {
                    return refused;
                };
                let context = format!(
                    "{name} call not answered ({status}) after {attempt} calls; calling again: "
                );
                return match refused {
                    Delivery::Retry { reason, after } => {
                        Delivery::retry(format!("{context}{reason}"), after)
                    }
                    Delivery::Failed { reason } => Delivery::failed(format!("{context}{reason}")),
                    sent @ Delivery::Sent { .. } => sent,
                };
            }
        };
        let end = watch(d, &call).await;
        tracing::info!(target_name = %p.name, call = %call.id, outcome = ?end, attempt = attempt + 1, "call ended");
        match end {
            CallEnd::Answered => {
                return Delivery::sent(format!("{name} call {} answered", call.id));
            }
            CallEnd::Unknown(why) => {
                tracing::warn!(target_name = %p.name, call = %call.id, %why,
                    "whether the call was answered cannot be read; it is not placed again");
                return Delivery::sent(format!(
                    "{name} call {} placed; whether it was answered is unknown: {why}",
                    call.id
                ));
            }
            CallEnd::Unanswered(status) => unanswered = Some(status),
        }
    }
    Delivery::failed(format!(
        "{name} call not answered ({}) after {} calls",
        unanswered.unwrap_or_default(),
        c.redial + 1
    ))
}

/// One number's outcome → the outcome of a send to several: all sent is
/// sent; any retry retries (the soonest the gateway allows); otherwise a
/// permanent failure naming each number's code.
pub fn combine(results: Vec<(String, Delivery)>) -> Delivery {
    if results.len() == 1 {
        return results
            .into_iter()
            .next()
            .map(|(_, d)| d)
            .unwrap_or_else(|| Delivery::sent(""));
    }
    let mut sent = Vec::new();
    let mut retry: Vec<String> = Vec::new();
    let mut after: Option<Duration> = None;
    let mut failed = Vec::new();
    for (number, d) in results {
        match d {
            Delivery::Sent { answer } => sent.push(format!("{number}: {answer}")),
            Delivery::Retry { reason, after: a } => {
                retry.push(format!("{number}: {reason}"));
                after = match (after, a) {
                    (Some(x), Some(y)) => Some(x.max(y)),
                    (x, y) => x.or(y),
                };
            }
            Delivery::Failed { reason } => failed.push(format!("{number}: {reason}")),
        }
    }
    if !retry.is_empty() {
        let mut all = retry;
        all.extend(failed);
        Delivery::retry(all.join("; "), after)
    } else if !failed.is_empty() {
        let mut all = failed;
        if !sent.is_empty() {
            all.push(format!("sent to {}", sent.len()));
        }
        Delivery::failed(all.join("; "))
    } else {
        Delivery::sent(sent.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Language, TargetTemplates};

    fn renderer() -> Renderer {
        Renderer::new("sms", Language::En, TargetTemplates::default())
    }

    #[test]
    fn fields_sum_up_a_batch() {
        let now = chrono::Utc::now();
        let mut a = AlertMessage::sample(MessageKind::Firing, "x", now);
        a.alert = "BackupFailed".into();
        a.message = "backup of c-7\nfailed".into();
        let mut b = a.clone();
        b.alert = "ClientDown".into();
        b.severity = crate::alert::Severity::Error;
        let f = Fields::of(&renderer(), &[a.clone(), b]);
        assert_eq!(f.alert, "BackupFailed +1");
        assert_eq!(f.count, 2);
        assert_eq!(
            f.severity,
            renderer().severity_text(crate::alert::Severity::Error)
        );
        assert_eq!(f.message, "backup of c-7 failed");
        let one = Fields::of(&renderer(), &[a]);
        assert_eq!(one.alert, "BackupFailed");
        assert!(
            plain(&one)
                .starts_with("[FIRING] BackupFailed (warning): backup of c-7 failed; since "),
            "{}",
            plain(&one)
        );
    }

    #[test]
    fn texts_fit_their_segments() {
        let long = "x".repeat(500);
        assert_eq!(fit_segments(&long, 1).chars().count(), 160);
        assert!(fit_segments(&long, 1).ends_with("..."));
        assert_eq!(fit_segments(&long, 3).chars().count(), 459);
        let zh = "磁盘满".repeat(100);
        assert_eq!(fit_segments(&zh, 1).chars().count(), 70);
        assert_eq!(fit_segments(&zh, 2).chars().count(), 134);
        // Extension characters count twice.
        let braces = "{".repeat(100);
        assert_eq!(fit_segments(&braces, 1), format!("{}...", "{".repeat(78)));
        assert_eq!(fit_segments("short", 1), "short");
    }

    #[test]
    fn answers_for_several_numbers_combine() {
        let s = || Delivery::sent("ok");
        assert!(combine(vec![("+1".into(), s()), ("+2".into(), s())]).is_sent());
        let r = combine(vec![
            ("+1".into(), s()),
            (
                "+2".into(),
                Delivery::retry("limit", Some(Duration::from_secs(60))),
            ),
        ]);
        assert!(
            matches!(r, Delivery::Retry { after: Some(d), .. } if d == Duration::from_secs(60))
        );
        let f = combine(vec![
            ("+1".into(), s()),
            (
                "+2".into(),
                Delivery::failed("Aliyun isv.MOBILE_NUMBER_ILLEGAL: bad"),
            ),
        ]);
        assert_eq!(
            f,
            Delivery::failed("+2: Aliyun isv.MOBILE_NUMBER_ILLEGAL: bad; sent to 1")
        );
    }
}
