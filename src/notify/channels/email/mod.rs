//! Email through the configured SMTP server (lettre, tokio + rustls).
//!
//! - Transport: `tls: none` (plain), `starttls` (STARTTLS required: nothing
//!   is sent unencrypted if the upgrade fails), `wrapper` (implicit TLS,
//!   465); optional AUTH PLAIN/LOGIN; a pooled connection per target.
//! - Formats: `text` (plain body), `table` (HTML table with a plain-text
//!   alternative), `attachment` (plain body + `alerts-<time>.csv`),
//!   `table+attachment` (both), `xlsx` and `table+xlsx` (the same with an
//!   `alerts-<time>.xlsx` workbook, [`xlsx`]). The table is capped at 1000
//!   rows; the CSV (UTF-8 with a BOM so spreadsheet programs read Chinese
//!   text right) and the workbook have every alert of the message. With
//!   `attachment_dir`, a copy of the attached file of each sent mail is
//!   kept there under a name no other send uses.
//! - Answers: SMTP 2xx sent (the server's reply is the answer); 4xx
//!   (transient), timeouts and connection failures retried; 5xx, TLS and
//!   client errors permanent with the server's text.

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

mod config;
pub mod xlsx;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

pub use config::{AttachmentKind, EmailConfig, EmailFormat};

use super::registry::ChannelType;
use super::{ChannelError, Delivery, Notifier, Sending, batch_limit};
use crate::config::{MailerConfig, SmtpTls, TargetConfig};
use crate::notify::message::AlertMessage;
use crate::notify::render::{Markup, Renderer};

/// Rows of the inline HTML table at most.
const MAX_TABLE_ROWS: usize = 1000;
const MAX_BATCH: usize = 1000;
const MAX_SUBJECT: usize = 200;

pub const EMAIL: ChannelType<EmailConfig> = ChannelType {
    name: "email",
    aliases: &[],
    keys: config::KEYS,
    check: config::check,
    build: |cfg, kind, renderer, config| {
        let mailer = kind
            .server
            .as_ref()
            .or(config.mailer.as_ref())
            .ok_or_else(|| ChannelError {
                target: cfg.name().to_string(),
                message: "email targets need a `mailer:` or their own `host`".into(),
            })?;
        Ok(Box::new(Email::new(cfg, kind.clone(), mailer, renderer)?))
    },
};

pub struct Email {
    name: String,
    cfg: EmailConfig,
    from: Mailbox,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    renderer: Renderer,
    max_alerts: usize,
}

