//! `application/x-www-form-urlencoded` request parameters (RFC 6749 §3.1, §3.2): values
//! without content count as omitted; a parameter may appear only once unless the protocol
//! allows repetition (`resource`, RFC 8707 §2).

use super::error::OAuthError;

/// Longest accepted form body.
pub const MAX_FORM_BYTES: usize = 64 * 1024;

/// Parsed form parameters.
#[derive(Debug, Default, Clone)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Parses a form body.
    pub fn parse(body: &[u8]) -> Result<Self, OAuthError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
            .map_err(|_| OAuthError::InvalidRequest("the request body is not valid form encoding"))?;
        Ok(Self { pairs })
    }

    /// Builds parameters from pairs (tests, query strings).
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        Self { pairs }
    }

    /// The single value of `name`; `None` when absent or empty; an error when repeated.
    pub fn one(&self, name: &str) -> Result<Option<&str>, OAuthError> {
        let mut found = self.pairs.iter().filter(|(k, v)| k == name && !v.is_empty());
        match (found.next(), found.next()) {
            (None, _) => Ok(None),
            (Some((_, v)), None) => Ok(Some(v.as_str())),
            (Some(_), Some(_)) => Err(OAuthError::InvalidRequest("a request parameter was repeated")),
        }
    }

    /// Like [`Self::one`] but required.
    pub fn required(&self, name: &str, missing: &'static str) -> Result<&str, OAuthError> {
        self.one(name)?.ok_or(OAuthError::InvalidRequest(missing))
    }

    /// Every pair as it came (a provider's callback is passed on whole).
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// Every non-empty value of a parameter that may repeat.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs.iter().filter(move |(k, v)| k == name && !v.is_empty()).map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameters_are_refused_and_empty_ones_ignored() {
        let p = Params::parse(b"a=1&a=2&b=&c=x%20y&r=1&r=2").unwrap();
        assert!(p.one("a").is_err());
        assert_eq!(p.one("b").unwrap(), None);
        assert_eq!(p.one("c").unwrap(), Some("x y"));
        assert_eq!(p.all("r").collect::<Vec<_>>(), ["1", "2"]);
        // WHATWG form decoding is lenient: a bad escape stays literal rather than failing.
        assert_eq!(Params::parse(b"k=%zz").unwrap().one("k").unwrap(), Some("%zz"));
    }
}
