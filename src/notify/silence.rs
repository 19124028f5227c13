//! Silences as the API takes and shows them ([`NewSilence`], [`SilenceView`])
//! and the cache of those in force ([`SilenceCache`]); the silence itself is
//! [`crate::alert::Silence`]. While one is active, the alerts it matches keep their state but notify
//! nobody (the router writes no outbox rows for them). When it ends (its
//! time passes, or it is expired early), alerts it silenced that still fire
//! are notified then — to each target that has not heard of their current
//! firing yet, so nothing already sent is sent again ([`super::resume`]).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::alert::matcher::{Matcher, MatcherJson};
use crate::alert::{Labels, Silence};

/// A silence as the API and the CLI show it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SilenceView {
    pub id: String,
    pub matchers: Vec<MatcherJson>,
    #[serde(rename = "startsAt")]
    pub starts_at: DateTime<Utc>,
    #[serde(rename = "endsAt")]
    pub ends_at: DateTime<Utc>,
    #[serde(rename = "createdBy")]
    pub created_by: String,
    pub comment: String,
    /// active | pending | expired
    pub state: String,
}

impl SilenceView {
    pub fn new(s: &Silence, now: DateTime<Utc>) -> SilenceView {
        SilenceView {
            id: s.id.clone(),
            matchers: s.matchers.iter().map(MatcherJson::from).collect(),
            starts_at: s.starts_at,
            ends_at: s.ends_at,
            created_by: s.created_by.clone(),
            comment: s.comment.clone(),
            state: s.state(now).to_string(),
        }
    }
}

/// A matcher as posted: `"vault=v-prod"` or `{name, value, isRegex, isEqual}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MatcherInput {
    Text(String),
    Json(MatcherJson),
}

/// A new silence as posted (`POST /api/v1/silences`, `tocsin silence add`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSilence {
    pub matchers: Vec<MatcherInput>,
    /// Default: now.
    #[serde(default, rename = "startsAt", skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<DateTime<Utc>>,
    /// Either `endsAt` or `duration` (humantime, e.g. `2h`).
    #[serde(default, rename = "endsAt", skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    #[serde(default, rename = "createdBy")]
    pub created_by: String,
    #[serde(default)]
    pub comment: String,
}

/// Bounds on a new silence (`limits.silence_duration`,
/// `limits.matchers_per_silence`, `limits.annotation_bytes` for texts).
#[derive(Debug, Clone, Copy)]
pub struct SilenceBounds {
    pub max_duration: std::time::Duration,
    pub max_matchers: usize,
    pub max_text: usize,
}

impl Default for SilenceBounds {
    fn default() -> Self {
        let l = crate::config::LimitsConfig::default();
        SilenceBounds::from(&l)
    }
}

impl From<&crate::config::LimitsConfig> for SilenceBounds {
    fn from(l: &crate::config::LimitsConfig) -> Self {
        SilenceBounds {
            max_duration: l.silence_duration.value.0,
            max_matchers: l.matchers_per_silence.value,
            max_text: l.annotation_bytes.value,
        }
    }
}

impl NewSilence {
    /// Checks it with the default bounds.
    pub fn check(&self, now: DateTime<Utc>) -> Result<Silence, String> {
        self.check_within(now, &SilenceBounds::default())
    }

