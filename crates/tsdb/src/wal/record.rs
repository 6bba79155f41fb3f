//! WAL record payloads. Record bytes are a compatibility contract: add record types,
//! never change an existing one's layout.
//!
//! ```text
//! series:    1 | n | (ref, n_labels, (name, value)*)*
//! samples:   2 | n | ref, t, value_bits(8) | (ref delta, t delta, value_bits(8))*
//! exemplars: 3 | n | (ref, t, value_bits(8), n_labels, (name, value)*)*
//! metadata:  4 | n | (metric_family, type(1), help, unit)*
//! ```
//! Integers are varints (deltas and timestamps zigzag), strings length-prefixed.

use model::write::MetricType;

use crate::encoding::{Corrupt, Decoder, put_bytes, put_uvarint, put_varint};

const SERIES: u8 = 1;
const SAMPLES: u8 = 2;
const EXEMPLARS: u8 = 3;
const METADATA: u8 = 4;

/// Bound on any count in a record, so a corrupt count cannot make us allocate wildly.
const MAX_ITEMS: usize = 1 << 24;

/// A sample of the series with id `series_ref`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RefSample {
    pub series_ref: u64,
    pub timestamp_ms: i64,
    pub value: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SeriesRecord<'a> {
    pub series_ref: u64,
    pub labels: Vec<(&'a str, &'a str)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExemplarRecord<'a> {
    pub series_ref: u64,
    pub timestamp_ms: i64,
    pub value: f64,
    pub labels: Vec<(&'a str, &'a str)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MetadataRecord<'a> {
    pub metric_family: &'a str,
    pub metric_type: MetricType,
    pub help: &'a str,
    pub unit: &'a str,
}

/// One decoded record, borrowing its strings from the segment bytes.
#[derive(Debug, Clone, PartialEq)]
pub enum Record<'a> {
    Series(Vec<SeriesRecord<'a>>),
    Samples(Vec<RefSample>),
    Exemplars(Vec<ExemplarRecord<'a>>),
    Metadata(Vec<MetadataRecord<'a>>),
}

fn put_labels<'a>(out: &mut Vec<u8>, labels: impl ExactSizeIterator<Item = (&'a str, &'a str)>) {
    put_uvarint(out, labels.len() as u64);
    for (name, value) in labels {
        put_bytes(out, name.as_bytes());
        put_bytes(out, value.as_bytes());
    }
}

pub fn encode_series<'a, L>(out: &mut Vec<u8>, series: impl ExactSizeIterator<Item = (u64, L)>)
where
    L: ExactSizeIterator<Item = (&'a str, &'a str)>,
{
    out.push(SERIES);
    put_uvarint(out, series.len() as u64);
    for (series_ref, labels) in series {
        put_uvarint(out, series_ref);
        put_labels(out, labels);
    }
}

/// Encodes samples; refs and timestamps are stored as deltas from the previous sample.
pub fn encode_samples(out: &mut Vec<u8>, samples: &[RefSample]) {
    out.push(SAMPLES);
    put_uvarint(out, samples.len() as u64);
    let mut previous: Option<&RefSample> = None;
    for sample in samples {
        match previous {
            None => {
                put_uvarint(out, sample.series_ref);
                put_varint(out, sample.timestamp_ms);
            }
            Some(previous) => {
                put_varint(
                    out,
                    sample.series_ref.wrapping_sub(previous.series_ref) as i64,
                );
                put_varint(out, sample.timestamp_ms.wrapping_sub(previous.timestamp_ms));
            }
        }
        out.extend_from_slice(&sample.value.to_bits().to_le_bytes());
        previous = Some(sample);
    }
}

pub fn encode_exemplars<'a>(out: &mut Vec<u8>, exemplars: &[ExemplarRecord<'a>]) {
    out.push(EXEMPLARS);
    put_uvarint(out, exemplars.len() as u64);
    for exemplar in exemplars {
        put_uvarint(out, exemplar.series_ref);
        put_varint(out, exemplar.timestamp_ms);
        out.extend_from_slice(&exemplar.value.to_bits().to_le_bytes());
        put_labels(out, exemplar.labels.iter().copied());
    }
}

pub fn encode_metadata(out: &mut Vec<u8>, metadata: &[MetadataRecord<'_>]) {
    out.push(METADATA);
    put_uvarint(out, metadata.len() as u64);
    for entry in metadata {
        put_bytes(out, entry.metric_family.as_bytes());
        out.push(entry.metric_type.as_u8());
        put_bytes(out, entry.help.as_bytes());
        put_bytes(out, entry.unit.as_bytes());
    }
}

fn decode_labels<'a>(decoder: &mut Decoder<'a>) -> Result<Vec<(&'a str, &'a str)>, Corrupt> {
    let n_labels = decoder.len(MAX_ITEMS)?;
    let mut labels = Vec::with_capacity(n_labels.min(64));
    for _ in 0..n_labels {
        labels.push((decoder.str()?, decoder.str()?));
    }
    Ok(labels)
}

