//! Who hears about a transition: the alert's route ([`super::route_table`]) gives
//! its recipients; each becomes an outbox row for the target that delivers
//! to it (a configured target, or the mail target of a contact or `owner`).
//! Disabled targets get nothing and resolved messages go only to targets
//! with `send_resolved`. Each row carries its route group, whose timing
//! (`group_wait`, `group_interval`) the outbox turns into a due time, so
//! alerts of one group go out together. Silenced ([`super::silence`]) and inhibited
//! ([`super::inhibit`]) alerts get no rows, except that their resolution
//! still reaches the targets that were told of their firing.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::Notify;

use super::ack_link::AckLinks;
use super::inhibit::{FiringIndex, InhibitRule};
use super::message::{AlertMessage, MessageKind};
use super::route_table::{Recipient, Route, RouteTable};
use super::silence::SilenceCache;
use super::verify::{VerifiedSet, contact_address};
use crate::alert::{AlertEvent, Labels, Severity, Transition};
use crate::config::Config;
use crate::store::outbox::NewNotification;
use crate::store::verifications::VerifiedAddress;

/// The routing of one config: its route table, inhibit rules and targets,
/// with the state that outlives reloads ([`RouterShared`]).
#[derive(Debug, Default)]
pub struct Router {
    table: RouteTable,
    /// Every enabled configured target (the route when none is configured).
    all: Vec<Recipient>,
    /// `send_resolved` of every delivery target.
    send_resolved: HashMap<String, bool>,
    wakers: HashMap<String, Arc<Notify>>,
    inhibit: Vec<InhibitRule>,
    shared: RouterShared,
    /// The contact address each contact target reaches (verification).
    contact_addresses: HashMap<String, VerifiedAddress>,
    /// `require_verified_contacts`: unverified addresses get nothing.
    require_verified: bool,
    /// Acknowledge links for firing messages (with `external_url` only).
    ack_links: Option<AckLinks>,
}

/// What outlives a reload: the silences and the index of firing alerts.
#[derive(Debug, Clone, Default)]
pub struct RouterShared {
    /// Active silences: matching alerts get no outbox rows.
    pub silences: SilenceCache,
    /// Firing alerts, the sources of inhibition.
    pub firing: FiringIndex,
    /// The minute (Unix minutes) time windows were last looked at.
    pub window_minute: Arc<std::sync::atomic::AtomicI64>,
    /// Verified contact addresses.
    pub verified: VerifiedSet,
    /// The daemon's key, which signs acknowledge links.
    pub signing_key: Option<crate::signing::SigningKey>,
}

impl Router {
    /// The router of `config`, honouring the silences and firing alerts of `shared`.
    pub fn new(config: &Config, shared: RouterShared) -> Router {
        let mut wakers = HashMap::new();
        let mut send_resolved = HashMap::new();
        for t in config.delivery_targets().filter(|t| t.enabled) {
            wakers.insert(t.name().to_string(), Arc::new(Notify::new()));
            send_resolved.insert(t.name().to_string(), t.send_resolved);
        }
        let all = config
            .targets
            .iter()
            .filter(|t| t.enabled)
            .map(|t| Recipient::to(t.name()))
            .collect();
        let contact_addresses = config
            .mail_targets
            .iter()
            .filter_map(|t| Some((t.name().to_string(), contact_address(config, t)?)))
            .collect();
        Router {
            table: config.routes.clone(),
            all,
            send_resolved,
            wakers,
            inhibit: config.inhibit.clone(),
            contact_addresses,
            require_verified: config.require_verified_contacts,
            ack_links: config
                .external_url
                .as_ref()
                .zip(shared.signing_key.clone())
                .map(|(url, key)| AckLinks::new(key, &url.value)),
            shared,
        }
    }

    /// Whether the index of firing alerts must be filled when this router
    /// takes over from `before`: it has inhibit rules and `before` had none
    /// (so it did not keep the index).
    pub fn needs_firing_index(&self, before: Option<&Router>) -> bool {
        !self.inhibit.is_empty() && before.is_none_or(|b| b.inhibit.is_empty())
    }

    pub fn shared(&self) -> RouterShared {
        self.shared.clone()
    }

    pub fn silences(&self) -> SilenceCache {
        self.shared.silences.clone()
    }

    /// The id of the active silence of an alert with these labels.
    pub fn silenced_by(&self, labels: &Labels) -> Option<String> {
        self.shared.silences.silenced_by(labels, chrono::Utc::now())
    }

