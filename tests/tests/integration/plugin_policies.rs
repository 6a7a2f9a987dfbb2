//! The example policies from `plugins/` in the browser sign-in and at the token and userinfo
//! endpoints: `allow-email-domain` keeps out users of other domains; `require-group` keeps
//! out non-members, puts the groups into the tokens and keeps a restricted scope for the
//! group that may have it.

use gatehouse::paths;
use gatehouse_tests::browser::{
    ALICE, ALICE_PASSWORD, Browser, WEB_CB, WEB_ID, WEB_SECRET, browser_config, query_param, redeem,
};
use gatehouse_tests::plugins::policy_entry;
use gatehouse_tests::{TestServer, jwt_parts};
use serde_json::Value;

const GROUP_USERS: &str = r#"
[[users]]
username = "carol"
password = "carol's password 123"
email = "carol@example.com"
groups = ["staff"]

[[users]]
username = "dave"
password = "dave's password 123"
email = "dave@example.com"
groups = ["staff", "admins"]
"#;

fn params() -> [(&'static str, &'static str); 5] {
    [
        ("response_type", "code"),
        ("client_id", WEB_ID),
        ("redirect_uri", WEB_CB),
        ("scope", "openid email api offline_access"),
        ("state", "st-1"),
    ]
}

/// Signs `user` in and redeems the code: (status, token response).
async fn tokens_for(s: &TestServer, user: &str, password: &str) -> (String, u16, Value) {
    let b = Browser::new(&s.base);
    let cb = b.sign_in(&params(), user, password).await;
    let Some(code) = query_param(&cb, "code") else { return (cb, 0, Value::Null) };
    let (status, body) = redeem(&s.http, &s.base, (WEB_ID, WEB_SECRET), &code, WEB_CB, None).await;
    (cb, status, body)
}

#[tokio::test]
async fn allow_email_domain_lets_in_the_domain_and_sends_others_back_with_access_denied() {
    let cfg = "allowed_email_domains = [\"example.com\"]";
    let toml = format!("{}{}", browser_config(), policy_entry("email-domain", "allow_email_domain", "", cfg));
    let s = TestServer::start_with(&toml).await;

    let (_, status, body) = tokens_for(&s, ALICE, ALICE_PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    // The refresh and userinfo stages ask the policy too, and it allows.
    let refresh = body["refresh_token"].as_str().unwrap();
    let form = [("grant_type", "refresh_token"), ("refresh_token", refresh)];
    assert_eq!(s.post_basic(paths::TOKEN, WEB_ID, WEB_SECRET, &form).await.status(), 200);
    let at = body["access_token"].as_str().unwrap();
    let info = s.http.get(s.url(paths::USERINFO)).bearer_auth(at).send().await.unwrap();
    assert_eq!(info.status(), 200);

    // bob has no email address: back to the client with access_denied and the state.
    let (cb, _, _) = tokens_for(&s, "bob", "bob's password 123").await;
    assert!(cb.starts_with(WEB_CB), "{cb}");
    assert_eq!(query_param(&cb, "error").as_deref(), Some("access_denied"));
    assert_eq!(query_param(&cb, "state").as_deref(), Some("st-1"));
    assert!(query_param(&cb, "code").is_none());
    // authorize, token, refresh and userinfo for alice; authorize for bob.
    let decisions = s.policy_decisions(5).await;
    let outcomes: Vec<&str> = decisions.iter().map(|d| d.1.as_str()).collect();
    assert_eq!(outcomes, ["allow", "allow", "allow", "allow", "deny"], "{decisions:?}");
    assert_eq!(decisions[4].2.as_deref(), Some("the user has no email address"));
    // The decision at authorize knows where the browser is (the audit record's actor).
    let authorize_ips: Vec<Option<String>> = gatehouse::audit::all_records(s.state.db.audit(), 0)
        .await
        .expect("audit records")
        .into_iter()
        .filter(
            |r| matches!(&r.event, gatehouse::audit::AuditEvent::PolicyDecision { stage, .. } if stage == "authorize"),
        )
        .map(|r| r.actor.ip)
        .collect();
    assert_eq!(authorize_ips, [Some("127.0.0.1".to_owned()), Some("127.0.0.1".to_owned())]);
}

#[tokio::test]
async fn require_group_adds_groups_and_keeps_restricted_scopes_for_their_group() {
    let cfg = "group = \"staff\"\nclaim = \"groups\"\nrestricted_scopes = { api = \"admins\" }";
    let toml = format!("{}{GROUP_USERS}{}", browser_config(), policy_entry("staff-only", "require_group", "", cfg));
    let s = TestServer::start_with(&toml).await;

    // carol is staff, not admin: no `api` scope; her groups are in both tokens and userinfo.
    let (_, status, body) = tokens_for(&s, "carol", "carol's password 123").await;
    assert_eq!(status, 200, "{body}");
    let scope = body["scope"].as_str().unwrap();
    assert!(!scope.split(' ').any(|x| x == "api") && scope.contains("openid"), "{scope}");
    let (_, at) = jwt_parts(body["access_token"].as_str().unwrap());
    assert_eq!(at["groups"], serde_json::json!(["staff"]));
    let (_, id) = jwt_parts(body["id_token"].as_str().unwrap());
    assert_eq!(id["groups"], serde_json::json!(["staff"]));
    assert_eq!(id["email"], "carol@example.com", "claims by scope are still there");
    let info: Value = s
        .http
        .get(s.url(paths::USERINFO))
        .bearer_auth(body["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["groups"], serde_json::json!(["staff"]));

    // dave is an admin: he keeps `api`.
    let (_, status, body) = tokens_for(&s, "dave", "dave's password 123").await;
    assert_eq!(status, 200, "{body}");
    assert!(body["scope"].as_str().unwrap().split(' ').any(|x| x == "api"));

    // alice is in no group.
    let (cb, _, _) = tokens_for(&s, ALICE, ALICE_PASSWORD).await;
    assert_eq!(query_param(&cb, "error").as_deref(), Some("access_denied"), "{cb}");
}
