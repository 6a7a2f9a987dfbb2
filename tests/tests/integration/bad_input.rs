//! Malformed forms, headers, JWTs and oversized bodies get 4xx with an OAuth-shaped error;
//! random bytes at every endpoint, sent concurrently beside slow clients, never produce a 5xx.

use futures::StreamExt as _;
use gatehouse::paths;
use gatehouse_tests::{SVC_ID, SVC_SECRET, TestServer};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

async fn error_of(resp: reqwest::Response) -> (u16, String) {
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.expect("a JSON error body");
    (status, body["error"].as_str().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn wrong_content_type_and_bad_headers_are_invalid_request() {
    let s = TestServer::start().await;
    let r = s
        .http
        .post(s.url(paths::TOKEN))
        .basic_auth(SVC_ID, Some(SVC_SECRET))
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await, (400, "invalid_request".into()));
    let r = s
        .http
        .post(s.url(paths::TOKEN))
        .header("authorization", "Basic %%%not-base64")
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await, (401, "invalid_client".into()));
    let r = s
        .http
        .post(s.url(paths::TOKEN))
        .header("authorization", reqwest::header::HeaderValue::from_bytes(b"Basic \xff\xfe").unwrap())
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await, (400, "invalid_request".into()));
}

#[tokio::test]
async fn oversized_bodies_are_413_with_an_oauth_error() {
    let s = TestServer::start().await;
    let big = format!("grant_type=client_credentials&pad={}", "a".repeat(200 * 1024));
    for path in [paths::TOKEN, paths::INTROSPECT, paths::REVOKE] {
        let r = s
            .http
            .post(s.url(path))
            .basic_auth(SVC_ID, Some(SVC_SECRET))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(big.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(error_of(r).await, (413, "invalid_request".into()), "{path}");
    }
    let r =
        s.http.post(s.url(paths::VERIFY)).header("content-type", "application/json").body(big).send().await.unwrap();
    assert_eq!(r.status(), 413);
}

#[tokio::test]
async fn unknown_paths_and_methods_answer_json() {
    let s = TestServer::start().await;
    let r = s.http.get(s.url("/nope")).send().await.unwrap();
    assert_eq!(error_of(r).await.0, 404);
    let r = s.http.get(s.url(paths::TOKEN)).send().await.unwrap();
    assert_eq!(error_of(r).await, (405, "invalid_request".into()));
    let r = s
        .http
        .post(s.url(paths::VERIFY))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await, (400, "invalid_request".into()));
    let r = s.http.post(s.url(paths::VERIFY)).header("authorization", "Basic abc").send().await.unwrap();
    assert_eq!(error_of(r).await, (400, "invalid_request".into()));
}

#[tokio::test]
async fn random_bytes_at_every_endpoint_never_cause_a_server_error() {
    // Failure limits raised so that the barrage's failed authentications do not block the
    // final check (the limits themselves are tested in limits.rs).
    let s = TestServer::start_with(&format!(
        "{}\n[rate_limits]\nfailed_auth_per_ip = \"100000/min\"\nfailed_auth_per_client = \"100000/min\"\nfailed_verify_per_ip = \"100000/min\"\n",
        gatehouse_tests::standard_config().replace("[server]\n", "[server]\nheader_read_timeout = \"1s\"\nkeepalive_timeout = \"1s\"\n")
    ))
    .await;
    let valid = s.svc_token(&[]).await;
    let mut rng = StdRng::seed_from_u64(0x6a7e_4005e);
    let requests: Vec<_> = (0..400).map(|i| (i, random_request(&mut rng, &s, &valid))).collect();
    // Slow clients at the same time: heads trickling in, and heads that stop half way.
    let addr = s.base.trim_start_matches("http://").to_owned();
    let slow: Vec<_> = (0..8u64)
        .map(|i| {
            let addr = addr.clone();
            tokio::spawn(async move {
                let mut c = TcpStream::connect(addr).await.unwrap();
                let head = b"POST /token HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-www-form-urlencoded\r\n";
                for b in &head[..head.len() / (1 + i as usize % 2)] {
                    if c.write_all(&[*b]).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(20 + i * 5)).await;
                }
                // The server closes it at the head timeout.
                let mut buf = [0u8; 256];
                let closed = tokio::time::timeout(std::time::Duration::from_secs(10), c.read(&mut buf)).await;
                assert!(closed.is_ok(), "a slow connection stayed open");
            })
        })
        .collect();
    // Eight requests at a time.
    futures::stream::iter(requests)
        .for_each_concurrent(8, |(i, (path, req))| async move {
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            assert!(status < 500, "request {i} to {path} gave {status}");
            let text = resp.text().await.unwrap();
            if status >= 400 && !text.is_empty() {
                let v: Value = serde_json::from_str(&text)
                    .unwrap_or_else(|_| panic!("request {i} to {path}: non-JSON error {text}"));
                assert!(v["error"].is_string(), "request {i} to {path}: {text}");
            }
        })
        .await;
    for t in slow {
        t.await.unwrap();
    }
    // The server still works after the barrage.
    s.svc_token(&[]).await;
}

/// One request of the barrage: an endpoint, a content type, credentials and a body made of
/// protocol fragments and random bytes.
fn random_request(rng: &mut StdRng, s: &TestServer, valid: &str) -> (&'static str, reqwest::RequestBuilder) {
    let endpoints = [
        paths::TOKEN,
        paths::INTROSPECT,
        paths::REVOKE,
        paths::VERIFY,
        paths::JWKS,
        paths::DISCOVERY,
        paths::PING,
        paths::TEST_TOKEN,
        "/admin/keys/rotate",
    ];
    let content_types =
        ["application/x-www-form-urlencoded", "application/json", "text/plain", "", "multipart/form-data; boundary=x"];
    let fragments: [&[u8]; 10] = [
        b"grant_type=client_credentials",
        b"&token=",
        valid.as_bytes(),
        b"&client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer&client_assertion=",
        b"eyJhbGciOiJub25lIn0.e30.",
        b"{\"token\":",
        b"%",
        b"&scope=\x00\xff",
        b"&resource=",
        b"\"}",
    ];
    let path = endpoints[rng.random_range(0..endpoints.len())];
    let mut body = Vec::new();
    for _ in 0..rng.random_range(0..6) {
        if rng.random_bool(0.5) {
            body.extend_from_slice(fragments[rng.random_range(0..fragments.len())]);
        } else {
            let n = rng.random_range(0..64);
            body.extend((0..n).map(|_| rng.random::<u8>()));
        }
    }
    let mut req = if rng.random_bool(0.8) { s.http.post(s.url(path)) } else { s.http.get(s.url(path)) };
    let ct = content_types[rng.random_range(0..content_types.len())];
    if !ct.is_empty() {
        req = req.header("content-type", ct);
    }
    match rng.random_range(0..4) {
        0 => req = req.basic_auth(SVC_ID, Some(SVC_SECRET)),
        1 => req = req.bearer_auth(valid),
        2 => {
            let junk: Vec<u8> = (0..rng.random_range(1..40)).map(|_| rng.random_range(0x20..0x7f)).collect();
            req = req.header("authorization", reqwest::header::HeaderValue::from_bytes(&junk).unwrap());
        }
        _ => {}
    }
    (path, req.body(body))
}