    /// The firing alert that inhibits this one (`alertname (fingerprint)`).
    pub fn inhibited_by(&self, fp: crate::alert::Fingerprint, labels: &Labels) -> Option<String> {
        if self.inhibit.is_empty() {
            return None;
        }
        self.shared.firing.inhibited_by(&self.inhibit, fp, labels)
    }

    /// The labels of the firing alert that inhibits this one.
    pub fn inhibitor_labels(
        &self,
        fp: crate::alert::Fingerprint,
        labels: &Labels,
    ) -> Option<Labels> {
        if self.inhibit.is_empty() {
            return None;
        }
        self.shared
            .firing
            .inhibitor(&self.inhibit, fp, labels)
            .map(|(_, l)| l)
    }

    /// The checked routing.
    pub fn table(&self) -> &RouteTable {
        &self.table
    }

    /// Every enabled configured target: the route when `routing` is unset.
    pub fn all_targets(&self) -> &[Recipient] {
        &self.all
    }

    pub fn inhibit_rules(&self) -> &[InhibitRule] {
        &self.inhibit
    }

    /// Whether an alert with these labels is the target of an inhibit rule.
    pub fn may_be_inhibited(&self, labels: &Labels) -> bool {
        self.inhibit.iter().any(|r| r.is_target(labels))
    }

    /// Whether some route repeats still-firing alerts.
    /// The shortest `repeat_interval` of any route, if any route repeats.
    pub fn shortest_repeat(&self) -> Option<std::time::Duration> {
        std::iter::once(&self.table.default_timing)
            .chain(self.table.scopes.iter().map(|s| &s.timing))
            .filter_map(|t| t.repeat_interval)
            .min()
    }

    pub fn has_repeats(&self) -> bool {
        self.table.default_timing.repeat_interval.is_some()
            || self
                .table
                .scopes
                .iter()
                .any(|s| s.timing.repeat_interval.is_some())
    }

    /// Whether some route has time windows.
    pub fn has_windows(&self) -> bool {
        self.table.default_timing.has_windows()
            || self.table.scopes.iter().any(|s| s.timing.has_windows())
    }

    /// The route of an alert with these labels and severity. Once
    /// verification is in use, recipients at an unverified contact address
    /// are named `NAME (unverified)`.
    pub fn route_of(&self, labels: &Labels, severity: Severity) -> Route {
        let mut route = self.table.route_for(&self.all, labels, severity);
        if self.require_verified || self.shared.verified.in_use() {
            for r in &mut route.recipients {
                if !self.verified(&r.target) {
                    r.name = format!("{} (unverified)", r.name);
                }
            }
        }
        route
    }

    /// Whether `target` may be sent to: not a contact's address, or a verified one.
    fn verified(&self, target: &str) -> bool {
        self.contact_addresses
            .get(target)
            .is_none_or(|a| self.shared.verified.is_verified(a))
    }

    /// Outbox rows for these transitions.
    pub fn notifications_for(&self, events: &[AlertEvent]) -> Vec<NewNotification> {
        // Sources of this very batch inhibit too. Without inhibit rules
        // the index is not kept (a reload that brings some fills it, see
        // [`Router::needs_firing_index`]): a storm's labels are not copied.
        for e in events.iter().filter(|_| !self.inhibit.is_empty()) {
            match e.transition {
                Transition::Fired | Transition::SeverityChanged { .. } => self
                    .shared
                    .firing
                    .set_firing(e.alert.fingerprint, e.alert.output_labels()),
                Transition::Resolved => self.shared.firing.set_not_firing(e.alert.fingerprint),
                Transition::Pending | Transition::Cleared => {}
            }
        }
        let mut out = Vec::new();
        for e in events {
            let Some(msg) = AlertMessage::for_event(e) else {
                continue;
            };
            let held = if let Some(id) = self.silenced_by(&msg.labels) {
                tracing::debug!(fingerprint = %msg.fingerprint, silence = %id, kind = msg.kind.as_str(), "silenced: not notified");
                true
            } else if let Some(by) = self.inhibited_by(msg.fingerprint, &msg.labels) {
                tracing::debug!(fingerprint = %msg.fingerprint, inhibited_by = %by, kind = msg.kind.as_str(), "inhibited: not notified");
                true
            } else {
                false
            };
            if !held {
                out.extend(self.rows_for(&msg, &[]));
            } else if msg.kind == MessageKind::Resolved {
                // Whoever was told it fires is told it is over, even if it
                // has been silenced or inhibited since: nobody is left with
                // an alert that never resolves.
                out.extend(self.rows_for(&msg, &[]).into_iter().map(|mut r| {
                    r.only_if_notified_since = Some(msg.starts_at);
                    r
                }));
            }
        }
        out
    }

