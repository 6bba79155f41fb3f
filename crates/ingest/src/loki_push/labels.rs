//! Stream labels as Loki senders write them: a label set string in protobuf and legacy
//! JSON bodies (`{app="api", env="prod"}`, what Prometheus's `Labels.String()` prints),
//! an object in JSON bodies. Read as Loki reads them, with PromQL's metric syntax:
//! values quoted with `"`, `'` or `` ` ``, Go escapes (`\"`, `\\`, `\n`, `\x41`,
//! `\u00e9`, ...), whitespace anywhere between tokens, an optional trailing comma, `{}`
//! for no labels. Checked as Loki checks them: names `[a-zA-Z_][a-zA-Z0-9_]*`, each at
//! most once; empty values mean "no such label" and are dropped. A bad label set refuses
//! its stream only.

use std::borrow::Cow;

use crate::normalize::LineError;

/// Longest label set accepted, in bytes (the string, or names and values of an object).
pub const MAX_LABELS_BYTES: usize = 16 << 10;
/// Most labels in one stream.
pub const MAX_LABELS: usize = 64;

/// One label, borrowed from the body when it needed no unescaping.
pub type Label<'a> = (Cow<'a, str>, Cow<'a, str>);

/// How much of a label set an error message quotes.
const MAX_QUOTED_CHARS: usize = 120;

/// `text` shortened for a message.
pub fn shorten(text: &str) -> String {
    if text.chars().count() <= MAX_QUOTED_CHARS {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(MAX_QUOTED_CHARS).collect();
    out.push_str("...");
    out
}

/// A label set string parsed, checked and stripped of empty values.
pub fn parse(raw: &[u8]) -> Result<Vec<Label<'_>>, LineError> {
    if raw.len() > MAX_LABELS_BYTES {
        return Err(too_long(raw.len()));
    }
    let text = std::str::from_utf8(raw).map_err(|err| {
        LineError::new(
            "bad_labels",
            format!(
                "the label set {} is not valid UTF-8: {err}",
                shorten(&String::from_utf8_lossy(raw))
            ),
        )
    })?;
    let labels = Parser { text, position: 0 }
        .label_set()
        .map_err(|(position, problem)| {
            LineError::new(
                "bad_labels",
                format!(
                    "the label set {} is malformed: {problem} at offset {position}",
                    shorten(&format!("{text:?}"))
                ),
            )
        })?;
    finish(labels)
}

/// The labels of a JSON body's `stream` object, checked like a parsed label set.
pub fn check_pairs(pairs: &[(String, String)]) -> Result<Vec<Label<'_>>, LineError> {
    let n_bytes: usize = pairs
        .iter()
        .map(|(name, value)| name.len() + value.len())
        .sum();
    if n_bytes > MAX_LABELS_BYTES {
        return Err(too_long(n_bytes));
    }
    if let Some((name, _)) = pairs.iter().find(|(name, _)| !is_valid_name(name)) {
        return Err(LineError::new(
            "bad_labels",
            format!(
                "label name {:?} is not valid: use letters, digits and _, not starting with a digit",
                shorten(name)
            ),
        ));
    }
    finish(
        pairs
            .iter()
            .map(|(name, value)| (Cow::Borrowed(name.as_str()), Cow::Borrowed(value.as_str())))
            .collect(),
    )
}

/// `{a="b", c="d"}`, for messages.
pub fn render(pairs: &[(String, String)]) -> String {
    let inner: Vec<String> = pairs
        .iter()
        .map(|(name, value)| format!("{name}={value:?}"))
        .collect();
    format!("{{{}}}", inner.join(", "))
}

fn too_long(n_bytes: usize) -> LineError {
    LineError::new(
        "labels_too_long",
        format!("the stream's labels are {n_bytes} bytes, over the limit of {MAX_LABELS_BYTES}"),
    )
}

