//! What this replica knows of the lease, for `/metrics`, `/leader` and the
//! standby's answers: whether it leads, since when, the lease's epoch, and
//! how renewals went. One per process, set up by [`super::run`].

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use chrono::Utc;

use crate::store::lease::Lease;

#[derive(Debug)]
pub struct ReplicaStatus {
    /// This replica's name in the lease (`host:pid:random`).
    pub holder: String,
    /// Where the other replicas reach this one (`advertise_url`).
    pub address: String,
    pub lease_seconds: f64,
    /// Whether the last look at the database (a claim or a renewal) got an
    /// answer.
    database_ok: AtomicBool,
    leading: AtomicBool,
    /// Unix ms since this replica leads (0: it does not).
    leading_since: AtomicI64,
    epoch: AtomicI64,
    renewals: AtomicU64,
    failures: AtomicU64,
    /// Pings this replica queued while no leader answered (`inbox.rs`).
    pings_queued: AtomicU64,
    /// Queued pings this replica replayed as the leader: recorded, dropped.
    pings_replayed: AtomicU64,
    pings_dropped: AtomicU64,
    /// Who held the lease when this replica last looked.
    leader: Mutex<Option<Lease>>,
}

static STATUS: OnceLock<ReplicaStatus> = OnceLock::new();

/// The status of this process's replica, once it runs as one.
pub fn status() -> Option<&'static ReplicaStatus> {
    STATUS.get()
}

pub(super) fn init(holder: String, address: String, lease_seconds: f64) -> &'static ReplicaStatus {
    STATUS.get_or_init(|| ReplicaStatus {
        holder,
        address,
        lease_seconds,
        database_ok: AtomicBool::new(true),
        leading: AtomicBool::new(false),
        leading_since: AtomicI64::new(0),
        epoch: AtomicI64::new(0),
        renewals: AtomicU64::new(0),
        failures: AtomicU64::new(0),
        pings_queued: AtomicU64::new(0),
        pings_replayed: AtomicU64::new(0),
        pings_dropped: AtomicU64::new(0),
        leader: Mutex::new(None),
    })
}

impl ReplicaStatus {
    pub fn is_leading(&self) -> bool {
        self.leading.load(Ordering::Relaxed)
    }

    pub(super) fn lead(&self, lease: &Lease) {
        self.epoch.store(lease.epoch, Ordering::Relaxed);
        self.leading_since
            .store(Utc::now().timestamp_millis(), Ordering::Relaxed);
        self.leading.store(true, Ordering::Relaxed);
        self.saw(Some(lease.clone()));
    }

