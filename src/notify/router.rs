//! Who hears about a transition. Today: `routing.default` (every enabled
//! target, `off`, or a list of targets); disabled targets get nothing and
//! resolved messages go only to targets with `send_resolved`.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::Notify;

use super::message::{AlertMessage, MessageKind};
use crate::config::{Config, RouteDefault};
use crate::eval::AlertEvent;
use crate::store::alerts::NewNotification;

#[derive(Debug)]
struct RouteTarget {
    name: String,
    send_resolved: bool,
    wake: Arc<Notify>,
}

#[derive(Debug, Default)]
pub struct Router {
    targets: Vec<RouteTarget>,
    wakers: HashMap<String, Arc<Notify>>,
}

impl Router {
    pub fn from_config(config: &Config) -> Router {
        let mut wakers = HashMap::new();
        for t in config.targets.iter().filter(|t| t.enabled) {
            wakers.insert(t.name().to_string(), Arc::new(Notify::new()));
        }
        let chosen: Vec<&crate::config::TargetConfig> = match &config.routing.default {
            RouteDefault::Off => Vec::new(),
            RouteDefault::AllTargets => config.targets.iter().filter(|t| t.enabled).collect(),
            RouteDefault::Targets(names) => config
                .targets
                .iter()
                .filter(|t| t.enabled && names.iter().any(|n| n.value == t.name()))
                .collect(),
        };
        let targets = chosen
            .into_iter()
            .filter_map(|t| {
                wakers.get(t.name()).map(|w| RouteTarget {
                    name: t.name().to_string(),
                    send_resolved: t.send_resolved,
                    wake: Arc::clone(w),
                })
            })
            .collect();
        Router { targets, wakers }
    }

    /// Outbox rows for these transitions.
    pub fn notifications_for(&self, events: &[AlertEvent]) -> Vec<NewNotification> {
        let mut out = Vec::new();
        for e in events {
            let Some(msg) = AlertMessage::for_event(e) else {
                continue;
            };
            let Ok(payload) = serde_json::to_string(&msg) else {
                continue;
            };
            for t in &self.targets {
                if msg.kind == MessageKind::Resolved && !t.send_resolved {
                    continue;
                }
                out.push(NewNotification {
                    target: t.name.clone(),
                    fingerprint: msg.fingerprint,
                    kind: msg.kind.as_str().to_string(),
                    payload: payload.clone(),
                });
            }
        }
        out
    }

    /// Names of the targets that hear about `alert`.
    pub fn recipients(&self, alert: &crate::eval::AlertInstance) -> Vec<String> {
        let _ = alert; // every alert takes the default route for now
        self.targets.iter().map(|t| t.name.clone()).collect()
    }

    /// The wake-up signal of a target's delivery worker.
    pub fn waker(&self, target: &str) -> Option<Arc<Notify>> {
        self.wakers.get(target).cloned()
    }

    /// Tells every delivery worker to look at the outbox.
    pub fn wake_targets(&self) {
        for t in &self.targets {
            t.wake.notify_one();
        }
    }
}
