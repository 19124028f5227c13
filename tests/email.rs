//! Email through a real SMTP server (aiosmtpd, started by scripts/testenv.sh):
//! the delivered MIME is parsed back (mail-parser) to check the subject, the
//! sender's display name, recipients resolved from contacts and groups, the
//! HTML table with its plain-text alternative, and the CSV attachment.

mod common;

use std::path::Path;

use chrono::Utc;
use mail_parser::{MessageParser, MimeHeaders};
use tocsin::config::Config;
use tocsin::notify::channels::{Channel, Delivery};
use tocsin::notify::{AlertMessage, MessageKind};

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        Utc::now().timestamp_nanos_opt().unwrap_or_default()
    )
}

fn email_channel(tls: &str, target: &str) -> Channel {
    let smtp = common::smtp();
    let yaml = format!(
        "contacts:\n  - {{name: alice, email: alice@example.com}}\n  - {{name: bob, email: bob@example.com}}\ncontact_groups:\n  - {{name: dba, members: [bob]}}\n\
         mailer: {{host: '{}', port: {}, tls: {tls}, from: 'tocsin alerts <alerts@example.com>', timeout: 5s}}\n\
         targets:\n  - {target}\n",
        smtp.addr.ip(),
        smtp.addr.port()
    );
    let c = Config::from_text(Path::new("tocsin.yaml"), &yaml).unwrap_or_else(|e| panic!("{e}"));
    Channel::from_config(&c.targets[0], &c).unwrap()
}

/// The columns of the CSV and the workbook, in English.
const COLUMNS: [&str; 9] = [
    "Status",
    "Alert",
    "Severity",
    "Message",
    "Value",
    "Resolution",
    "Labels",
    "Since",
    "Lasted",
];

fn firing() -> AlertMessage {
    let mut m = AlertMessage::sample(MessageKind::Firing, "n", Utc::now());
    m.alert = "DiskFull".into();
    m.message = "Disk on db-1 is 98% full, \"now\"".into();
    m
}

fn resolved() -> AlertMessage {
    let mut m = AlertMessage::sample(MessageKind::Resolved, "n", Utc::now());
    m.alert = "DiskFull".into();
    m
}

/// RFC 4180 rows (quoted fields, doubled quotes, CRLF).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    assert!(!quoted, "unterminated quote");
    rows
}

#[tokio::test]
async fn table_and_attachment_arrive_as_html_table_text_alternative_and_csv() {
    let to = unique("ops");
    let ch = email_channel(
        "none",
        &format!(
            "{{name: mail, type: email, to: [alice, '{to}@example.com'], cc: [dba], format: table+attachment}}"
        ),
    );
    let d = ch.send(&[firing(), resolved()]).await;
    assert!(
        matches!(&d, Delivery::Sent { answer } if answer.starts_with("SMTP 250")),
        "{d:?}"
    );

    let raw = common::delivered_mail(&to).await;
    let msg = MessageParser::default().parse(&raw).expect("MIME parses");
    assert_eq!(msg.subject(), Some("[FIRING/RESOLVED] 2 alerts: DiskFull"));
    let from = msg.from().and_then(|a| a.first()).unwrap();
    assert_eq!(from.name(), Some("tocsin alerts"));
    assert_eq!(from.address(), Some("alerts@example.com"));
    let to_list: Vec<&str> = msg
        .to()
        .unwrap()
        .iter()
        .filter_map(|a| a.address())
        .collect();
    assert_eq!(
        to_list,
        vec!["alice@example.com".to_string(), format!("{to}@example.com")]
    );
    let cc: Vec<&str> = msg
        .cc()
        .unwrap()
        .iter()
        .filter_map(|a| a.address())
        .collect();
    assert_eq!(cc, vec!["bob@example.com"]);

    let html = msg.body_html(0).expect("an HTML part");
    assert!(
        html.contains("<table>") && html.contains("<th>Severity</th>"),
        "{html}"
    );
    assert!(
        html.contains("<td>Disk on db-1 is 98% full, &quot;now&quot;</td>"),
        "{html}"
    );
    let text = msg.body_text(0).expect("a plain-text alternative");
    assert!(text.contains("Message: Disk on db-1 is 98% full"), "{text}");
    assert!(text.contains("Lasted: 5m"), "{text}");

    assert_eq!(msg.attachment_count(), 1);
    let att = msg.attachment(0).unwrap();
    let name = att.attachment_name().unwrap();
    assert!(
        name.starts_with("alerts-") && name.ends_with(".csv"),
        "{name}"
    );
    let ct = att.content_type().unwrap();
    assert_eq!((ct.ctype(), ct.subtype()), ("text", Some("csv")));
    let csv = String::from_utf8(att.contents().to_vec()).unwrap();
    let rows = parse_csv(csv.trim_start_matches('\u{feff}'));
    assert_eq!(rows[0], COLUMNS);
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert_eq!(rows[1][0], "FIRING");
    assert_eq!(rows[1][3], "Disk on db-1 is 98% full, \"now\"");
    assert_eq!(rows[1][4], "42");
    assert_eq!(rows[2][0], "RESOLVED");
    assert_eq!(rows[2][8], "5m");
}

