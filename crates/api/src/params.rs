//! Form parameters from the query string and a form body, merged. Decoding is strict: invalid
//! percent-escapes or invalid UTF-8 are reported rather than replaced, so a mangled name never
//! reaches the inventory.
//!
//! This runs before authentication, on whatever an anonymous client sends, so its cost is linear
//! in the input and bounded: the parameters are counted before any is decoded, a component
//! without escapes is borrowed from the request rather than copied, repeats are found by hashing,
//! and every name and value is held to a length cap (see [`Limits`]).

use std::borrow::Cow;
use std::collections::HashSet;

/// What one request may hold. Each dialect has its own, in its `mod.rs`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Parameters in the query and the body together.
    pub max_parameters: usize,
    /// Bytes of any decoded name or value, except those of `long_values`.
    pub max_value_bytes: usize,
    /// The parameters whose values may be longer: key material and lists sent as one value.
    pub long_values: &'static [&'static str],
    pub max_long_value_bytes: usize,
}

impl Limits {
    fn max_value_bytes_of(&self, name: &str) -> usize {
        if self.long_values.contains(&name) {
            self.max_long_value_bytes
        } else {
            self.max_value_bytes
        }
    }
}

/// Parameters in the order received; the query's come first. Components without escapes are
/// borrowed from the request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params<'a> {
    pairs: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamsError {
    #[error("the query string contains a syntax error")]
    Malformed,
    /// The name is readable but its value is not percent-encoded UTF-8.
    #[error("the value of {0} is not percent-encoded UTF-8")]
    MalformedValue(String),
    #[error("parameter {0} is given more than once")]
    Repeated(String),
    #[error("the request has more than {max} parameters")]
    TooMany { max: usize },
    /// A name longer than any parameter's; not echoed.
    #[error("a parameter name is longer than {max} bytes")]
    NameTooLong { max: usize },
    #[error("the value of {name} is longer than {max} bytes")]
    ValueTooLong { name: String, max: usize },
}

impl<'a> Params<'a> {
    /// Parses `query` and, when the body is a form, `body`. The same name twice is refused:
    /// AWS and Alibaba both take one value per name, and silently picking one would hide bugs.
    pub fn parse(
        query: &'a str,
        body: Option<&'a [u8]>,
        limits: &Limits,
    ) -> Result<Params<'a>, ParamsError> {
        // Counted before anything is decoded, so an oversized request costs one scan.
        let count = pieces(query.as_bytes()).count() + body.map_or(0, |b| pieces(b).count());
        if count > limits.max_parameters {
            return Err(ParamsError::TooMany {
                max: limits.max_parameters,
            });
        }
        let mut pairs = Vec::with_capacity(count);
        decode_form(query.as_bytes(), limits, &mut pairs)?;
        if let Some(body) = body {
            decode_form(body, limits, &mut pairs)?;
        }
        let mut seen = HashSet::with_capacity(pairs.len());
        for (name, _) in &pairs {
            if !seen.insert(name.as_ref()) {
                return Err(ParamsError::Repeated(name.to_string()));
            }
        }
        Ok(Params { pairs })
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_ref())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(n, v)| (n.as_ref(), v.as_ref()))
    }

    /// Every pair as received; signatures are computed over exactly these.
    pub fn pairs(&self) -> &[(Cow<'a, str>, Cow<'a, str>)] {
        &self.pairs
    }

    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

/// The `name=value` pieces of a form, empty ones skipped.
fn pieces(input: &[u8]) -> impl Iterator<Item = &[u8]> {
    input
        .split(|b| *b == b'&')
        .filter(|piece| !piece.is_empty())
}