impl std::fmt::Debug for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Email")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Email {
    pub fn new(
        cfg: &TargetConfig,
        kind: EmailConfig,
        mailer: &MailerConfig,
        renderer: Renderer,
    ) -> Result<Email, ChannelError> {
        let err = |message: String| ChannelError {
            target: cfg.name().to_string(),
            message,
        };
        let from: Mailbox = mailer
            .from
            .parse()
            .map_err(|e| err(format!("mailer.from: {e}")))?;
        let tls_params = || {
            TlsParameters::builder(mailer.host.clone())
                .dangerous_accept_invalid_certs(mailer.accept_invalid_certs)
                .dangerous_accept_invalid_hostnames(mailer.accept_invalid_certs)
                .build()
                .map_err(|e| err(format!("TLS setup: {e}")))
        };
        let tls = match mailer.tls {
            SmtpTls::None => Tls::None,
            SmtpTls::Starttls => Tls::Required(tls_params()?),
            SmtpTls::Wrapper => Tls::Wrapper(tls_params()?),
        };
        let mut builder =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(mailer.host.as_str())
                .port(mailer.port)
                .tls(tls)
                .timeout(Some(cfg.timeout.unwrap_or(mailer.timeout)));
        if let (Some(user), Some(pass)) = (&mailer.username, &mailer.password) {
            builder =
                builder.credentials(Credentials::new(user.clone(), pass.expose().to_string()));
        }
        let transport: AsyncSmtpTransport<Tokio1Executor> = builder.build();
        Ok(Email {
            name: cfg.name().to_string(),
            cfg: kind,
            from,
            transport,
            renderer,
            max_alerts: cfg.max_alerts,
        })
    }

    /// The whole message, ready to send.
    pub fn message(&self, batch: &[AlertMessage]) -> Result<Message, String> {
        self.compose(batch).map(|(m, _)| m)
    }

    /// The message and the file it attaches (name and content), if any.
    fn compose(&self, batch: &[AlertMessage]) -> Result<(Message, Option<AttachedFile>), String> {
        let r = &self.renderer;
        let subject = crate::notify::render::shorten_chars(&r.title(batch), MAX_SUBJECT);
        let mut b = Message::builder().from(self.from.clone()).subject(subject);
        for to in &self.cfg.to {
            b = b.to(to.parse().map_err(|e| format!("recipient {to:?}: {e}"))?);
        }
        for cc in &self.cfg.cc {
            b = b.cc(cc.parse().map_err(|e| format!("cc {cc:?}: {e}"))?);
        }
        let plain = r.body(batch, Markup::Plain);
        let table = || MultiPart::alternative_plain_html(plain.clone(), html_table(r, batch));
        let file = self
            .cfg
            .format
            .attachment()
            .map(|kind| AttachedFile::new(kind, r, batch, chrono::Utc::now()));
        let m = match (self.cfg.format.has_table(), &file) {
            (false, None) => b.singlepart(SinglePart::plain(plain.clone())),
            (true, None) => b.multipart(table()),
            (with_table, Some(f)) => {
                let mixed = if with_table {
                    MultiPart::mixed().multipart(table())
                } else {
                    MultiPart::mixed().singlepart(SinglePart::plain(plain.clone()))
                };
                b.multipart(mixed.singlepart(f.part()))
            }
        };
        let m = m.map_err(|e| format!("cannot build the mail: {e}"))?;
        Ok((m, file))
    }

    async fn send_batch(&self, batch: &[AlertMessage]) -> Delivery {
        let (message, file) = match self.compose(batch) {
            Ok(m) => m,
            Err(e) => return Delivery::failed(e),
        };
        let d = self.transmit(message).await;
        if let (Delivery::Sent { .. }, Some(dir), Some(file)) = (&d, &self.cfg.attachment_dir, file) {
            match keep_copy(dir, &self.name, &file, &self.renderer, chrono::Utc::now()).await {
                Ok(path) => tracing::debug!(target_name = %self.name, path = %path.display(), "kept a copy of the attachment"),
                Err(e) => tracing::warn!(target_name = %self.name, dir = %dir.display(), error = %e, "cannot keep a copy of the attachment"),
            }
        }
        d
    }

    /// Hands `message` to the SMTP server; its answer, classified.
    async fn transmit(&self, message: Message) -> Delivery {
        match self.transport.send(message).await {
            Ok(resp) => Delivery::sent(format!(
                "SMTP {} {}",
                resp.code(),
                resp.message().collect::<Vec<_>>().join(" ")
            )),
            Err(e) => classify_error(&e),
        }
    }

    /// A plain-text mail to the target's recipients (verification codes).
    pub async fn send_text(&self, subject: &str, text: &str) -> Delivery {
        let mut b = Message::builder().from(self.from.clone()).subject(subject);
        for to in &self.cfg.to {
            match to.parse() {
                Ok(m) => b = b.to(m),
                Err(e) => return Delivery::failed(format!("recipient {to:?}: {e}")),
            }
        }
        match b.singlepart(SinglePart::plain(text.to_string())) {
            Ok(m) => self.transmit(m).await,
            Err(e) => Delivery::failed(format!("cannot build the mail: {e}")),
        }
    }
}

impl Notifier for Email {
    fn max_batch(&self) -> usize {
        batch_limit(MAX_BATCH, self.max_alerts)
    }

    fn send<'a>(&'a self, batch: &'a [AlertMessage]) -> Sending<'a> {
        Box::pin(self.send_batch(batch))
    }
}

/// A file attached to a mail: its name in the mail and its bytes.
#[derive(Debug, Clone)]
pub struct AttachedFile {
    pub kind: AttachmentKind,
    pub name: String,
    pub content: Vec<u8>,
}

