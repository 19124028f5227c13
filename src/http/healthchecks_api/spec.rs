//! The body of a create or update (Healthchecks' `Spec`), checked as
//! strictly as Healthchecks does, and turned into a check definition.

use std::sync::Arc;

use super::*;

/// The fields of a create or update body (Healthchecks' `Spec`), checked
/// strictly: absent is None, `null` or a wrong type is an error.
#[derive(Debug, Default)]
pub(super) struct Spec {
    name: Option<String>,
    slug: Option<String>,
    tags: Option<String>,
    desc: Option<String>,
    timeout: Option<Duration>,
    grace: Option<Duration>,
    /// Healthchecks' 5-field cron expression.
    schedule: Option<String>,
    tz: Option<chrono_tz::Tz>,
    channels: Option<String>,
    unique: Vec<String>,
}

pub(super) fn invalid(why: impl Into<String>) -> ApiError {
    ApiError::Invalid(why.into())
}

impl Spec {
    pub(super) fn parse(body: &Map<String, Value>) -> Result<Spec, ApiError> {
        let text = |k: &str, max: usize| -> Result<Option<String>, ApiError> {
            match body.get(k) {
                None => Ok(None),
                Some(Value::String(s)) if s.chars().count() <= max => Ok(Some(s.clone())),
                Some(Value::String(_)) => Err(invalid(format!("{k} is too long"))),
                Some(_) => Err(invalid(format!("{k} is not a string"))),
            }
        };
        let seconds = |k: &str| -> Result<Option<Duration>, ApiError> {
            match body.get(k) {
                None => Ok(None),
                Some(Value::Number(n)) => match n.as_i64() {
                    Some(v) if v < MIN_SECONDS => Err(invalid(format!("{k} is too small"))),
                    Some(v) if v > MAX_SECONDS => Err(invalid(format!("{k} is too large"))),
                    Some(v) => Ok(Some(Duration::from_secs(v.unsigned_abs()))),
                    None => Err(invalid(format!("{k} is not a number"))),
                },
                Some(_) => Err(invalid(format!("{k} is not a number"))),
            }
        };
        let flag = |k: &str| -> Result<Option<bool>, ApiError> {
            match body.get(k) {
                None => Ok(None),
                Some(Value::Bool(b)) => Ok(Some(*b)),
                Some(_) => Err(invalid(format!("{k} is not a boolean"))),
            }
        };
        let slug = text("slug", 100)?;
        if let Some(s) = &slug
            && !s
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        {
            return Err(invalid("slug does not match pattern"));
        }
        let schedule = text("schedule", 100)?;
        if let Some(expr) = &schedule {
            if expr.split_whitespace().count() != 5 || expr.contains('\n') {
                return Err(invalid(
                    "schedule is not a valid cron expression (tocsin takes 5-field cron, not OnCalendar)",
                ));
            }
            crate::rules::load::parse_cron(&format!("0 {expr}"))
                .map_err(|_| invalid("schedule is not a valid cron or OnCalendar expression"))?;
        }
        let tz = match text("tz", 36)? {
            None => None,
            Some(name) => Some(
                chrono_tz::Tz::from_str(&name)
                    .map_err(|_| invalid("tz is not a valid timezone"))?,
            ),
        };
        // Accepted as Healthchecks does, but tocsin has no use for them:
        // refused only where they would change what a ping does.
        if flag("manual_resume")? == Some(true) {
            return Err(invalid(
                "manual_resume true is not supported by tocsin (a success or failure ping always resumes a paused check)",
            ));
        }
        match text("methods", 30)?.as_deref() {
            None | Some("") => {}
            Some("POST") => {
                return Err(invalid(
                    "methods \"POST\" is not supported by tocsin (every method pings)",
                ));
            }
            Some(_) => return Err(invalid("methods has unexpected value")),
        }
        for k in [
            "subject",
            "subject_fail",
            "start_kw",
            "success_kw",
            "failure_kw",
            "req_start_kw",
            "req_success_kw",
            "req_failure_kw",
        ] {
            text(k, 200)?;
        }
        flag("filter_subject")?;
        flag("filter_body")?;
        let unique = match body.get("unique") {
            None => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v.as_str() {
                    Some(f @ ("name" | "slug" | "tags" | "timeout" | "grace")) => Ok(f.to_string()),
                    _ => Err(invalid("an item in 'unique' has unexpected value")),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(invalid("unique is not an array")),
        };
        Ok(Spec {
            name: text("name", 100)?,
            slug,
            tags: text("tags", 500)?,
            desc: text("desc", 10_000)?,
            timeout: seconds("timeout")?,
            grace: seconds("grace")?,
            schedule,
            tz,
            channels: text("channels", 10_000)?,
            unique,
        })
    }

    /// The existing check `unique` names (None when a field it lists is
    /// absent, as in Healthchecks).
    pub(super) fn lookup(&self, s: &AppState) -> Option<Check> {
        if self.unique.is_empty() {
            return None;
        }
        let mut checks = s.heartbeats.checks();
        checks.sort_by_key(|c| c.def.id);
        for field in &self.unique {
            let keep: Box<dyn Fn(&Check) -> bool> = match field.as_str() {
                "name" => {
                    let v = self.name.clone()?;
                    Box::new(move |c| *c.def.name == *v)
                }
                "slug" => {
                    let v = self.slug.clone()?;
                    Box::new(move |c| c.def.slug.as_deref() == Some(v.as_str()))
                }
                "tags" => {
                    let v = self.tags.clone()?;
                    Box::new(move |c| c.def.extra().tags == v)
                }
                "timeout" => {
                    let v = self.timeout?;
                    Box::new(move |c| c.def.schedule == Schedule::Every(v))
                }
                _ => {
                    let v = self.grace?;
                    Box::new(move |c| c.def.grace == v)
                }
            };
            checks.retain(|c| keep(c));
        }
        checks.into_iter().next()
    }

    /// `channels` as the sorted ids it names (`*`: every target, `""`: none);
    /// None when absent.
    pub(super) fn channels(
        &self,
        targets: &[(String, &'static str)],
    ) -> Result<Option<String>, ApiError> {
        let Some(spec) = &self.channels else {
            return Ok(None);
        };
        let ids: BTreeSet<String> = match spec.as_str() {
            "" => BTreeSet::new(),
            "*" => targets.iter().map(|(n, _)| channel_id(n)).collect(),
            list => list
                .split(',')
                .map(|item| {
                    if item.is_empty() {
                        return Err(ApiError::BadQuery("empty channel identifier".into()));
                    }
                    targets
                        .iter()
                        .find(|(n, _)| n == item || channel_id(n) == item)
                        .map(|(n, _)| channel_id(n))
                        .ok_or_else(|| {
                            ApiError::Invalid(format!("invalid channel identifier: {item}"))
                        })
                })
                .collect::<Result<_, _>>()?,
        };
        Ok(Some(ids.into_iter().collect::<Vec<_>>().join(",")))
    }

    /// The check this spec makes of `old` (None: a new one): omitted fields
    /// stay (a new check takes its template's settings, then the config's
    /// defaults), labels are the template's plus the `key=value` tags.
    pub(super) fn apply(
        &self,
        s: &AppState,
        old: Option<&CheckDef>,
        channels: Option<String>,
    ) -> Result<CheckDef, ApiError> {
        let uuid = old.map(|d| d.uuid).unwrap_or_else(Uuid::new_v4);
        let name = match (&self.name, old) {
            (Some(n), _) if !n.trim().is_empty() => n.trim().to_string(),
            (_, Some(d)) => d.name.to_string(),
            // Healthchecks allows a nameless check; tocsin's names are its
            // identity (rules select by it), so it takes its uuid.
            _ => uuid.to_string(),
        };
        let (tpl_schedule, tpl_grace, mut labels) = s.heartbeats.settings_for(&name);
        let tags = self
            .tags
            .clone()
            .or_else(|| old.map(|d| d.extra().tags.clone()))
            .unwrap_or_default();
        for tag in tags.split_whitespace() {
            if let Some((k, v)) = tag.split_once('=') {
                if !crate::alert::valid_label_name(k) || v.is_empty() {
                    return Err(invalid(format!(
                        "tag {tag:?} looks like a label but is not one (key=value, the key [a-zA-Z_][a-zA-Z0-9_]*)"
                    )));
                }
                labels.insert(k.to_string(), v.to_string());
            }
        }
        let old_tz = old.and_then(|d| d.schedule.cron().map(|(_, tz)| tz));
        let schedule = if let Some(expr) = &self.schedule {
            cron(expr, self.tz.or(old_tz).unwrap_or(chrono_tz::UTC))?
        } else if let Some(t) = self.timeout {
            Schedule::Every(t)
        } else if let (Some(tz), Some(Schedule::Cron { expr, .. })) =
            (self.tz, old.map(|d| &d.schedule))
        {
            Schedule::Cron {
                expr: expr.clone(),
                cron: Box::new(crate::rules::load::parse_cron(expr).map_err(ApiError::Invalid)?),
                timezone: tz,
            }
        } else {
            old.map(|d| d.schedule.clone()).unwrap_or(tpl_schedule)
        };
        let grace = self
            .grace
            .or_else(|| old.map(|d| d.grace))
            .unwrap_or(tpl_grace);
        let slug = match (&self.slug, old) {
            (Some(sl), _) if sl.is_empty() => None,
            (Some(sl), _) => Some(sl.clone()),
            (None, Some(d)) => d.slug.as_deref().map(str::to_string),
            (None, None) => {
                // Slug URLs work for new checks: their name's slug, if free.
                let sl = slugify(&name);
                let free = !sl.is_empty()
                    && crate::heartbeat::pattern::valid_slug(&sl)
                    && s.heartbeats
                        .checks()
                        .iter()
                        .all(|c| c.def.slug.as_deref() != Some(sl.as_str()));
                free.then_some(sl)
            }
        };
        let name: Arc<str> = name.into();
        let slug = slug.map(|sl| {
            if *sl == *name {
                Arc::clone(&name)
            } else {
                Arc::from(sl)
            }
        });
        Ok(CheckDef {
            id: old.map(|d| d.id).unwrap_or(0),
            name,
            uuid,
            slug,
            origin: Origin::Api,
            schedule,
            grace,
            labels,
            created_at: old
                .map(|d| d.created_at)
                .unwrap_or_else(|| chrono::SubsecRound::trunc_subsecs(Utc::now(), 3)),
            extra: CheckExtra {
                tags,
                desc: self
                    .desc
                    .clone()
                    .or_else(|| old.map(|d| d.extra().desc.clone()))
                    .unwrap_or_default(),
                channels: channels
                    .or_else(|| old.map(|d| d.extra().channels.clone()))
                    .unwrap_or_default(),
            }
            .into_field(),
        })
    }
}

/// Healthchecks' 5-field cron (minutes first) as tocsin's schedule.
pub(super) fn cron(expr: &str, tz: chrono_tz::Tz) -> Result<Schedule, ApiError> {
    let six = format!(
        "0 {}",
        expr.split_whitespace().collect::<Vec<_>>().join(" ")
    );
    let parsed = crate::rules::load::parse_cron(&six)
        .map_err(|_| invalid("schedule is not a valid cron or OnCalendar expression"))?;
    Ok(Schedule::Cron {
        expr: six.into(),
        cron: Box::new(parsed),
        timezone: tz,
    })
}

/// Django's slugify: lower case, runs of spaces and hyphens to one hyphen,
/// other punctuation dropped, no leading or trailing `-` or `_`.
pub(super) fn slugify(name: &str) -> String {
    let mut out = String::new();
    let mut gap = false;
    for ch in name.to_lowercase().chars() {
        if ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_' {
            if gap && !out.is_empty() {
                out.push('-');
            }
            gap = false;
            out.push(ch);
        } else if ch.is_whitespace() || ch == '-' {
            gap = true;
        }
    }
    out.trim_matches(|c| c == '-' || c == '_').to_string()
}
