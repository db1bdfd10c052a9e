//! Form parameters from the query string and a form body, merged. Decoding is strict: invalid
//! percent-escapes or invalid UTF-8 are reported rather than replaced, so a mangled name never
//! reaches the inventory.

/// Parameters in the order received; the query's come first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    pairs: Vec<(String, String)>,
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
}

impl Params {
    /// Parses `query` and, when the body is a form, `body`. The same name twice is refused:
    /// AWS and Alibaba both take one value per name, and silently picking one would hide bugs.
    pub fn parse(query: &str, body: Option<&[u8]>) -> Result<Params, ParamsError> {
        let mut pairs = Vec::new();
        decode_form(query.as_bytes(), &mut pairs)?;
        if let Some(body) = body {
            decode_form(body, &mut pairs)?;
        }
        for (i, (name, _)) in pairs.iter().enumerate() {
            if pairs[..i].iter().any(|(earlier, _)| earlier == name) {
                return Err(ParamsError::Repeated(name.clone()));
            }
        }
        Ok(Params { pairs })
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// Every pair as received; signatures are computed over exactly these.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

fn decode_form(input: &[u8], out: &mut Vec<(String, String)>) -> Result<(), ParamsError> {
    for piece in input.split(|b| *b == b'&') {
        if piece.is_empty() {
            continue;
        }
        let (name, value) = match piece.iter().position(|b| *b == b'=') {
            Some(eq) => (&piece[..eq], &piece[eq + 1..]),
            None => (piece, &b""[..]),
        };
        let name = decode_component(name)?;
        if name.is_empty() {
            return Err(ParamsError::Malformed);
        }
        let value =
            decode_component(value).map_err(|_| ParamsError::MalformedValue(name.clone()))?;
        out.push((name, value));
    }
    Ok(())
}

/// Form decoding: `+` is a space and `%XY` a byte; the result must be UTF-8.
pub fn decode_component(input: &[u8]) -> Result<String, ParamsError> {
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
    String::from_utf8(bytes).map_err(|_| ParamsError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_query_and_body_in_order() {
        let p = Params::parse("Action=X&Version=1", Some(b"KeyName=a+b%2Fc&Empty=&Bare")).unwrap();
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
    fn decodes_utf8_and_rejects_broken_input() {
        let p = Params::parse("", Some("K=%C3%A9%E2%82%AC".as_bytes())).unwrap();
        assert_eq!(p.get("K"), Some("é€"));
        let bad_value = Err(ParamsError::MalformedValue("K".into()));
        assert_eq!(Params::parse("K=%FF", None), bad_value);
        assert_eq!(Params::parse("K=%4", None), bad_value);
        assert_eq!(Params::parse("K=%zz", None), bad_value);
        assert_eq!(Params::parse("%FF=v", None), Err(ParamsError::Malformed));
        assert_eq!(Params::parse("=v", None), Err(ParamsError::Malformed));
        assert_eq!(
            Params::parse("", Some(&[b'K', b'=', 0xC3][..])),
            Err(ParamsError::MalformedValue("K".into()))
        );
    }

    /// Found by the `params` fuzz target: a sign after `%` was read as part of the escape.
    #[test]
    fn an_escape_is_two_hex_digits_without_a_sign() {
        assert_eq!(
            Params::parse("K=%+22", None),
            Err(ParamsError::MalformedValue("K".into()))
        );
        assert_eq!(Params::parse("%+4=v", None), Err(ParamsError::Malformed));
        assert_eq!(decode_component(b"%-1"), Err(ParamsError::Malformed));
        assert_eq!(decode_component(b"%2b%2B").as_deref(), Ok("++"));
    }

    #[test]
    fn refuses_repeated_names() {
        assert_eq!(
            Params::parse("A=1", Some(b"A=2")),
            Err(ParamsError::Repeated("A".into()))
        );
    }
}