#[tokio::test]
async fn text_and_attachment_formats_in_chinese() {
    let to = unique("text");
    let ch = email_channel(
        "none",
        &format!(
            "{{name: mail, type: email, to: ['{to}@example.com'], format: text, language: zh}}"
        ),
    );
    assert!(ch.send(&[firing()]).await.is_sent());
    let raw = common::delivered_mail(&to).await;
    let msg = MessageParser::default().parse(&raw).unwrap();
    assert_eq!(msg.subject(), Some("【告警】DiskFull（警告）"));
    // (mail-parser offers every text body as HTML too: look at the MIME itself)
    assert!(!String::from_utf8_lossy(&raw).contains("text/html"));
    assert_eq!(msg.attachment_count(), 0);
    assert!(msg.body_text(0).unwrap().contains("告警内容: Disk on db-1"));

    let to = unique("att");
    let ch = email_channel(
        "none",
        &format!("{{name: mail, type: email, to: ['{to}@example.com'], format: attachment}}"),
    );
    assert!(ch.send(&[firing()]).await.is_sent());
    let raw = common::delivered_mail(&to).await;
    let msg = MessageParser::default().parse(&raw).unwrap();
    assert_eq!(msg.attachment_count(), 1);
    let csv = String::from_utf8(msg.attachment(0).unwrap().contents().to_vec()).unwrap();
    assert_eq!(parse_csv(csv.trim_start_matches('\u{feff}')).len(), 2);
}

#[tokio::test]
async fn required_starttls_on_a_plain_server_sends_nothing_and_fails_permanently() {
    let to = unique("tls");
    let ch = email_channel(
        "starttls",
        &format!("{{name: mail, type: email, to: ['{to}@example.com']}}"),
    );
    let d = ch.send(&[firing()]).await;
    assert!(
        matches!(&d, Delivery::Failed { reason } if reason.contains("SMTP")),
        "{d:?}"
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let new = common::smtp().maildir.join("new");
    let leaked = std::fs::read_dir(new)
        .unwrap()
        .flatten()
        .any(|e| String::from_utf8_lossy(&std::fs::read(e.path()).unwrap()).contains(&to));
    assert!(!leaked, "a mail went out without TLS");
}

#[tokio::test]
async fn unreachable_smtp_server_is_retried() {
    let refused = common::refusing_port();
    let port = refused.local_addr().unwrap().port();
    let c = Config::from_text(
        Path::new("tocsin.yaml"),
        &format!("mailer: {{host: 127.0.0.1, port: {port}, tls: none, from: 'a@example.com', timeout: 2s}}\ntargets:\n  - {{name: m, type: email, to: [b@example.com]}}\n"),
    )
    .unwrap();
    let ch = Channel::from_config(&c.targets[0], &c).unwrap();
    assert!(matches!(ch.send(&[firing()]).await, Delivery::Retry { .. }));
}

#[tokio::test]
async fn each_email_target_sends_through_its_own_server_with_its_own_sender() {
    let smtp = common::smtp();
    let refused = common::refusing_port();
    let down = refused.local_addr().unwrap().port();
    let (a, b) = (unique("own-a"), unique("own-b"));
    let yaml = format!(
        "contacts:\n  - {{name: alice, email: alice@example.com}}\n\
         mailer: {{host: 127.0.0.1, port: {down}, tls: none, from: 'tocsin <alerts@example.com>', timeout: 2s}}\n\
         targets:\n\
         \x20 - {{name: global, type: email, to: [alice]}}\n\
         \x20 - {{name: a, type: email, to: ['{a}@example.com', alice], host: '{ip}', port: {port}, tls: none, sender_name: 告警中心, trusted_domains: [example.com]}}\n\
         \x20 - {{name: b, type: email, to: ['{b}@example.com'], host: '{ip}', port: {port}, tls: none, from: 'Backup desk <backup@corp.example.com>', format: text}}\n",
        ip = smtp.addr.ip(),
        port = smtp.addr.port()
    );
    let c = Config::from_text(Path::new("tocsin.yaml"), &yaml).unwrap_or_else(|e| panic!("{e}"));
    let channel = |name: &str| {
        let t = c.targets.iter().find(|t| t.name() == name).unwrap();
        Channel::from_config(t, &c).unwrap()
    };
    // The top-level mailer is down; the targets with a host of their own are not.
    assert!(matches!(
        channel("global").send(&[firing()]).await,
        Delivery::Retry { .. }
    ));
    let d = channel("a").send(&[firing()]).await;
    assert!(d.is_sent(), "{d:?}");
    let d = channel("b").send(&[firing()]).await;
    assert!(d.is_sent(), "{d:?}");

    let (name, address, to) = sender_and_recipients(&common::delivered_mail(&a).await);
    assert_eq!(name.as_deref(), Some("告警中心"));
    assert_eq!(address.as_deref(), Some("alerts@example.com"));
    assert_eq!(
        to,
        vec![format!("{a}@example.com"), "alice@example.com".to_string()]
    );

    let (name, address, to) = sender_and_recipients(&common::delivered_mail(&b).await);
    assert_eq!(name.as_deref(), Some("Backup desk"));
    assert_eq!(address.as_deref(), Some("backup@corp.example.com"));
    assert_eq!(to, vec![format!("{b}@example.com")]);
}

/// The From display name and address of a raw mail, and its To addresses.
fn sender_and_recipients(raw: &[u8]) -> (Option<String>, Option<String>, Vec<String>) {
    let msg = MessageParser::default().parse(raw).unwrap();
    let from = msg.from().and_then(|f| f.first()).unwrap();
    let to = msg
        .to()
        .unwrap()
        .iter()
        .filter_map(|a| a.address())
        .map(str::to_string)
        .collect();
    (
        from.name().map(str::to_string),
        from.address().map(str::to_string),
        to,
    )
}

/// The rows of the workbook's sheet, read by a real XLSX reader (calamine).
fn xlsx_rows(bytes: &[u8]) -> Vec<Vec<calamine::Data>> {
    use calamine::Reader;
    let mut wb: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(bytes.to_vec())).expect("an XLSX");
    assert_eq!(wb.sheet_names(), ["Alerts"]);
    let range = wb.worksheet_range("Alerts").expect("the sheet");
    range.rows().map(|r| r.to_vec()).collect()
}

