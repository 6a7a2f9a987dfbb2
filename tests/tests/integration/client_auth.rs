//! Client authentication: secret (Basic and body), private_key_jwt (inline JWKS and
//! jwks_uri), and the failures.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse::paths;
use gatehouse_tests::{SVC_ID, SVC_SECRET, TestServer, standard_config};
use jsonwebtoken::{EncodingKey, Header};
use serde_json::{Value, json};

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A client key pair: PKCS#8 for signing, the public JWK for the server.
struct ClientKey {
    pkcs8: Vec<u8>,
    jwk: Value,
}

fn client_key(kid: &str) -> ClientKey {
    let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new()).unwrap();
    let kp = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref()).unwrap();
    let point = kp.public_key().as_ref();
    let jwk = json!({
        "kty": "EC", "crv": "P-256", "kid": kid, "alg": "ES256", "use": "sig",
        "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
    });
    ClientKey { pkcs8: doc.as_ref().to_vec(), jwk }
}

fn assertion(key: &ClientKey, client: &str, aud: &str, jti: &str, now: i64) -> String {
    let mut header = Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = key.jwk["kid"].as_str().map(str::to_owned);
    let claims = json!({ "iss": client, "sub": client, "aud": aud, "jti": jti, "exp": now + 60, "iat": now });
    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ec_der(&key.pkcs8)).unwrap()
}

async fn with_jwt_clients(inline: &ClientKey, jwks_uri: &str) -> TestServer {
    let jwks = json!({ "keys": [inline.jwk] }).to_string();
    let config = format!(
        "{}\n[[clients]]\nid = \"keyed\"\njwks = '{jwks}'\nscopes = [\"s\"]\n\n[[clients]]\nid = \"remote\"\njwks_uri = \"{jwks_uri}\"\nscopes = [\"s\"]\n",
        standard_config()
    );
    TestServer::start_with(&config).await
}

async fn post_assertion(s: &TestServer, path: &str, assertion: &str, extra: &[(&str, &str)]) -> reqwest::Response {
    let mut form = vec![("client_assertion_type", JWT_BEARER), ("client_assertion", assertion)];
    form.extend_from_slice(extra);
    s.http.post(s.url(path)).form(&form).send().await.unwrap()
}