fn is_valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|first| first == b'_' || first.is_ascii_alphabetic())
        && bytes.all(|b| b == b'_' || b.is_ascii_alphanumeric())
}

/// Limits, uniqueness, then empty values dropped (as Loki does before hashing a stream).
fn finish(mut labels: Vec<Label<'_>>) -> Result<Vec<Label<'_>>, LineError> {
    if labels.len() > MAX_LABELS {
        return Err(LineError::new(
            "too_many_labels",
            format!(
                "the stream has {} labels, over the limit of {MAX_LABELS}",
                labels.len()
            ),
        ));
    }
    for (i, (name, _)) in labels.iter().enumerate() {
        if labels[..i].iter().any(|(earlier, _)| earlier == name) {
            return Err(LineError::new(
                "bad_labels",
                format!("label name {name:?} appears twice in the stream's labels"),
            ));
        }
    }
    labels.retain(|(_, value)| !value.is_empty());
    Ok(labels)
}

/// A problem and the byte offset where it was found.
type ParseError = (usize, String);

struct Parser<'a> {
    text: &'a str,
    position: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.position).copied()
    }

    fn skip_whitespace(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_whitespace()) {
            self.position += 1;
        }
    }

    fn fail<T>(&self, problem: impl Into<String>) -> Result<T, ParseError> {
        Err((self.position, problem.into()))
    }

    fn label_set(mut self) -> Result<Vec<Label<'a>>, ParseError> {
        let mut labels = Vec::new();
        self.skip_whitespace();
        if self.peek() != Some(b'{') {
            return self.fail("expected \"{\"");
        }
        self.position += 1;
        loop {
            self.skip_whitespace();
            if self.peek() == Some(b'}') {
                self.position += 1;
                break;
            }
            let name = self.name()?;
            self.skip_whitespace();
            match self.peek() {
                Some(b'=') if self.text.as_bytes().get(self.position + 1) == Some(&b'~') => {
                    return self.fail(format!(
                        "label {name:?} has a matcher (=~), but a stream's labels take only ="
                    ));
                }
                Some(b'=') => self.position += 1,
                Some(b'!') => {
                    return self.fail(format!(
                        "label {name:?} has a matcher (!), but a stream's labels take only ="
                    ));
                }
                _ => return self.fail(format!("expected \"=\" after label name {name:?}")),
            }
            self.skip_whitespace();
            let value = self.quoted(name)?;
            labels.push((Cow::Borrowed(name), value));
            if labels.len() > MAX_LABELS {
                // Enough to refuse the stream; the rest need not be read.
                return Ok(labels);
            }
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.position += 1,
                Some(b'}') => {
                    self.position += 1;
                    break;
                }
                _ => {
                    return self.fail(format!(
                        "expected \",\" or \"}}\" after the value of label {name:?}"
                    ));
                }
            }
        }
        self.skip_whitespace();
        if self.position < self.text.len() {
            return self.fail("unexpected text after the closing \"}\"");
        }
        Ok(labels)
    }

    fn name(&mut self) -> Result<&'a str, ParseError> {
        let start = self.position;
        while self
            .peek()
            .is_some_and(|b| b == b'_' || b.is_ascii_alphanumeric())
        {
            self.position += 1;
        }
        let name = &self.text[start..self.position];
        if name.is_empty() {
            return self.fail("expected a label name");
        }
        if name.as_bytes()[0].is_ascii_digit() {
            self.position = start;
            return self.fail(format!(
                "label name {name:?} is not valid: it starts with a digit"
            ));
        }
        Ok(name)
    }

    /// A quoted value; `self.position` is on the opening quote.
    fn quoted(&mut self, name: &str) -> Result<Cow<'a, str>, ParseError> {
        let quote = match self.peek() {
            Some(quote @ (b'"' | b'\'' | b'`')) => quote,
            _ => return self.fail(format!("expected a quoted value for label {name:?}")),
        };
        let open = self.position;
        self.position += 1;
        let start = self.position;
        let bytes = self.text.as_bytes();
        // Fast path: no escapes, so the value is a slice of the input.
        loop {
            match self.peek() {
                None => {
                    self.position = open;
                    return self.fail(format!("unterminated value of label {name:?}"));
                }
                Some(b) if b == quote => {
                    let value = &self.text[start..self.position];
                    self.position += 1;
                    return Ok(Cow::Borrowed(value));
                }
                Some(b'\\') if quote != b'`' => break,
                Some(b'\n') if quote != b'`' => {
                    return self.fail(format!("newline in the value of label {name:?}"));
                }
                Some(_) => self.position += 1,
            }
        }
        let mut value = bytes[start..self.position].to_vec();
        loop {
            match self.peek() {
                None => {
                    self.position = open;
                    return self.fail(format!("unterminated value of label {name:?}"));
                }
                Some(b) if b == quote => {
                    self.position += 1;
                    break;
                }
                Some(b'\n') => {
                    return self.fail(format!("newline in the value of label {name:?}"));
                }
                Some(b'\\') => self.escape(quote, &mut value)?,
                Some(b) => {
                    value.push(b);
                    self.position += 1;
                }
            }
        }
        match String::from_utf8(value) {
            Ok(value) => Ok(Cow::Owned(value)),
            Err(_) => {
                self.position = open;
                self.fail(format!(
                    "the value of label {name:?} is not valid UTF-8 once unescaped"
                ))
            }
        }
    }

    /// One escape sequence (Go's, as PromQL takes them); `self.position` is on the `\`.
    fn escape(&mut self, quote: u8, out: &mut Vec<u8>) -> Result<(), ParseError> {
        let at = self.position;
        let Some(kind) = self.text.as_bytes().get(at + 1).copied() else {
            return self.fail("unterminated escape sequence");
        };
        self.position = at + 2;
        let simple = match kind {
            b'a' => Some(0x07),
            b'b' => Some(0x08),
            b'f' => Some(0x0c),
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            b'v' => Some(0x0b),
            b'\\' => Some(b'\\'),
            _ if kind == quote => Some(quote),
            _ => None,
        };
        if let Some(byte) = simple {
            out.push(byte);
            return Ok(());
        }
        let (n_digits, radix) = match kind {
            b'0'..=b'7' => (3, 8),
            b'x' => (2, 16),
            b'u' => (4, 16),
            b'U' => (8, 16),
            _ => {
                self.position = at;
                let shown = self.text[at..].chars().nth(1).unwrap_or('?');
                return self.fail(format!("unknown escape sequence \\{shown}"));
            }
        };
        // Octal escapes count their first digit, the others start after the letter.
        let digits_start = if radix == 8 { at + 1 } else { at + 2 };
        let digits = self
            .text
            .get(digits_start..digits_start + n_digits)
            .filter(|digits| digits.chars().all(|c| c.is_digit(radix)));
        let Some(digits) = digits else {
            self.position = at;
            return self.fail(format!(
                "escape sequence \\{} needs {n_digits} {} digits",
                kind as char,
                if radix == 8 { "octal" } else { "hex" }
            ));
        };
        self.position = digits_start + n_digits;
        let code = u32::from_str_radix(digits, radix).unwrap_or(u32::MAX);
        match kind {
            b'u' | b'U' => {
                let Some(c) = char::from_u32(code) else {
                    self.position = at;
                    return self.fail(format!(
                        "escape sequence \\{}{digits} is not a Unicode character",
                        kind as char
                    ));
                };
                let mut buffer = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut buffer).as_bytes());
            }
            _ => {
                let Ok(byte) = u8::try_from(code) else {
                    self.position = at;
                    return self.fail(format!("octal escape sequence \\{digits} is over 255"));
                };
                out.push(byte);
            }
        }
        Ok(())
    }
}