    /// Outbox rows of one message for its route's targets, less `skip`.
    pub fn rows_for(&self, msg: &AlertMessage, skip: &[String]) -> Vec<NewNotification> {
        let mut out = Vec::new();
        let route = self.route_of(&msg.labels, msg.severity);
        if !route.timing.is_open(chrono::Utc::now()) {
            tracing::debug!(fingerprint = %msg.fingerprint, scope = %route.scope, "outside the route's time windows: not notified");
            return out;
        }
        let grouping = &route.timing.grouping;
        let group_key = grouping.key(&route.scope, &msg.labels, &msg.fingerprint.to_string());
        let mut msg = msg.clone();
        msg.group_labels = grouping.labels_of(&msg.labels);
        if let Some(links) = &self.ack_links
            && matches!(msg.kind, MessageKind::Firing | MessageKind::Escalated)
        {
            msg.ack_url = links.url(msg.fingerprint, msg.starts_at);
        }
        let Ok(payload) = serde_json::to_string(&msg) else {
            return out;
        };
        for r in route
            .recipients
            .iter()
            .filter(|r| !skip.contains(&r.target))
        {
            let Some(&send_resolved) = self.send_resolved.get(&r.target) else {
                continue;
            };
            if self.require_verified && !self.verified(&r.target) {
                tracing::debug!(fingerprint = %msg.fingerprint, target_name = %r.target, "unverified contact address: not notified");
                continue;
            }
            if msg.kind == MessageKind::Resolved && !(send_resolved && route.timing.send_resolved) {
                continue;
            }
            // The route's contacts this IM target mentions ride along.
            let payload = if r.mentions.is_empty() {
                payload.clone()
            } else {
                msg.mentions = r.mentions.clone();
                let p = serde_json::to_string(&msg).unwrap_or_else(|_| payload.clone());
                msg.mentions = Default::default();
                p
            };
            out.push(NewNotification {
                target: r.target.clone(),
                fingerprint: msg.fingerprint,
                kind: msg.kind.as_str().to_string(),
                payload,
                group_key: group_key.clone(),
                group_wait: grouping.wait,
                group_interval: grouping.interval,
                only_if_notified_since: None,
            });
        }
        out
    }

    /// The route of `alert` at its current severity.
    pub fn route(&self, alert: &crate::alert::AlertInstance) -> Route {
        self.route_of(&alert.output_labels(), alert.severity)
    }

    /// Names of the targets, contacts or `owner` that hear about `alert`.
    pub fn recipients(&self, alert: &crate::alert::AlertInstance) -> Vec<String> {
        self.route(alert).recipient_names()
    }

    /// The wake-up signal of a target's delivery worker.
    pub fn waker(&self, target: &str) -> Option<Arc<Notify>> {
        self.wakers.get(target).cloned()
    }

    /// Tells every delivery worker to look at the outbox.
    pub fn wake_targets(&self) {
        for w in self.wakers.values() {
            w.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::SigningKey;

    fn router(config: &str, key: Option<SigningKey>) -> Router {
        let config = Config::from_text(std::path::Path::new("tocsin.yaml"), config)
            .unwrap_or_else(|e| panic!("{e}"));
        Router::new(
            &config,
            RouterShared {
                signing_key: key,
                ..Default::default()
            },
        )
    }

    fn payload_of(r: &Router, kind: MessageKind) -> serde_json::Value {
        let msg = AlertMessage::sample(kind, "", chrono::Utc::now());
        let rows = r.rows_for(&msg, &[]);
        assert_eq!(rows.len(), 1);
        serde_json::from_str(&rows[0].payload).unwrap()
    }

    #[test]
    fn firing_messages_carry_a_signed_link_with_external_url() {
        let targets = "targets:\n  - {name: hook, type: webhook, url: \"http://127.0.0.1:9/x\"}\n";
        let key = SigningKey::default();
        let with_url = router(
            &format!("external_url: https://tocsin.example/\n{targets}"),
            Some(key.clone()),
        );
        let firing = payload_of(&with_url, MessageKind::Firing);
        let url = firing["ack_url"].as_str().unwrap_or_default();
        assert!(url.starts_with("https://tocsin.example/ack/"), "{firing}");
        let resolved = payload_of(&with_url, MessageKind::Resolved);
        assert!(
            resolved.get("ack_url").is_none(),
            "a resolved notice has nothing to take"
        );
        let without_url = router(targets, Some(key));
        assert!(
            payload_of(&without_url, MessageKind::Firing)
                .get("ack_url")
                .is_none()
        );
    }
}
