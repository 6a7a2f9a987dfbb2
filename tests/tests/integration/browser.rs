//! Browser sign-in: authorize → login page → code → tokens, with a cookie-keeping client.

use gatehouse::paths;
use gatehouse_tests::browser::{
    ALICE, ALICE_PASSWORD, Browser, CRM_CB, CRM_ID, CRM_SECRET, SPA_CB, SPA_ID, WEB_CB, WEB_ID, WEB_SECRET,
    browser_config, hidden, pkce, query_param, redeem,
};
use gatehouse_tests::{TestServer, jwt_parts};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::JwkSet};
use serde_json::Value;

async fn server() -> TestServer {
    TestServer::start_with(&browser_config()).await
}

/// Verifies an ID token's signature against the JWKS and returns its claims.
async fn verify_id_token(s: &TestServer, token: &str, aud: &str) -> Value {
    let jwks: JwkSet = s.get_json(paths::JWKS).await;
    let (header, _) = jwt_parts(token);
    let kid = header["kid"].as_str().unwrap();
    let jwk = jwks.find(kid).expect("kid published");
    let alg: Algorithm = header["alg"].as_str().unwrap().parse().unwrap();
    let mut v = Validation::new(alg);
    v.set_audience(&[aud]);
    v.set_issuer(&[s.base.as_str()]);
    jsonwebtoken::decode::<Value>(token, &DecodingKey::from_jwk(jwk).unwrap(), &v).expect("ID token verifies").claims
}

#[tokio::test]
async fn confidential_client_signs_a_user_in_and_gets_verified_tokens() {
    let s = server().await;
    let b = Browser::new(&s.base);
    let (verifier, challenge) = pkce();
    let params = [
        ("response_type", "code"),
        ("client_id", WEB_ID),
        ("redirect_uri", WEB_CB),
        ("scope", "openid profile email offline_access api"),
        ("state", "st-123"),
        ("nonce", "n-456"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ];
    let start = b.authorize(&params).await;
    assert_eq!(start.status, 303);
    let login = b.get(start.location.as_deref().unwrap()).await;
    assert_eq!(login.status, 200);
    assert!(login.body.contains("<form method=\"post\""), "{}", login.body);
    assert!(hidden(&login.body, "csrf").is_some_and(|c| c.len() >= 43));

    let done = b.submit_login(&login, ALICE, ALICE_PASSWORD).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let session_cookie = done.cookies.iter().find(|c| c.starts_with("gatehouse_session=")).expect("session cookie");
    assert!(session_cookie.contains("HttpOnly") && session_cookie.contains("SameSite=Lax"), "{session_cookie}");
    let cb = done.location.unwrap();
    assert!(cb.starts_with(WEB_CB), "{cb}");
    assert_eq!(query_param(&cb, "state").as_deref(), Some("st-123"));
    assert_eq!(query_param(&cb, "iss").as_deref(), Some(s.base.as_str()), "RFC 9207");
    let code = query_param(&cb, "code").unwrap();

    let (status, tokens) = redeem(&s.http, &s.base, (WEB_ID, WEB_SECRET), &code, WEB_CB, Some(&verifier)).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["scope"], "openid profile email offline_access api");
    assert!(tokens["refresh_token"].as_str().is_some_and(|t| t.len() >= 43));
    let id = verify_id_token(&s, tokens["id_token"].as_str().unwrap(), WEB_ID).await;
    let (header, _) = jwt_parts(tokens["id_token"].as_str().unwrap());
    assert_eq!(header["alg"], "RS256", "RS256 by default");
    assert_eq!(id["nonce"], "n-456");
    assert_eq!(id["azp"], WEB_ID);
    assert_eq!(id["amr"], serde_json::json!(["pwd"]));
    assert_eq!(id["preferred_username"], ALICE);
    assert_eq!(id["email"], "alice@example.com");
    assert!(id["sid"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(id["auth_time"].as_i64().is_some());
    let at = tokens["access_token"].as_str().unwrap();
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, at.as_bytes());
    use base64::Engine as _;
    let expected = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest.as_ref()[..16]);
    assert_eq!(id["at_hash"], expected.as_str());

    let (_, claims) = jwt_parts(at);
    assert_eq!(claims["sub"], id["sub"], "the access token is for the user");
    assert_eq!(claims["client_id"], WEB_ID);
    let info: Value = s.http.get(s.url(paths::USERINFO)).bearer_auth(at).send().await.unwrap().json().await.unwrap();
    assert_eq!(info["sub"], id["sub"]);
    assert_eq!(info["email"], "alice@example.com");
    assert_eq!(info["preferred_username"], ALICE);
    // POST with the token in the body works too (RFC 6750 §2.2).
    let resp = s.http.post(s.url(paths::USERINFO)).form(&[("access_token", at)]).send().await.unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn public_client_needs_pkce_and_the_right_verifier() {
    let s = server().await;
    let b = Browser::new(&s.base);
    let no_pkce =
        b.authorize(&[("response_type", "code"), ("client_id", SPA_ID), ("scope", "openid"), ("state", "x")]).await;
    let to = no_pkce.location.unwrap();
    assert!(to.starts_with(SPA_CB), "{to}");
    assert_eq!(query_param(&to, "error").as_deref(), Some("invalid_request"));
    assert_eq!(query_param(&to, "state").as_deref(), Some("x"));

    let (verifier, challenge) = pkce();
    let params = [
        ("response_type", "code"),
        ("client_id", SPA_ID),
        ("scope", "openid"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let cb = b.sign_in(&params, ALICE, ALICE_PASSWORD).await;
    let code = query_param(&cb, "code").expect("code (the spa is untrusted: consent was approved)");
    let token = |verifier: Option<String>| {
        let mut form = vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code.clone()),
            ("client_id", SPA_ID.to_owned()),
        ];
        if let Some(v) = verifier {
            form.push(("code_verifier", v));
        }
        let http = s.http.clone();
        let url = s.url(paths::TOKEN);
        async move {
            let r = http.post(url).form(&form).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = token(None).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));
    let (status, body) = token(Some(pkce().0)).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "another verifier");
    let (status, body) = token(Some(verifier)).await;
    assert_eq!(status, 200, "failed attempts do not spend the code: {body}");
    assert!(body.get("refresh_token").is_none(), "no offline_access, no refresh token");
}

