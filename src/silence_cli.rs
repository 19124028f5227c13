//! `tocsin silence add|list|expire`: silences managed through the running
//! daemon's JSON API (`/api/v1/silences`).

use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;

use tocsin::alert::Language;
use tocsin::i18n::cli as say;
use tocsin::notify::silence::{MatcherInput, NewSilence, SilenceView};

#[derive(Subcommand)]
pub enum SilenceCommand {
    /// Silence the alerts matching every MATCHER (name=value, name!=value,
    /// name=~regex, name!~regex).
    Add {
        #[arg(required = true)]
        matchers: Vec<String>,
        /// How long from the start (e.g. 2h, 30m, 1day).
        #[arg(long = "for", conflicts_with = "until")]
        duration: Option<String>,
        /// The end, RFC 3339 (2026-01-02T03:00:00Z).
        #[arg(long)]
        until: Option<String>,
        /// The start, RFC 3339 (default: now).
        #[arg(long)]
        from: Option<String>,
        /// Who silences (default: $USER).
        #[arg(long)]
        author: Option<String>,
        /// Why.
        #[arg(long, short = 'm')]
        comment: String,
    },
    /// List active and pending silences, and those ended in the last day.
    List {
        #[arg(long)]
        json: bool,
    },
    /// End a silence now; what it held back and still fires is notified.
    Expire { id: String },
}

fn time(
    flag: &str,
    v: Option<&str>,
    lang: Language,
) -> anyhow::Result<Option<chrono::DateTime<chrono::Utc>>> {
    v.map(|v| {
        chrono::DateTime::parse_from_rfc3339(v)
            .map(|t| t.with_timezone(&chrono::Utc))
            .with_context(|| {
                say::NOT_RFC3339.fill(lang, &[("flag", &flag), ("value", &format!("{v:?}"))])
            })
    })
    .transpose()
}

pub fn run(
    config_path: Option<std::path::PathBuf>,
    cmd: SilenceCommand,
    lang: Language,
) -> anyhow::Result<ExitCode> {
    let config = crate::config_for_daemon(config_path.as_deref(), lang)?;
    let tz = config.timezone;
    let base = format!("http://{}/api/v1/silences", config.listen_addr());
    let rt = crate::runtime()?;
    // The daemon's `api_token` from the same config, for the write calls.
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(token) = &config.api_token {
        let mut value =
            reqwest::header::HeaderValue::from_str(&format!("Bearer {}", token.expose()))
                .map_err(|_| anyhow::anyhow!("{}", say::BAD_TOKEN.get(lang)))?;
        value.set_sensitive(true);
        headers.insert(reqwest::header::AUTHORIZATION, value);
    }
    let client = tocsin::http_client::builder(std::time::Duration::from_secs(10))
        .default_headers(headers)
        .build()?;
    let reach = || crate::no_daemon(&config, lang);
    rt.block_on(async {
        let resp = match &cmd {
            SilenceCommand::Add {
                matchers,
                duration,
                until,
                from,
                author,
                comment,
            } => {
                let new = NewSilence {
                    matchers: matchers.iter().cloned().map(MatcherInput::Text).collect(),
                    starts_at: time("from", from.as_deref(), lang)?,
                    ends_at: time("until", until.as_deref(), lang)?,
                    duration: duration.clone(),
                    created_by: author
                        .clone()
                        .or_else(|| std::env::var("USER").ok())
                        .unwrap_or_default(),
                    comment: comment.clone(),
                };
                client.post(&base).json(&new).send().await
            }
            SilenceCommand::List { .. } => client.get(&base).send().await,
            SilenceCommand::Expire { id } => client.delete(format!("{base}/{id}")).send().await,
        }
        .with_context(reach)?;
        let status = resp.status();
        let body: serde_json::Value = resp.json().await.unwrap_or_default();
        if !status.is_success() {
            let why = body["error"].as_str().unwrap_or(status.as_str());
            eprintln!("{}", say::ERROR.fill(lang, &[("what", &why)]));
            return Ok(ExitCode::FAILURE);
        }
        match cmd {
            SilenceCommand::Add { .. } => println!("{}", body["id"].as_str().unwrap_or("")),
            SilenceCommand::Expire { id } => {
                println!("{}", say::SILENCE_EXPIRED.fill(lang, &[("id", &id)]))
            }
            SilenceCommand::List { json: true } => {
                println!("{}", serde_json::to_string_pretty(&body)?)
            }
            SilenceCommand::List { json: false } => {
                let list: Vec<SilenceView> = serde_json::from_value(body)?;
                if list.is_empty() {
                    println!("{}", say::NO_SILENCES.get(lang));
                }
                for s in list {
                    let matchers: Vec<String> = s
                        .matchers
                        .iter()
                        .filter_map(|m| tocsin::alert::matcher::Matcher::try_from(m).ok())
                        .map(|m| m.to_string())
                        .collect();
                    println!(
                        "{:<16} {:<8} {} .. {} {:<12} {} -- {}",
                        s.id,
                        s.state,
                        s.starts_at.with_timezone(&tz).format("%Y-%m-%d %H:%M"),
                        s.ends_at.with_timezone(&tz).format("%Y-%m-%d %H:%M %:z"),
                        s.created_by,
                        matchers.join(","),
                        s.comment
                    );
                }
            }
        }
        anyhow::Ok(ExitCode::SUCCESS)
    })
}
