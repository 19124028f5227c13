//! `tocsin alerts`: the running daemon's alerts (`/api/v1/alerts`) as a
//! table in the command's language and the config's zone, or as JSON.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use tocsin::alert::Language;
use tocsin::http::api::AlertView;
use tocsin::i18n::cli as say;

use crate::{config_for_daemon, no_daemon, runtime};

pub fn run(
    config_path: Option<PathBuf>,
    state: Option<String>,
    json: bool,
    lang: Language,
) -> anyhow::Result<ExitCode> {
    let config = config_for_daemon(config_path.as_deref(), lang)?;
    let mut url = format!("http://{}/api/v1/alerts", config.listen_addr());
    if let Some(s) = &state {
        url.push_str(&format!("?state={s}"));
    }
    let rt = runtime()?;
    let views: Vec<AlertView> = rt.block_on(async {
        let client = tocsin::http_client::builder(std::time::Duration::from_secs(10)).build()?;
        let resp = client
            .get(&url)
            .send()
            .await
            .with_context(|| no_daemon(&config, lang))?;
        let resp = resp.error_for_status()?;
        anyhow::Ok(resp.json().await?)
    })?;
    if json {
        println!("{}", serde_json::to_string_pretty(&views)?);
        return Ok(ExitCode::SUCCESS);
    }
    if views.is_empty() {
        println!("{}", say::NO_ALERTS.get(lang));
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", alerts_table(&views, lang, config.timezone));
    Ok(ExitCode::SUCCESS)
}

/// The first line of `text`, at most 160 characters, with ` …` when
/// something was left out (all of it is in `--json`).
fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or("");
    let short = tocsin::notify::render::shorten_chars(line, 160);
    if short.len() < text.trim_end().len() && !short.ends_with('…') {
        format!("{short} …")
    } else {
        short
    }
}

/// `tocsin alerts` as a table: fixed words and the rules' texts in `lang`,
/// times in `tz`.
fn alerts_table(views: &[AlertView], lang: Language, tz: chrono_tz::Tz) -> String {
    use tocsin::i18n::pad;
    use tocsin::notify::render::format_time_in;
    let widths = [9, 8, 28, 26, 18, 14, 26];
    let row = |cells: [&str; 7], last: &str| {
        let mut line: String = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{} ", pad(c, w)))
            .collect();
        line.push_str(last);
        line.push('\n');
        line
    };
    let h = |t: tocsin::i18n::Text| t.get(lang);
    let mut out = row(
        [
            h(say::ALERTS_STATE),
            h(say::ALERTS_SEVERITY),
            h(say::ALERTS_ALERT),
            h(say::ALERTS_SINCE),
            h(say::ALERTS_ROUTE),
            h(say::ALERTS_RECIPIENTS),
            h(say::ALERTS_LAST),
        ],
        h(say::ALERTS_MESSAGE),
    );
    for v in views {
        let since = format_time_in(v.fired_at.unwrap_or(v.since), tz, "%Y-%m-%d %H:%M:%S");
        let mut recipients = v.recipients.join(",");
        if recipients.is_empty() {
            recipients = "-".into();
        }
        if v.silenced {
            recipients.push_str(say::SILENCED.get(lang));
        }
        if v.inhibited {
            recipients.push_str(say::INHIBITED.get(lang));
        }
        let last = v.last_notification.as_ref().map_or("-".to_string(), |n| {
            let at = n.sent_at.unwrap_or(n.created_at).with_timezone(&tz);
            format!(
                "{} {} {} {}",
                n.kind,
                n.target,
                n.status,
                at.format("%H:%M:%S")
            )
        });
        // The daemon's texts in this language; an older daemon sends only `message`.
        let text = &v.texts.get(lang).message;
        let message = first_line(if text.is_empty() { &v.message } else { text });
        let state = say::state(&v.state).map_or(v.state.as_str(), |t| t.get(lang));
        let severity = say::severity(&v.severity).map_or(v.severity.as_str(), |t| t.get(lang));
        out.push_str(&row(
            [
                state,
                severity,
                &v.alert,
                &since,
                &v.route,
                &recipients,
                &last,
            ],
            &message,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::first_line;

    #[test]
    fn the_alerts_table_shows_a_messages_first_line() {
        assert_eq!(first_line("exit 3"), "exit 3");
        assert_eq!(first_line("exit 3:\ncopying\ndisk full\n"), "exit 3: …");
        let long = "错".repeat(200);
        assert_eq!(first_line(&long).chars().count(), 160);
    }
}
