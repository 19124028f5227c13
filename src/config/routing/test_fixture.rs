//! The config the routing tests share (contacts, a contact group, webhooks,
//! a DingTalk robot that mentions bob, a target group; one of each disabled
//! where it matters), loaded with a `routing:` of the test's own, and the
//! route lookup the tests assert on.

use std::path::Path;

use crate::alert::{Labels, Severity};
use crate::config::Config;
use crate::notify::route_table::Recipient;

pub(crate) const PEOPLE: &str = "\
mailer: {host: smtp.example.com, from: 'tocsin <t@example.com>'}
owner: [boss@example.com]
contacts:
  - {name: alice, email: alice@example.com}
  - {name: bob, email: bob@example.com, phone: '+8613800000000'}
  - {name: carol, email: carol@example.com, enabled: false}
contact_groups:
  - {name: dba, members: [alice, bob, carol]}
targets:
  - {name: ops-hook, type: webhook, url: 'http://127.0.0.1:1/ops'}
  - {name: dev-hook, type: webhook, url: 'http://127.0.0.1:1/dev'}
  - {name: off-hook, type: webhook, url: 'http://127.0.0.1:1/off', enabled: false}
  - {name: dt, type: dingtalk, webhook: 'https://oapi.dingtalk.com/robot/send?access_token=x', mention: [bob]}
target_groups:
  - {name: ops, targets: [ops-hook, off-hook]}
";

/// The config of [`PEOPLE`] and `routing` (which may add to its last list).
pub(crate) fn table(routing: &str) -> Config {
    let text = format!("{PEOPLE}{routing}");
    Config::from_text(Path::new("tocsin.yaml"), &text)
        .unwrap_or_else(|e| panic!("config does not load: {e}\n{text}"))
}

/// The deciding scope and the delivery targets of an alert with these
/// labels and severity.
pub(crate) fn who(c: &Config, labels: &[(&str, &str)], sev: Severity) -> (String, Vec<String>) {
    let labels: Labels = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let all: Vec<Recipient> = Vec::new();
    let r = c.routes.route_for(&all, &labels, sev);
    (
        r.scope,
        r.recipients.into_iter().map(|r| r.target).collect(),
    )
}

/// Owned strings, to compare with [`who`]'s.
pub(crate) fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// The errors of a config that must not load, one per line.
pub(crate) fn errors(text: &str) -> String {
    match Config::from_text(Path::new("tocsin.yaml"), text) {
        Ok(_) => panic!("loaded:\n{text}"),
        Err(e) => e.to_string(),
    }
}