#[tokio::test]
async fn a_redeemed_code_presented_again_revokes_its_tokens() {
    let s = server().await;
    let b = Browser::new(&s.base);
    let params = [
        ("response_type", "code"),
        ("client_id", WEB_ID),
        ("redirect_uri", WEB_CB),
        ("scope", "openid offline_access"),
    ];
    let code = query_param(&b.sign_in(&params, ALICE, ALICE_PASSWORD).await, "code").unwrap();
    let (status, first) = redeem(&s.http, &s.base, (WEB_ID, WEB_SECRET), &code, WEB_CB, None).await;
    assert_eq!(status, 200);
    let at = first["access_token"].as_str().unwrap();
    assert_eq!(s.introspect(WEB_ID, WEB_SECRET, at).await["active"], true);

    // The replay is recognised before anything else the request carries is checked: here a
    // wrong redirect URI and a verifier the code never had.
    let (status, again) =
        redeem(&s.http, &s.base, (WEB_ID, WEB_SECRET), &code, "https://app.example/cb2", Some(&pkce().0)).await;
    assert_eq!((status, again["error"].as_str()), (400, Some("invalid_grant")));
    assert_eq!(s.introspect(WEB_ID, WEB_SECRET, at).await["active"], false, "access token revoked");
    let resp = s
        .post_basic(
            paths::TOKEN,
            WEB_ID,
            WEB_SECRET,
            &[("grant_type", "refresh_token"), ("refresh_token", first["refresh_token"].as_str().unwrap())],
        )
        .await;
    assert_eq!(resp.status(), 400, "refresh token revoked");
}

#[tokio::test]
async fn codes_are_bound_to_client_and_redirect_uri_and_expire() {
    let s = server().await;
    let b = Browser::new(&s.base);
    let params = [("response_type", "code"), ("client_id", WEB_ID), ("redirect_uri", WEB_CB), ("scope", "openid")];
    let code = query_param(&b.sign_in(&params, ALICE, ALICE_PASSWORD).await, "code").unwrap();
    let (status, body) = redeem(&s.http, &s.base, (CRM_ID, CRM_SECRET), &code, WEB_CB, None).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "another client");
    // The generic text: the answer does not confirm that the code exists.
    assert_eq!(body["error_description"], "the code is invalid or expired");
    let (status, _) = redeem(&s.http, &s.base, (WEB_ID, WEB_SECRET), &code, "https://app.example/cb2", None).await;
    assert_eq!(status, 400, "another redirect URI");
    s.clock.advance(std::time::Duration::from_secs(61));
    let (status, body) = redeem(&s.http, &s.base, (WEB_ID, WEB_SECRET), &code, WEB_CB, None).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "expired after 60 s");
}

