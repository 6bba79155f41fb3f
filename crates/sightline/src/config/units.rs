//! Value types of configuration keys that are written as text: listen addresses, byte
//! sizes and durations. Each parses from what an operator would write and prints back
//! the same way, so the generated reference file shows readable defaults.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A `host:port` to listen on. `host` is an IP address, `localhost`, or empty (all
/// interfaces, as in Prometheus's `--web.listen-address=:9090`). Port 0 picks a free port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListenAddr(pub SocketAddr);

impl ListenAddr {
    pub const fn loopback(port: u16) -> Self {
        ListenAddr(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port))
    }

    pub fn is_loopback(&self) -> bool {
        self.0.ip().is_loopback()
    }
}

impl FromStr for ListenAddr {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (host, port) = text
            .rsplit_once(':')
            .ok_or_else(|| "expected host:port, e.g. 127.0.0.1:7413".to_owned())?;
        let port: u16 = port
            .parse()
            .map_err(|_| format!("port {port:?} is not a number from 0 to 65535"))?;
        let ip = match host {
            "" => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
            host => {
                let bare = host
                    .strip_prefix('[')
                    .and_then(|inner| inner.strip_suffix(']'))
                    .unwrap_or(host);
                bare.parse().map_err(|_| {
                    format!("host {host:?} is not an IP address, \"localhost\" or empty")
                })?
            }
        };
        Ok(ListenAddr(SocketAddr::new(ip, port)))
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A size in bytes: an integer, or text such as `16MiB`, `512KiB`, `10MB`, `100B`
/// (binary units KiB..TiB, decimal units KB..TB, case ignored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

const BINARY_UNITS: [(&str, u64); 4] = [
    ("TiB", 1 << 40),
    ("GiB", 1 << 30),
    ("MiB", 1 << 20),
    ("KiB", 1 << 10),
];
const DECIMAL_UNITS: [(&str, u64); 4] = [
    ("TB", 1_000_000_000_000),
    ("GB", 1_000_000_000),
    ("MB", 1_000_000),
    ("KB", 1_000),
];

impl ByteSize {
    pub const fn kib(n: u64) -> Self {
        ByteSize(n << 10)
    }

    pub const fn mib(n: u64) -> Self {
        ByteSize(n << 20)
    }
}

impl FromStr for ByteSize {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let n_digits = text.bytes().take_while(u8::is_ascii_digit).count();
        if n_digits == 0 {
            return Err(
                "expected a whole number of bytes with an optional unit, e.g. 16MiB".into(),
            );
        }
        let amount: u64 = text[..n_digits]
            .parse()
            .map_err(|_| "the number is too large".to_owned())?;
        let unit = text[n_digits..].trim();
        let multiplier = if unit.is_empty() || unit.eq_ignore_ascii_case("B") {
            1
        } else {
            BINARY_UNITS
                .iter()
                .chain(DECIMAL_UNITS.iter())
                .find(|(name, _)| name.eq_ignore_ascii_case(unit))
                .map(|(_, multiplier)| *multiplier)
                .ok_or_else(|| {
                    format!("unknown unit {unit:?}; use B, KiB, MiB, GiB, TiB, KB, MB, GB or TB")
                })?
        };
        amount
            .checked_mul(multiplier)
            .map(ByteSize)
            .ok_or_else(|| "the size is too large".to_owned())
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let exact_unit = BINARY_UNITS
            .iter()
            .chain(DECIMAL_UNITS.iter())
            .find(|(_, multiplier)| self.0 != 0 && self.0.is_multiple_of(*multiplier));
        match exact_unit {
            Some((name, multiplier)) => write!(f, "{}{name}", self.0 / multiplier),
            None => write!(f, "{}B", self.0),
        }
    }
}

/// A duration written the Prometheus way: `30s`, `2m`, `1h30m`, `500ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    pub const fn secs(secs: u64) -> Self {
        HumanDuration(Duration::from_secs(secs))
    }
}

impl FromStr for HumanDuration {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        model::time::parse_duration(text)
            .map(HumanDuration)
            .map_err(|err| err.to_string())
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        model::time::format_duration(self.0).fmt(f)
    }
}

/// Serde as text through `FromStr`/`Display`; sizes also accept a bare integer.
macro_rules! text_serde {
    ($ty:ty, $expecting:literal, accept_integer = $accept_integer:literal) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct Visitor;

                impl serde::de::Visitor<'_> for Visitor {
                    type Value = $ty;

                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($expecting)
                    }

                    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<$ty, E> {
                        text.parse().map_err(E::custom)
                    }

                    fn visit_i64<E: serde::de::Error>(self, int: i64) -> Result<$ty, E> {
                        if !$accept_integer {
                            return Err(E::invalid_type(serde::de::Unexpected::Signed(int), &self));
                        }
                        u64::try_from(int)
                            .map_err(|_| E::custom("a size cannot be negative"))
                            .and_then(|n| n.to_string().parse().map_err(E::custom))
                    }
                }

                deserializer.deserialize_any(Visitor)
            }
        }
    };
}

text_serde!(
    ListenAddr,
    "a host:port string such as \"127.0.0.1:7413\"",
    accept_integer = false
);
text_serde!(
    ByteSize,
    "a size such as \"16MiB\" or a number of bytes",
    accept_integer = true
);
text_serde!(
    HumanDuration,
    "a duration such as \"30s\" or \"1h30m\"",
    accept_integer = false
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses() {
        let cases = [
            ("127.0.0.1:7413", "127.0.0.1:7413", true),
            ("localhost:9", "127.0.0.1:9", true),
            (":7413", "0.0.0.0:7413", false),
            ("[::1]:4317", "[::1]:4317", true),
            ("0.0.0.0:0", "0.0.0.0:0", false),
        ];
        for (input, shown, loopback) in cases {
            let addr: ListenAddr = input.parse().expect(input);
            assert_eq!(
                (addr.to_string().as_str(), addr.is_loopback()),
                (shown, loopback)
            );
        }
        for bad in ["7413", "host:1", "127.0.0.1:99999", "127.0.0.1:"] {
            assert!(bad.parse::<ListenAddr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn byte_sizes() {
        let cases = [
            ("16MiB", 16 << 20, "16MiB"),
            ("16mib", 16 << 20, "16MiB"),
            ("10MB", 10_000_000, "10MB"),
            ("1000", 1000, "1KB"),
            ("1023 B", 1023, "1023B"),
            ("0", 0, "0B"),
        ];
        for (input, bytes, shown) in cases {
            let size: ByteSize = input.parse().expect(input);
            assert_eq!(
                (size.0, size.to_string().as_str()),
                (bytes, shown),
                "{input}"
            );
        }
        for bad in ["", "MiB", "1.5GiB", "3 parsecs", "99999999999TiB"] {
            assert!(bad.parse::<ByteSize>().is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes_accept_integers_but_durations_do_not() {
        #[derive(Deserialize)]
        struct Doc {
            size: ByteSize,
        }
        let doc: Doc = toml::from_str("size = 2048").expect("integer size");
        assert_eq!(doc.size, ByteSize(2048));
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct DurationDoc {
            timeout: HumanDuration,
        }
        assert!(toml::from_str::<DurationDoc>("timeout = 30").is_err());
    }
}
