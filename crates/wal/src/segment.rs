//! Segment files and record framing.
//!
//! A segment is a sequence of frames `[len: u32 LE][crc32: u32 LE][payload: len bytes]`;
//! the CRC covers the payload. A reader stops at the first frame that is cut short, has
//! a zero or absurd length, or fails its CRC, and reports how many bytes it could not
//! read.

use std::io::Read;
use std::path::{Path, PathBuf};

/// Largest payload a frame may declare (a corrupt length must not look plausible).
pub const MAX_FRAME_PAYLOAD: usize = 256 << 20;

const HEADER_LEN: usize = 8;

/// Appends one frame holding `payload` to `out`.
pub fn frame_into(out: &mut Vec<u8>, payload: &[u8]) {
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// Encodes a payload in place: reserves the header, lets `write` append the payload,
/// then fills in length and CRC. Avoids copying large payloads.
pub fn frame_with(out: &mut Vec<u8>, write: impl FnOnce(&mut Vec<u8>)) {
    let header_at = out.len();
    out.extend_from_slice(&[0; HEADER_LEN]);
    write(out);
    let payload = &out[header_at + HEADER_LEN..];
    let len = (payload.len() as u32).to_le_bytes();
    let crc = crc32fast::hash(payload).to_le_bytes();
    out[header_at..header_at + 4].copy_from_slice(&len);
    out[header_at + 4..header_at + HEADER_LEN].copy_from_slice(&crc);
}

/// Why reading a segment stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Damage {
    /// Fewer bytes than a frame header or its declared payload.
    Truncated,
    /// A zero length where a frame should start (a zero-filled tail).
    ZeroFilled,
    /// A length over [`MAX_FRAME_PAYLOAD`].
    BadLength,
    /// The payload does not match its CRC.
    BadChecksum,
}

/// The frames of one segment's bytes, in order, until the end or the first damage.
#[derive(Debug)]
pub struct Frames<'a> {
    bytes: &'a [u8],
    position: usize,
    damage: Option<Damage>,
}

impl<'a> Frames<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Frames {
            bytes,
            position: 0,
            damage: None,
        }
    }

    /// Offset just past the last good frame.
    pub fn good_len(&self) -> usize {
        self.position
    }

    pub fn damage(&self) -> Option<Damage> {
        self.damage
    }
}

impl<'a> Iterator for Frames<'a> {
    /// `(offset of the frame, payload)`.
    type Item = (usize, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.damage.is_some() || self.position >= self.bytes.len() {
            return None;
        }
        let rest = &self.bytes[self.position..];
        if rest.len() < HEADER_LEN {
            self.damage = Some(if rest.iter().all(|&b| b == 0) {
                Damage::ZeroFilled
            } else {
                Damage::Truncated
            });
            return None;
        }
        let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let crc = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
        if len == 0 {
            self.damage = Some(Damage::ZeroFilled);
            return None;
        }
        if len > MAX_FRAME_PAYLOAD {
            self.damage = Some(Damage::BadLength);
            return None;
        }
        let Some(payload) = rest.get(HEADER_LEN..HEADER_LEN + len) else {
            self.damage = Some(Damage::Truncated);
            return None;
        };
        if crc32fast::hash(payload) != crc {
            self.damage = Some(Damage::BadChecksum);
            return None;
        }
        let offset = self.position;
        self.position += HEADER_LEN + len;
        Some((offset, payload))
    }
}

/// Reads `buf.len()` bytes unless the input ends first; returns how many were read.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(filled)
}

/// The frames of a file read as a stream (a checkpoint can be larger than memory should
/// hold at once): one payload in memory at a time.
#[derive(Debug)]
pub struct FrameReader<R> {
    reader: R,
    payload: Vec<u8>,
    position: u64,
    damage: Option<Damage>,
}

impl<R: Read> FrameReader<R> {
    pub fn new(reader: R) -> Self {
        FrameReader {
            reader,
            payload: Vec::new(),
            position: 0,
            damage: None,
        }
    }

    /// Offset just past the last good frame.
    pub fn good_len(&self) -> u64 {
        self.position
    }

    pub fn damage(&self) -> Option<Damage> {
        self.damage
    }