impl AttachmentKind {
    fn content_type(self) -> &'static str {
        match self {
            AttachmentKind::Csv => "text/csv; charset=utf-8",
            AttachmentKind::Xlsx => {
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            }
        }
    }

    fn extension(self) -> &'static str {
        match self {
            AttachmentKind::Csv => "csv",
            AttachmentKind::Xlsx => "xlsx",
        }
    }
}

impl AttachedFile {
    /// The MIME part.
    fn part(&self) -> SinglePart {
        Attachment::new(self.name.clone()).body(
            self.content.clone(),
            ContentType::parse(self.kind.content_type()).unwrap_or(ContentType::TEXT_PLAIN),
        )
    }

    /// The batch as `kind`, named `alerts-<time in the target's zone>.<ext>`
    /// (`alerts-20260115-120506+0800.xlsx`; `...Z` at UTC).
    pub fn new(
        kind: AttachmentKind,
        r: &Renderer,
        batch: &[AlertMessage],
        now: chrono::DateTime<chrono::Utc>,
    ) -> AttachedFile {
        let name = format!(
            "alerts-{}.{}",
            r.file_stamp(now, "%Y%m%d-%H%M%S"),
            kind.extension()
        );
        let content = match kind {
            AttachmentKind::Csv => csv(r, batch).into_bytes(),
            AttachmentKind::Xlsx => xlsx_workbook(r, batch),
        };
        AttachedFile {
            kind,
            name,
            content,
        }
    }
}

/// The column of the value: a number in the workbook.
const VALUE_COLUMN: usize = 4;

/// The workbook: the CSV's header and rows, values as numbers.
pub fn xlsx_workbook(r: &Renderer, batch: &[AlertMessage]) -> Vec<u8> {
    let rows: Vec<Vec<String>> = batch.iter().map(|m| r.row(m).to_vec()).collect();
    xlsx::workbook("Alerts", &r.columns(), &rows, &[VALUE_COLUMN])
}

/// Sends of this process, to tell apart copies made in the same millisecond.
static COPIES: AtomicU64 = AtomicU64::new(0);

