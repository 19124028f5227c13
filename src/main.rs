//! The `tocsin` command line: `run`, `check`, `test`, `alerts` (alerts_cli.rs), `notify-test`,
//! `silence`, `route` (route_cli.rs), `ping`.

mod alerts_cli;
mod route_cli;
mod silence_cli;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};

use tocsin::alert::Language;
use tocsin::config::Config;
use tocsin::i18n::{cli as say, explain};
use tocsin::rules::{LoadOptions, load_rules};

#[derive(Parser)]
#[command(name = "tocsin", version, about = "Self-hosted alerting daemon")]
struct Cli {
    /// Config file (default: ./tocsin.yaml if present, else built-in defaults).
    #[arg(short, long, global = true, env = "TOCSIN_CONFIG")]
    config: Option<PathBuf>,
    /// Log line format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Language of what the command prints (default: the config's
    /// `language`, else en).
    #[arg(long, global = true, value_enum, env = "TOCSIN_LANG")]
    lang: Option<LangArg>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LangArg {
    En,
    Zh,
}

impl From<LangArg> for Language {
    fn from(l: LangArg) -> Language {
        match l {
            LangArg::En => Language::En,
            LangArg::Zh => Language::Zh,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon.
    Run,
    /// Validate the config and rule files; errors as file:line:col.
    Check {
        /// Rule files or folders (default: the config's `rules`).
        paths: Vec<PathBuf>,
    },
    /// Run rule unit tests (mocked query results over time, expected alerts).
    Test {
        /// Test files (YAML).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Send a sample message to one target and print the channel's answer
    /// (exit 1 when it was not delivered).
    NotifyTest {
        /// The target's name.
        #[arg(required_unless_present = "contact", conflicts_with = "contact")]
        target: Option<String>,
        /// Instead of a target: one test through each way this contact is
        /// reached (mail, SMS, call).
        #[arg(long, value_name = "NAME")]
        contact: Option<String>,
        /// Send the recovery message instead of the firing one.
        #[arg(long)]
        resolved: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List alerts from the running daemon.
    Alerts {
        /// Only this state: pending, firing or resolved.
        #[arg(long)]
        state: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Run a command between a start ping and an exit-code ping (with the
    /// tail of its output); exits with the command's exit code.
    #[command(
        after_help = "Example: tocsin ping https://tocsin:9750/ping/<key> -- restic backup /srv"
    )]
    Ping {
        /// The check's ping URL: .../ping/{uuid} or .../ping/{ping_key}/{slug}[?create=1].
        url: String,
        /// Retries per ping on network errors, timeouts, 429 and 5xx.
        #[arg(long, default_value_t = 5)]
        retries: u32,
        /// First wait between retries; doubles up to 30s.
        #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
        retry_delay: std::time::Duration,
        /// Timeout of each ping attempt.
        #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
        timeout: std::time::Duration,
        /// The command and its arguments, after `--`.
        #[arg(last = true, required = true, value_name = "CMD")]
        command: Vec<String>,
    },
    /// Verify contacts' email addresses and phone numbers.
    Contact {
        #[command(subcommand)]
        action: ContactCommand,
    },
    /// Manage silences of the running daemon.
    Silence {
        #[command(subcommand)]
        action: silence_cli::SilenceCommand,
    },
    /// Explain routing: who would receive an alert.
    Route {
        #[command(subcommand)]
        action: route_cli::RouteCommand,
    },
}

#[derive(Subcommand)]
enum ContactCommand {
    /// Send a six-digit code to the contact's email (through the mailer) or
    /// phone (through `phones.sms`); without a flag, to each.
    Verify {
        name: String,
        #[arg(long, conflicts_with = "phone")]
        email: bool,
        #[arg(long)]
        phone: bool,
    },
    /// Record the address the code went to as verified.
    Confirm { name: String, code: String },
    /// Every contact's addresses and whether each is verified.
    List {
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    malloc_arena_per_core();
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let lang = tocsin::i18n::command_language(cli.lang.map(Language::from), cli.config.as_deref());
    match dispatch(cli, lang) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{}", say::ERROR.fill(lang, &[("what", &format!("{e:#}"))]));
            ExitCode::FAILURE
        }
    }
}

/// glibc gives each thread that allocates its own arena (up to eight per
/// core) and keeps what each has freed: 10 MB of an idle daemon's 46 MB
/// (1 000 rules, 10 000 checks) were such arenas. One arena per core keeps
/// most of that saving (42 MB) without the contention of a single arena
/// (100 000 rules: 1.3 CPU-s a cycle with one per core or eight, 2.5 with a
/// single one). `MALLOC_ARENA_MAX` in the environment still decides.
fn malloc_arena_per_core() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let arenas = libc::c_int::try_from(cores).unwrap_or(libc::c_int::MAX);
        // SAFETY: mallopt only sets an allocator parameter; called before
        // any other thread exists.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, arenas);
        }
    }
}

fn dispatch(cli: Cli, lang: Language) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Check { paths } => Ok(check(cli.config, paths, lang)),
        Command::Run => {
            let config = match Config::load(cli.config.as_deref()) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{}", explain::explain_errors(&e, lang));
                    eprintln!("{}", say::NOT_STARTED.get(lang));
                    return Ok(ExitCode::FAILURE);
                }
            };
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            match config.postgres.clone() {
                // On PostgreSQL every process is a replica: it leads or stands by.
                Some(target) => rt.block_on(tocsin::replica::run(config, target))?,
                None => rt.block_on(tocsin::daemon::run(config))?,
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Alerts { state, json } => alerts_cli::run(cli.config, state, json, lang),
        Command::Silence { action } => silence_cli::run(cli.config, action, lang),
        Command::Route { action } => route_cli::run(cli.config, action, lang),
        Command::Test { files } => Ok(rule_tests(&files, lang)),
        Command::NotifyTest {
            target,
            contact,
            resolved,
            json,
        } => notify_test(cli.config, target, contact, resolved, json, lang),
        Command::Contact { action } => contact(cli.config, action, lang),
        Command::Ping {
            url,
            retries,
            retry_delay,
            timeout,
            command,
        } => {
            let rt = runtime()?;
            let code = rt.block_on(tocsin::ping_client::run(tocsin::ping_client::Options {
                url,
                command,
                retries,
                retry_delay,
                timeout,
                language: lang,
            }));
            // Exit codes beyond 255 cannot happen on Unix; clamp for the rest.
            Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        // Control characters in values are escaped, colours are off: a
        // logged value (an alert name from outside) cannot forge a line.
        LogFormat::Text => builder
            .with_ansi(false)
            .with_writer(tocsin::log_escape::EscapingMakeWriter(std::io::stderr))
            .init(),
        LogFormat::Json => builder.with_writer(std::io::stderr).json().init(),
    }
}

/// The config, or its errors (`file:line:col`, explained in `lang`)
/// printed and exit code 1.
fn load_config(path: Option<&std::path::Path>, lang: Language) -> Result<Config, ExitCode> {
    Config::load(path).map_err(|e| {
        eprintln!("{}", explain::explain_errors(&e, lang));
        ExitCode::FAILURE
    })
}

/// The config for a command that talks to the daemon; its errors explained
/// in `lang`.
fn config_for_daemon(path: Option<&std::path::Path>, lang: Language) -> anyhow::Result<Config> {
    Config::load(path).map_err(|e| anyhow::anyhow!("{}", explain::explain_errors(&e, lang)))
}

/// What to say when the daemon at `config`'s address does not answer.
fn no_daemon(config: &Config, lang: Language) -> String {
    say::NO_DAEMON.fill(lang, &[("addr", &config.listen_addr())])
}

/// A single-threaded runtime for one command.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn check(config_path: Option<PathBuf>, paths: Vec<PathBuf>, lang: Language) -> ExitCode {
    let config = match load_config(config_path.as_deref(), lang) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let paths = if paths.is_empty() {
        config.rules.clone()
    } else {
        paths
    };
    let opts = LoadOptions {
        default_interval: config.evaluation_interval.0,
    };
    match load_rules(&paths, &opts) {
        Ok(mut set) => {
            if config.prometheus.remote_write_url.is_none() {
                set.skip_recording_rules();
            }
            for w in &set.warnings {
                let w = explain::explain_error(w, lang);
                eprintln!("{}", say::WARNING.fill(lang, &[("what", &w)]));
            }
            for w in tocsin::notify::verify::unverified_warnings(&config) {
                eprintln!("{}", say::WARNING.fill(lang, &[("what", &w)]));
            }
            let source = config
                .source
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| say::BUILTIN_DEFAULTS.get(lang).into());
            println!(
                "{}",
                say::CHECK_OK.fill(
                    lang,
                    &[
                        ("source", &source),
                        ("files", &set.files.len()),
                        ("groups", &set.groups.len()),
                        ("rules", &set.rule_count()),
                        ("checks", &set.heartbeats.checks.len()),
                        ("templates", &set.heartbeats.templates.len()),
                    ]
                )
            );
            ExitCode::SUCCESS
        }
        Err(errors) => {
            eprintln!("{}", explain::explain_errors(&errors, lang));
            eprintln!("{}", say::ERROR_COUNT.fill(lang, &[("n", &errors.0.len())]));
            ExitCode::FAILURE
        }
    }
}

