//! TOTP (RFC 6238) as every authenticator app expects it: SHA-1, 6 digits, 30-second steps,
//! one step of clock skew either way. The secret is 20 random bytes (the HMAC-SHA-1 key
//! size RFC 4226 recommends), kept base32 as apps take it. Enrolment shows it three ways: a
//! QR code (inline SVG, no script), the `otpauth://` URI, and the base32 text for typing.

use totp_rs::{Algorithm, Secret, Totp};

/// Digits per code.
pub const DIGITS: u8 = 6;
/// Seconds per step.
pub const STEP: u64 = 30;

/// What an enrolment page shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrolment {
    /// The secret in groups of four base32 characters, for typing.
    pub secret_text: String,
    /// `otpauth://totp/...`.
    pub uri: String,
    /// The URI as a QR code, an SVG document.
    pub qr_svg: String,
}

/// A new secret, base32 without padding.
pub fn new_secret() -> Result<String, crate::secret::RandomError> {
    let bytes = crate::secret::random_bytes::<20>()?;
    Ok(Secret::from(bytes.to_vec()).to_base32())
}

fn totp(secret: &str, account: &str, issuer: &str) -> Option<Totp> {
    let bytes = Secret::try_from_base32(secret).ok()?;
    // The label's two parts may not hold a colon (Key Uri Format).
    let account = account.replace(':', "_");
    totp_rs::Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(DIGITS)
        .with_step_duration(STEP)
        .with_skew(1)
        .with_secret(bytes)
        .with_account_name(account)
        .with_issuer(Some(issuer.replace(':', "_")))
        .build()
        .ok()
}

/// The step a six-digit `code` matches at unix time `now` (±1 step), if any. Codes of other
/// shapes match nothing.
pub fn check(secret: &str, code: &str, now: i64) -> Option<u64> {
    if code.len() != usize::from(DIGITS) || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = u64::try_from(now).ok()?;
    totp(secret, "-", "-")?.check(code, now)
}

/// The enrolment page's content for `secret`, labelled `issuer: account`.
pub fn enrolment(secret: &str, account: &str, issuer: &str) -> Option<Enrolment> {
    let uri = totp(secret, account, issuer)?.to_url().ok()?;
    let qr = qrcode::QrCode::new(uri.as_bytes()).ok()?;
    let qr_svg = qr
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .dark_color(qrcode::render::svg::Color("#000000"))
        .light_color(qrcode::render::svg::Color("#ffffff"))
        .build();
    let secret_text =
        secret.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join(" ");
    Some(Enrolment { secret_text, uri, qr_svg })
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 6238 appendix B's SHA-1 key, "12345678901234567890".
    const RFC_KEY: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

    #[test]
    fn rfc_6238_vectors_match_with_one_step_of_skew() {
        // 59 s -> 94287082 with 8 digits; the 6-digit code is its last six.
        assert_eq!(check(RFC_KEY, "287082", 59), Some(1));
        assert_eq!(check(RFC_KEY, "287082", 59 + 30), Some(1), "one step late");
        assert_eq!(check(RFC_KEY, "287082", 59 + 60), None, "two steps late");
        assert_eq!(check(RFC_KEY, "081804", 1_111_111_109), Some(37_037_036));
        for bad in ["28708", "2870822", "28708a", " 287082", ""] {
            assert_eq!(check(RFC_KEY, bad, 59), None, "{bad:?}");
        }
    }

    #[test]
    fn an_enrolment_carries_the_secret_three_ways() {
        let secret = new_secret().unwrap();
        assert_eq!(secret.len(), 32);
        let e = enrolment(&secret, "alice@example.com", "Gatehouse").unwrap();
        assert!(e.uri.starts_with("otpauth://totp/Gatehouse:alice%40example.com?"), "{}", e.uri);
        assert!(e.uri.contains(&format!("secret={secret}")), "{}", e.uri);
        assert!(e.qr_svg.contains("<svg"), "an SVG");
        assert_eq!(e.secret_text.replace(' ', ""), secret);
    }
}
