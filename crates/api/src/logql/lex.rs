//! The lexer: a query's text into tokens, and positions into lines and columns.

use std::fmt;

use super::ParseError;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    LBrace,
    RBrace,
    LParen,
    RParen,
    Comma,
    /// The text between `[` and `]`.
    Range(String),
    Ident(String),
    Str(String),
    Number(f64),
    /// A number with a unit (`5m`, `10KB`): only label filters take these.
    Unit(String),
    /// `= != =~ !~ |= |~ |> !> | + - * / % ^ == > < >= <=`
    Op(&'static str),
    End,
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::LBrace => f.write_str("{"),
            Tok::RBrace => f.write_str("}"),
            Tok::LParen => f.write_str("("),
            Tok::RParen => f.write_str(")"),
            Tok::Comma => f.write_str(","),
            Tok::Range(text) => write!(f, "[{text}]"),
            Tok::Ident(name) => write!(f, "{name}"),
            Tok::Str(text) => write!(f, "{text:?}"),
            Tok::Number(value) => write!(f, "{value}"),
            Tok::Unit(text) => f.write_str(text),
            Tok::Op(op) => f.write_str(op),
            Tok::End => f.write_str("the end of the query"),
        }
    }
}

#[derive(Debug, Clone)]
pub(super) struct Token {
    pub(super) tok: Tok,
    /// Byte offset in the query.
    pub(super) at: usize,
}

const OPERATORS: [&str; 20] = [
    "!=", "=~", "!~", "|=", "|~", "|>", "!>", "==", ">=", "<=", "=", "|", "+", "-", "*", "/", "%",
    "^", ">", "<",
];

