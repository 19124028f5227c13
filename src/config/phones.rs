//! Phone numbers: whether a contact's `phone` looks like one, and its
//! E.164 form (what SMS and call gateways take).

/// Whether `s` looks like a phone number at all (digits, an optional leading
/// `+`, spaces and dashes): what every contact's `phone` must be.
pub fn is_phone_like(s: &str) -> bool {
    let t = s.trim();
    let body = t.strip_prefix('+').unwrap_or(t);
    body.chars().any(|c| c.is_ascii_digit())
        && body
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '(' | ')'))
}

/// Whether a `mention:` entry that names no contact is a phone number as
/// the robots take it: 5 to 20 digits, optionally after `+`, nothing else
/// (no spaces or dashes: a typo of a name is never read as a number).
pub fn is_raw_phone(s: &str) -> bool {
    let body = s.strip_prefix('+').unwrap_or(s);
    (5..=20).contains(&body.len()) && body.chars().all(|c| c.is_ascii_digit())
}

/// What a `mention:` entry that names no contact must be to be a phone
/// number, for error messages.
pub const RAW_PHONE: &str = "a phone number (5 to 20 digits, optionally after +)";

/// The E.164 form of a phone number: `+` and 8 to 15 digits, or a mainland
/// China mobile number (11 digits, `1[3-9]...`) read as `+86...`.
pub fn e164(s: &str) -> Result<String, String> {
    let t = s.trim();
    let digits: String = t
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')'))
        .collect();
    let bad = || {
        format!("{s:?} is not a phone number in E.164 form (like +8613800000000 or +14155550100)")
    };
    if let Some(rest) = digits.strip_prefix('+') {
        let ok = (8..=15).contains(&rest.len())
            && rest.chars().all(|c| c.is_ascii_digit())
            && !rest.starts_with('0');
        if !ok {
            return Err(bad());
        }
        if let Some(cn) = rest.strip_prefix("86")
            && cn.starts_with('1')
            && cn.len() != 11
        {
            return Err(format!(
                "{s:?}: a mainland China mobile number has 11 digits after +86"
            ));
        }
        return Ok(digits);
    }
    let b = digits.as_bytes();
    if digits.len() == 11
        && digits.chars().all(|c| c.is_ascii_digit())
        && b[0] == b'1'
        && (b'3'..=b'9').contains(&b[1])
    {
        return Ok(format!("+86{digits}"));
    }
    Err(bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_phones_in_mentions_are_digits_only() {
        for ok in [
            "13700000000",
            "+8613600000000",
            "12345",
            "+12345678901234567890",
        ] {
            assert!(is_raw_phone(ok), "{ok}");
        }
        for bad in [
            "1234",
            "123456789012345678901",
            "137 0000 0000",
            "137-0000",
            "+",
            "zhangsan",
            "1e10",
            "++12345",
        ] {
            assert!(!is_raw_phone(bad), "{bad}");
        }
    }

    #[test]
    fn numbers_are_read_as_e164() {
        assert_eq!(e164("+8613800000000").unwrap(), "+8613800000000");
        assert_eq!(e164("13800000000").unwrap(), "+8613800000000");
        assert_eq!(e164("+1 415-555-0100").unwrap(), "+14155550100");
        assert!(e164("call-me-maybe").is_err());
        assert!(e164("+86138000").is_err());
        assert!(e164("+0123456789").is_err());
        assert!(e164("12345").is_err());
        assert!(is_phone_like("13800000000") && is_phone_like("+86 138-0000-0000"));
        assert!(!is_phone_like("call-me-maybe") && !is_phone_like(""));
    }
}