pub fn decode(payload: &[u8]) -> Result<Record<'_>, Corrupt> {
    let mut decoder = Decoder::new(payload);
    let kind = decoder.u8()?;
    let count = decoder.len(MAX_ITEMS)?;
    let capacity = count.min(4096);
    let record = match kind {
        SERIES => {
            let mut series = Vec::with_capacity(capacity);
            for _ in 0..count {
                let series_ref = decoder.uvarint()?;
                series.push(SeriesRecord {
                    series_ref,
                    labels: decode_labels(&mut decoder)?,
                });
            }
            Record::Series(series)
        }
        SAMPLES => {
            let mut samples = Vec::with_capacity(capacity);
            let (mut series_ref, mut timestamp_ms) = (0u64, 0i64);
            for idx in 0..count {
                if idx == 0 {
                    series_ref = decoder.uvarint()?;
                    timestamp_ms = decoder.varint()?;
                } else {
                    series_ref = series_ref.wrapping_add(decoder.varint()? as u64);
                    timestamp_ms = timestamp_ms.wrapping_add(decoder.varint()?);
                }
                let value = f64::from_bits(decoder.u64_le()?);
                samples.push(RefSample {
                    series_ref,
                    timestamp_ms,
                    value,
                });
            }
            Record::Samples(samples)
        }
        EXEMPLARS => {
            let mut exemplars = Vec::with_capacity(capacity);
            for _ in 0..count {
                exemplars.push(ExemplarRecord {
                    series_ref: decoder.uvarint()?,
                    timestamp_ms: decoder.varint()?,
                    value: f64::from_bits(decoder.u64_le()?),
                    labels: decode_labels(&mut decoder)?,
                });
            }
            Record::Exemplars(exemplars)
        }
        METADATA => {
            let mut metadata = Vec::with_capacity(capacity);
            for _ in 0..count {
                metadata.push(MetadataRecord {
                    metric_family: decoder.str()?,
                    metric_type: MetricType::from_u8(decoder.u8()?),
                    help: decoder.str()?,
                    unit: decoder.str()?,
                });
            }
            Record::Metadata(metadata)
        }
        _ => return Err(Corrupt("unknown record type")),
    };
    if !decoder.is_empty() {
        return Err(Corrupt("trailing bytes after record"));
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_record_type_round_trips() {
        let mut out = Vec::new();
        let labels = [("__name__", "up"), ("job", "api")];
        encode_series(&mut out, [(7u64, labels.iter().copied())].into_iter());
        assert_eq!(
            decode(&out),
            Ok(Record::Series(vec![SeriesRecord {
                series_ref: 7,
                labels: labels.to_vec()
            }]))
        );

        let samples = vec![
            RefSample {
                series_ref: 9,
                timestamp_ms: 1000,
                value: f64::NAN,
            },
            RefSample {
                series_ref: 3,
                timestamp_ms: -5,
                value: -0.0,
            },
            RefSample {
                series_ref: u64::MAX,
                timestamp_ms: i64::MAX,
                value: 1.5,
            },
        ];
        out.clear();
        encode_samples(&mut out, &samples);
        let Ok(Record::Samples(decoded)) = decode(&out) else {
            panic!("samples")
        };
        let bits = |samples: &[RefSample]| -> Vec<(u64, i64, u64)> {
            samples
                .iter()
                .map(|s| (s.series_ref, s.timestamp_ms, s.value.to_bits()))
                .collect()
        };
        assert_eq!(bits(&decoded), bits(&samples));

        let exemplars = vec![ExemplarRecord {
            series_ref: 4,
            timestamp_ms: 77,
            value: 0.25,
            labels: vec![("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736")],
        }];
        out.clear();
        encode_exemplars(&mut out, &exemplars);
        assert_eq!(decode(&out), Ok(Record::Exemplars(exemplars)));

        let metadata = vec![MetadataRecord {
            metric_family: "http_requests_total",
            metric_type: MetricType::Counter,
            help: "Requests.",
            unit: "",
        }];
        out.clear();
        encode_metadata(&mut out, &metadata);
        assert_eq!(decode(&out), Ok(Record::Metadata(metadata)));
    }

    #[test]
    fn damaged_payloads_are_errors() {
        let mut out = Vec::new();
        encode_samples(
            &mut out,
            &[RefSample {
                series_ref: 1,
                timestamp_ms: 1,
                value: 1.0,
            }],
        );
        for cut in 0..out.len() {
            assert!(decode(&out[..cut]).is_err(), "cut at {cut}");
        }
        assert_eq!(decode(&[99, 0]), Err(Corrupt("unknown record type")));
    }
}
