//! A software passkey: what a platform authenticator and the browser's WebAuthn API do
//! together, for tests and load runs that have no browser. It makes a P-256 key (aws-lc-rs),
//! answers registration options with a `none` attestation and sign-in options with an
//! assertion, both in the JSON the page script sends (`templates/passkeys.js`): base64url
//! fields, a `clientDataJSON` naming the origin, user presence and verification set, and a
//! signature counter that moves on each use.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_cbor_2::Value as Cbor;
use serde_json::{Value, json};

/// Authenticator data flags: user present, user verified, attested credential data.
const UP: u8 = 0x01;
const UV: u8 = 0x04;
const AT: u8 = 0x40;

/// One discoverable credential on a software authenticator.
pub struct SoftPasskey {
    key: EcdsaKeyPair,
    id: Vec<u8>,
    user_handle: Vec<u8>,
    /// The signature counter the next answer carries.
    pub counter: u32,
    /// Whether answers claim user verification.
    pub verified: bool,
    origin: String,
    rp_id: String,
}

fn b64(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

fn sha256(data: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data).as_ref().to_vec()
}

impl SoftPasskey {
    /// A new credential for the site at `origin` (`http://localhost:PORT`).
    pub fn new(origin: &str) -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).expect("key");
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref()).expect("key");
        let id = aws_lc_rs::rand::generate::<[u8; 16]>(&rng).expect("random").expose().to_vec();
        let rp_id = url::Url::parse(origin).expect("origin").host_str().expect("host").to_owned();
        Self { key, id, user_handle: Vec::new(), counter: 1, verified: true, origin: origin.to_owned(), rp_id }
    }

    /// The credential id, base64url.
    pub fn id(&self) -> String {
        b64(&self.id)
    }

    fn client_data(&self, kind: &str, options: &Value) -> Vec<u8> {
        let challenge = options["publicKey"]["challenge"].as_str().expect("a challenge");
        json!({ "type": kind, "challenge": challenge, "origin": self.origin, "crossOrigin": false })
            .to_string()
            .into_bytes()
    }

    fn auth_data(&mut self, flags: u8, attested: Option<Vec<u8>>) -> Vec<u8> {
        let mut out = sha256(self.rp_id.as_bytes());
        out.push(flags | if self.verified { UV } else { 0 });
        out.extend_from_slice(&self.counter.to_be_bytes());
        self.counter += 1;
        out.extend(attested.unwrap_or_default());
        out
    }

    /// The answer to registration `options` (`{"publicKey": ...}`): the credential JSON.
    pub fn register(&mut self, options: &Value) -> Value {
        let user = options["publicKey"]["user"]["id"].as_str().expect("a user handle");
        self.user_handle = URL_SAFE_NO_PAD.decode(user.trim_end_matches('=')).expect("base64url user handle");
        // The public key as COSE_Key (RFC 9053): EC2, ES256, P-256, x, y.
        let point = self.key.public_key().as_ref();
        let int = |i: i128| Cbor::Integer(i);
        let cose = Cbor::Map(
            [
                (int(1), int(2)),
                (int(3), int(-7)),
                (int(-1), int(1)),
                (int(-2), Cbor::Bytes(point[1..33].to_vec())),
                (int(-3), Cbor::Bytes(point[33..65].to_vec())),
            ]
            .into_iter()
            .collect(),
        );
        let mut attested = vec![0u8; 16]; // AAGUID
        attested.extend_from_slice(&u16::try_from(self.id.len()).expect("short id").to_be_bytes());
        attested.extend_from_slice(&self.id);
        attested.extend(serde_cbor_2::to_vec(&cose).expect("cbor"));
        let auth_data = self.auth_data(UP | AT, Some(attested));
        let text = |s: &str| Cbor::Text(s.to_owned());
        let attestation = Cbor::Map(
            [
                (text("fmt"), text("none")),
                (text("attStmt"), Cbor::Map(Default::default())),
                (text("authData"), Cbor::Bytes(auth_data)),
            ]
            .into_iter()
            .collect(),
        );
        let client_data = self.client_data("webauthn.create", options);
        json!({
            "id": self.id(), "rawId": self.id(), "type": "public-key", "extensions": {},
            "response": {
                "attestationObject": b64(&serde_cbor_2::to_vec(&attestation).expect("cbor")),
                "clientDataJSON": b64(&client_data),
            },
        })
    }

    /// The answer to sign-in `options`: the assertion JSON.
    pub fn assert(&mut self, options: &Value) -> Value {
        let client_data = self.client_data("webauthn.get", options);
        let auth_data = self.auth_data(UP, None);
        let mut signed = auth_data.clone();
        signed.extend(sha256(&client_data));
        let signature = self.key.sign(&SystemRandom::new(), &signed).expect("signature");
        json!({
            "id": self.id(), "rawId": self.id(), "type": "public-key", "extensions": {},
            "response": {
                "authenticatorData": b64(&auth_data),
                "clientDataJSON": b64(&client_data),
                "signature": b64(signature.as_ref()),
                "userHandle": b64(&self.user_handle),
            },
        })
    }
}

/// POSTs JSON `body` to `path` in browser `b`; returns status and JSON answer.
async fn post_json(b: &crate::browser::Browser, path: &str, body: &Value) -> (u16, Value) {
    let r = b.http.post(format!("{}{path}", b.base)).json(body).send().await.expect("request");
    (r.status().as_u16(), r.json().await.unwrap_or_default())
}

/// Registers `pk` on the account page of the signed-in browser `b` (a recent sign-in: no
/// password asked); returns the finish answer.
pub async fn register(b: &crate::browser::Browser, pk: &mut SoftPasskey, name: &str) -> Value {
    let account = b.get("/account").await;
    let csrf = crate::browser::hidden(&account.body, "csrf").expect("the account page's csrf");
    let (status, options) =
        post_json(b, "/account/passkeys/register/begin", &json!({ "csrf": csrf, "name": name })).await;
    assert_eq!(status, 200, "{options}");
    let credential = pk.register(&options);
    let (status, done) =
        post_json(b, "/account/passkeys/register/finish", &json!({ "csrf": csrf, "credential": credential })).await;
    assert_eq!(status, 200, "{done}");
    done
}

/// Signs in with `pk` on the login page `page` (passwordless): the finish answer's status
/// and JSON (`redirect` on success).
pub async fn sign_in(b: &crate::browser::Browser, page: &crate::browser::Page, pk: &mut SoftPasskey) -> (u16, Value) {
    let flow = crate::browser::hidden(&page.body, "flow").expect("flow");
    let csrf = crate::browser::hidden(&page.body, "csrf").expect("csrf");
    let (status, options) = post_json(b, &format!("/login/passkey/begin?flow={flow}"), &json!({ "csrf": csrf })).await;
    assert_eq!(status, 200, "{options}");
    let credential = pk.assert(&options);
    post_json(b, &format!("/login/passkey/finish?flow={flow}"), &json!({ "csrf": csrf, "credential": credential }))
        .await
}