/// Serves `jwks` on a loopback port; returns its URL.
async fn serve_jwks(jwks: Value) -> String {
    let app = axum::Router::new().route("/jwks.json", axum::routing::get(move || async move { axum::Json(jwks) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/jwks.json")
}

#[tokio::test]
async fn client_secret_basic_and_post_both_work() {
    let s = TestServer::start().await;
    s.svc_token(&[]).await;
    let resp = s
        .http
        .post(s.url(paths::TOKEN))
        .form(&[("grant_type", "client_credentials"), ("client_id", SVC_ID), ("client_secret", SVC_SECRET)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn wrong_secret_is_invalid_client_with_a_basic_challenge() {
    let s = TestServer::start().await;
    let resp = s.post_basic(paths::TOKEN, SVC_ID, "wrong", &[("grant_type", "client_credentials")]).await;
    assert_eq!(resp.status(), 401);
    assert!(resp.headers()["www-authenticate"].to_str().unwrap().starts_with("Basic"));
    assert_eq!(resp.json::<Value>().await.unwrap()["error"], "invalid_client");
    let resp = s.post_basic(paths::TOKEN, "nobody", "x", &[("grant_type", "client_credentials")]).await;
    assert_eq!(resp.status(), 401);
    let resp = s
        .http
        .post(s.url(paths::TOKEN))
        .form(&[("grant_type", "client_credentials"), ("client_id", SVC_ID), ("client_secret", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert!(resp.headers().get("www-authenticate").is_none());
}

#[tokio::test]
async fn two_authentication_methods_at_once_are_refused() {
    let s = TestServer::start().await;
    let resp = s
        .post_basic(
            paths::TOKEN,
            SVC_ID,
            SVC_SECRET,
            &[("grant_type", "client_credentials"), ("client_secret", SVC_SECRET)],
        )
        .await;
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"], "invalid_request");
}

#[tokio::test]
async fn private_key_jwt_with_inline_jwks_and_single_use_jti() {
    let key = client_key("k1");
    let s = with_jwt_clients(&key, "http://127.0.0.1:9/unused").await;
    let now = s.clock.now_unix();
    let a = assertion(&key, "keyed", &s.url(paths::TOKEN), "jti-1", now);
    let resp = post_assertion(&s, paths::TOKEN, &a, &[("grant_type", "client_credentials")]).await;
    assert_eq!(resp.status(), 200);
    // Replay of the same assertion is refused.
    let resp = post_assertion(&s, paths::TOKEN, &a, &[("grant_type", "client_credentials")]).await;
    assert_eq!(resp.status(), 401);
    // The issuer is an accepted audience too; another audience is not.
    let a = assertion(&key, "keyed", &s.base, "jti-2", now);
    assert_eq!(post_assertion(&s, paths::TOKEN, &a, &[("grant_type", "client_credentials")]).await.status(), 200);
    let a = assertion(&key, "keyed", "https://elsewhere.example", "jti-3", now);
    assert_eq!(post_assertion(&s, paths::TOKEN, &a, &[("grant_type", "client_credentials")]).await.status(), 401);
    // Signed by a key the client did not register.
    let stranger = client_key("k1");
    let a = assertion(&stranger, "keyed", &s.url(paths::TOKEN), "jti-4", now);
    assert_eq!(post_assertion(&s, paths::TOKEN, &a, &[("grant_type", "client_credentials")]).await.status(), 401);
    // A secret-based client cannot authenticate with an assertion, nor the keyed one with a secret.
    let a = assertion(&key, SVC_ID, &s.url(paths::TOKEN), "jti-5", now);
    assert_eq!(post_assertion(&s, paths::TOKEN, &a, &[("grant_type", "client_credentials")]).await.status(), 401);
    let resp = s.post_basic(paths::TOKEN, "keyed", "", &[("grant_type", "client_credentials")]).await;
    assert_eq!(resp.status(), 401);
}

#[tokio::test]
async fn private_key_jwt_with_jwks_uri() {
    let key = client_key("remote-1");
    let url = serve_jwks(json!({ "keys": [key.jwk] })).await;
    let unused = client_key("unused");
    let s = with_jwt_clients(&unused, &url).await;
    let now = s.clock.now_unix();
    let a = assertion(&key, "remote", &s.url(paths::TOKEN), "r-1", now);
    let resp =
        post_assertion(&s, paths::TOKEN, &a, &[("grant_type", "client_credentials"), ("client_id", "remote")]).await;
    assert_eq!(resp.status(), 200);
    let expired = {
        let mut header = Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some("remote-1".into());
        let claims =
            json!({ "iss": "remote", "sub": "remote", "aud": s.url(paths::TOKEN), "jti": "r-2", "exp": now - 120 });
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ec_der(&key.pkcs8)).unwrap()
    };
    let resp = post_assertion(&s, paths::TOKEN, &expired, &[("grant_type", "client_credentials")]).await;
    assert_eq!(resp.status(), 401);
}

/// `ManualClock::now` as unix seconds.
trait NowUnix {
    fn now_unix(&self) -> i64;
}

impl NowUnix for gatehouse::clock::ManualClock {
    fn now_unix(&self) -> i64 {
        use gatehouse::clock::Clock as _;
        self.now().unix_timestamp()
    }
}

#[tokio::test]
async fn basic_credentials_are_decoded_whole_never_cut_at_an_ampersand() {
    use base64::engine::general_purpose::STANDARD;
    let s = TestServer::start().await;
    let basic = |raw: String| {
        s.http
            .post(s.url(paths::TOKEN))
            .header("authorization", format!("Basic {}", STANDARD.encode(raw)))
            .form(&[("grant_type", "client_credentials")])
            .send()
    };
    for raw in [format!("{SVC_ID}:{SVC_SECRET}&junk=1"), format!("{SVC_ID}&x=y:{SVC_SECRET}")] {
        let r = basic(raw.clone()).await.unwrap();
        assert_eq!(r.status(), 401, "{raw}");
    }
    // The form-encoding itself is decoded (RFC 6749 §2.3.1).
    let r = basic(format!("{SVC_ID}:{}", SVC_SECRET.replace('-', "%2D"))).await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_assertion_used_on_one_instance_is_refused_by_another_on_the_same_database() {
    let Some(url) = gatehouse_tests::pg::fresh_url().await else { return };
    const ISSUER: &str = "http://localhost:9443";
    let key = client_key("k1");
    let jwks = json!({ "keys": [key.jwk] }).to_string();
    let toml = format!(
        "{}\n[[clients]]\nid = \"keyed\"\njwks = '{jwks}'\nscopes = [\"s\"]\n",
        standard_config().replace("[server]\n", &format!("[server]\nissuer = \"{ISSUER}\"\n"))
    );
    let toml = gatehouse_tests::pg::on_postgres(&toml, &url);
    let a = TestServer::start_with(&toml).await;
    let b = TestServer::start_with(&toml).await;
    let grant = [("grant_type", "client_credentials")];
    let first = assertion(&key, "keyed", ISSUER, "jti-shared", a.clock.now_unix());
    assert_eq!(post_assertion(&a, paths::TOKEN, &first, &grant).await.status(), 200);
    assert_eq!(post_assertion(&b, paths::TOKEN, &first, &grant).await.status(), 401, "replayed on B");
    // Sent to both at once, a fresh assertion is accepted exactly once.
    let twice = assertion(&key, "keyed", ISSUER, "jti-raced", a.clock.now_unix());
    let (x, y) = tokio::join!(
        post_assertion(&a, paths::TOKEN, &twice, &grant),
        post_assertion(&b, paths::TOKEN, &twice, &grant)
    );
    let mut statuses = [x.status().as_u16(), y.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 401]);
}