#[tokio::test]
async fn bad_client_or_redirect_uri_gets_a_page_never_a_redirect() {
    let s = server().await;
    let b = Browser::new(&s.base);
    for uri in [
        "https://app.example/cb/extra",
        "https://app.example/cb?x=1",
        "https://app.example@evil.example/cb",
        "https://evil.example/cb",
        "https://app.example/CB",
        "https://app.example:443/cb",
        "//evil.example/cb",
    ] {
        let p = b
            .authorize(&[("response_type", "code"), ("client_id", WEB_ID), ("redirect_uri", uri), ("scope", "openid")])
            .await;
        assert_eq!(p.status, 400, "{uri}");
        assert!(p.location.is_none(), "{uri} redirected");
        assert!(p.body.contains("<h1>Invalid request</h1>"), "{}", p.body);
    }
    let p = b.authorize(&[("response_type", "code"), ("client_id", "nobody"), ("redirect_uri", WEB_CB)]).await;
    assert_eq!((p.status, p.location.is_none()), (400, true));
    let p = b.authorize(&[("response_type", "code"), ("client_id", WEB_ID), ("client_id", CRM_ID)]).await;
    assert_eq!((p.status, p.location.is_none()), (400, true), "repeated client_id");
    // The web client has two redirect URIs, so it must say which.
    let p = b.authorize(&[("response_type", "code"), ("client_id", WEB_ID), ("scope", "openid")]).await;
    assert_eq!(p.status, 400);
    // After the redirect URI is known good, errors go back to it with state and iss.
    let p =
        b.authorize(&[("response_type", "token"), ("client_id", CRM_ID), ("scope", "openid"), ("state", "s")]).await;
    let to = p.location.unwrap();
    assert_eq!(query_param(&to, "error").as_deref(), Some("unsupported_response_type"));
    assert_eq!(query_param(&to, "iss").as_deref(), Some(s.base.as_str()));
    // An oversized state is not echoed: the error goes back without it.
    let huge = "x".repeat(3 * 1024);
    let p =
        b.authorize(&[("response_type", "code"), ("client_id", CRM_ID), ("scope", "openid"), ("state", &huge)]).await;
    let to = p.location.unwrap();
    assert_eq!(query_param(&to, "error").as_deref(), Some("invalid_request"));
    assert_eq!(query_param(&to, "state"), None);
}

#[tokio::test]
async fn login_failures_are_generic_and_csrf_and_browser_binding_are_enforced() {
    let s = server().await;
    let b = Browser::new(&s.base);
    let start = b.authorize(&[("response_type", "code"), ("client_id", CRM_ID), ("scope", "openid")]).await;
    let page = b.get(start.location.as_deref().unwrap()).await;
    let wrong = b.submit_login(&page, ALICE, "not her password").await;
    let unknown = b.submit_login(&page, "mallory", "whatever123").await;
    for r in [&wrong, &unknown] {
        assert_eq!(r.status, 200);
        assert!(r.body.contains("Incorrect username or password."), "{}", r.body);
        assert!(r.body.contains("role=\"alert\""));
    }
    let flow = hidden(&page.body, "flow").unwrap();
    let no_csrf = b.post("/login", &[("flow", &flow), ("username", ALICE), ("password", ALICE_PASSWORD)]).await;
    assert_eq!(no_csrf.status, 403, "{}", no_csrf.body);
    let bad_csrf = b
        .post("/login", &[("flow", &flow), ("csrf", "forged"), ("username", ALICE), ("password", ALICE_PASSWORD)])
        .await;
    assert_eq!(bad_csrf.status, 403);
    // Another browser (no binding cookie) cannot use this flow even with its CSRF token.
    let other = Browser::new(&s.base);
    let stolen = other.submit_login(&page, ALICE, ALICE_PASSWORD).await;
    assert_eq!(stolen.status, 400, "{}", stolen.body);
    // The owner still can, by email too.
    let ok = b.submit_login(&page, "Alice@Example.com", ALICE_PASSWORD).await;
    assert_eq!(ok.status, 303);
    assert!(ok.location.unwrap().starts_with(CRM_CB));
    // The flow is spent.
    let again = b.submit_login(&page, ALICE, ALICE_PASSWORD).await;
    assert_eq!(again.status, 400);
}

