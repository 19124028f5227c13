//! Time windows of a route: `mute` (no notifications inside) and `active`
//! (notifications only inside), each a list of `{weekdays, times, timezone}`.
//! `times` are `hh:mm-hh:mm` ranges within a day (`24:00` ends it; a range
//! that wraps past midnight is written as two). Inverted or empty ranges and
//! ranges that overlap on the same day are errors at their place. A window
//! without its own `timezone` is read in the config's top-level `timezone`
//! (as an Alertmanager `time_intervals` entry without `location` would be in
//! its server's zone).

use std::path::Path;

use chrono::{DateTime, Datelike, Timelike, Utc, Weekday};
use serde::Deserialize;

use crate::yaml::{SourceError, Spanned};

/// One window as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWindow {
    /// `mon`, `tue`, ... or ranges `mon-fri`; default every day.
    #[serde(default)]
    pub weekdays: Vec<Spanned<String>>,
    /// `09:00-18:00`; default the whole day.
    #[serde(default)]
    pub times: Vec<Spanned<String>>,
    /// IANA name; default the config's top-level `timezone`.
    #[serde(default)]
    pub timezone: Option<Spanned<String>>,
}

/// One checked window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeWindow {
    /// Bit n: weekday n days from Monday.
    days: u8,
    /// Minute ranges [start, end) within the day.
    minutes: Vec<(u32, u32)>,
    tz: chrono_tz::Tz,
}

impl TimeWindow {
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        let local = at.with_timezone(&self.tz);
        let day = local.weekday().num_days_from_monday();
        let minute = local.hour() * 60 + local.minute();
        self.days & (1 << day) != 0
            && self
                .minutes
                .iter()
                .any(|(s, e)| *s <= minute && minute < *e)
    }
}

impl TimeWindow {
    /// The window as one of Alertmanager's `time_intervals` entries (a
    /// YAML flow mapping): weekdays, times and location.
    pub fn to_alertmanager(&self) -> String {
        const NAMES: [&str; 7] = [
            "monday",
            "tuesday",
            "wednesday",
            "thursday",
            "friday",
            "saturday",
            "sunday",
        ];
        let mut parts = Vec::new();
        if self.days != 0x7f {
            let days: Vec<&str> = (0..7)
                .filter(|d| self.days & (1 << d) != 0)
                .map(|d| NAMES[d as usize])
                .collect();
            parts.push(format!("weekdays: [{}]", days.join(", ")));
        }
        let full_day = self.minutes.len() == 1 && self.minutes[0] == (0, 24 * 60);
        if !self.minutes.is_empty() && !full_day {
            let hm = |m: u32| format!("'{:02}:{:02}'", m / 60, m % 60);
            let times: Vec<String> = self
                .minutes
                .iter()
                .map(|(s, e)| format!("{{start_time: {}, end_time: {}}}", hm(*s), hm(*e)))
                .collect();
            parts.push(format!("times: [{}]", times.join(", ")));
        }
        parts.push(format!("location: '{}'", self.tz.name()));
        format!("{{{}}}", parts.join(", "))
    }
}

/// Whether a route with these windows notifies at `at`.
pub fn is_open(mute: &[TimeWindow], active: &[TimeWindow], at: DateTime<Utc>) -> bool {
    !mute.iter().any(|w| w.contains(at))
        && (active.is_empty() || active.iter().any(|w| w.contains(at)))
}

fn weekday(text: &str) -> Option<u32> {
    let d: Weekday = text.trim().parse().ok()?;
    Some(d.num_days_from_monday())
}

fn minute(text: &str) -> Option<u32> {
    let (h, m) = text.trim().split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
}