    /// Checks it; the error names the field and what was expected. Every
    /// time and duration is range-checked (never an overflow).
    pub fn check_within(&self, now: DateTime<Utc>, b: &SilenceBounds) -> Result<Silence, String> {
        let max = chrono::Duration::from_std(b.max_duration).unwrap_or(chrono::Duration::MAX);
        let longest = humantime::format_duration(b.max_duration);
        if self.matchers.len() > b.max_matchers {
            return Err(format!(
                "matchers: {} matchers; at most {} (limits.matchers_per_silence)",
                self.matchers.len(),
                b.max_matchers
            ));
        }
        for (field, text) in [("createdBy", &self.created_by), ("comment", &self.comment)] {
            if text.len() > b.max_text {
                return Err(format!(
                    "{field}: {} bytes; at most {} (limits.annotation_bytes)",
                    text.len(),
                    b.max_text
                ));
            }
        }
        if self.matchers.is_empty() {
            return Err(
                "matchers: expected at least one matcher (a silence of everything is not allowed)"
                    .into(),
            );
        }
        let mut matchers = Vec::new();
        for (i, m) in self.matchers.iter().enumerate() {
            let m = match m {
                MatcherInput::Text(t) => Matcher::parse(t),
                MatcherInput::Json(j) => Matcher::try_from(j),
            }
            .map_err(|e| format!("matchers[{i}]: {e}"))?;
            matchers.push(m);
        }
        if matchers.iter().all(|m| m.matches(&Labels::new())) {
            return Err("matchers: at least one matcher must not match the empty string (a silence of everything is not allowed)".into());
        }
        let starts_at = self.starts_at.unwrap_or(now);
        if now
            .checked_add_signed(max)
            .is_some_and(|latest| starts_at > latest)
        {
            return Err(format!(
                "startsAt {starts_at} is more than {longest} ahead (limits.silence_duration)"
            ));
        }
        let too_long = || format!("duration: longer than {longest} (limits.silence_duration)");
        let ends_at = match (&self.ends_at, &self.duration) {
            (Some(_), Some(_)) => return Err("set either endsAt or duration, not both".into()),
            (Some(e), None) => *e,
            (None, Some(text)) => {
                let d = humantime::parse_duration(text.trim())
                    .map_err(|e| format!("duration: expected a duration like 2h ({e})"))?;
                if d > b.max_duration {
                    return Err(too_long());
                }
                let d = chrono::Duration::from_std(d).map_err(|_| too_long())?;
                starts_at.checked_add_signed(d).ok_or_else(too_long)?
            }
            (None, None) => {
                return Err("endsAt: a silence needs an end (endsAt or duration)".into());
            }
        };
        if ends_at <= starts_at {
            return Err(format!(
                "endsAt {ends_at} is not after startsAt {starts_at}"
            ));
        }
        if ends_at <= now {
            return Err(format!("endsAt {ends_at} is in the past"));
        }
        if ends_at - starts_at > max {
            return Err(format!(
                "endsAt: the silence lasts longer than {longest} (limits.silence_duration)"
            ));
        }
        if self.created_by.trim().is_empty() {
            return Err("createdBy: expected the author".into());
        }
        if self.comment.trim().is_empty() {
            return Err("comment: expected why the alerts are silenced".into());
        }
        Ok(Silence {
            id: new_id(now),
            matchers,
            starts_at,
            ends_at,
            created_by: self.created_by.trim().to_string(),
            comment: self.comment.trim().to_string(),
            updated_at: now,
        })
    }
}

