//! Zero-copy decoders of remote-write 1.0 `WriteRequest` and 2.0 `Request` bodies
//! (already decompressed) into a [`WriteBatch`] that borrows every string from the body.
//!
//! A malformed message fails the whole request; a series that breaks a label rule is
//! left out of the batch and listed in [`Decoded::invalid`], so its neighbours are still
//! written. The prost-generated types in [`super::proto`] are the reference these
//! decoders are tested against.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

use model::Sample;
use model::labels::METRIC_NAME;
use model::write::{ExemplarWrite, MetricMetadata, MetricType, SeriesWrite, WriteBatch};

use crate::protowire::{Fields, WireError, push_uint32s};
use crate::validate::{LabelLimits, check_labels};

/// Takes the low 64 bits of a 128-bit hash as the hash-map hash.
#[derive(Debug, Default)]
pub struct Low64(u64);

impl Hasher for Low64 {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes.iter().take(8) {
            self.0 = (self.0 << 8) | u64::from(byte);
        }
    }

    fn write_u128(&mut self, value: u128) {
        self.0 = value as u64;
    }
}

/// A random seed for this process, so nobody outside can precompute two label sets
/// whose hashes collide in [`KnownLabelSets`].
fn process_seed() -> u64 {
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *SEED.get_or_init(|| {
        use std::hash::{BuildHasher, Hasher};
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(std::process::id().into());
        hasher.finish()
    })
}

/// Label sets already found valid, by the 128-bit xxh3 of their encoded bytes (which
/// fully determine the decoded labels, so the verdict cannot change). A series seen
/// before skips the label checks.
pub type KnownLabelSets = HashSet<u128, BuildHasherDefault<Low64>>;

/// A series refused before reaching the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidSeries {
    /// `name{label="value"}` as far as it could be read.
    pub series: String,
    pub problem: String,
    pub reason: &'static str,
    pub samples: u64,
}

/// A decoded request.
#[derive(Debug, Default)]
pub struct Decoded<'a> {
    pub batch: WriteBatch<'a>,
    pub invalid: Vec<InvalidSeries>,
    /// Native histogram samples (not stored yet), and the first series that sent one.
    pub histograms: u64,
    pub histogram_series: Option<String>,
    /// Float samples and exemplars in the request, valid or not.
    pub samples_received: u64,
    pub exemplars_received: u64,
    /// Samples added to mark a counter's start (2.0 start timestamps); not client samples.
    pub synthetic_samples: u64,
    /// Hashes of label sets found valid by this request, for [`KnownLabelSets`].
    pub newly_valid: Vec<u128>,
}

/// `name{a="b"}` from raw label pairs.
pub fn describe(labels: &[(&str, &str)]) -> String {
    let mut out = String::new();
    if let Some((_, name)) = labels.iter().find(|(label, _)| *label == METRIC_NAME) {
        out.push_str(name);
    }
    out.push('{');
    let others: Vec<String> = labels
        .iter()
        .filter(|(label, _)| *label != METRIC_NAME)
        .map(|(label, value)| format!("{label}={value:?}"))
        .collect();
    out.push_str(&others.join(", "));
    out.push('}');
    out
}

fn metric_type(number: u64) -> MetricType {
    MetricType::from_u8(u8::try_from(number).unwrap_or(0))
}

fn utf8(raw: &[u8]) -> Result<&str, WireError> {
    std::str::from_utf8(raw).map_err(|_| WireError("string is not valid UTF-8"))
}

fn label_pair(bytes: &[u8]) -> Result<(&str, &str), WireError> {
    let (name, value) = raw_label_pair(bytes)?;
    Ok((utf8(name)?, utf8(value)?))
}

fn raw_label_pair(bytes: &[u8]) -> Result<(&[u8], &[u8]), WireError> {
    let (mut name, mut value): (&[u8], &[u8]) = (&[], &[]);
    for field in Fields::new(bytes) {
        match field? {
            (1, v) => name = v.bytes()?,
            (2, v) => value = v.bytes()?,
            _ => {}
        }
    }
    Ok((name, value))
}