    pub(super) fn queued_ping(&self) {
        self.pings_queued.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn replayed(&self, recorded: usize, dropped: usize) {
        self.pings_replayed
            .fetch_add(recorded as u64, Ordering::Relaxed);
        self.pings_dropped
            .fetch_add(dropped as u64, Ordering::Relaxed);
    }

    pub fn database_ok(&self) -> bool {
        self.database_ok.load(Ordering::Relaxed)
    }

    pub(super) fn reached_database(&self, ok: bool) {
        self.database_ok.store(ok, Ordering::Relaxed);
    }

    /// Who held the lease when this replica last looked.
    pub fn leader(&self) -> Option<Lease> {
        self.leader
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(super) fn saw(&self, lease: Option<Lease>) {
        *self.leader.lock().unwrap_or_else(|p| p.into_inner()) = lease;
    }

    pub(super) fn renewed(&self, lease: Lease) {
        self.renewals.fetch_add(1, Ordering::Relaxed);
        self.reached_database(true);
        self.saw(Some(lease));
    }

    pub(super) fn renewal_failed(&self) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        self.reached_database(false);
    }

    /// One line on who leads, for `/leader` and the standby's refusals.
    pub fn describe(&self) -> String {
        match (self.is_leading(), self.leader()) {
            (true, _) => format!(
                "this replica ({}) leads, lease epoch {}",
                self.holder,
                self.epoch.load(Ordering::Relaxed)
            ),
            (false, Some(l)) => format!(
                "this replica ({}) stands by; {} leads (lease epoch {}, held since {}, until {})",
                self.holder,
                l.holder,
                l.epoch,
                l.acquired_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                l.expires_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            ),
            (false, None) => format!(
                "this replica ({}) stands by; no replica has led yet",
                self.holder
            ),
        }
    }

    /// The `replica` part of `/api/v1/status`.
    pub fn json(&self) -> serde_json::Value {
        let time =
            |t: chrono::DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let since = self.leading_since.load(Ordering::Relaxed);
        let leader = self.leader().map(|l| {
            serde_json::json!({
                "name": l.holder,
                "address": l.address,
                "epoch": l.epoch,
                "since": time(l.acquired_at),
                "lease_expires_at": time(l.expires_at),
            })
        });
        serde_json::json!({
            "name": self.holder,
            "address": self.address,
            "role": if self.is_leading() { "leader" } else { "standby" },
            "leading_since": (since > 0).then(|| time(crate::store::from_millis(since))),
            "lease_seconds": self.lease_seconds,
            "lease_epoch": self.epoch.load(Ordering::Relaxed),
            "lease_renewals": self.renewals.load(Ordering::Relaxed),
            "lease_renewal_failures": self.failures.load(Ordering::Relaxed),
            "database_reachable": self.database_ok(),
            "pings_queued": self.pings_queued.load(Ordering::Relaxed),
            "queued_pings_replayed": self.pings_replayed.load(Ordering::Relaxed),
            "queued_pings_dropped": self.pings_dropped.load(Ordering::Relaxed),
            "leader": leader,
        })
    }

    /// The `tocsin_replica_*` families of `/metrics`.
    pub fn metrics_text(&self) -> String {
        let since = self.leading_since.load(Ordering::Relaxed);
        let holder = self
            .holder
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n");
        let mut out = String::new();
        let mut family = |name: &str, kind: &str, help: &str, value: String| {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name}{{replica=\"{holder}\"}} {value}\n"
            ));
        };
        family(
            "tocsin_replica_leader",
            "gauge",
            "1 while this replica holds the leader lease (evaluates and delivers), 0 while it stands by.",
            u8::from(self.is_leading()).to_string(),
        );
        family(
            "tocsin_replica_leader_since_timestamp_seconds",
            "gauge",
            "When this replica took the lease (0: it does not lead).",
            format!("{}", since as f64 / 1000.0),
        );
        family(
            "tocsin_replica_lease_epoch",
            "gauge",
            "The lease's epoch when this replica took it; it grows whenever the leader changes.",
            self.epoch.load(Ordering::Relaxed).to_string(),
        );
        family(
            "tocsin_replica_lease_seconds",
            "gauge",
            "How long a lease lasts unless renewed (leader_lease).",
            format!("{}", self.lease_seconds),
        );
        family(
            "tocsin_replica_lease_renewals_total",
            "counter",
            "Lease renewals that succeeded.",
            self.renewals.load(Ordering::Relaxed).to_string(),
        );
        family(
            "tocsin_replica_lease_renewal_failures_total",
            "counter",
            "Lease renewals that failed (the database did not answer in time, or refused).",
            self.failures.load(Ordering::Relaxed).to_string(),
        );
        family(
            "tocsin_replica_pings_queued_total",
            "counter",
            "Pings this replica took into ping_inbox while no leader answered it.",
            self.pings_queued.load(Ordering::Relaxed).to_string(),
        );
        family(
            "tocsin_replica_queued_pings_replayed_total",
            "counter",
            "Queued pings this replica recorded as the leader.",
            self.pings_replayed.load(Ordering::Relaxed).to_string(),
        );
        family(
            "tocsin_replica_queued_pings_dropped_total",
            "counter",
            "Queued pings this replica dropped as the leader because the ping endpoint refused them (unknown key, bad slug, max_checks).",
            self.pings_dropped.load(Ordering::Relaxed).to_string(),
        );
        out
    }
}