/// A random UUID, as Alertmanager gives its silences (ids written by
/// earlier releases, 16 hex digits, stay valid).
fn new_id(_now: DateTime<Utc>) -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The silences in force, shared by the router (which consults it for every
/// transition) and the API (which changes it).
#[derive(Debug, Clone, Default)]
pub struct SilenceCache(Arc<RwLock<CacheInner>>);

#[derive(Debug, Default)]
struct CacheInner {
    silences: HashMap<String, Silence>,
    /// Ended silences whose alerts were looked at again.
    resumed: std::collections::HashSet<String>,
}

impl SilenceCache {
    pub fn new(silences: Vec<Silence>) -> SilenceCache {
        let c = SilenceCache::default();
        for s in silences {
            c.put(s);
        }
        c
    }

    /// Adds or replaces a silence.
    pub fn put(&self, s: Silence) {
        let mut g = self.0.write().unwrap_or_else(|p| p.into_inner());
        g.resumed.remove(&s.id);
        g.silences.insert(s.id.clone(), s);
    }

    /// The id of an active silence matching these labels.
    pub fn silenced_by(&self, labels: &Labels, now: DateTime<Utc>) -> Option<String> {
        let g = self.0.read().unwrap_or_else(|p| p.into_inner());
        g.silences
            .values()
            .find(|s| s.is_active(now) && s.matches(labels))
            .map(|s| s.id.clone())
    }

    /// How many silences are active or pending (not ended at `now`).
    pub fn in_force(&self, now: DateTime<Utc>) -> usize {
        let g = self.0.read().unwrap_or_else(|p| p.into_inner());
        g.silences.values().filter(|s| s.ends_at > now).count()
    }

    /// Silences that have ended and whose alerts were not looked at again
    /// yet; from now on they count as looked at.
    pub fn take_ended(&self, now: DateTime<Utc>) -> Vec<Silence> {
        let mut g = self.0.write().unwrap_or_else(|p| p.into_inner());
        let ended: Vec<Silence> = g
            .silences
            .values()
            .filter(|s| s.ends_at <= now && !g.resumed.contains(&s.id))
            .cloned()
            .collect();
        for s in &ended {
            g.resumed.insert(s.id.clone());
        }
        ended
    }

    /// Forgets silences that ended before `cutoff`.
    pub fn forget_before(&self, cutoff: DateTime<Utc>) {
        let mut g = self.0.write().unwrap_or_else(|p| p.into_inner());
        let old: Vec<String> = g
            .silences
            .values()
            .filter(|s| s.ends_at < cutoff)
            .map(|s| s.id.clone())
            .collect();
        for id in old {
            g.silences.remove(&id);
            g.resumed.remove(&id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(matchers: &[&str]) -> NewSilence {
        NewSilence {
            matchers: matchers
                .iter()
                .map(|m| MatcherInput::Text(m.to_string()))
                .collect(),
            duration: Some("1h".into()),
            created_by: "alice".into(),
            comment: "maintenance".into(),
            ..NewSilence::default()
        }
    }

    #[test]
    fn bad_silences_say_what_is_wrong() {
        let now = Utc::now();
        let mut no_end = new(&["vault=v"]);
        no_end.duration = None;
        let mut inverted = new(&["vault=v"]);
        inverted.duration = None;
        inverted.starts_at = Some(now + chrono::Duration::hours(2));
        inverted.ends_at = Some(now + chrono::Duration::hours(1));
        let mut no_author = new(&["vault=v"]);
        no_author.created_by = " ".into();
        let cases = [
            (no_end, "endsAt: a silence needs an end"),
            (inverted, "endsAt "),
            (new(&[]), "matchers: expected at least one matcher"),
            (
                new(&["vault=v", "x=~("]),
                "matchers[1]: x=~\"(\": not a regex",
            ),
            (no_author, "createdBy: expected the author"),
            (
                new(&["vault=~.*", "client="]),
                "matchers: at least one matcher must not match the empty string",
            ),
        ];
        for (s, want) in cases {
            let got = s.check(now).err().unwrap_or_default();
            assert!(got.starts_with(want), "got {got:?}, want {want:?}");
        }
    }

    #[test]
    fn the_end_is_exclusive() {
        // Expiring a silence sets its end to now: from then on it is over,
        // for matching, for the API's state and for resuming alike.
        let now = Utc::now();
        let s = new(&["vault=v"]).check(now).unwrap();
        let end = s.ends_at;
        let before = end - chrono::Duration::milliseconds(1);
        assert!(s.is_active(before) && s.state(before) == "active");
        assert!(!s.is_active(end), "not active at its end");
        assert_eq!(s.state(end), "expired");
    }

    #[test]
    fn active_only_between_start_and_end() {
        let now = Utc::now();
        let s = new(&["vault=v-prod", "severity=~warning|error"])
            .check(now)
            .unwrap();
        let cache = SilenceCache::new(vec![s.clone()]);
        let l: Labels = [("vault", "v-prod"), ("severity", "error")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(cache.silenced_by(&l, now), Some(s.id.clone()));
        let mut other = l.clone();
        other.insert("vault".into(), "v-test".into());
        assert_eq!(cache.silenced_by(&other, now), None);
        let later = now + chrono::Duration::hours(2);
        assert_eq!(cache.silenced_by(&l, later), None);
        assert!(cache.take_ended(now).is_empty());
        assert_eq!(cache.take_ended(later), vec![s]);
        assert!(cache.take_ended(later).is_empty(), "taken once");
    }
}
