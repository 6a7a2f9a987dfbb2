//! Sign in with GitHub through the github-connector against a fake GitHub on loopback: the
//! subject is the numeric id (a changed login is the same account), only the primary verified
//! email counts, and an organisation allow-list keeps others out.

use gatehouse_tests::browser::{
    Browser, Page, WEB_CB, WEB_ID, WEB_SECRET, browser_config, follow, href, query_param, redeem,
};
use gatehouse_tests::fake_github::{Account, FakeGitHub};
use gatehouse_tests::{TestServer, jwt_parts};
use serde_json::Value;

fn octocat() -> Account {
    Account {
        id: 583231,
        login: "octocat".into(),
        emails: vec![("old@users.example".into(), false, true), ("octo@github.example".into(), true, true)],
        orgs: vec!["example-org".into()],
    }
}

fn config(g: &FakeGitHub, connector_config: &str) -> String {
    format!(
        "{}{}\n[plugin_runtime]\nallow_loopback_http = true\n",
        browser_config(),
        g.connector_entry(connector_config)
    )
}

async fn sign_in(s: &TestServer) -> Page {
    let b = Browser::new(&s.base);
    let params = [
        ("response_type", "code"),
        ("client_id", WEB_ID),
        ("redirect_uri", WEB_CB),
        ("scope", "openid email profile"),
        ("state", "gh"),
    ];
    let login = follow(&b, b.authorize(&params).await).await;
    let start = href(&login, "/federation/github/start").unwrap_or_else(|| panic!("no GitHub button: {}", login.body));
    assert!(login.body.contains("Sign in with GitHub"));
    follow(&b, b.get(&start).await).await
}

async fn id_token(s: &TestServer, end: &Page) -> Value {
    let to = end.location.clone().unwrap_or_else(|| panic!("{} {}", end.status, end.body));
    assert!(to.starts_with(WEB_CB), "{to}");
    let code = query_param(&to, "code").unwrap();
    let (status, body) = redeem(&s.http, &s.base, (WEB_ID, WEB_SECRET), &code, WEB_CB, None).await;
    assert_eq!(status, 200, "{body}");
    jwt_parts(body["id_token"].as_str().unwrap()).1
}

#[tokio::test]
async fn a_github_account_signs_in_by_its_numeric_id_with_its_primary_verified_email() {
    let g = FakeGitHub::start(octocat()).await;
    let s = TestServer::start_with(&config(&g, "")).await;
    let id = id_token(&s, &sign_in(&s).await).await;
    assert_eq!(
        (id["email"].as_str(), id["email_verified"].as_bool()),
        (Some("octo@github.example"), Some(true)),
        "{id}"
    );
    assert_eq!(id["preferred_username"], "octocat");
    assert_eq!(id["idp"], "github");
    let link = s.state.db.links().find_link(&g.base, "583231").await.unwrap().unwrap();
    assert_eq!(link.user_id, id["sub"].as_str().unwrap());
    // A renamed login is the same account.
    g.set_account(Account { login: "octocat-renamed".into(), ..octocat() });
    assert_eq!(id_token(&s, &sign_in(&s).await).await["sub"], id["sub"]);
}

#[tokio::test]
async fn no_verified_primary_email_or_no_allowed_organisation_makes_no_session() {
    let unverified = Account {
        emails: vec![("octo@github.example".into(), true, false), ("x@y.example".into(), false, true)],
        ..octocat()
    };
    let g = FakeGitHub::start(unverified).await;
    let s = TestServer::start_with(&config(&g, "")).await;
    let page = sign_in(&s).await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(page.location.is_none() && page.body.contains("Back to sign-in"));
    assert!(s.state.db.links().find_link(&g.base, "583231").await.unwrap().is_none());
    drop(s);

    let g = FakeGitHub::start(octocat()).await;
    let s = TestServer::start_with(&config(
        &g,
        "allowed_orgs = [\"another-org\"]\nscopes = [\"read:user\", \"user:email\", \"read:org\"]",
    ))
    .await;
    let page = sign_in(&s).await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(s.state.db.users().list_users().await.unwrap().len() == 2, "no account made");
    // In an allowed organisation: in.
    let s = TestServer::start_with(&config(&g, "allowed_orgs = [\"Example-Org\"]")).await;
    id_token(&s, &sign_in(&s).await).await;
}