#[tokio::test]
async fn xlsx_attachment_is_a_workbook_with_a_row_per_alert_and_a_copy_is_kept() {
    use calamine::Data;
    let dir = tempfile::tempdir().unwrap();
    let kept = dir.path().join("sent/xlsx");
    let to = unique("xlsx");
    let ch = email_channel(
        "none",
        &format!(
            "{{name: 'ops mail', type: email, to: ['{to}@example.com'], format: table+xlsx, attachment_dir: '{}', timezone: Asia/Shanghai}}",
            kept.display()
        ),
    );
    let mut odd = firing();
    odd.message = "磁盘 <满> & \"now\"\nsecond line".into();
    let d = ch.send(&[odd, resolved()]).await;
    assert!(d.is_sent(), "{d:?}");
    let raw = common::delivered_mail(&to).await;
    let msg = MessageParser::default().parse(&raw).unwrap();
    assert!(msg.body_html(0).unwrap().contains("<table>"));
    assert_eq!(msg.attachment_count(), 1);
    let att = msg.attachment(0).unwrap();
    let name = att.attachment_name().unwrap();
    // Named with the time in the target's zone (Shanghai: +0800).
    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .format("alerts-%Y%m%d-")
        .to_string();
    assert!(
        name.starts_with(&today[..15]) && name.ends_with("+0800.xlsx"),
        "{name}"
    );
    let ct = att.content_type().unwrap();
    assert_eq!(
        (ct.ctype(), ct.subtype()),
        (
            "application",
            Some("vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        )
    );
    let rows = xlsx_rows(att.contents());
    let text = |d: &Data| d.to_string();
    assert_eq!(rows[0].iter().map(text).collect::<Vec<_>>(), COLUMNS);
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert_eq!(text(&rows[1][0]), "FIRING");
    assert_eq!(text(&rows[1][1]), "DiskFull");
    assert_eq!(text(&rows[1][3]), "磁盘 <满> & \"now\"\nsecond line");
    assert_eq!(rows[1][4], Data::Float(42.0));
    assert_eq!(text(&rows[2][0]), "RESOLVED");
    assert_eq!(text(&rows[2][8]), "5m");

    // The copy: the same bytes, under a name of its own for each send.
    let files = || {
        let mut f: Vec<_> = std::fs::read_dir(&kept)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        f.sort();
        f
    };
    let first = files();
    assert_eq!(first.len(), 1, "{first:?}");
    let file_name = first[0].file_name().unwrap().to_string_lossy().to_string();
    assert!(
        file_name.starts_with("ops_mail-alerts-")
            && file_name.contains("+0800-")
            && file_name.ends_with(".xlsx"),
        "{file_name}"
    );
    assert_eq!(std::fs::read(&first[0]).unwrap(), att.contents());
    assert!(ch.send(&[firing()]).await.is_sent());
    let second = files();
    assert_eq!(second.len(), 2, "{second:?}");
    let new = second.iter().find(|p| **p != first[0]).unwrap();
    assert_eq!(xlsx_rows(&std::fs::read(new).unwrap()).len(), 2);

    // `xlsx`: plain text and the workbook, in Chinese.
    let to = unique("xlsx-zh");
    let ch = email_channel(
        "none",
        &format!("{{name: m, type: email, to: ['{to}@example.com'], format: xlsx, language: zh}}"),
    );
    assert!(ch.send(&[firing()]).await.is_sent());
    let raw = common::delivered_mail(&to).await;
    assert!(!String::from_utf8_lossy(&raw).contains("text/html"));
    let msg = MessageParser::default().parse(&raw).unwrap();
    let rows = xlsx_rows(msg.attachment(0).unwrap().contents());
    assert_eq!(rows[0][0].to_string(), "状态");
    assert_eq!(rows.len(), 2);
}
