//! Recovery codes: ten single-use codes of ten characters from Crockford's base32 alphabet
//! (50 bits each), shown once as `xxxxx-xxxxx`, stored as SHA-256 digests (enough at this
//! entropy: there is nothing to brute-force offline faster than the sign-in limits allow
//! online), compared in constant time. Typing is forgiving: case, spaces and dashes do not
//! matter, and the letters Crockford maps (`o`, `i`, `l`) read as the digits they look like.

use crate::secret::{RandomError, ct_eq, random_bytes, sha256_hex};

/// Codes per set.
pub const COUNT: usize = 10;
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
const LEN: usize = 10;

/// A new set: the codes to show, and their digests to store.
pub fn generate() -> Result<(Vec<String>, Vec<String>), RandomError> {
    let mut shown = Vec::with_capacity(COUNT);
    let mut stored = Vec::with_capacity(COUNT);
    while shown.len() < COUNT {
        let bytes = random_bytes::<LEN>()?;
        let raw: String = bytes.iter().map(|b| char::from(ALPHABET[usize::from(b & 31)])).collect();
        let digest = sha256_hex(raw.as_bytes());
        if stored.contains(&digest) {
            continue;
        }
        shown.push(format!("{}-{}", &raw[..5], &raw[5..]));
        stored.push(digest);
    }
    Ok((shown, stored))
}

/// What a typed code is, in the stored alphabet; `None` when it cannot be a code.
pub fn normalize(typed: &str) -> Option<String> {
    let mut out = String::with_capacity(LEN);
    for c in typed.chars() {
        let c = match c.to_ascii_lowercase() {
            ' ' | '-' => continue,
            'o' => '0',
            'i' | 'l' => '1',
            c if c.is_ascii() && ALPHABET.contains(&(c as u8)) => c,
            _ => return None,
        };
        out.push(c);
    }
    (out.len() == LEN).then_some(out)
}

/// The index of the stored digest `typed` matches. Every digest is compared, so the time
/// taken does not say which (or whether one) matched.
pub fn find(stored: &[String], typed: &str) -> Option<usize> {
    let digest = sha256_hex(normalize(typed)?.as_bytes());
    let mut found = None;
    for (i, s) in stored.iter().enumerate() {
        if ct_eq(s.as_bytes(), digest.as_bytes()) && found.is_none() {
            found = Some(i);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_found_as_typed_and_only_then() {
        let (shown, stored) = generate().unwrap();
        assert_eq!((shown.len(), stored.len()), (COUNT, COUNT));
        for (i, code) in shown.iter().enumerate() {
            assert_eq!(code.len(), 11);
            assert_eq!(find(&stored, code), Some(i));
            assert_eq!(find(&stored, &code.to_uppercase().replace('-', " ")), Some(i));
        }
        assert_eq!(find(&stored, "00000-00000"), None);
        assert_eq!(find(&stored, "123456"), None, "a TOTP code is not a recovery code");
        assert_eq!(find(&stored, "ééééé-ééééé"), None);
        assert_eq!(normalize("O1IL0-abcde").as_deref(), Some("01110abcde"));
    }
}
