//! How Healthchecks shows things: a check as JSON, its status, its
//! schedule in five fields, timestamps, stable ids for targets.

use super::*;

/// A stable key for read-only clients that does not reveal the check's uuid
/// (its ping key): 40 hex digits of a SHA-256 of it.
pub(super) fn unique_key(uuid: &Uuid) -> String {
    let digest = Sha256::digest(uuid.as_simple().to_string().as_bytes());
    digest.iter().take(20).map(|b| format!("{b:02x}")).collect()
}

/// A target's integration id: a UUID derived from its name (stable across
/// restarts, as tocsin's targets have no ids of their own).
pub(super) fn channel_id(name: &str) -> String {
    let digest = Sha256::digest(format!("tocsin-target:{name}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

/// Healthchecks' integration kinds for tocsin's target types.
pub(super) fn channel_kind(type_name: &str) -> &str {
    match type_name {
        "pagerduty" => "pd",
        other => other,
    }
}

/// `2020-03-24T14:02:03+00:00` (Healthchecks drops the microseconds).
pub(super) fn iso(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
}

/// Healthchecks' status of a check.
pub(super) fn hc_status(c: &Check, now: DateTime<Utc>) -> &'static str {
    match c.state.status(c.def.grace, now) {
        Status::New => "new",
        Status::Up => "up",
        Status::Late => "grace",
        Status::Down | Status::Failed => "down",
        Status::Running => "started",
        Status::Paused => "paused",
    }
}

/// A 6-field (seconds first) cron expression as Healthchecks' 5 fields
/// when its seconds are 0; otherwise as it is.
pub(super) fn hc_schedule(expr: &str) -> String {
    let fields: Vec<&str> = expr.split_whitespace().collect();
    match fields.split_first() {
        Some((&"0", rest)) if rest.len() == 5 => rest.join(" "),
        _ => expr.to_string(),
    }
}

/// One check as Healthchecks shows it.
pub(super) fn check_json(c: &Check, now: DateTime<Utc>, base: &str, access: Access) -> Value {
    let (d, st) = (&c.def, &c.state);
    let status = hc_status(c, now);
    let next_ping = match status {
        "up" | "grace" | "started" => st.due_at.map(iso),
        _ => None,
    };
    let ukey = unique_key(&d.uuid);
    let mut o = json!({
        "name": &*d.name,
        "slug": d.slug.as_deref().unwrap_or_default(),
        "tags": d.extra().tags,
        "desc": d.extra().desc,
        "grace": d.grace.as_secs(),
        "n_pings": st.pings,
        "status": status,
        "started": st.last_start.is_some(),
        "last_ping": st.last_ping.map(iso),
        "next_ping": next_ping,
        "manual_resume": false,
        "methods": "",
        "subject": "",
        "subject_fail": "",
        "start_kw": "",
        "success_kw": "",
        "failure_kw": "",
        "filter_subject": false,
        "filter_body": false,
        "badge_url": format!("{base}/badge/check/{ukey}.svg"),
    });
    let Value::Object(m) = &mut o else {
        return o;
    };
    if let Some(dur) = st.last_duration {
        m.insert("last_duration".into(), json!(dur.as_secs()));
    }
    match access {
        Access::ReadOnly => {
            m.insert("unique_key".into(), json!(ukey));
        }
        Access::ReadWrite => {
            let api = format!("{base}/api/v3/checks/{}", d.uuid);
            m.insert("uuid".into(), json!(d.uuid.to_string()));
            m.insert("ping_url".into(), json!(format!("{base}/ping/{}", d.uuid)));
            m.insert("update_url".into(), json!(api));
            m.insert("pause_url".into(), json!(format!("{api}/pause")));
            m.insert("resume_url".into(), json!(format!("{api}/resume")));
            m.insert("channels".into(), json!(d.extra().channels));
        }
    }
    match &d.schedule {
        Schedule::Every(p) => {
            m.insert("timeout".into(), json!(p.as_secs()));
        }
        Schedule::Cron { expr, timezone, .. } => {
            m.insert("schedule".into(), json!(hc_schedule(expr)));
            m.insert("tz".into(), json!(timezone.name()));
        }
    }
    o
}