/// The checked windows of `what` (`routing.mute`, `routing.scopes[0].active`);
/// a window without `timezone` is in `default_tz`.
pub(super) fn resolve_windows(
    file: &Path,
    what: &str,
    raw: &[RawWindow],
    default_tz: chrono_tz::Tz,
    errors: &mut Vec<SourceError>,
) -> Vec<TimeWindow> {
    let mut out: Vec<TimeWindow> = Vec::new();
    for (i, w) in raw.iter().enumerate() {
        let what = format!("{what}[{i}]");
        let mut days = 0u8;
        for d in &w.weekdays {
            let range = match d.value.split_once('-') {
                Some((a, b)) => weekday(a).zip(weekday(b)),
                None => weekday(&d.value).map(|x| (x, x)),
            };
            match range {
                Some((a, b)) if a <= b => (a..=b).for_each(|x| days |= 1 << x),
                Some(_) => errors.push(SourceError::at(
                    file,
                    d,
                    format!(
                        "{what}.weekdays: {:?} is inverted (write mon-fri, not fri-mon)",
                        d.value
                    ),
                )),
                None => errors.push(SourceError::at(
                    file,
                    d,
                    format!(
                        "{what}.weekdays: expected mon..sun or a range like mon-fri, got {:?}",
                        d.value
                    ),
                )),
            }
        }
        if w.weekdays.is_empty() {
            days = 0x7f;
        }
        let mut minutes: Vec<(u32, u32, &Spanned<String>)> = Vec::new();
        for t in &w.times {
            match t.value.split_once('-').and_then(|(a, b)| minute(a).zip(minute(b))) {
                Some((s, e)) if s < e => minutes.push((s, e, t)),
                Some(_) => errors.push(SourceError::at(
                    file,
                    t,
                    format!("{what}.times: {:?} is inverted or empty (a window past midnight is two ranges: 22:00-24:00 and 00:00-07:00)", t.value),
                )),
                None => errors.push(SourceError::at(
                    file,
                    t,
                    format!("{what}.times: expected hh:mm-hh:mm, got {:?}", t.value),
                )),
            }
        }
        minutes.sort_by_key(|(s, _, _)| *s);
        for pair in minutes.windows(2) {
            if pair[1].0 < pair[0].1 {
                errors.push(SourceError::at(
                    file,
                    pair[1].2,
                    format!(
                        "{what}.times: {:?} overlaps {:?}",
                        pair[1].2.value, pair[0].2.value
                    ),
                ));
            }
        }
        let mut minutes: Vec<(u32, u32)> = minutes.iter().map(|(s, e, _)| (*s, *e)).collect();
        if w.times.is_empty() {
            minutes = vec![(0, 24 * 60)];
        }
        let tz = match &w.timezone {
            None => default_tz,
            Some(z) => z.value.parse().unwrap_or_else(|_| {
                errors.push(SourceError::at(
                    file,
                    z,
                    format!(
                        "{what}.timezone: {:?} is not an IANA time zone (e.g. Asia/Shanghai)",
                        z.value
                    ),
                ));
                default_tz
            }),
        };
        let window = TimeWindow { days, minutes, tz };
        // Two windows of one list overlapping on a shared day (same zone).
        if let Some(j) = out.iter().position(|o| {
            o.tz == window.tz
                && o.days & window.days != 0
                && o.minutes
                    .iter()
                    .any(|(s, e)| window.minutes.iter().any(|(s2, e2)| s2 < e && s < e2))
        }) {
            let at = w.times.first().or(w.weekdays.first());
            let message = format!("{what} overlaps the window before it ({j})");
            match at {
                Some(at) => errors.push(SourceError::at(file, at, message)),
                None => errors.push(SourceError::file(file, message)),
            }
        }
        out.push(window);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn load(routing: &str) -> Result<Config, String> {
        Config::from_text(Path::new("t.yaml"), routing).map_err(|e| e.to_string())
    }

    #[test]
    fn windows_open_and_close_in_their_zone() {
        let c = load(
            "routing:\n  mute: [{weekdays: [sat-sun], timezone: Asia/Shanghai}]\n  active: [{weekdays: [mon-fri], times: ['09:00-12:00', '13:00-18:00'], timezone: Asia/Shanghai}]\n",
        )
        .unwrap();
        let t = &c.routes.default_timing;
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        // 2026-11-23 is a Monday. 10:00 Shanghai = 02:00 UTC.
        assert!(is_open(&t.mute, &t.active, at("2026-11-23T02:00:00Z")));
        // 12:30 Shanghai: lunch, outside the active ranges.
        assert!(!is_open(&t.mute, &t.active, at("2026-11-23T04:30:00Z")));
        // 18:00 Shanghai: the end is exclusive.
        assert!(!is_open(&t.mute, &t.active, at("2026-11-23T10:00:00Z")));
        // Saturday 10:00 Shanghai: muted.
        assert!(!is_open(&t.mute, &t.active, at("2026-11-28T02:00:00Z")));
    }

    #[test]
    fn a_night_window_crosses_midnight_in_shanghai() {
        // Quiet nights in Shanghai: Friday 22:00 until Saturday 07:00, as the
        // two ranges a window past midnight is written as. Shanghai's
        // midnight is 16:00 UTC of the day before, so the UTC date and the
        // local date differ for half of the window.
        let c = load(
            "routing:\n  mute:\n    - {weekdays: [fri], times: ['22:00-24:00'], timezone: Asia/Shanghai}\n    - {weekdays: [sat], times: ['00:00-07:00'], timezone: Asia/Shanghai}\n",
        )
        .unwrap();
        let t = &c.routes.default_timing;
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        // 2026-11-27 is a Friday.
        for (when, open) in [
            ("2026-11-27T21:59:00+08:00", true),  // before the night
            ("2026-11-27T22:00:00+08:00", false), // Friday 14:00 UTC
            ("2026-11-27T23:59:00+08:00", false),
            ("2026-11-28T00:00:00+08:00", false), // Friday 16:00 UTC, Saturday local
            ("2026-11-28T06:59:00+08:00", false), // still Friday in UTC
            ("2026-11-28T07:00:00+08:00", true),  // the end is exclusive
            ("2026-11-28T22:30:00+08:00", true),  // Saturday night is not Friday's
            ("2026-11-27T00:30:00+08:00", true),  // Friday's early hours are not Saturday's
        ] {
            assert_eq!(is_open(&t.mute, &t.active, at(when)), open, "{when}");
        }
    }

    #[test]
    fn a_window_without_a_zone_is_in_the_top_level_timezone() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        // 09:00-18:00 in Shanghai is 01:00-10:00 UTC: 03:00 UTC is inside,
        // 12:00 UTC (20:00 Shanghai) outside.
        let c = load("timezone: Asia/Shanghai\nrouting:\n  active: [{times: ['09:00-18:00']}]\n")
            .unwrap();
        let t = &c.routes.default_timing;
        assert!(is_open(&t.mute, &t.active, at("2026-11-23T03:00:00Z")));
        assert!(!is_open(&t.mute, &t.active, at("2026-11-23T12:00:00Z")));
        assert!(
            t.active[0]
                .to_alertmanager()
                .contains("location: 'Asia/Shanghai'")
        );
        // A window's own zone still wins.
        let c = load(
            "timezone: Asia/Shanghai\nrouting:\n  active: [{times: ['09:00-18:00'], timezone: UTC}]\n",
        )
        .unwrap();
        let t = &c.routes.default_timing;
        assert!(!is_open(&t.mute, &t.active, at("2026-11-23T03:00:00Z")));
        assert!(is_open(&t.mute, &t.active, at("2026-11-23T12:00:00Z")));
    }

    #[test]
    fn bad_windows_name_the_place() {
        let cases = [
            (
                "routing:\n  mute: [{times: ['22:00-07:00']}]\n",
                "t.yaml:2:19: routing.mute[0].times: \"22:00-07:00\" is inverted",
            ),
            (
                "routing:\n  mute: [{times: ['09:00-12:00', '11:00-13:00']}]\n",
                "t.yaml:2:34: routing.mute[0].times: \"11:00-13:00\" overlaps",
            ),
            (
                "routing:\n  active: [{weekdays: [fri-mon]}]\n",
                "t.yaml:2:24: routing.active[0].weekdays: \"fri-mon\" is inverted",
            ),
            (
                "routing:\n  active: [{times: ['9-17']}]\n",
                "t.yaml:2:21: routing.active[0].times: expected hh:mm-hh:mm",
            ),
            (
                "routing:\n  mute: [{timezone: Mars/Olympus}]\n",
                "t.yaml:2:21: routing.mute[0].timezone: \"Mars/Olympus\"",
            ),
            (
                "routing:\n  mute: [{weekdays: [mon], times: ['01:00-03:00']}, {weekdays: [mon-tue], times: ['02:00-04:00']}]\n",
                "t.yaml:2:",
            ),
            (
                "routing:\n  scopes:\n    - {match: {a: b}, notify: off, mute: [{times: ['25:00-26:00']}]}\n",
                "t.yaml:3:52: routing.scopes[0].mute[0].times",
            ),
        ];
        for (text, want) in cases {
            let got = load(text).err().unwrap_or_default();
            assert!(
                got.lines().any(|l| l.starts_with(want)),
                "\n got: {got}\nwant: {want}"
            );
        }
    }
}