fn decode_form<'a>(
    input: &'a [u8],
    limits: &Limits,
    out: &mut Vec<(Cow<'a, str>, Cow<'a, str>)>,
) -> Result<(), ParamsError> {
    for piece in pieces(input) {
        let (name, value) = match piece.iter().position(|b| *b == b'=') {
            Some(eq) => (&piece[..eq], &piece[eq + 1..]),
            None => (piece, &b""[..]),
        };
        let name = decode_component(name)?;
        if name.is_empty() {
            return Err(ParamsError::Malformed);
        }
        if name.len() > limits.max_value_bytes {
            return Err(ParamsError::NameTooLong {
                max: limits.max_value_bytes,
            });
        }
        let value =
            decode_component(value).map_err(|_| ParamsError::MalformedValue(name.to_string()))?;
        let max = limits.max_value_bytes_of(&name);
        if value.len() > max {
            return Err(ParamsError::ValueTooLong {
                name: name.into_owned(),
                max,
            });
        }
        out.push((name, value));
    }
    Ok(())
}

/// Form decoding: `+` is a space and `%XY` a byte; the result must be UTF-8. Borrows `input`
/// when it holds neither.
pub fn decode_component(input: &[u8]) -> Result<Cow<'_, str>, ParamsError> {
    if !input.iter().any(|b| matches!(b, b'+' | b'%')) {
        return std::str::from_utf8(input)
            .map(Cow::Borrowed)
            .map_err(|_| ParamsError::Malformed);
    }
    let mut bytes = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'+' => bytes.push(b' '),
            b'%' => {
                let hex = input.get(i + 1..i + 3).ok_or(ParamsError::Malformed)?;
                // from_str_radix alone takes a sign: "%+1" would decode as byte 1.
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return Err(ParamsError::Malformed);
                }
                let text = std::str::from_utf8(hex).map_err(|_| ParamsError::Malformed)?;
                bytes.push(u8::from_str_radix(text, 16).map_err(|_| ParamsError::Malformed)?);
                i += 2;
            }
            other => bytes.push(other),
        }
        i += 1;
    }
    String::from_utf8(bytes)
        .map(Cow::Owned)
        .map_err(|_| ParamsError::Malformed)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Limits small enough to test at their edges.
    pub(crate) const SMALL: Limits = Limits {
        max_parameters: 4,
        max_value_bytes: 8,
        long_values: &["Key"],
        max_long_value_bytes: 16,
    };

    /// Limits no unit test reaches.
    pub(crate) const ROOMY: Limits = Limits {
        max_parameters: 10_000,
        max_value_bytes: 100_000,
        long_values: &[],
        max_long_value_bytes: 100_000,
    };

    fn parse<'a>(query: &'a str, body: Option<&'a [u8]>) -> Result<Params<'a>, ParamsError> {
        Params::parse(query, body, &ROOMY)
    }

    #[test]
    fn merges_query_and_body_in_order() {
        let p = parse("Action=X&Version=1", Some(b"KeyName=a+b%2Fc&Empty=&Bare")).unwrap();
        let all: Vec<_> = p.iter().collect();
        assert_eq!(
            all,
            vec![
                ("Action", "X"),
                ("Version", "1"),
                ("KeyName", "a b/c"),
                ("Empty", ""),
                ("Bare", "")
            ]
        );
        assert_eq!(p.get("KeyName"), Some("a b/c"));
        assert_eq!(p.get("Missing"), None);
    }

    #[test]
    fn components_without_escapes_are_borrowed() {
        let p = parse("Plain=value&Esc%61ped=a+b", None).unwrap();
        let [(plain_name, plain_value), (escaped_name, escaped_value)] = p.pairs() else {
            panic!("two pairs expected: {p:?}");
        };
        assert!(matches!(plain_name, Cow::Borrowed("Plain")));
        assert!(matches!(plain_value, Cow::Borrowed("value")));
        assert!(matches!(escaped_name, Cow::Owned(n) if n == "Escaped"));
        assert!(matches!(escaped_value, Cow::Owned(v) if v == "a b"));
    }

    #[test]
    fn decodes_utf8_and_rejects_broken_input() {
        let p = parse("", Some("K=%C3%A9%E2%82%AC".as_bytes())).unwrap();
        assert_eq!(p.get("K"), Some("é€"));
        let bad_value = Err(ParamsError::MalformedValue("K".into()));
        assert_eq!(parse("K=%FF", None), bad_value);
        assert_eq!(parse("K=%4", None), bad_value);
        assert_eq!(parse("K=%zz", None), bad_value);
        assert_eq!(parse("%FF=v", None), Err(ParamsError::Malformed));
        assert_eq!(parse("=v", None), Err(ParamsError::Malformed));
        assert_eq!(
            parse("", Some(&[b'K', b'=', 0xC3][..])),
            Err(ParamsError::MalformedValue("K".into()))
        );
    }

    /// Found by the `params` fuzz target: a sign after `%` was read as part of the escape.
    #[test]
    fn an_escape_is_two_hex_digits_without_a_sign() {
        assert_eq!(
            parse("K=%+22", None),
            Err(ParamsError::MalformedValue("K".into()))
        );
        assert_eq!(parse("%+4=v", None), Err(ParamsError::Malformed));
        assert_eq!(decode_component(b"%-1"), Err(ParamsError::Malformed));
        assert_eq!(decode_component(b"%2b%2B").as_deref(), Ok("++"));
    }

    #[test]
    fn refuses_repeated_names() {
        assert_eq!(
            parse("A=1", Some(b"A=2")),
            Err(ParamsError::Repeated("A".into()))
        );
        assert_eq!(
            parse("A=1&B=2&C=3&B=4", None),
            Err(ParamsError::Repeated("B".into()))
        );
    }

    #[test]
    fn counts_parameters_of_query_and_body_together() {
        assert_eq!(
            Params::parse("A=1&B=2", Some(b"C=3&D=4"), &SMALL)
                .unwrap()
                .iter()
                .count(),
            4
        );
        // Empty pieces are no parameters.
        assert!(Params::parse("A=1&&B=2&", Some(b"&C=3&D=4"), &SMALL).is_ok());
        assert_eq!(
            Params::parse("A=1&B=2", Some(b"C=3&D=4&E=5"), &SMALL),
            Err(ParamsError::TooMany { max: 4 })
        );
        // Counting comes first: a body of broken pieces is refused for its count.
        assert_eq!(
            Params::parse("", Some(b"%=&%=&%=&%=&%="), &SMALL),
            Err(ParamsError::TooMany { max: 4 })
        );
    }

    #[test]
    fn caps_names_and_values_after_decoding() {
        // Eight bytes decoded, from sixteen on the wire.
        assert_eq!(
            Params::parse("N=%41%41%41%41%41%41%41%41", None, &SMALL)
                .unwrap()
                .get("N"),
            Some("AAAAAAAA")
        );
        assert_eq!(
            Params::parse("N=123456789", None, &SMALL),
            Err(ParamsError::ValueTooLong {
                name: "N".into(),
                max: 8
            })
        );
        assert!(Params::parse("Abcdefgh=1", None, &SMALL).is_ok());
        assert_eq!(
            Params::parse("Abcdefghi=1", None, &SMALL),
            Err(ParamsError::NameTooLong { max: 8 })
        );
        // A long value's own cap.
        let sixteen = "Key=0123456789abcdef";
        assert!(Params::parse(sixteen, None, &SMALL).is_ok());
        assert_eq!(
            Params::parse(&format!("{sixteen}0"), None, &SMALL),
            Err(ParamsError::ValueTooLong {
                name: "Key".into(),
                max: 16
            })
        );
    }

    #[test]
    fn fifty_thousand_distinct_names_take_linear_time() {
        let body: String = (0..50_000).map(|i| format!("N{i}=&")).collect();
        let start = std::time::Instant::now();
        let p = parse("", Some(body.as_bytes())).unwrap_err();
        assert_eq!(p, ParamsError::TooMany { max: 10_000 });
        let limits = Limits {
            max_parameters: 50_000,
            ..ROOMY
        };
        assert_eq!(
            Params::parse("", Some(body.as_bytes()), &limits)
                .unwrap()
                .iter()
                .count(),
            50_000
        );
        // The quadratic scan took seconds here; hashing takes milliseconds, even unoptimised.
        assert!(start.elapsed() < std::time::Duration::from_millis(500));
    }
}
