//! Prometheus's `/api/v1/query` answer, read straight into [`Sample`]s.
//!
//! One pass of serde over the body. A series' `metric` object is kept as
//! its raw text first: when the query's previous answer named the same
//! text, the series shares that label set ([`SeriesMemo`]) and its labels
//! are not read again; only new series have their labels read into a
//! [`Labels`] map. A value string is read in place. (The generic client
//! built a `HashMap` and then a `String` per label and value of every
//! series, every evaluation: most of what 10 000 unchanged alerts cost.)

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::SourceError;
use crate::alert::{Labels, Sample};

/// Why a query that returned a range vector is refused.
pub const RANGE_VECTOR_ERROR: &str =
    "the query returned a range vector; alert queries must return an instant vector or scalar";

#[derive(Deserialize)]
struct Answer<'a> {
    #[serde(borrow)]
    status: &'a str,
    #[serde(default)]
    data: Option<Data<'a>>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
enum Data<'a> {
    #[serde(borrow)]
    Vector(Vec<Series<'a>>),
    #[serde(borrow)]
    Scalar(Point<'a>),
    Matrix(serde::de::IgnoredAny),
    String(serde::de::IgnoredAny),
}

#[derive(Deserialize)]
struct Series<'a> {
    #[serde(borrow, default)]
    metric: Option<&'a RawValue>,
    /// Absent on a native histogram sample (which has `histogram` instead).
    #[serde(borrow, default)]
    value: Option<Point<'a>>,
}

/// `[timestamp, "value"]`.
#[derive(Deserialize)]
struct Point<'a>(
    serde::de::IgnoredAny,
    #[serde(borrow)] std::borrow::Cow<'a, str>,
);

/// The label sets the last answer to one query named, by the raw text of
/// their `metric` objects.
#[derive(Default)]
pub struct SeriesMemo {
    hasher: RandomState,
    labels: HashMap<u64, (Box<str>, Arc<Labels>)>,
}

impl SeriesMemo {
    /// The label set a `metric` object's text stands for: the remembered
    /// one (which moves to `next` as it is), or read now and remembered in
    /// `next` for the following answer.
    fn labels(&mut self, raw: &str, next: &mut SeriesMemo) -> Result<Arc<Labels>, SourceError> {
        let key = self.hasher.hash_one(raw);
        let entry = match self.labels.remove(&key) {
            Some(entry) if &*entry.0 == raw => entry,
            _ => {
                let labels = serde_json::from_str::<Labels>(raw).map_err(|e| {
                    SourceError::Unavailable(format!("could not read a series' labels: {e}"))
                })?;
                (raw.into(), Arc::new(labels))
            }
        };
        let labels = Arc::clone(&entry.1);
        next.labels.insert(key, entry);
        Ok(labels)
    }

    /// How many series it remembers.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.labels.len()
    }
}

/// The samples of one answer body, or why there are none.
#[cfg(test)]
fn parse(body: &[u8]) -> Result<Vec<Sample>, SourceError> {
    parse_with(body, &mut SeriesMemo::default())
}

/// [`parse`], sharing the label sets `memo` remembers from the query's last
/// answer; afterwards `memo` remembers this answer's (after a failed answer,
/// what is left of the last one).
pub fn parse_with(body: &[u8], memo: &mut SeriesMemo) -> Result<Vec<Sample>, SourceError> {
    let answer: Answer = serde_json::from_slice(body).map_err(|e| {
        SourceError::Unavailable(format!("could not read Prometheus's answer: {e}"))
    })?;
    if answer.status != "success" {
        let kind = answer.error_type.unwrap_or_else(|| "error".into());
        let message = format!("{kind}: {}", answer.error.unwrap_or_default());
        // Prometheus's own verdict on the query; the rest is its trouble.
        return Err(match kind.as_str() {
            "bad_data" | "not_found" | "execution" => SourceError::Rejected(message),
            _ => SourceError::Unavailable(message),
        });
    }
    match answer.data {
        Some(Data::Vector(series)) => {
            let mut next = SeriesMemo {
                hasher: memo.hasher.clone(),
                labels: HashMap::with_capacity(series.len()),
            };
            let samples = series
            .into_iter()
            .map(|s| {
                let Some(Point(_, value)) = s.value else {
                    return Err(SourceError::Rejected(
                        "the query returned native histogram samples; alert queries need float samples"
                            .into(),
                    ));
                };
                let labels = match s.metric {
                    Some(raw) => memo.labels(raw.get(), &mut next)?,
                    None => Arc::new(Labels::new()),
                };
                Ok(Sample {
                    labels,
                    value: float(&value)?,
                })
            })
            .collect::<Result<Vec<Sample>, SourceError>>()?;
            *memo = next;
            Ok(samples)
        }
        Some(Data::Scalar(Point(_, value))) => Ok(vec![Sample {
            labels: Labels::new().into(),
            value: float(&value)?,
        }]),
        Some(Data::Matrix(_)) => Err(SourceError::Rejected(RANGE_VECTOR_ERROR.into())),
        Some(Data::String(_)) => Err(SourceError::Rejected(
            "the query returned a string; alert queries must return an instant vector or scalar"
                .into(),
        )),
        None => Err(SourceError::Unavailable(
            "Prometheus's answer has no data".into(),
        )),
    }
}