#[tokio::test]
async fn single_sign_on_prompt_and_max_age() {
    let s = server().await;
    let b = Browser::new(&s.base);
    let web = [("response_type", "code"), ("client_id", WEB_ID), ("redirect_uri", WEB_CB), ("scope", "openid")];
    b.sign_in(&web, ALICE, ALICE_PASSWORD).await;
    // A second client: no form, straight back with a code (and the same session id).
    let crm =
        b.authorize(&[("response_type", "code"), ("client_id", CRM_ID), ("scope", "openid"), ("nonce", "n2")]).await;
    let to = crm.location.unwrap();
    assert!(to.starts_with(CRM_CB), "SSO: {to}");
    let code = query_param(&to, "code").unwrap();
    let (status, tokens) = redeem(&s.http, &s.base, (CRM_ID, CRM_SECRET), &code, CRM_CB, None).await;
    assert_eq!(status, 200, "{tokens}");
    let (header, id) = jwt_parts(tokens["id_token"].as_str().unwrap());
    assert_eq!(header["alg"], "ES256", "per-client id_token_signed_response_alg");
    verify_id_token(&s, tokens["id_token"].as_str().unwrap(), CRM_ID).await;
    assert_eq!(id["nonce"], "n2");

    let with = |extra: (&'static str, &'static str)| {
        let mut p = vec![("response_type", "code"), ("client_id", CRM_ID), ("scope", "openid")];
        p.push(extra);
        p
    };
    for forced in [("prompt", "login"), ("max_age", "0")] {
        let r = b.authorize(&with(forced)).await;
        assert!(r.location.unwrap().contains("/login?flow="), "{forced:?} forces the form");
    }
    s.clock.advance(std::time::Duration::from_secs(120));
    let r = b.authorize(&with(("max_age", "60"))).await;
    assert!(r.location.unwrap().contains("/login?flow="), "signed in 120 s ago > max_age");
    let r = b.authorize(&with(("max_age", "3600"))).await;
    assert!(r.location.unwrap().starts_with(CRM_CB));
    let r = b.authorize(&with(("prompt", "none"))).await;
    assert!(query_param(r.location.as_deref().unwrap(), "code").is_some(), "prompt=none with a session");
}

#[tokio::test]
async fn select_account_offers_the_signed_in_account_or_another() {
    let s = server().await;
    let b = Browser::new(&s.base);
    let web = [("response_type", "code"), ("client_id", WEB_ID), ("redirect_uri", WEB_CB), ("scope", "openid")];
    b.sign_in(&web, ALICE, ALICE_PASSWORD).await;
    let select = [("response_type", "code"), ("client_id", CRM_ID), ("scope", "openid"), ("prompt", "select_account")];
    let sub_of = |code: String| {
        let (http, base) = (s.http.clone(), s.base.clone());
        async move {
            let (_, tokens) = redeem(&http, &base, (CRM_ID, CRM_SECRET), &code, CRM_CB, None).await;
            jwt_parts(tokens["id_token"].as_str().unwrap()).1["sub"].as_str().unwrap().to_owned()
        }
    };
    // Continue as the signed-in person.
    let start = b.authorize(&select).await;
    let page = b.get(start.location.as_deref().unwrap()).await;
    assert!(page.body.contains("Continue as alice") && page.body.contains("Use another account"), "{}", page.body);
    let chosen = b.consent(&page, "continue").await;
    let to = chosen.location.unwrap();
    assert!(to.starts_with(CRM_CB), "{to}");
    let alice = sub_of(query_param(&to, "code").unwrap()).await;
    // Or sign in as someone else, which replaces the session.
    let start = b.authorize(&select).await;
    let page = b.get(start.location.as_deref().unwrap()).await;
    let switched = b.consent(&page, "switch").await;
    let login = b.get(switched.location.as_deref().unwrap()).await;
    assert!(login.body.contains("Username or email"), "{}", login.body);
    let done = b.submit_login(&login, "bob", "bob's password 123").await;
    let to = done.location.unwrap();
    let bob = sub_of(query_param(&to, "code").unwrap()).await;
    assert_ne!(alice, bob);
    let r = b.authorize(&web).await;
    let code = query_param(r.location.as_deref().unwrap(), "code").expect("SSO continues, now as bob");
    let (_, tokens) = redeem(&s.http, &s.base, (WEB_ID, WEB_SECRET), &code, WEB_CB, None).await;
    assert_eq!(jwt_parts(tokens["id_token"].as_str().unwrap()).1["sub"], bob.as_str());
    // prompt=none cannot be combined with it.
    let r = b
        .authorize(&[
            ("response_type", "code"),
            ("client_id", CRM_ID),
            ("scope", "openid"),
            ("prompt", "none select_account"),
        ])
        .await;
    assert_eq!(query_param(r.location.as_deref().unwrap(), "error").as_deref(), Some("invalid_request"));
}