/// Writes `file` into `dir` (made if missing) as
/// `<target>-alerts-<time with ms in the target's zone>-<pid>-<n>.<ext>`,
/// never over an existing file; returns its path.
async fn keep_copy(
    dir: &Path,
    target: &str,
    file: &AttachedFile,
    r: &Renderer,
    now: chrono::DateTime<chrono::Utc>,
) -> std::io::Result<PathBuf> {
    tokio::fs::create_dir_all(dir).await?;
    let safe: String = target
        .chars()
        .map(|c| if c.is_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' })
        .collect();
    let stamp = r.file_stamp(now, "%Y%m%d-%H%M%S%.3f");
    loop {
        let n = COPIES.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!(
            "{safe}-alerts-{stamp}-{}-{n}.{}",
            std::process::id(),
            file.kind.extension()
        ));
        match tokio::fs::OpenOptions::new().write(true).create_new(true).open(&path).await {
            Ok(mut f) => {
                use tokio::io::AsyncWriteExt;
                f.write_all(&file.content).await?;
                f.sync_all().await?;
                return Ok(path);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// lettre's error kinds mapped to retry or give up.
pub fn classify_error(e: &lettre::transport::smtp::Error) -> Delivery {
    let text = describe(e);
    if e.is_permanent() {
        Delivery::failed(format!("SMTP server refused: {text}"))
    } else if e.is_transient() || e.is_timeout() {
        Delivery::retry(format!("SMTP: {text}"), None)
    } else if e.is_tls() {
        Delivery::failed(format!("SMTP TLS: {text}"))
    } else if e.is_client() {
        Delivery::failed(format!("SMTP client: {text}"))
    } else {
        // connection refused, reset, DNS: the server may come back
        Delivery::retry(format!("SMTP: {text}"), None)
    }
}

fn describe(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let t = s.to_string();
        if !msg.contains(&t) {
            msg.push_str(": ");
            msg.push_str(&t);
        }
        source = s.source();
    }
    msg
}

pub fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An HTML document with one table row per alert (at most 1000).
pub fn html_table(r: &Renderer, batch: &[AlertMessage]) -> String {
    let mut h = String::from(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><style>\
         table{border-collapse:collapse;font-family:sans-serif;font-size:13px}\
         th,td{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}\
         th{background:#f0f0f0}</style></head><body>",
    );
    h.push_str(&format!(
        "<h3>{}</h3><table><thead><tr>",
        html_escape(&r.title(batch))
    ));
    for c in r.columns() {
        h.push_str(&format!("<th>{}</th>", html_escape(c)));
    }
    h.push_str("</tr></thead><tbody>");
    for m in batch.iter().take(MAX_TABLE_ROWS) {
        h.push_str("<tr>");
        for cell in r.row(m) {
            h.push_str(&format!("<td>{}</td>", html_escape(&cell)));
        }
        h.push_str("</tr>");
    }
    h.push_str("</tbody></table>");
    if batch.len() > MAX_TABLE_ROWS {
        h.push_str(&format!(
            "<p>{} more in the attachment.</p>",
            batch.len() - MAX_TABLE_ROWS
        ));
    }
    h.push_str("</body></html>");
    h
}

/// RFC 4180 CSV: header row, one row per alert, CRLF line ends.
pub fn csv(r: &Renderer, batch: &[AlertMessage]) -> String {
    let mut out = String::from("\u{feff}");
    let line = |cells: &[String]| {
        cells
            .iter()
            .map(|c| csv_field(c))
            .collect::<Vec<_>>()
            .join(",")
            + "\r\n"
    };
    let header: Vec<String> = r.columns().iter().map(|s| s.to_string()).collect();
    out.push_str(&line(&header));
    for m in batch {
        out.push_str(&line(&r.row(m)));
    }
    out
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Language, TargetTemplates};
    use crate::notify::message::MessageKind;

    #[test]
    fn csv_quotes_and_table_escapes() {
        let r = Renderer::new("m", Language::En, TargetTemplates::default());
        let mut m = AlertMessage::sample(MessageKind::Firing, "n", chrono::Utc::now());
        m.message = "a \"quoted\", <b>".into();
        let c = csv(&r, std::slice::from_ref(&m));
        let mut lines = c.trim_start_matches('\u{feff}').split("\r\n");
        assert_eq!(
            lines.next().unwrap(),
            "Status,Alert,Severity,Message,Value,Resolution,Labels,Since,Lasted"
        );
        assert!(lines.next().unwrap().contains("\"a \"\"quoted\"\", <b>\""));
        let h = html_table(&r, &[m]);
        assert!(
            h.contains("<td>a &quot;quoted&quot;, &lt;b&gt;</td>"),
            "{h}"
        );
    }

    #[test]
    fn attachment_names_carry_the_targets_zone() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-01-15T04:05:06Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let m = AlertMessage::sample(MessageKind::Firing, "n", at);
        let batch = std::slice::from_ref(&m);
        let sh = Renderer::new("m", Language::Zh, TargetTemplates::default())
            .with_timezone(chrono_tz::Tz::Asia__Shanghai);
        let f = AttachedFile::new(AttachmentKind::Xlsx, &sh, batch, at);
        assert_eq!(f.name, "alerts-20260115-120506+0800.xlsx");
        let utc = Renderer::new("m", Language::En, TargetTemplates::default());
        let f = AttachedFile::new(AttachmentKind::Csv, &utc, batch, at);
        assert_eq!(f.name, "alerts-20260115-040506Z.csv");
    }

    #[tokio::test]
    async fn a_kept_copy_is_named_in_the_targets_zone() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-01-15T23:59:59.250Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let m = AlertMessage::sample(MessageKind::Firing, "n", at);
        let sh = Renderer::new("m", Language::Zh, TargetTemplates::default())
            .with_timezone(chrono_tz::Tz::Asia__Shanghai);
        let f = AttachedFile::new(AttachmentKind::Csv, &sh, std::slice::from_ref(&m), at);
        let dir = std::env::temp_dir().join(format!("tocsin-keep-{}", std::process::id()));
        let path = keep_copy(&dir, "ops mail", &f, &sh, at).await.unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(
            name.starts_with("ops_mail-alerts-20260116-075959.250+0800-"),
            "{name}"
        );
    }
}