/// `inner` as a `&str`: a slice of `region` (valid ASCII, so any byte offset is a
/// character boundary) when it lies inside it, else checked on its own.
fn sub_str<'a>(region: &'a str, inner: &'a [u8]) -> Result<&'a str, WireError> {
    if inner.is_empty() {
        return Ok("");
    }
    (inner.as_ptr() as usize)
        .checked_sub(region.as_ptr() as usize)
        .and_then(|start| region.get(start..start.checked_add(inner.len())?))
        .map_or_else(|| utf8(inner), Ok)
}

fn sample(bytes: &[u8]) -> Result<(Sample, i64), WireError> {
    let (mut value, mut timestamp, mut start) = (0u64, 0i64, 0i64);
    for field in Fields::new(bytes) {
        match field? {
            (1, v) => value = v.fixed64()?,
            (2, v) => timestamp = v.varint()? as i64,
            (3, v) => start = v.varint()? as i64,
            _ => {}
        }
    }
    Ok((Sample::new(timestamp, f64::from_bits(value)), start))
}

/// Adds the series whose labels are `batch.labels[labels_start..]`, samples
/// `batch.samples[samples_start..]` and exemplars `batch.exemplars[exemplars_start..]`:
/// drops empty-valued labels, checks the rest, and either keeps the series or rolls the
/// batch back and records why.
fn finish_series(
    decoded: &mut Decoded<'_>,
    starts: (usize, usize, usize, usize),
    limits: &LabelLimits,
    validity: LabelValidity,
) {
    let (labels_start, samples_start, exemplars_start, exemplar_labels_start) = starts;
    let batch = &mut decoded.batch;
    let mut kept = labels_start;
    for idx in labels_start..batch.labels.len() {
        if !batch.labels[idx].1.is_empty() {
            batch.labels[kept] = batch.labels[idx];
            kept += 1;
        }
    }
    batch.labels.truncate(kept);
    let n_samples = batch.samples.len() - samples_start;
    let n_exemplars = batch.exemplars.len() - exemplars_start;
    if n_samples == 0 && n_exemplars == 0 {
        batch.labels.truncate(labels_start);
        return;
    }
    let checked = match validity {
        LabelValidity::Known => Ok(()),
        LabelValidity::Unknown(hash) => {
            let checked = check_labels(&batch.labels[labels_start..], limits);
            if checked.is_ok()
                && let Some(hash) = hash
            {
                decoded.newly_valid.push(hash);
            }
            checked
        }
    };
    match checked {
        Ok(()) => batch.series.push(SeriesWrite {
            labels: labels_start..batch.labels.len(),
            samples: samples_start..batch.samples.len(),
            exemplars: exemplars_start..batch.exemplars.len(),
            best_effort: false,
        }),
        Err(problem) => {
            decoded.invalid.push(InvalidSeries {
                series: describe(&batch.labels[labels_start..]),
                problem: problem.to_string(),
                reason: problem.reason(),
                samples: n_samples as u64,
            });
            batch.labels.truncate(labels_start);
            batch.samples.truncate(samples_start);
            batch.exemplars.truncate(exemplars_start);
            batch.exemplar_labels.truncate(exemplar_labels_start);
        }
    }
}

/// Whether a series' labels still need checking.
#[derive(Debug, Clone, Copy)]
enum LabelValidity {
    /// Seen valid before.
    Known,
    /// To check; if valid, remember this hash of the encoded labels (when there is one).
    Unknown(Option<u128>),
}

fn starts(batch: &WriteBatch<'_>) -> (usize, usize, usize, usize) {
    (
        batch.labels.len(),
        batch.samples.len(),
        batch.exemplars.len(),
        batch.exemplar_labels.len(),
    )
}

