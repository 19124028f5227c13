//! Loading the `heartbeats:` checks of rule files: each entry is checked
//! with `file:line:col` errors, then the checks of all files meet the name
//! templates of all files ([`resolve`]): a name declared twice is an error,
//! and each check inherits unset settings from the most specific template
//! its name matches.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::{Checker, parse_schedule};
use crate::heartbeat::pattern::{NamePattern, valid_slug};
use crate::rules::heartbeat::{
    CHECK_LABEL, CheckDoc, CheckSettings, CheckSpec, CheckTemplate, HeartbeatDecls,
};
use crate::yaml::{SourceError, Spanned};

/// A checked entry of one file, before checks meet templates of other files.
pub(in crate::rules) enum Declared {
    Check {
        spec: CheckSpec,
        /// Where its name and slug are written (for duplicates).
        name_at: Spanned<String>,
        slug_at: Option<Spanned<String>>,
    },
    Template(CheckTemplate),
}

/// Validates one `heartbeats:` entry, adding its problems to the checker's.
pub(in crate::rules) fn check_doc(cx: &mut Checker, doc: CheckDoc) -> Option<Declared> {
    let before = cx.errors.len();
    let name = doc.name.value.trim().to_string();
    if name.is_empty() {
        cx.error(&doc.name, "expected a non-empty check name");
    }
    let pattern = match NamePattern::parse(&name) {
        Ok(p) => p,
        Err(e) => {
            cx.error(&doc.name, e);
            None
        }
    };
    let every = doc.every.as_ref().map(|e| ("every", e));
    let schedule = match parse_schedule(cx.file, every, doc.cron.as_ref(), doc.timezone.as_ref()) {
        Ok(s) => s,
        Err(e) => {
            cx.errors.push(e);
            None
        }
    };
    let labels = cx.static_labels(&doc.labels);
    if let Some(v) = doc.labels.get(CHECK_LABEL) {
        cx.error(
            v,
            format!("label {CHECK_LABEL:?} is set from the check's name; remove it"),
        );
    }
    let settings = CheckSettings {
        schedule,
        grace: doc.grace.as_ref().map(|g| g.value.0),
        labels,
    };
    let declared = match pattern {
        Some(pattern) => {
            if let Some(slug) = &doc.slug {
                cx.error(
                    slug,
                    "a name template has no slug of its own: checks created from it use their names",
                );
            }
            Declared::Template(CheckTemplate { pattern, settings })
        }
        None => {
            let slug = match &doc.slug {
                Some(s) if !valid_slug(&s.value) => {
                    cx.error(
                        s,
                        format!("expected a slug of a-z, 0-9, - and _, got {:?}", s.value),
                    );
                    None
                }
                Some(s) => Some(s.value.clone()),
                None => valid_slug(&name).then(|| name.clone()),
            };
            Declared::Check {
                spec: CheckSpec {
                    name,
                    slug,
                    settings,
                },
                name_at: doc.name,
                slug_at: doc.slug,
            }
        }
    };
    (cx.errors.len() == before).then_some(declared)
}

/// Joins the declarations of all files: names and slugs are unique, and
/// declared checks inherit unset settings (and labels) from the most
/// specific template matching their name.
pub(in crate::rules) fn resolve(
    declared: Vec<(PathBuf, Declared)>,
    errors: &mut Vec<SourceError>,
) -> HeartbeatDecls {
    let mut decls = HeartbeatDecls::default();
    let mut pending = Vec::new();
    for (file, d) in declared {
        match d {
            Declared::Template(t) => decls.templates.push(t),
            Declared::Check {
                spec,
                name_at,
                slug_at,
            } => pending.push((file, spec, name_at, slug_at)),
        }
    }
    let mut names: HashMap<String, String> = HashMap::new();
    let mut slugs: HashMap<String, String> = HashMap::new();
    let place = |file: &Path, at: &Spanned<String>| {
        format!(
            "{}:{}:{}",
            file.display(),
            at.referenced.line(),
            at.referenced.column()
        )
    };
    for (file, mut spec, name_at, slug_at) in pending {
        if let Some(first) = names.get(&spec.name) {
            errors.push(SourceError::at(
                &file,
                &name_at,
                format!(
                    "check {:?} is already declared at {first}; check names must be unique",
                    spec.name
                ),
            ));
            continue;
        }
        names.insert(spec.name.clone(), place(&file, &name_at));
        if let Some(slug) = &spec.slug {
            let at = slug_at.as_ref().unwrap_or(&name_at);
            if let Some(first) = slugs.get(slug) {
                errors.push(SourceError::at(
                    &file,
                    at,
                    format!("slug {slug:?} is already used at {first}; slugs must be unique"),
                ));
                continue;
            }
            slugs.insert(slug.clone(), place(&file, at));
        }
        let inherited = decls.settings_for(&spec.name);
        let own = std::mem::take(&mut spec.settings);
        let mut labels = inherited.labels;
        labels.extend(own.labels);
        spec.settings = CheckSettings {
            schedule: own.schedule.or(inherited.schedule),
            grace: own.grace.or(inherited.grace),
            labels,
        };
        decls.checks.push(spec);
    }
    decls
}
