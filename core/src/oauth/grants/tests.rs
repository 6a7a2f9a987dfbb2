//! Unit tests of each grant through the token service, without a socket: the services of
//! `crate::testing` over the memory store, at a manual time.

use std::time::Duration;

use crate::oauth::error::OAuthError;
use crate::oauth::grants::issue::TokenResponse;
use crate::oauth::{introspect, revoke, token};
use crate::oidc::flow::{SignedIn, issue_code};
use crate::store::browser::AuthRequest;
use crate::testing::{ALICE, Harness, SVC, WEB, WEB_CB, form, meta};

async fn exchange(h: &Harness, client: (&str, &str), pairs: &[(&str, &str)]) -> Result<TokenResponse, OAuthError> {
    token::exchange(&h.tokens, None, &form(client, pairs), &meta(), h.now()).await
}

/// Whether `/introspect` tells the token's own client that it is active.
async fn active(h: &Harness, caller: (&str, &str), access_token: &str) -> bool {
    let p = form(caller, &[("token", access_token)]);
    introspect::introspect(&h.tokens, None, &p, &meta(), h.now()).await.expect("introspect").active
}

/// A code for alice at the web client, as the login flow issues it; `(code, verifier)`.
async fn code(h: &Harness, scopes: &[&str]) -> (String, String) {
    let verifier = "a-verifier-of-at-least-forty-three-characters-0123456789".to_owned();
    let challenge = {
        use base64::Engine as _;
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
    };
    let req = AuthRequest {
        client_id: WEB.0.into(),
        redirect_uri: WEB_CB.into(),
        redirect_uri_sent: true,
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        nonce: Some("n-1".into()),
        code_challenge: Some(challenge),
        ..Default::default()
    };
    let alice = h.db.users().find_user(ALICE.0).await.expect("store").expect("alice");
    let amr = vec!["pwd".to_owned()];
    let who = SignedIn { user_id: &alice.id, sid: "sid-1", auth_time: h.now().unix_timestamp(), amr: &amr, idp: None };
    let crate::oidc::flow::Issued::Redirect(url) =
        issue_code(&h.sign_in, &req, &who, None, h.now()).await.expect("code")
    else {
        panic!("no policy here asks for a step-up")
    };
    let code =
        url::Url::parse(&url).expect("url").query_pairs().find(|(k, _)| k == "code").expect("code").1.into_owned();
    (code, verifier)
}

fn refresh(token: &str) -> [(&'static str, &str); 2] {
    [("grant_type", "refresh_token"), ("refresh_token", token)]
}

fn redeem<'a>(code: &'a str, verifier: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![("grant_type", "authorization_code"), ("code", code), ("code_verifier", verifier), ("redirect_uri", WEB_CB)]
}

#[tokio::test]
async fn client_credentials_issues_the_clients_scopes_for_its_audience() {
    let h = Harness::new().await;
    let resp = exchange(&h, SVC, &[("grant_type", "client_credentials"), ("scope", "logs:read")]).await.unwrap();
    assert_eq!(resp.scope.as_deref(), Some("logs:read"));
    assert!(resp.refresh_token.is_none() && resp.id_token.is_none());
    let claims = h.tokens.access.verify(&resp.access_token, h.now()).unwrap();
    assert_eq!((claims.sub.as_str(), claims.client_id.as_str()), (SVC.0, SVC.0));
    assert!(claims.aud.contains("logging"));
    assert!(active(&h, SVC, &resp.access_token).await);
}

#[tokio::test]
async fn client_credentials_refuses_foreign_scopes_audiences_and_secrets() {
    let h = Harness::new().await;
    let cc = ("grant_type", "client_credentials");
    assert!(matches!(exchange(&h, SVC, &[cc, ("scope", "admin")]).await, Err(OAuthError::InvalidScope)));
    assert!(matches!(exchange(&h, SVC, &[cc, ("audience", "billing")]).await, Err(OAuthError::InvalidTarget)));
    let wrong = (SVC.0, "not-the-secret-0123456789abcdefgh");
    assert!(matches!(exchange(&h, wrong, &[cc]).await, Err(OAuthError::InvalidClient { .. })));
    // The web client is not registered for this grant.
    assert!(matches!(exchange(&h, WEB, &[cc]).await, Err(OAuthError::UnauthorizedClient(_))));
    assert!(matches!(exchange(&h, SVC, &[("grant_type", "password")]).await, Err(OAuthError::UnsupportedGrantType)));
}

#[tokio::test]
async fn a_code_redeems_once_for_access_id_and_refresh_tokens() {
    let h = Harness::new().await;
    let (code, verifier) = code(&h, &["openid", "offline_access"]).await;
    let resp = exchange(&h, WEB, &redeem(&code, &verifier)).await.unwrap();
    assert!(resp.id_token.is_some(), "openid gives an ID token");
    assert!(resp.refresh_token.is_some(), "offline_access gives a refresh token");
    assert!(active(&h, WEB, &resp.access_token).await);
}