    /// The next payload; `None` at the end or at the first damage. `Err` only for I/O
    /// errors of the underlying reader.
    pub fn next_frame(&mut self) -> std::io::Result<Option<&[u8]>> {
        if self.damage.is_some() {
            return Ok(None);
        }
        let mut header = [0u8; HEADER_LEN];
        let got = read_full(&mut self.reader, &mut header)?;
        if got == 0 {
            return Ok(None);
        }
        if got < HEADER_LEN {
            self.damage = Some(if header[..got].iter().all(|&b| b == 0) {
                Damage::ZeroFilled
            } else {
                Damage::Truncated
            });
            return Ok(None);
        }
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        if len == 0 {
            self.damage = Some(Damage::ZeroFilled);
            return Ok(None);
        }
        if len > MAX_FRAME_PAYLOAD {
            self.damage = Some(Damage::BadLength);
            return Ok(None);
        }
        self.payload.resize(len, 0);
        if read_full(&mut self.reader, &mut self.payload)? < len {
            self.damage = Some(Damage::Truncated);
            return Ok(None);
        }
        if crc32fast::hash(&self.payload) != crc {
            self.damage = Some(Damage::BadChecksum);
            return Ok(None);
        }
        self.position += (HEADER_LEN + len) as u64;
        Ok(Some(&self.payload))
    }
}

/// `dir/00000042` for segment 42.
pub fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:08}"))
}

/// Parses a segment file name; anything else in the directory is not a segment.
pub fn parse_segment_name(name: &str) -> Option<u64> {
    (name.len() == 8 && name.bytes().all(|b| b.is_ascii_digit()))
        .then(|| name.parse().ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_frames() -> Vec<u8> {
        let mut bytes = Vec::new();
        frame_into(&mut bytes, b"first");
        frame_with(&mut bytes, |out| out.extend_from_slice(b"second"));
        bytes
    }

    #[test]
    fn reads_every_frame_of_an_intact_segment() {
        let bytes = two_frames();
        let mut frames = Frames::new(&bytes);
        let payloads: Vec<&[u8]> = frames.by_ref().map(|(_, payload)| payload).collect();
        assert_eq!(payloads, [&b"first"[..], &b"second"[..]]);
        assert_eq!((frames.good_len(), frames.damage()), (bytes.len(), None));
    }

    #[test]
    fn stops_at_damage_keeping_what_came_before() {
        let intact = two_frames();
        let first_len = 8 + 5;
        let cases: Vec<(Vec<u8>, Damage)> = vec![
            (intact[..intact.len() - 2].to_vec(), Damage::Truncated),
            (intact[..first_len + 3].to_vec(), Damage::Truncated),
            ([intact.clone(), vec![0; 64]].concat(), Damage::ZeroFilled),
            (
                [intact[..first_len].to_vec(), vec![0; 3]].concat(),
                Damage::ZeroFilled,
            ),
            (
                {
                    let mut flipped = intact.clone();
                    flipped[first_len + 9] ^= 0x40;
                    flipped
                },
                Damage::BadChecksum,
            ),
            (
                {
                    let mut huge = intact.clone();
                    huge[first_len..first_len + 4].copy_from_slice(&u32::MAX.to_le_bytes());
                    huge
                },
                Damage::BadLength,
            ),
        ];
        for (bytes, damage) in cases {
            let mut frames = Frames::new(&bytes);
            let first = frames.next().map(|(_, payload)| payload.to_vec());
            assert_eq!(first.as_deref(), Some(&b"first"[..]));
            let rest: Vec<_> = frames.by_ref().collect();
            if damage == Damage::ZeroFilled && bytes.len() > intact.len() {
                assert_eq!(rest.len(), 1, "second frame precedes the zero tail");
            } else {
                assert!(rest.is_empty());
            }
            assert_eq!(frames.damage(), Some(damage));
        }
    }

    #[test]
    fn streaming_reader_agrees_with_the_slice_reader() {
        let intact = two_frames();
        let mut damaged = intact.clone();
        damaged[8 + 5 + 9] ^= 0x40;
        for bytes in [intact.clone(), intact[..intact.len() - 2].to_vec(), damaged] {
            let mut slice = Frames::new(&bytes);
            let expected: Vec<Vec<u8>> = slice.by_ref().map(|(_, p)| p.to_vec()).collect();
            let mut stream = FrameReader::new(&bytes[..]);
            let mut got = Vec::new();
            while let Some(payload) = stream.next_frame().expect("in-memory read") {
                got.push(payload.to_vec());
            }
            assert_eq!(got, expected);
            assert_eq!(stream.damage(), slice.damage());
            assert_eq!(stream.good_len(), slice.good_len() as u64);
        }
    }

    #[test]
    fn segment_names() {
        assert_eq!(parse_segment_name("00000042"), Some(42));
        assert_eq!(parse_segment_name("0000004"), None);
        assert_eq!(parse_segment_name("checkpoint.00000001"), None);
        assert_eq!(
            segment_path(Path::new("/w"), 7),
            PathBuf::from("/w/00000007")
        );
    }
}
