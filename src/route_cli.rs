//! `tocsin route explain --label NAME=VALUE ... [--severity error]`: who
//! would receive an alert with these labels, asked of the running daemon
//! (`/api/v1/route/explain`: its silences and firing alerts count), or,
//! when no daemon answers, worked out from the config alone. The console's
//! "Who receives?" form gives the same answer.

use std::process::ExitCode;

use clap::Subcommand;

use tocsin::alert::Severity;
use tocsin::config::Config;
use tocsin::notify::explain::{Explanation, explain, labels_from_text};

#[derive(Subcommand)]
pub enum RouteCommand {
    /// Who would receive an alert with these labels and severity.
    Explain {
        /// A label, NAME=VALUE (repeat it; `alertname` among them).
        #[arg(
            long = "label",
            short = 'l',
            required = true,
            value_name = "NAME=VALUE"
        )]
        labels: Vec<String>,
        /// warning or error.
        #[arg(long, default_value = "warning")]
        severity: String,
        /// Work it out from the config only (no daemon asked).
        #[arg(long)]
        offline: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(
    config_path: Option<std::path::PathBuf>,
    cmd: RouteCommand,
    lang: tocsin::alert::Language,
) -> anyhow::Result<ExitCode> {
    let RouteCommand::Explain {
        labels,
        severity,
        offline,
        json,
    } = cmd;
    let config = Config::load(config_path.as_deref()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let text = labels.join("\n");
    let parsed = labels_from_text(&text).map_err(|e| anyhow::anyhow!("--label: {e}"))?;
    let sev = match severity.as_str() {
        "warning" => Severity::Warning,
        "error" => Severity::Error,
        other => anyhow::bail!("--severity {other:?}: expected warning or error"),
    };
    let (answer, from_daemon) = match (!offline).then(|| ask_daemon(&config, &text, &severity)) {
        Some(Ok(e)) => (e, true),
        Some(Err(why)) => {
            eprintln!(
                "note: {why}; the answer below comes from the config alone (no silences, no inhibitions)"
            );
            (offline_answer(&config, &parsed, sev), false)
        }
        None => (offline_answer(&config, &parsed, sev), false),
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
        return Ok(ExitCode::SUCCESS);
    }
    let w = tocsin::http::console::words::of(lang);
    let why = match answer.scope.as_str() {
        "default" => w.route_why_default(),
        "all" => w.route_why_all(),
        _ => w.route_why_scope(),
    };
    let dash = "-".to_string();
    println!("{}: {} ({why})", w.route_scope(), answer.scope);
    println!(
        "{}: {}",
        w.recipients(),
        if answer.recipients.is_empty() {
            w.nobody().to_string()
        } else {
            answer.recipients.join(", ")
        }
    );
    println!(
        "{}: {}",
        w.silence(),
        answer
            .silenced_by
            .as_ref()
            .map_or(w.not_silenced().to_string(), |id| format!(
                "{} {id}",
                w.silenced_now()
            ))
    );
    println!(
        "{}: {}",
        w.inhibited_by(),
        answer.inhibited_by.as_ref().unwrap_or(&dash)
    );
    println!(
        "{}",
        if answer.window_open {
            w.window_open()
        } else {
            w.window_closed()
        }
    );
    println!(
        "{}: {}",
        w.repeat_every(),
        answer
            .repeat_interval_seconds
            .map(|s| tocsin::template::format_duration_secs(s as f64))
            .unwrap_or_else(|| w.no_repeat().to_string())
    );
    if !from_daemon {
        println!("(config only)");
    }
    Ok(ExitCode::SUCCESS)
}

fn offline_answer(config: &Config, labels: &tocsin::alert::Labels, sev: Severity) -> Explanation {
    let router = tocsin::notify::Router::new(config, Default::default());
    explain(&router, labels, sev, chrono::Utc::now())
}

/// The running daemon's answer, or why there is none.
fn ask_daemon(config: &Config, labels: &str, severity: &str) -> Result<Explanation, String> {
    let url = format!("http://{}/api/v1/route/explain", config.listen_addr());
    let rt = crate::runtime().map_err(|e| e.to_string())?;
    rt.block_on(async {
        let client = tocsin::http_client::builder(std::time::Duration::from_secs(5))
            .build()
            .map_err(|e| e.to_string())?;
        let mut req = client
            .get(&url)
            .query(&[("labels", labels), ("severity", severity)]);
        if let Some(token) = &config.api_token {
            req = req.bearer_auth(token.expose());
        }
        let resp = req
            .send()
            .await
            .map_err(|_| format!("no daemon answers at {}", config.listen_addr()))?;
        let status = resp.status();
        if !status.is_success() {
            let body: serde_json::Value = resp.json().await.unwrap_or_default();
            return Err(format!(
                "the daemon answered {status}: {}",
                body["error"].as_str().unwrap_or("")
            ));
        }
        resp.json::<Explanation>().await.map_err(|e| e.to_string())
    })
}