fn rule_tests(files: &[PathBuf], lang: Language) -> ExitCode {
    let mut failed = 0;
    let mut passed = 0;
    for f in files {
        println!("{}", f.display());
        match tocsin::ruletest::run_file(f) {
            Err(errors) => {
                eprintln!("{}", explain::explain_errors(&errors, lang));
                failed += 1;
            }
            Ok(report) => {
                for name in &report.passed {
                    println!("{}", say::TEST_PASS.fill(lang, &[("name", name)]));
                }
                for (name, diff) in &report.failed {
                    println!("{}\n{diff}", say::TEST_FAIL.fill(lang, &[("name", name)]));
                }
                passed += report.passed.len();
                failed += report.failed.len();
            }
        }
    }
    println!(
        "{}",
        say::TEST_SUMMARY.fill(lang, &[("passed", &passed), ("failed", &failed)])
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn notify_test(
    config_path: Option<PathBuf>,
    target: Option<String>,
    contact: Option<String>,
    resolved: bool,
    json: bool,
    lang: Language,
) -> anyhow::Result<ExitCode> {
    let config = match load_config(config_path.as_deref(), lang) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let rt = runtime()?;
    let tester = tocsin::notify::TargetTester::new(std::sync::Arc::new(config));
    let outs = match (&contact, &target) {
        (Some(c), _) => rt.block_on(tester.send_contact(c, resolved)),
        (None, Some(t)) => vec![rt.block_on(tester.send(t, resolved))],
        (None, None) => anyhow::bail!("{}", say::NAME_A_TARGET.get(lang)),
    };
    if json {
        if contact.is_some() {
            println!("{}", serde_json::to_string_pretty(&outs)?);
        } else if let Some(out) = outs.first() {
            println!("{}", serde_json::to_string_pretty(out)?);
        }
    } else {
        for out in &outs {
            let kind = if out.kind.is_empty() {
                String::new()
            } else {
                format!(" ({})", out.kind)
            };
            let result = say::result(out.result).map_or(out.result, |t| t.get(lang));
            println!("{}{kind}: {result}", out.target);
            println!("{}", out.answer);
            if let Some(s) = out.retry_after_seconds {
                println!("{}", say::RETRY_AFTER.fill(lang, &[("s", &s)]));
            }
        }
    }
    Ok(if outs.iter().all(|o| o.is_sent()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `tocsin contact verify|confirm|list`: against the database in `data_dir`
/// (the running daemon rereads verifications within seconds).
fn contact(
    config_path: Option<PathBuf>,
    action: ContactCommand,
    lang: Language,
) -> anyhow::Result<ExitCode> {
    use tocsin::notify::verify::{ContactVerifier, VerifiedSet, Via};
    let config = match load_config(config_path.as_deref(), lang) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let rt = runtime()?;
    rt.block_on(async move {
        let store = tocsin::store::Store::open_database(&config.database())?;
        let v = ContactVerifier::new(std::sync::Arc::new(config), store, VerifiedSet::default());
        let result = match action {
            ContactCommand::Verify { name, email, phone } => {
                let via = match (email, phone) {
                    (true, _) => Some(Via::Email),
                    (_, true) => Some(Via::Phone),
                    _ => None,
                };
                v.start(&name, via).await.map(|sent| {
                    for s in sent {
                        let line = say::CODE_SENT.fill(
                            lang,
                            &[
                                ("kind", &s.kind),
                                ("contact", &s.contact),
                                ("address", &s.address),
                                ("answer", &s.answer),
                            ],
                        );
                        println!("{line}");
                    }
                    println!("{}", say::CONFIRM_WITH.fill(lang, &[("name", &name)]));
                })
            }
            ContactCommand::Confirm { name, code } => v.confirm(&name, &code).await.map(|a| {
                let line = say::VERIFIED_ADDRESS.fill(
                    lang,
                    &[
                        ("kind", &a.kind),
                        ("contact", &a.contact),
                        ("address", &a.address),
                    ],
                );
                println!("{line}");
            }),
            ContactCommand::List { json } => v.status().await.map(|list| {
                if json {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&list).unwrap_or_default()
                    );
                    return;
                }
                let mark = |v: bool| {
                    if v {
                        say::VERIFIED.get(lang)
                    } else {
                        say::UNVERIFIED.get(lang)
                    }
                };
                for c in list {
                    let email = c.email.as_ref().map_or("-".to_string(), |e| {
                        format!("{e} ({})", mark(c.email_verified))
                    });
                    let phone = c.phone.as_ref().map_or("-".to_string(), |p| {
                        format!("{p} ({})", mark(c.phone_verified))
                    });
                    let row = say::CONTACT_ROW.fill(
                        lang,
                        &[("name", &c.name), ("email", &email), ("phone", &phone)],
                    );
                    println!("{row}");
                }
            }),
        };
        match result {
            Ok(()) => Ok(ExitCode::SUCCESS),
            Err(e) => {
                eprintln!("{}", say::ERROR.fill(lang, &[("what", &e)]));
                Ok(ExitCode::FAILURE)
            }
        }
    })
}