#[tokio::test]
async fn code_reuse_revokes_what_the_first_redemption_issued() {
    let h = Harness::new().await;
    let (code, verifier) = code(&h, &["openid", "offline_access"]).await;
    let first = exchange(&h, WEB, &redeem(&code, &verifier)).await.unwrap();
    let again = exchange(&h, WEB, &redeem(&code, &verifier)).await;
    assert!(matches!(again, Err(OAuthError::InvalidGrant(_))));
    assert!(!active(&h, WEB, &first.access_token).await, "the first access token is revoked");
    let rotated = exchange(&h, WEB, &refresh(&first.refresh_token.unwrap())).await;
    assert!(matches!(rotated, Err(OAuthError::InvalidGrant(_))), "its refresh family is revoked");
}

#[tokio::test]
async fn a_code_needs_its_verifier_and_a_wrong_one_does_not_spend_it() {
    let h = Harness::new().await;
    let (code, verifier) = code(&h, &["openid"]).await;
    let wrong = "another-verifier-of-at-least-forty-three-characters-012345";
    assert!(matches!(exchange(&h, WEB, &redeem(&code, wrong)).await, Err(OAuthError::InvalidGrant(_))));
    let no_verifier = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", WEB_CB)];
    assert!(matches!(exchange(&h, WEB, &no_verifier).await, Err(OAuthError::InvalidGrant(_))));
    let other_uri = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("code_verifier", verifier.as_str()),
        ("redirect_uri", "https://app.test/other"),
    ];
    assert!(matches!(exchange(&h, WEB, &other_uri).await, Err(OAuthError::InvalidGrant(_))));
    assert!(exchange(&h, WEB, &redeem(&code, &verifier)).await.is_ok(), "the refused attempts left it unspent");
}

#[tokio::test]
async fn a_code_expires_after_its_lifetime() {
    let h = Harness::new().await;
    let (code, verifier) = code(&h, &["openid"]).await;
    h.clock.advance(crate::oidc::flow::CODE_TTL + Duration::from_secs(1));
    assert!(matches!(exchange(&h, WEB, &redeem(&code, &verifier)).await, Err(OAuthError::InvalidGrant(_))));
}

#[tokio::test]
async fn refresh_rotates_and_a_reused_token_revokes_the_family() {
    let h = Harness::new().await;
    let (code, verifier) = code(&h, &["openid", "offline_access", "api"]).await;
    let first = exchange(&h, WEB, &redeem(&code, &verifier)).await.unwrap();
    let r1 = first.refresh_token.unwrap();
    let second = exchange(&h, WEB, &refresh(&r1)).await.unwrap();
    let r2 = second.refresh_token.clone().unwrap();
    assert_ne!(r1, r2, "the refresh token rotates");
    assert!(active(&h, WEB, &second.access_token).await);
    // Narrowing is allowed, widening is not.
    let narrow = [("grant_type", "refresh_token"), ("refresh_token", r2.as_str()), ("scope", "openid admin")];
    assert!(matches!(exchange(&h, WEB, &narrow).await, Err(OAuthError::InvalidScope)));
    // The spent r1 comes back: the family and its newest access token are revoked.
    assert!(matches!(exchange(&h, WEB, &refresh(&r1)).await, Err(OAuthError::InvalidGrant(_))));
    assert!(!active(&h, WEB, &second.access_token).await);
    assert!(matches!(exchange(&h, WEB, &refresh(&r2)).await, Err(OAuthError::InvalidGrant(_))));
}

#[tokio::test]
async fn a_revoked_access_token_is_inactive_at_once() {
    let h = Harness::new().await;
    let resp = exchange(&h, SVC, &[("grant_type", "client_credentials")]).await.unwrap();
    assert!(active(&h, SVC, &resp.access_token).await);
    let p = form(SVC, &[("token", resp.access_token.as_str())]);
    revoke::revoke(&h.tokens, None, &p, &meta(), h.now()).await.unwrap();
    assert!(!active(&h, SVC, &resp.access_token).await);
    // Another client cannot revoke it (RFC 7009 §2.1), and an unknown token is not an error.
    let other = form(WEB, &[("token", resp.access_token.as_str())]);
    assert!(matches!(
        revoke::revoke(&h.tokens, None, &other, &meta(), h.now()).await,
        Err(OAuthError::UnauthorizedClient(_))
    ));
    let unknown = form(SVC, &[("token", "not-a-token")]);
    assert!(revoke::revoke(&h.tokens, None, &unknown, &meta(), h.now()).await.is_ok());
}
