//! The check endpoints: list, read, create, update, delete, pause and
//! resume, and a check's pings, ping bodies and flips.

use super::*;

pub(super) async fn list(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<Vec<(String, String)>>,
) -> ApiResult {
    let access = authorize(&s, &headers, None, false, &Method::GET, "list checks")?;
    let tags: BTreeSet<&str> = q
        .iter()
        .filter(|(k, _)| k == "tag")
        .map(|(_, v)| v.as_str())
        .collect();
    let slug = q.iter().find(|(k, _)| k == "slug").map(|(_, v)| v.as_str());
    let (now, base) = (Utc::now(), base_url(&s, &headers));
    let checks: Vec<Value> = s
        .heartbeats
        .checks()
        .iter()
        .filter(|c| {
            let have: BTreeSet<&str> = c.def.extra().tags.split_whitespace().collect();
            tags.is_subset(&have) && slug.is_none_or(|sl| c.def.slug.as_deref() == Some(sl))
        })
        .map(|c| check_json(c, now, &base, access))
        .collect();
    Ok(ok(StatusCode::OK, json!({ "checks": checks })))
}

pub(super) async fn get_one(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(key): Path<String>,
) -> ApiResult {
    let access = authorize(&s, &headers, None, false, &Method::GET, "get check")?;
    // By uuid or unique_key, whatever the key; a read-only answer has no
    // uuid or URLs in it.
    let c = find(&s, &key)?;
    Ok(ok(
        StatusCode::OK,
        check_json(&c, Utc::now(), &base_url(&s, &headers), access),
    ))
}

pub(super) async fn create(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let body = writable_body(&s, &headers, &body, "create check")?;
    let spec = Spec::parse(&body)?;
    let channels = spec.channels(&s.targets.targets())?;
    if let Some(existing) = spec.lookup(&s) {
        if existing.def.origin == Origin::Config {
            return Err(ApiError::Declared(existing.def.name.to_string()));
        }
        let def = spec.apply(&s, Some(&existing.def), channels)?;
        let (_, c) = save(&s, def).await?;
        tracing::info!(check = %c.def.name, "check updated through the Healthchecks API (unique)");
        return Ok(written(&s, &headers, StatusCode::OK, &c));
    }
    let def = spec.apply(&s, None, channels)?;
    let (ack, c) = save(&s, def).await?;
    tracing::info!(check = %c.def.name, labels = ?c.def.labels, "check created through the Healthchecks API");
    let status = if ack == Ack::Created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(written(&s, &headers, status, &c))
}

pub(super) async fn update(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(key): Path<String>,
    body: Bytes,
) -> ApiResult {
    let body = writable_body(&s, &headers, &body, "update check")?;
    let c = find_by_uuid(&s, &key)?;
    if c.def.origin == Origin::Config {
        return Err(ApiError::Declared(c.def.name.to_string()));
    }
    let spec = Spec::parse(&body)?;
    let channels = spec.channels(&s.targets.targets())?;
    let def = spec.apply(&s, Some(&c.def), channels)?;
    let (_, c) = save(&s, def).await?;
    tracing::info!(check = %c.def.name, labels = ?c.def.labels, "check updated through the Healthchecks API");
    Ok(written(&s, &headers, StatusCode::OK, &c))
}

/// The JSON body of a change, once the key may write (`what` names the
/// change in the refusal).
pub(super) fn writable_body(
    s: &AppState,
    headers: &HeaderMap,
    body: &Bytes,
    what: &str,
) -> Result<Map<String, Value>, ApiError> {
    let body = parse_body(body)?;
    authorize(s, headers, Some(&body), true, &Method::POST, what)?;
    Ok(body)
}

/// Stores `def` durably and returns the check as it now is.
pub(super) async fn save(s: &AppState, def: CheckDef) -> Result<(Ack, Check), ApiError> {
    let uuid = def.uuid;
    let ack = s.heartbeats.put(def).await?;
    let c = s.heartbeats.by_uuid(&uuid).ok_or(ApiError::NotFound)?;
    Ok((ack, c))
}

/// The answer to a change: the check with its read-write view.
pub(super) fn written(
    s: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    c: &Check,
) -> Response {
    ok(
        status,
        check_json(c, Utc::now(), &base_url(s, headers), Access::ReadWrite),
    )
}

pub(super) async fn delete(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(key): Path<String>,
) -> ApiResult {
    authorize(&s, &headers, None, true, &Method::DELETE, "delete check")?;
    let c = find_by_uuid(&s, &key)?;
    if c.def.origin == Origin::Config {
        return Err(ApiError::Declared(c.def.name.to_string()));
    }
    s.heartbeats.delete(c.def.id).await?;
    tracing::info!(check = %c.def.name, "check deleted through the Healthchecks API");
    Ok(written(&s, &headers, StatusCode::OK, &c))
}