#[tokio::test]
async fn prompt_none_without_a_session_or_consent_fails_to_the_client() {
    let s = server().await;
    let b = Browser::new(&s.base);
    let r = b
        .authorize(&[
            ("response_type", "code"),
            ("client_id", CRM_ID),
            ("scope", "openid"),
            ("prompt", "none"),
            ("state", "q"),
        ])
        .await;
    let to = r.location.unwrap();
    assert_eq!(query_param(&to, "error").as_deref(), Some("login_required"));
    assert_eq!(query_param(&to, "state").as_deref(), Some("q"));
    b.sign_in(&[("response_type", "code"), ("client_id", CRM_ID), ("scope", "openid")], ALICE, ALICE_PASSWORD).await;
    let (_, challenge) = pkce();
    let r = b
        .authorize(&[
            ("response_type", "code"),
            ("client_id", SPA_ID),
            ("scope", "openid"),
            ("prompt", "none"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ])
        .await;
    assert_eq!(query_param(&r.location.unwrap(), "error").as_deref(), Some("consent_required"));
}

#[tokio::test]
async fn userinfo_refuses_missing_bad_and_service_tokens() {
    let s = server().await;
    let r = s.http.get(s.url(paths::USERINFO)).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer realm=\"gatehouse\"");
    let r = s.http.get(s.url(paths::USERINFO)).bearer_auth("not.a.token").send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers()["www-authenticate"].to_str().unwrap().contains("invalid_token"));
    let svc = s.svc_token(&[]).await;
    let r = s.http.get(s.url(paths::USERINFO)).bearer_auth(&svc).send().await.unwrap();
    assert_eq!(r.status(), 403, "a service token has no openid scope");
    assert!(r.headers()["www-authenticate"].to_str().unwrap().contains("insufficient_scope"));
}

#[tokio::test]
async fn malformed_browser_requests_get_pages_or_oauth_errors_never_500s() {
    let s = server().await;
    let b = Browser::new(&s.base);
    // POST /authorize takes a form like GET takes a query.
    let r = b.post(paths::AUTHORIZE, &[("response_type", "code"), ("client_id", CRM_ID), ("scope", "openid")]).await;
    assert_eq!(r.status, 303);
    assert!(r.location.unwrap().contains("/login?flow="));
    for (path, form) in [
        (paths::LOGIN, vec![("flow", "x")]),
        (paths::LOGIN, vec![]),
        (paths::LOGOUT, vec![("state", "a"), ("state", "b")]),
    ] {
        let r = b.post(path, &form).await;
        assert!(matches!(r.status, 400 | 403), "{path}: {}", r.status);
        assert!(r.body.contains("<!doctype html>"), "{path}: an HTML page");
    }
    let json = s.http.post(s.url(paths::LOGIN)).json(&serde_json::json!({"flow": "x"})).send().await.unwrap();
    assert_eq!(json.status(), 400);
    assert!(json.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let huge = "a".repeat(100 * 1024);
    let r = b.post(paths::LOGIN, &[("flow", &huge)]).await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("too large"), "{}", r.body);
    let r = b.get(&format!("{}?flow=%ZZ%00", paths::LOGIN)).await;
    assert_eq!(r.status, 400);

    let token = |form: Vec<(&'static str, &'static str)>| {
        let (http, url) = (s.http.clone(), s.url(paths::TOKEN));
        async move {
            let r = gatehouse_tests::post_basic(&http, &url, WEB_ID, WEB_SECRET, &form).await;
            (r.status().as_u16(), r.json::<Value>().await.unwrap()["error"].as_str().map(str::to_owned))
        }
    };
    assert_eq!(token(vec![("grant_type", "authorization_code")]).await, (400, Some("invalid_request".into())));
    assert_eq!(token(vec![("grant_type", "refresh_token")]).await, (400, Some("invalid_request".into())));
    assert_eq!(
        token(vec![("grant_type", "authorization_code"), ("code", "nope")]).await,
        (400, Some("invalid_grant".into()))
    );
    assert_eq!(
        token(vec![("grant_type", "refresh_token"), ("refresh_token", "nope")]).await,
        (400, Some("invalid_grant".into()))
    );
    let r = s
        .http
        .post(s.url(paths::USERINFO))
        .bearer_auth("a.b.c")
        .form(&[("access_token", "a.b.c")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "a token in the header and the body");
}
