//! Scopes (RFC 6749 §3.3): space-delimited tokens of printable ASCII without `"` and `\`.

use super::error::OAuthError;

/// Parses a `scope` parameter into distinct tokens, order kept.
pub fn parse(raw: &str) -> Result<Vec<String>, OAuthError> {
    let mut out: Vec<String> = Vec::new();
    for token in raw.split(' ').filter(|t| !t.is_empty()) {
        let valid = token.bytes().all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b));
        if !valid {
            return Err(OAuthError::InvalidScope);
        }
        if !out.iter().any(|s| s == token) {
            out.push(token.to_owned());
        }
    }
    Ok(out)
}

/// The scopes granted: every requested one must be allowed (else `invalid_scope`); with no
/// request, all allowed scopes.
pub fn grant(requested: Option<&str>, allowed: &[String]) -> Result<Vec<String>, OAuthError> {
    match requested {
        None => Ok(allowed.to_vec()),
        Some(raw) => {
            let wanted = parse(raw)?;
            if wanted.iter().all(|s| allowed.contains(s)) { Ok(wanted) } else { Err(OAuthError::InvalidScope) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_subsets_only() {
        let allowed = vec!["a".to_owned(), "b".to_owned()];
        assert_eq!(grant(None, &allowed).unwrap(), allowed);
        assert_eq!(grant(Some("b  b"), &allowed).unwrap(), ["b"]);
        assert_eq!(grant(Some("a c"), &allowed), Err(OAuthError::InvalidScope));
        assert_eq!(grant(Some("a\""), &allowed), Err(OAuthError::InvalidScope));
    }
}
