//! `GET /api/v3/channels/` (the configured targets as integrations),
//! `GET /api/v3/badges/` and the badges under `/badge/`.

use super::*;

pub(super) async fn channels(State(s): State<AppState>, headers: HeaderMap) -> ApiResult {
    authorize(&s, &headers, None, true, &Method::GET, "list channels")?;
    let channels: Vec<Value> = s
        .targets
        .targets()
        .iter()
        .map(|(name, kind)| json!({"id": channel_id(name), "name": name, "kind": channel_kind(kind)}))
        .collect();
    Ok(ok(StatusCode::OK, json!({ "channels": channels })))
}

pub(super) async fn badges(State(s): State<AppState>, headers: HeaderMap) -> ApiResult {
    authorize(&s, &headers, None, false, &Method::GET, "list badges")?;
    let base = base_url(&s, &headers);
    let mut tags: BTreeSet<String> = BTreeSet::from(["*".to_string()]);
    for c in s.heartbeats.checks() {
        tags.extend(c.def.extra().tags.split_whitespace().map(str::to_string));
    }
    let badges: Map<String, Value> = tags
        .into_iter()
        .map(|tag| {
            let t = encode_path(&tag);
            let url = |states: u8, fmt: &str| format!("{base}/badge/{states}/{t}.{fmt}");
            let v = json!({
                "svg": url(2, "svg"), "svg3": url(3, "svg"),
                "json": url(2, "json"), "json3": url(3, "json"),
                "shields": url(2, "shields"), "shields3": url(3, "shields"),
            });
            (tag, v)
        })
        .collect();
    Ok(ok(StatusCode::OK, json!({ "badges": badges })))
}

/// Percent-encodes what a path segment cannot hold as is.
pub(super) fn encode_path(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'~' | b'*' | b'=' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `/badge/{2|3}/{tag}.{svg|json|shields}`: the status of the checks with
/// that tag (`*`: all), two-state (up, down) or three-state (and late).
pub(super) async fn tag_badge(
    State(s): State<AppState>,
    Path((states, file)): Path<(String, String)>,
) -> Response {
    let with_late = match states.as_str() {
        "2" => false,
        "3" => true,
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    let Some((tag, fmt)) = file.rsplit_once('.') else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let now = Utc::now();
    let (mut total, mut grace, mut down) = (0, 0, 0);
    for c in s.heartbeats.checks() {
        if tag != "*" && !c.def.extra().tags.split_whitespace().any(|t| t == tag) {
            continue;
        }
        total += 1;
        match hc_status(&c, now) {
            "down" => down += 1,
            "grace" => grace += 1,
            _ => {}
        }
    }
    let status = if down > 0 {
        "down"
    } else if grace > 0 && with_late {
        "late"
    } else {
        "up"
    };
    let label = if tag == "*" { "tocsin" } else { tag };
    badge(label, fmt, status, (total, grace, down))
}

/// `/badge/check/{unique_key}.{svg|json|shields}`: one check's badge
/// (three-state).
pub(super) async fn check_badge(State(s): State<AppState>, Path(file): Path<String>) -> Response {
    let Some((key, fmt)) = file.rsplit_once('.') else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let Some(c) = s
        .heartbeats
        .checks()
        .into_iter()
        .find(|c| unique_key(&c.def.uuid) == key)
    else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let (status, counts) = match hc_status(&c, Utc::now()) {
        "down" => ("down", (1, 0, 1)),
        "grace" => ("late", (1, 1, 0)),
        _ => ("up", (1, 0, 0)),
    };
    badge(&c.def.name, fmt, status, counts)
}

pub(super) fn badge(
    label: &str,
    fmt: &str,
    status: &str,
    (total, grace, down): (u32, u32, u32),
) -> Response {
    let color = match status {
        "up" => ("success", "#4c1"),
        "late" => ("important", "#fe7d37"),
        _ => ("critical", "#e05d44"),
    };
    let mut r = match fmt {
        "json" => Json(json!({"status": status, "total": total, "grace": grace, "down": down}))
            .into_response(),
        "shields" => {
            Json(json!({"schemaVersion": 1, "label": label, "message": status, "color": color.0}))
                .into_response()
        }
        "svg" => {
            let esc = |t: &str| {
                t.replace('&', "&amp;")
                    .replace('<', "&lt;")
                    .replace('>', "&gt;")
                    .replace('"', "&quot;")
            };
            let (lw, sw) = (label.chars().count() * 7 + 10, status.len() * 7 + 10);
            let svg = format!(
                r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="20" role="img" aria-label="{l}: {s}"><rect width="{lw}" height="20" fill="#555"/><rect x="{lw}" width="{sw}" height="20" fill="{c}"/><g fill="#fff" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11"><text x="5" y="14">{l}</text><text x="{sx}" y="14">{s}</text></g></svg>"##,
                w = lw + sw,
                l = esc(label),
                s = status,
                c = color.1,
                sx = lw + 5,
            );
            ([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response()
        }
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}
