//! The standard profile claims a user may have (OpenID Connect Core §5.1): what a value must
//! look like to be stored, and what a sign-in provider's claims give a user made just in
//! time (valid values only; anything else is left out rather than stored as given).

use crate::plugins::ExternalIdentity;
use crate::store::Profile;

/// What is wrong with a profile: the field, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileError {
    /// `name`, `given_name`, `family_name`, `locale`, `zoneinfo`, `picture` or `phone_number`.
    pub field: &'static str,
    /// Why it is refused.
    pub why: &'static str,
}

fn text(v: &str) -> Result<(), &'static str> {
    if v.trim().is_empty() || v.chars().count() > 200 {
        Err("must be 1 to 200 characters")
    } else if v.chars().any(char::is_control) {
        Err("may not contain control characters")
    } else {
        Ok(())
    }
}

/// A BCP 47 tag's shape: a 2-8 letter language, then subtags of 1-8 letters or digits.
fn locale(v: &str) -> Result<(), &'static str> {
    let mut parts = v.split('-');
    let lang_ok =
        parts.next().is_some_and(|l| (2..=8).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_alphabetic()));
    let rest_ok = parts.all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()));
    if lang_ok && rest_ok && v.len() <= 35 { Ok(()) } else { Err("must be a BCP 47 language tag such as en-US") }
}

/// An IANA zone name's shape (`Europe/Paris`, `America/Argentina/Buenos_Aires`, `UTC`).
fn zoneinfo(v: &str) -> Result<(), &'static str> {
    let ok = !v.is_empty()
        && v.len() <= 64
        && v.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"/_+-".contains(&b))
        && !v.contains("//");
    if ok { Ok(()) } else { Err("must be an IANA time zone such as Europe/Paris") }
}

fn picture(v: &str) -> Result<(), &'static str> {
    match url::Url::parse(v) {
        Ok(u) if u.scheme() == "https" && u.host_str().is_some() && v.len() <= 2048 => Ok(()),
        _ => Err("must be an https URL"),
    }
}

/// E.164: `+`, then 7 to 15 digits.
fn phone(v: &str) -> Result<(), &'static str> {
    match v.strip_prefix('+') {
        Some(d) if (7..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()) => Ok(()),
        _ => Err("must be an E.164 number such as +15005550006"),
    }
}

/// The rule of the field `name` (one of `Profile::FIELDS`).
fn rule(name: &str) -> fn(&str) -> Result<(), &'static str> {
    match name {
        "locale" => locale,
        "zoneinfo" => zoneinfo,
        "picture" => picture,
        "phone_number" => phone,
        _ => text,
    }
}

/// Checks every field that is set.
pub fn check(p: &Profile) -> Result<(), ProfileError> {
    for (field, value) in p.fields() {
        if let Some(v) = value {
            rule(field)(v).map_err(|why| ProfileError { field, why })?;
        }
    }
    Ok(())
}

/// The profile of a user made at a sign-in with `identity`: the provider's `name` and
/// `picture`, and its `given_name`, `family_name`, `locale` (`en_US` read as `en-US`) and
/// `zoneinfo` claims, each only when valid. Phone numbers are not taken (nobody verified them
/// for this service).
pub fn from_provider(identity: &ExternalIdentity) -> Profile {
    let claim = |k: &str| identity.claims.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    let mut p = Profile {
        name: identity.name.clone(),
        given_name: claim("given_name"),
        family_name: claim("family_name"),
        locale: claim("locale").map(|l| l.replace('_', "-")),
        zoneinfo: claim("zoneinfo"),
        picture: identity.picture.clone(),
        phone_number: None,
    };
    for (field, slot) in p.fields_mut() {
        if slot.as_deref().is_some_and(|v| rule(field)(v).is_err()) {
            *slot = None;
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_field_has_its_shape() {
        let ok = Profile {
            name: Some("Alice Liddell".into()),
            given_name: Some("Alice".into()),
            family_name: Some("Liddell".into()),
            locale: Some("en-GB".into()),
            zoneinfo: Some("America/Argentina/Buenos_Aires".into()),
            picture: Some("https://example.com/a.png".into()),
            phone_number: Some("+447700900123".into()),
        };
        assert_eq!(check(&ok), Ok(()));
        let bad = |p: Profile| check(&p).map_err(|e| e.field);
        assert_eq!(bad(Profile { locale: Some("en GB".into()), ..ok.clone() }), Err("locale"));
        assert_eq!(bad(Profile { zoneinfo: Some("../etc".into()), ..ok.clone() }), Err("zoneinfo"));
        assert_eq!(bad(Profile { picture: Some("http://example.com/a.png".into()), ..ok.clone() }), Err("picture"));
        assert_eq!(bad(Profile { phone_number: Some("07700 900123".into()), ..ok.clone() }), Err("phone_number"));
        assert_eq!(bad(Profile { name: Some("a\u{7}b".into()), ..ok.clone() }), Err("name"));
        assert_eq!(bad(Profile { given_name: Some(" ".into()), ..ok }), Err("given_name"));
        assert_eq!(check(&Profile::default()), Ok(()), "nothing set is fine");
    }
}