/// Decodes a remote-write 1.0 `prometheus.WriteRequest`; label sets in `known` skip the
/// label checks.
pub fn decode_v1<'a>(
    body: &'a [u8],
    limits: &LabelLimits,
    known: &KnownLabelSets,
) -> Result<Decoded<'a>, WireError> {
    let mut decoded = Decoded::default();
    for field in Fields::new(body) {
        match field? {
            (1, series) => decode_v1_series(series.bytes()?, &mut decoded, limits, known)?,
            (3, metadata) => {
                let mut entry = MetricMetadata {
                    metric_family: "",
                    metric_type: MetricType::Unknown,
                    help: "",
                    unit: "",
                };
                for field in Fields::new(metadata.bytes()?) {
                    match field? {
                        (1, v) => entry.metric_type = metric_type(v.varint()?),
                        (2, v) => entry.metric_family = v.str()?,
                        (4, v) => entry.help = v.str()?,
                        (5, v) => entry.unit = v.str()?,
                        _ => {}
                    }
                }
                if !entry.metric_family.is_empty() {
                    decoded.batch.metadata.push(entry);
                }
            }
            _ => {}
        }
    }
    Ok(decoded)
}

fn decode_v1_series<'a>(
    bytes: &'a [u8],
    decoded: &mut Decoded<'a>,
    limits: &LabelLimits,
    known: &KnownLabelSets,
) -> Result<(), WireError> {
    let starts = starts(&decoded.batch);
    let mut histograms = 0u64;
    // Labels are read as bytes first. Senders write them together; when those bytes are
    // all ASCII, one UTF-8 check covers every name and value at once.
    let mut raw_labels: Vec<(&'a [u8], &'a [u8])> = Vec::with_capacity(16);
    let mut label_region: Option<(usize, usize)> = None;
    let mut labels_contiguous = true;
    let mut fields = Fields::new(bytes);
    loop {
        let field_start = fields.position();
        let Some(field) = fields.next() else { break };
        match field? {
            (1, label) => {
                raw_labels.push(raw_label_pair(label.bytes()?)?);
                let end = fields.position();
                label_region = match label_region {
                    None => Some((field_start, end)),
                    Some((start, previous_end)) => {
                        labels_contiguous &= previous_end == field_start;
                        Some((start, end))
                    }
                };
            }
            (2, v) => {
                let (sample, _) = sample(v.bytes()?)?;
                decoded.batch.samples.push(sample);
                decoded.samples_received += 1;
            }
            (3, v) => {
                let exemplar_start = decoded.batch.exemplar_labels.len();
                let (mut value, mut timestamp) = (0u64, 0i64);
                for field in Fields::new(v.bytes()?) {
                    match field? {
                        (1, label) => {
                            let pair = label_pair(label.bytes()?)?;
                            decoded.batch.exemplar_labels.push(pair);
                        }
                        (2, v) => value = v.fixed64()?,
                        (3, v) => timestamp = v.varint()? as i64,
                        _ => {}
                    }
                }
                decoded.batch.exemplars.push(ExemplarWrite {
                    labels: exemplar_start..decoded.batch.exemplar_labels.len(),
                    timestamp_ms: timestamp,
                    value: f64::from_bits(value),
                });
                decoded.exemplars_received += 1;
            }
            (4, _) => histograms += 1,
            _ => {}
        }
    }
    let region = label_region
        .filter(|_| labels_contiguous)
        .map(|(start, end)| &bytes[start..end]);
    let region_hash =
        region.map(|bytes| xxhash_rust::xxh3::xxh3_128_with_seed(bytes, process_seed()));
    let validity = match region_hash {
        Some(hash) if known.contains(&hash) => LabelValidity::Known,
        hash => LabelValidity::Unknown(hash),
    };
    let ascii_region = region
        .filter(|region| region.is_ascii())
        .and_then(|region| std::str::from_utf8(region).ok());
    match ascii_region {
        Some(region) => {
            for (name, value) in raw_labels {
                decoded
                    .batch
                    .labels
                    .push((sub_str(region, name)?, sub_str(region, value)?));
            }
        }
        None => {
            for (name, value) in raw_labels {
                decoded.batch.labels.push((utf8(name)?, utf8(value)?));
            }
        }
    }
    if histograms > 0 {
        note_histograms(decoded, histograms, starts.0);
    }
    finish_series(decoded, starts, limits, validity);
    Ok(())
}

fn note_histograms(decoded: &mut Decoded<'_>, histograms: u64, labels_start: usize) {
    decoded.histograms += histograms;
    if decoded.histogram_series.is_none() {
        decoded.histogram_series = Some(describe(&decoded.batch.labels[labels_start..]));
    }
}

