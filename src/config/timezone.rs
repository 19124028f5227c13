//! `timezone:` (top level and per target): the IANA zone times are written
//! in (messages, the status page). Default: the host's zone, from `TZ`, else
//! the `/etc/localtime` link, else `/etc/timezone`, else UTC.

use std::path::Path;
use std::str::FromStr;

use chrono_tz::Tz;

use crate::yaml::{SourceError, Spanned};

/// The zone a `timezone:` names; a name chrono-tz does not know is an error
/// at its position.
pub fn parse(file: &Path, key: &str, at: &Spanned<String>) -> Result<Tz, SourceError> {
    Tz::from_str(at.value.trim()).map_err(|_| {
        SourceError::at(
            file,
            at,
            format!(
                "{key}: {:?} is not an IANA time zone (e.g. Asia/Shanghai, Europe/Berlin, UTC)",
                at.value
            ),
        )
    })
}

/// The host's zone (see the module's documentation).
pub fn host() -> Tz {
    let tz = std::env::var("TZ").ok();
    let localtime = std::fs::read_link("/etc/localtime")
        .ok()
        .map(|p| p.to_string_lossy().into_owned());
    let etc_timezone = std::fs::read_to_string("/etc/timezone").ok();
    host_from(tz.as_deref(), localtime.as_deref(), etc_timezone.as_deref())
}

/// [`host`] from what it read: the `TZ` variable (`Asia/Shanghai`,
/// `:Asia/Shanghai` or a path into a zoneinfo folder), where `/etc/localtime`
/// links to, and the text of `/etc/timezone`. A `TZ` that names no IANA zone
/// (a POSIX rule like `CST-8`) falls through to the files.
fn host_from(tz: Option<&str>, localtime: Option<&str>, etc_timezone: Option<&str>) -> Tz {
    let zone_of_path = |p: &str| {
        p.rsplit_once("zoneinfo/")
            .and_then(|(_, name)| Tz::from_str(name).ok())
    };
    let from_env = tz.map(|t| t.trim().trim_start_matches(':')).and_then(|t| {
        if t.starts_with('/') {
            zone_of_path(t)
        } else {
            Tz::from_str(t).ok()
        }
    });
    from_env
        .or_else(|| localtime.and_then(zone_of_path))
        .or_else(|| etc_timezone.and_then(|t| Tz::from_str(t.trim()).ok()))
        .unwrap_or(Tz::UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_zone_comes_from_tz_then_the_files() {
        let sh = Tz::Asia__Shanghai;
        assert_eq!(host_from(Some("Asia/Shanghai"), None, None), sh);
        assert_eq!(host_from(Some(":Asia/Shanghai"), None, None), sh);
        assert_eq!(
            host_from(Some("/usr/share/zoneinfo/Asia/Shanghai"), None, None),
            sh
        );
        assert_eq!(
            host_from(
                Some("CST-8"),
                Some("../usr/share/zoneinfo/Europe/Berlin"),
                None
            ),
            Tz::Europe__Berlin,
            "a POSIX rule falls through to /etc/localtime"
        );
        assert_eq!(
            host_from(None, Some("/etc/zoneinfo-nope"), Some("Asia/Tokyo\n")),
            Tz::Asia__Tokyo
        );
        assert_eq!(host_from(Some(""), None, None), Tz::UTC);
    }
}