/// The 1-based line and column (in characters) of a byte offset.
pub(super) fn position(input: &str, at: usize) -> (usize, usize) {
    let before = &input[..at.min(input.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map_or(0, |text| text.chars().count())
        + 1;
    (line, column)
}

pub(super) struct Lexer<'a> {
    pub(super) input: &'a str,
    pub(super) at: usize,
}

impl Lexer<'_> {
    fn error(&self, at: usize, message: impl Into<String>) -> ParseError {
        let (line, column) = position(self.input, at);
        ParseError {
            line,
            column,
            message: message.into(),
        }
    }

    fn rest(&self) -> &str {
        &self.input[self.at..]
    }

    pub(super) fn tokens(mut self) -> Result<Vec<Token>, ParseError> {
        let mut tokens = Vec::new();
        loop {
            let token = self.next_token()?;
            let end = token.tok == Tok::End;
            tokens.push(token);
            if end {
                return Ok(tokens);
            }
        }
    }

    fn next_token(&mut self) -> Result<Token, ParseError> {
        loop {
            let trimmed = self.rest().trim_start();
            let skipped = self.rest().len() - trimmed.len();
            // A comment runs to the end of its line.
            let comment = if trimmed.starts_with('#') {
                trimmed.find('\n').unwrap_or(trimmed.len())
            } else {
                0
            };
            self.at += skipped + comment;
            if comment == 0 {
                break;
            }
        }
        let at = self.at;
        let Some(c) = self.rest().chars().next() else {
            return Ok(Token { tok: Tok::End, at });
        };
        let simple = match c {
            '{' => Some(Tok::LBrace),
            '}' => Some(Tok::RBrace),
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            ',' => Some(Tok::Comma),
            _ => None,
        };
        if let Some(tok) = simple {
            self.at += 1;
            return Ok(Token { tok, at });
        }
        let tok = match c {
            '[' => {
                let Some(length) = self.rest().find(']') else {
                    return Err(self.error(at, "a range is not closed with ]"));
                };
                let text = self.rest()[1..length].trim().to_owned();
                self.at += length + 1;
                Tok::Range(text)
            }
            '"' => Tok::Str(self.quoted()?),
            '`' => {
                let Some(length) = self.rest()[1..].find('`') else {
                    return Err(self.error(at, "a string is not closed with `"));
                };
                let text = self.rest()[1..=length].to_owned();
                self.at += length + 2;
                Tok::Str(text)
            }
            '$' => {
                let length = self.rest()[1..]
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .map_or(self.rest().len(), |n| n + 1);
                return Err(self.error(
                    at,
                    format!(
                        "the variable {} must be replaced before the query is sent (Grafana does this)",
                        &self.rest()[..length]
                    ),
                ));
            }
            c if c.is_ascii_digit()
                || (c == '.' && self.rest()[1..].starts_with(|c: char| c.is_ascii_digit())) =>
            {
                self.number()?
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let length = self
                    .rest()
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(self.rest().len());
                let name = self.rest()[..length].to_owned();
                self.at += length;
                Tok::Ident(name)
            }
            _ => match OPERATORS.iter().find(|op| self.rest().starts_with(**op)) {
                Some(op) => {
                    self.at += op.len();
                    Tok::Op(op)
                }
                None => return Err(self.error(at, format!("unexpected character {c:?}"))),
            },
        };
        Ok(Token { tok, at })
    }

    fn number(&mut self) -> Result<Tok, ParseError> {
        let at = self.at;
        let bytes = self.rest().as_bytes();
        let mut length = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
        if bytes.get(length) == Some(&b'.') {
            length += 1;
            length += bytes[length..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count();
        }
        if matches!(bytes.get(length), Some(b'e' | b'E')) {
            let mut exponent = length + 1;
            if matches!(bytes.get(exponent), Some(b'+' | b'-')) {
                exponent += 1;
            }
            let digits = bytes[exponent.min(bytes.len())..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count();
            if digits > 0 {
                length = exponent + digits;
            }
        }
        let text = &self.rest()[..length];
        if bytes
            .get(length)
            .is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_')
        {
            let length = self
                .rest()
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
                .unwrap_or(self.rest().len());
            let word = self.rest()[..length].to_owned();
            self.at += length;
            return Ok(Tok::Unit(word));
        }
        let value = text
            .parse::<f64>()
            .map_err(|_| self.error(at, format!("{text:?} is not a number")))?;
        self.at += length;
        Ok(Tok::Number(value))
    }

    /// A double-quoted string with Go's escapes (`\"`, `\\`, `\n`, `\t`, `\u00e9`, ...).
    fn quoted(&mut self) -> Result<String, ParseError> {
        let start = self.at;
        let mut chars = self.rest().char_indices().skip(1);
        let mut text = String::new();
        while let Some((offset, c)) = chars.next() {
            match c {
                '"' => {
                    self.at = start + offset + 1;
                    return Ok(text);
                }
                '\n' => break,
                '\\' => {
                    let Some((offset, escaped)) = chars.next() else {
                        break;
                    };
                    let bad = |what: &str| self.error(start + offset, what.to_owned());
                    match escaped {
                        'a' => text.push('\u{7}'),
                        'b' => text.push('\u{8}'),
                        'f' => text.push('\u{c}'),
                        'n' => text.push('\n'),
                        'r' => text.push('\r'),
                        't' => text.push('\t'),
                        'v' => text.push('\u{b}'),
                        '\\' | '"' | '\'' => text.push(escaped),
                        'x' | 'u' | 'U' => {
                            let digits = match escaped {
                                'x' => 2,
                                'u' => 4,
                                _ => 8,
                            };
                            let hex: String = (0..digits)
                                .filter_map(|_| chars.next().map(|(_, c)| c))
                                .collect();
                            let code = u32::from_str_radix(&hex, 16)
                                .ok()
                                .filter(|_| hex.len() == digits)
                                .ok_or_else(|| bad("invalid hexadecimal escape in a string"))?;
                            text.push(
                                char::from_u32(code)
                                    .ok_or_else(|| bad("invalid unicode escape in a string"))?,
                            );
                        }
                        '0'..='7' => {
                            let octal: String = std::iter::once(escaped)
                                .chain((0..2).filter_map(|_| chars.next().map(|(_, c)| c)))
                                .collect();
                            let code = u32::from_str_radix(&octal, 8)
                                .ok()
                                .filter(|code| octal.len() == 3 && *code < 256)
                                .ok_or_else(|| bad("invalid octal escape in a string"))?;
                            text.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                        }
                        other => {
                            return Err(bad(&format!("unknown escape \\{other} in a string")));
                        }
                    }
                }
                _ => text.push(c),
            }
        }
        Err(self.error(start, "a string is not closed with \""))
    }
}