/// Decodes a remote-write 2.0 `io.prometheus.write.v2.Request`.
pub fn decode_v2<'a>(body: &'a [u8], limits: &LabelLimits) -> Result<Decoded<'a>, WireError> {
    let mut symbols: Vec<&'a str> = Vec::new();
    let mut series: Vec<&'a [u8]> = Vec::new();
    for field in Fields::new(body) {
        match field? {
            (4, symbol) => symbols.push(symbol.str()?),
            (5, v) => series.push(v.bytes()?),
            _ => {}
        }
    }
    if symbols.first().is_some_and(|first| !first.is_empty()) {
        return Err(WireError("symbols[0] must be the empty string"));
    }
    let mut decoded = Decoded::default();
    let mut families_seen: HashSet<&'a str> = HashSet::new();
    let mut refs = Vec::new();
    for bytes in series {
        decode_v2_series(
            bytes,
            &symbols,
            &mut refs,
            &mut decoded,
            &mut families_seen,
            limits,
        )?;
    }
    Ok(decoded)
}

fn resolve_pairs<'a>(
    refs: &[u32],
    symbols: &[&'a str],
    out: &mut Vec<(&'a str, &'a str)>,
) -> Result<(), String> {
    if !refs.len().is_multiple_of(2) {
        return Err(format!(
            "it has an odd number of label references ({})",
            refs.len()
        ));
    }
    for pair in refs.chunks_exact(2) {
        let lookup = |reference: u32| {
            symbols.get(reference as usize).copied().ok_or_else(|| {
                format!(
                    "label reference {reference} is out of range (the symbol table has {} entries)",
                    symbols.len()
                )
            })
        };
        out.push((lookup(pair[0])?, lookup(pair[1])?));
    }
    Ok(())
}