/// A value as Prometheus writes it: Go's `strconv.FormatFloat(v, 'f', -1, 64)`
/// with `NaN`, `+Inf` and `-Inf`.
fn float(text: &str) -> Result<f64, SourceError> {
    match text {
        "NaN" => Ok(f64::NAN),
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        _ => text.parse().map_err(|_| {
            SourceError::Unavailable(format!("Prometheus sent {text:?} as a sample value"))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_vector_with_escaped_labels_and_special_values() {
        let body = br#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"__name__":"up","job":"a \"b\"\u003c"},"value":[1700000000.5,"1e+06"]},
            {"metric":{},"value":[1700000000.5,"NaN"]},
            {"metric":{"x":"y"},"value":[1700000000.5,"+Inf"]},
            {"metric":{"x":"z"},"value":[1700000000.5,"-Inf"]}]}}"#;
        let s = parse(body).unwrap();
        assert_eq!(s.len(), 4);
        assert_eq!(s[0].labels["job"], "a \"b\"<");
        assert_eq!(s[0].labels["__name__"], "up");
        assert_eq!(s[0].value, 1e6);
        assert!(s[1].value.is_nan() && s[1].labels.is_empty());
        assert_eq!(s[2].value, f64::INFINITY);
        assert_eq!(s[3].value, f64::NEG_INFINITY);
    }

    #[test]
    fn a_series_that_comes_back_shares_its_label_set() {
        let answer = |value: &str| {
            format!(
                r#"{{"status":"success","data":{{"resultType":"vector","result":[
                {{"metric":{{"job":"a"}},"value":[1,"{value}"]}},
                {{"metric":{{"job":"b\u0022"}},"value":[1,"2"]}}]}}}}"#
            )
        };
        let mut memo = SeriesMemo::default();
        let first = parse_with(answer("1").as_bytes(), &mut memo).unwrap();
        let again = parse_with(answer("5").as_bytes(), &mut memo).unwrap();
        assert_eq!(again[0].value, 5.0);
        assert!(Arc::ptr_eq(&first[0].labels, &again[0].labels));
        assert!(Arc::ptr_eq(&first[1].labels, &again[1].labels));
        assert_eq!(again[1].labels["job"], "b\"");
        // A series that is gone is forgotten; a new one is read.
        let other = br#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"job":"c"},"value":[1,"1"]}]}}"#;
        let third = parse_with(other, &mut memo).unwrap();
        assert_eq!(third[0].labels["job"], "c");
        assert_eq!(memo.len(), 1);
        // An answer that cannot be read leaves the memo as it was.
        assert!(parse_with(b"{", &mut memo).is_err());
        assert_eq!(memo.len(), 1);
    }

    #[test]
    fn reads_a_scalar_and_refuses_ranges_strings_and_histograms() {
        let scalar = br#"{"status":"success","data":{"resultType":"scalar","result":[1.5,"42"]}}"#;
        assert_eq!(parse(scalar).unwrap()[0].value, 42.0);
        let matrix = br#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"1"]]}]}}"#;
        assert!(matches!(parse(matrix), Err(SourceError::Rejected(m)) if m == RANGE_VECTOR_ERROR));
        let string = br#"{"status":"success","data":{"resultType":"string","result":[1,"a"]}}"#;
        assert!(matches!(parse(string), Err(SourceError::Rejected(_))));
        let histogram = br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"histogram":[1,{"count":"2"}]}]}}"#;
        assert!(matches!(parse(histogram), Err(SourceError::Rejected(_))));
    }

    #[test]
    fn prometheus_errors_keep_their_kind() {
        let bad = br#"{"status":"error","errorType":"bad_data","error":"parse error at char 3"}"#;
        match parse(bad) {
            Err(SourceError::Rejected(m)) => assert_eq!(m, "bad_data: parse error at char 3"),
            other => panic!("{other:?}"),
        }
        let busy = br#"{"status":"error","errorType":"timeout","error":"query timed out"}"#;
        assert!(matches!(parse(busy), Err(SourceError::Unavailable(_))));
        assert!(matches!(parse(b"<html>"), Err(SourceError::Unavailable(_))));
        let odd = br#"{"status":"success","data":{"resultType":"scalar","result":[1,"many"]}}"#;
        assert!(matches!(parse(odd), Err(SourceError::Unavailable(_))));
    }
}
