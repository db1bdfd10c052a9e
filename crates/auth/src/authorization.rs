//! The `Authorization` header shape SigV4 and ACS V3 share:
//! `<algorithm> Credential=…, SignedHeaders=…, Signature=…` (commas, optional spaces, other
//! keys ignored). Each scheme words its own errors; the splitting is the same.

/// The three parameters, as sent (trimmed); `None` when absent.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct AuthorizationParts<'a> {
    pub credential: Option<&'a str>,
    pub signed_headers: Option<&'a str>,
    pub signature: Option<&'a str>,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PartsError<'a> {
    /// A comma-separated part without `=`.
    NotKeyValue(&'a str),
    /// One of the three keys given twice.
    Duplicate(&'a str),
}

/// Splits what follows the algorithm name.
pub(crate) fn split_parts(rest: &str) -> Result<AuthorizationParts<'_>, PartsError<'_>> {
    let mut parts = AuthorizationParts::default();
    for part in rest.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((key, value)) = part.split_once('=') else {
            return Err(PartsError::NotKeyValue(part));
        };
        let key = key.trim();
        let slot = match key {
            "Credential" => &mut parts.credential,
            "SignedHeaders" => &mut parts.signed_headers,
            "Signature" => &mut parts.signature,
            _ => continue,
        };
        if slot.replace(value.trim()).is_some() {
            return Err(PartsError::Duplicate(key));
        }
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_with_or_without_spaces_and_ignores_other_keys() {
        let parts =
            split_parts("Credential=a/b, SignedHeaders=host;x ,Other=1,Signature=ff").unwrap();
        assert_eq!(
            parts,
            AuthorizationParts {
                credential: Some("a/b"),
                signed_headers: Some("host;x"),
                signature: Some("ff"),
            }
        );
        assert_eq!(split_parts("").unwrap(), AuthorizationParts::default());
    }

    #[test]
    fn refuses_bare_parts_and_duplicates() {
        assert_eq!(
            split_parts("Credential=a, junk"),
            Err(PartsError::NotKeyValue("junk"))
        );
        assert_eq!(
            split_parts("Signature=a,Signature=b"),
            Err(PartsError::Duplicate("Signature"))
        );
    }
}
