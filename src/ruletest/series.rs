//! Prometheus's expanding notation for test series values:
//! `1 2 3`, `5x3` (5 four times), `1+2x3` (1 3 5 7), `10-1x2` (10 9 8),
//! `_` (no sample), `_x3` (three missing), `stale` (no sample).

/// The values of one series, one slot per step (`None`: absent at that step).
pub fn expand(text: &str) -> Result<Vec<Option<f64>>, String> {
    let mut out = Vec::new();
    for item in text.split_whitespace() {
        expand_item(item, &mut out).map_err(|e| format!("in values {text:?}: {e}"))?;
    }
    Ok(out)
}

fn expand_item(item: &str, out: &mut Vec<Option<f64>>) -> Result<(), String> {
    if item == "_" || item == "stale" {
        out.push(None);
        return Ok(());
    }
    if let Some(n) = item.strip_prefix("_x") {
        let n: usize = n
            .parse()
            .map_err(|_| format!("expected _xN with a count, got {item:?}"))?;
        out.extend(std::iter::repeat_n(None, n));
        return Ok(());
    }
    let (head, times) = match item.rsplit_once('x') {
        Some((h, n)) => {
            let n: usize = n
                .parse()
                .map_err(|_| format!("expected a count after x in {item:?}"))?;
            (h, Some(n))
        }
        None => (item, None),
    };
    // `a+b` / `a-b` (the sign of `a` itself is part of `a`)
    let split = head
        .char_indices()
        .skip(1)
        .find(|(i, c)| (*c == '+' || *c == '-') && !head[..*i].ends_with(['e', 'E']))
        .map(|(i, _)| i);
    let (start, step) = match (split, times) {
        (Some(i), Some(_)) => {
            let a = parse_num(&head[..i], item)?;
            let b = parse_num(&head[i + 1..], item)?;
            (a, if &head[i..=i] == "-" { -b } else { b })
        }
        (Some(_), None) => return Err(format!("expected a count in {item:?} (like 1+2x3)")),
        (None, _) => (parse_num(head, item)?, 0.0),
    };
    match times {
        None => out.push(Some(start)),
        Some(n) => {
            for k in 0..=n {
                out.push(Some(start + step * k as f64));
            }
        }
    }
    Ok(())
}

fn parse_num(text: &str, item: &str) -> Result<f64, String> {
    match text {
        "Inf" | "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        t => t
            .parse()
            .map_err(|_| format!("expected a number in {item:?}, got {t:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vals(t: &str) -> Vec<Option<f64>> {
        expand(t).unwrap()
    }

    #[test]
    fn promtool_examples() {
        assert_eq!(vals("1x4"), vec![Some(1.0); 5]);
        assert_eq!(vals("-2+4x3"), [-2.0, 2.0, 6.0, 10.0].map(Some).to_vec());
        assert_eq!(
            vals("1-2x4"),
            [1.0, -1.0, -3.0, -5.0, -7.0].map(Some).to_vec()
        );
        assert_eq!(
            vals("1 _x3 stale 2"),
            vec![Some(1.0), None, None, None, None, Some(2.0)]
        );
        assert_eq!(vals("1e3+1e3x1"), vec![Some(1000.0), Some(2000.0)]);
        assert_eq!(vals("_"), vec![None]);
    }

    #[test]
    fn bad_items_are_errors() {
        for t in ["1+2", "x3", "1xq", "abc", "_xq"] {
            assert!(expand(t).is_err(), "{t}");
        }
    }
}
