//! A silence: label matchers, a start and an end, an author and a comment.

use chrono::{DateTime, Utc};

use super::labels::Labels;
use super::matcher::Matcher;

/// A checked silence.
#[derive(Debug, Clone, PartialEq)]
pub struct Silence {
    pub id: String,
    pub matchers: Vec<Matcher>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub created_by: String,
    pub comment: String,
    /// When it was created or last changed.
    pub updated_at: DateTime<Utc>,
}

impl Silence {
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.starts_at <= now && now < self.ends_at
    }

    pub fn matches(&self, labels: &Labels) -> bool {
        self.matchers.iter().all(|m| m.matches(labels))
    }

    /// Whether `new` may replace this silence in place, keeping its id
    /// (Alertmanager's rule): the same matchers, and for an active silence
    /// the same start and an end not in the past; a pending one may move
    /// its start, but not into the past; an expired one never changes.
    pub fn can_update_to(&self, new: &Silence, now: DateTime<Utc>) -> bool {
        if self.matchers != new.matchers {
            return false;
        }
        match self.state(now) {
            "active" => {
                self.starts_at.timestamp() == new.starts_at.timestamp() && new.ends_at >= now
            }
            "pending" => new.starts_at >= now,
            _ => false,
        }
    }

    pub fn state(&self, now: DateTime<Utc>) -> &'static str {
        if now >= self.ends_at {
            "expired"
        } else if now < self.starts_at {
            "pending"
        } else {
            "active"
        }
    }
}