fn decode_v2_series<'a>(
    bytes: &'a [u8],
    symbols: &[&'a str],
    refs: &mut Vec<u32>,
    decoded: &mut Decoded<'a>,
    families_seen: &mut HashSet<&'a str>,
    limits: &LabelLimits,
) -> Result<(), WireError> {
    let series_starts = starts(&decoded.batch);
    refs.clear();
    let mut histograms = 0u64;
    let mut metadata: Option<(MetricType, u32, u32)> = None;
    let mut legacy_created = 0i64;
    let mut start_timestamps: Vec<i64> = Vec::new();
    let mut exemplar_refs: Vec<(Vec<u32>, u64, i64)> = Vec::new();
    for field in Fields::new(bytes) {
        match field? {
            (1, v) => push_uint32s(v, refs)?,
            (2, v) => {
                let (sample, start) = sample(v.bytes()?)?;
                decoded.batch.samples.push(sample);
                start_timestamps.push(start);
                decoded.samples_received += 1;
            }
            (3, _) => histograms += 1,
            (4, v) => {
                let (mut labels, mut value, mut timestamp) = (Vec::new(), 0u64, 0i64);
                for field in Fields::new(v.bytes()?) {
                    match field? {
                        (1, v) => push_uint32s(v, &mut labels)?,
                        (2, v) => value = v.fixed64()?,
                        (3, v) => timestamp = v.varint()? as i64,
                        _ => {}
                    }
                }
                exemplar_refs.push((labels, value, timestamp));
                decoded.exemplars_received += 1;
            }
            (5, v) => {
                let (mut kind, mut help, mut unit) = (MetricType::Unknown, 0u32, 0u32);
                for field in Fields::new(v.bytes()?) {
                    match field? {
                        (1, v) => kind = metric_type(v.varint()?),
                        (3, v) => {
                            help = u32::try_from(v.varint()?)
                                .map_err(|_| WireError("help_ref out of range"))?
                        }
                        (4, v) => {
                            unit = u32::try_from(v.varint()?)
                                .map_err(|_| WireError("unit_ref out of range"))?
                        }
                        _ => {}
                    }
                }
                metadata = Some((kind, help, unit));
            }
            (6, v) => legacy_created = v.varint()? as i64,
            _ => {}
        }
    }
    let n_samples = decoded.batch.samples.len() - series_starts.1;
    let reject = |decoded: &mut Decoded<'a>, problem: String, reason: &'static str| {
        decoded.invalid.push(InvalidSeries {
            series: format!(
                "series #{}",
                decoded.batch.series.len() + decoded.invalid.len()
            ),
            problem,
            reason,
            samples: n_samples as u64,
        });
        decoded.batch.samples.truncate(series_starts.1);
    };
    if let Err(problem) = resolve_pairs(refs, symbols, &mut decoded.batch.labels) {
        decoded.batch.labels.truncate(series_starts.0);
        reject(decoded, problem, "invalid_symbol_reference");
        return Ok(());
    }
    for (labels, value, timestamp) in &exemplar_refs {
        let labels_start = decoded.batch.exemplar_labels.len();
        if let Err(problem) = resolve_pairs(labels, symbols, &mut decoded.batch.exemplar_labels) {
            decoded.batch.labels.truncate(series_starts.0);
            decoded.batch.exemplar_labels.truncate(series_starts.3);
            decoded.batch.exemplars.truncate(series_starts.2);
            reject(
                decoded,
                format!("an exemplar: {problem}"),
                "invalid_symbol_reference",
            );
            return Ok(());
        }
        decoded.batch.exemplars.push(ExemplarWrite {
            labels: labels_start..decoded.batch.exemplar_labels.len(),
            timestamp_ms: *timestamp,
            value: f64::from_bits(*value),
        });
    }
    if histograms > 0 {
        note_histograms(decoded, histograms, series_starts.0);
    }
    let series_before = decoded.batch.series.len();
    finish_series(decoded, series_starts, limits, LabelValidity::Unknown(None));
    if decoded.batch.series.len() == series_before {
        return Ok(());
    }
    let labels_range = decoded.batch.series[series_before].labels.clone();
    let family = decoded.batch.labels[labels_range.clone()]
        .iter()
        .find(|(name, _)| *name == METRIC_NAME)
        .map_or("", |(_, value)| *value);
    if let Some((kind, help, unit)) = metadata {
        let lookup = |reference: u32| symbols.get(reference as usize).copied().unwrap_or("");
        if families_seen.insert(family) {
            decoded.batch.metadata.push(MetricMetadata {
                metric_family: family,
                metric_type: kind,
                help: lookup(help),
                unit: lookup(unit),
            });
        }
    }
    add_start_samples(
        decoded,
        series_before,
        &start_timestamps,
        legacy_created,
        labels_range,
    );
    Ok(())
}

/// For each sample with a start (created) timestamp before it, a zero sample at the
/// start timestamp, as Prometheus ingests created timestamps: the counter is known to
/// have been zero then. Written best-effort: one stored by an earlier request, or too old
/// to store, is not an error.
fn add_start_samples(
    decoded: &mut Decoded<'_>,
    series_idx: usize,
    start_timestamps: &[i64],
    legacy_created: i64,
    labels: std::ops::Range<usize>,
) {
    let samples = decoded.batch.series[series_idx].samples.clone();
    let mut starts: Vec<i64> = Vec::new();
    for (sample, &start) in decoded.batch.samples[samples].iter().zip(start_timestamps) {
        let start = if start != 0 { start } else { legacy_created };
        if start != 0 && start < sample.timestamp_ms && starts.last() != Some(&start) {
            starts.push(start);
        }
    }
    if starts.is_empty() {
        return;
    }
    let samples_start = decoded.batch.samples.len();
    decoded
        .batch
        .samples
        .extend(starts.iter().map(|&start| Sample::new(start, 0.0)));
    decoded.synthetic_samples += starts.len() as u64;
    let exemplars_at = decoded.batch.exemplars.len();
    // Before the real samples, so an in-order store sees the zero first.
    decoded.batch.series.insert(
        series_idx,
        SeriesWrite {
            labels,
            samples: samples_start..decoded.batch.samples.len(),
            exemplars: exemplars_at..exemplars_at,
            best_effort: true,
        },
    );
}

#[cfg(test)]
mod tests;
