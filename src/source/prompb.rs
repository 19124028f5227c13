//! The few protobuf messages of Prometheus remote write 1.0
//! (`prometheus.WriteRequest` of `prompb/remote.proto` and `types.proto`),
//! encoded by hand: a handful of fields do not justify prost and a build script.
//!
//! ```text
//! WriteRequest { repeated TimeSeries timeseries = 1; }
//! TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2; }
//! Label        { string name = 1; string value = 2; }
//! Sample       { double value = 1; int64 timestamp = 2; }  // milliseconds
//! ```

use crate::alert::Labels;

/// Prometheus's staleness marker: the value written when a series recorded
/// in the previous evaluation is gone from this one.
pub const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

/// One series and its samples. `labels` is a sorted map, so the labels go
/// out sorted by name, as the spec requires.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeSeries {
    pub labels: Labels,
    /// `(value, timestamp in milliseconds)`, oldest first.
    pub samples: Vec<(f64, i64)>,
}

const LEN: u8 = 2;
const I64: u8 = 1;
const VARINT: u8 = 0;

/// The encoded `WriteRequest` (not yet compressed).
pub fn write_request(series: &[TimeSeries]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut ts = Vec::new();
    for s in series {
        ts.clear();
        time_series(&mut ts, s);
        field(&mut out, 1, &ts);
    }
    out
}

fn time_series(out: &mut Vec<u8>, s: &TimeSeries) {
    let mut buf = Vec::new();
    for (name, value) in &s.labels {
        buf.clear();
        field(&mut buf, 1, name.as_bytes());
        field(&mut buf, 2, value.as_bytes());
        field(out, 1, &buf);
    }
    for (value, timestamp) in &s.samples {
        buf.clear();
        key(&mut buf, 1, I64);
        buf.extend_from_slice(&value.to_bits().to_le_bytes());
        key(&mut buf, 2, VARINT);
        // int64 is varint-encoded as its two's complement (10 bytes if negative).
        varint(&mut buf, *timestamp as u64);
        field(out, 2, &buf);
    }
}

/// A length-delimited field: key, length, bytes.
fn field(out: &mut Vec<u8>, number: u32, bytes: &[u8]) {
    key(out, number, LEN);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn key(out: &mut Vec<u8>, number: u32, wire_type: u8) {
    varint(out, (u64::from(number) << 3) | u64::from(wire_type));
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The body of a remote-write request: the snappy *block* format (not the
/// framed/stream format) of the encoded `WriteRequest`.
pub fn compress(encoded: &[u8]) -> Result<Vec<u8>, snap::Error> {
    snap::raw::Encoder::new().compress_vec(encoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::alert::labels::from_pairs as labels;

    #[test]
    fn varints_as_protobuf_spells_them() {
        let enc = |v: u64| {
            let mut out = Vec::new();
            varint(&mut out, v);
            out
        };
        assert_eq!(enc(0), [0x00]);
        assert_eq!(enc(1), [0x01]);
        assert_eq!(enc(127), [0x7f]);
        assert_eq!(enc(150), [0x96, 0x01]);
        assert_eq!(enc(300), [0xac, 0x02]);
        // int64 -1: ten bytes
        assert_eq!(
            enc(-1i64 as u64),
            [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
        );
    }

    /// Bytes worked out by hand from the protobuf encoding rules; that real
    /// Prometheus decodes them is checked by `tests/recording_rules.rs`.
    #[test]
    fn tiny_write_request_has_the_expected_bytes() {
        let req = write_request(&[TimeSeries {
            labels: labels(&[("b", "2"), ("__name__", "m")]),
            samples: vec![(1.0, 1000)],
        }]);
        #[rustfmt::skip]
        let expected: Vec<u8> = vec![
            0x0a, 0x25,                         // WriteRequest.timeseries, 37 bytes
              0x0a, 0x0d,                       // TimeSeries.labels, 13 bytes
                0x0a, 0x08, b'_', b'_', b'n', b'a', b'm', b'e', b'_', b'_', // name "__name__"
                0x12, 0x01, b'm',               // value "m"
              0x0a, 0x06,                       // TimeSeries.labels, 6 bytes (sorted: after __name__)
                0x0a, 0x01, b'b',
                0x12, 0x01, b'2',
              0x12, 0x0c,                       // TimeSeries.samples, 12 bytes
                0x09, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, // value 1.0 (double, little endian)
                0x10, 0xe8, 0x07,               // timestamp 1000
        ];
        assert_eq!(req, expected);
    }

    #[test]
    fn several_series_are_repeated_fields_and_stale_markers_keep_their_bits() {
        let stale = f64::from_bits(STALE_NAN);
        let req = write_request(&[
            TimeSeries {
                labels: labels(&[("__name__", "a")]),
                samples: vec![(stale, 5)],
            },
            TimeSeries {
                labels: labels(&[("__name__", "b")]),
                samples: vec![(-2.5, 6)],
            },
        ]);
        // each: 0x0a len [0x0a 0x0d label(13)] [0x12 0x0b sample(11)] = 28 bytes
        assert_eq!(req.len(), 2 * (2 + 28));
        assert_eq!(req[0..2], [0x0a, 28]);
        assert_eq!(req[30..32], [0x0a, 28]);
        let sample = &req[19..30];
        assert_eq!(sample[0], 0x09);
        assert_eq!(sample[1..9], STALE_NAN.to_le_bytes());
        assert_eq!(sample[9..], [0x10, 0x05]);
        assert_eq!(req[49], 0x09);
        assert_eq!(req[50..58], (-2.5f64).to_bits().to_le_bytes());
    }

    #[test]
    fn snappy_block_format_round_trips() {
        let req = write_request(&[TimeSeries {
            labels: labels(&[("__name__", "job:up:sum"), ("job", "node")]),
            samples: vec![(3.0, 1_700_000_000_000)],
        }]);
        let body = compress(&req).unwrap();
        // The block format starts with the uncompressed length as a varint
        // (the framed format would start with the stream identifier 0xff).
        assert_eq!(body[0] as usize, req.len());
        let back = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
        assert_eq!(back, req);
    }
}