/// Changes and pings need the uuid (not the read-only `unique_key`).
pub(super) fn find_by_uuid(s: &AppState, key: &str) -> Result<Check, ApiError> {
    crate::heartbeat::pattern::parse_canonical_uuid(key)
        .and_then(|u| s.heartbeats.by_uuid(&u))
        .ok_or(ApiError::NotFound)
}

/// `POST .../pause` (`PAUSE`) and `.../resume`: the check as it is afterwards.
pub(super) async fn set_paused<const PAUSE: bool>(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(key): Path<String>,
    body: Bytes,
) -> ApiResult {
    let body = parse_body(&body).unwrap_or_default();
    let what = if PAUSE { "pause check" } else { "resume check" };
    authorize(&s, &headers, Some(&body), true, &Method::POST, what)?;
    let c = find_by_uuid(&s, &key)?;
    if PAUSE {
        s.heartbeats.pause_id(c.def.id).await?;
        tracing::info!(check = %c.def.name, "check paused through the Healthchecks API");
    } else {
        s.heartbeats.resume_id(c.def.id).await?;
        tracing::info!(check = %c.def.name, "check resumed through the Healthchecks API");
    }
    answer_check(&s, &headers, &c.def.uuid)
}

pub(super) fn answer_check(s: &AppState, headers: &HeaderMap, uuid: &Uuid) -> ApiResult {
    let c = s.heartbeats.by_uuid(uuid).ok_or(ApiError::NotFound)?;
    Ok(ok(
        StatusCode::OK,
        check_json(&c, Utc::now(), &base_url(s, headers), Access::ReadWrite),
    ))
}

pub(super) async fn pings(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(key): Path<String>,
) -> ApiResult {
    authorize(&s, &headers, None, true, &Method::GET, "list pings")?;
    let c = find_by_uuid(&s, &key)?;
    let base = base_url(&s, &headers);
    let limit = usize::try_from(s.heartbeats.keep_pings()).unwrap_or(usize::MAX);
    let pings = s
        .heartbeats
        .pings_of(c.def.id, limit)
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    let pings: Vec<Value> = pings
        .iter()
        .map(|p| {
            let mut o = json!({
                "type": p.kind,
                "date": p.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, false),
                "n": p.n,
                "scheme": "http",
                "remote_addr": p.remote_addr.clone().unwrap_or_default(),
                "method": p.method,
                "ua": p.user_agent.clone().unwrap_or_default(),
                "rid": p.rid,
            });
            if let Value::Object(m) = &mut o {
                if let Some(d) = p.duration_seconds {
                    m.insert("duration".into(), json!(d));
                }
                if let Some(code) = p.exit_code {
                    m.insert("exitstatus".into(), json!(code));
                }
                if p.body_size > 0 {
                    m.insert(
                        "body_url".into(),
                        json!(format!(
                            "{base}/api/v3/checks/{}/pings/{}/body",
                            c.def.uuid, p.n
                        )),
                    );
                }
            }
            o
        })
        .collect();
    Ok(ok(StatusCode::OK, json!({ "pings": pings })))
}

pub(super) async fn ping_body(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((key, n)): Path<(String, String)>,
) -> ApiResult {
    authorize(&s, &headers, None, true, &Method::GET, "ping body")?;
    let c = find_by_uuid(&s, &key)?;
    let n: u64 = n.parse().map_err(|_| ApiError::NotFound)?;
    let ping = s
        .heartbeats
        .ping_of(c.def.id, n)
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?
        .ok_or(ApiError::NotFound)?;
    if ping.body.is_empty() {
        return Err(ApiError::NotFound);
    }
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        ping.body,
    )
        .into_response())
}

pub(super) async fn flips(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(key): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    authorize(&s, &headers, None, false, &Method::GET, "list flips")?;
    let c = find(&s, &key)?;
    let int = |name: &str| -> Result<Option<i64>, ApiError> {
        match q.get(name) {
            None => Ok(None),
            Some(v) => v
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .map(Some)
                .ok_or_else(|| {
                    ApiError::BadQuery(format!("{name} must be a whole number of 0 or more"))
                }),
        }
    };
    let (seconds, start, end) = (int("seconds")?, int("start")?, int("end")?);
    if seconds.is_some_and(|n| n > MAX_SECONDS) {
        return Err(ApiError::BadQuery("seconds is too large".into()));
    }
    let now = Utc::now();
    let list = s
        .heartbeats
        .flips(&c, now)
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    let flips: Vec<Value> = list
        .into_iter()
        .filter(|f| start.is_none_or(|t| f.at.timestamp() >= t))
        .filter(|f| end.is_none_or(|t| f.at.timestamp() < t))
        .filter(|f| seconds.is_none_or(|n| (now - f.at).num_seconds() <= n))
        .map(|f| json!({"timestamp": iso(f.at), "up": u8::from(f.up)}))
        .collect();
    // A list, as Healthchecks documents it and its clients read it.
    Ok(ok(StatusCode::OK, Value::Array(flips)))
}
