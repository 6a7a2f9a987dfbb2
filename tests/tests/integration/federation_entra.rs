//! Sign in with Microsoft Entra through the entra-connector against a fake Entra (per-tenant
//! endpoints and issuers, the multi-tenant key set): only allowed tenants, `(tid, oid)` as the
//! subject, and an email that counts as verified only with `xms_edov`.

use gatehouse_tests::browser::{
    Browser, Page, WEB_CB, WEB_ID, WEB_SECRET, browser_config, follow, href, query_param, redeem,
};
use gatehouse_tests::fake_oidc::{CLIENT_ID, FakeOidc, Person};
use gatehouse_tests::plugins::plugin_entry;
use gatehouse_tests::{TestServer, jwt_parts};
use serde_json::{Value, json};

const CONTOSO: &str = "11111111-1111-1111-1111-111111111111";
const FABRIKAM: &str = "22222222-2222-2222-2222-222222222222";

fn person(tid: &str, email: &str, edov: bool) -> Person {
    let mut extra = vec![("tid".to_owned(), json!(tid)), ("oid".to_owned(), json!("oid-ada"))];
    if edov {
        extra.push(("xms_edov".to_owned(), json!(true)));
    }
    Person { extra, email_verified: false, ..Person::verified("pairwise-sub", email) }
}

fn config(p: &FakeOidc, tenants: &[&str]) -> String {
    let port = p.base.rsplit(':').next().unwrap();
    let keys = format!("allowed_hosts = [\"127.0.0.1:{port}\"]\nsecrets = [\"PATH\"]");
    let list = tenants.iter().map(|t| format!("\"{t}\"")).collect::<Vec<_>>().join(", ");
    let cfg = format!(
        "client_id = \"{CLIENT_ID}\"\nclient_secret = \"PATH\"\nlogin_url = \"{}\"\nallowed_tenants = [{list}]",
        p.base
    );
    let entry = plugin_entry("microsoft", "idp-connector", "entra_connector", &keys, &cfg);
    format!("{}{entry}\n[plugin_runtime]\nallow_loopback_http = true\n", browser_config())
}

async fn sign_in(s: &TestServer) -> Page {
    let b = Browser::new(&s.base);
    let params = [
        ("response_type", "code"),
        ("client_id", WEB_ID),
        ("redirect_uri", WEB_CB),
        ("scope", "openid email"),
        ("state", "ms"),
    ];
    let login = follow(&b, b.authorize(&params).await).await;
    assert!(login.body.contains("Sign in with Microsoft"));
    follow(&b, b.get(&href(&login, "/federation/microsoft/start").unwrap()).await).await
}

async fn id_token(s: &TestServer, end: &Page) -> Value {
    let to = end.location.clone().unwrap_or_else(|| panic!("{} {}", end.status, end.body));
    let code = query_param(&to, "code").unwrap_or_else(|| panic!("{to}"));
    let (status, body) = redeem(&s.http, &s.base, (WEB_ID, WEB_SECRET), &code, WEB_CB, None).await;
    assert_eq!(status, 200, "{body}");
    jwt_parts(body["id_token"].as_str().unwrap()).1
}

#[tokio::test]
async fn an_allowed_tenant_signs_in_by_tid_and_oid_and_a_verified_domain_email_counts() {
    let p = FakeOidc::start(person(CONTOSO, "ada@contoso.example", true)).await;
    p.set_issuer_claim(Some(&format!("{}/{CONTOSO}/v2.0", p.base)));
    let s = TestServer::start_with(&config(&p, &[CONTOSO])).await;
    let first = sign_in(&s).await;
    let id = id_token(&s, &first).await;
    assert_eq!((id["email"].as_str(), id["email_verified"].as_bool()), (Some("ada@contoso.example"), Some(true)));
    let issuer = format!("{}/{CONTOSO}/v2.0", p.base);
    let link = s.state.db.links().find_link(&issuer, &format!("{CONTOSO}/oid-ada")).await.unwrap().unwrap();
    assert_eq!(link.user_id, id["sub"].as_str().unwrap());

    // Another tenant's token (its own issuer) is not accepted.
    p.set_person(person(FABRIKAM, "eve@fabrikam.example", true));
    p.set_issuer_claim(Some(&format!("{}/{FABRIKAM}/v2.0", p.base)));
    let page = sign_in(&s).await;
    assert_eq!(page.status, 400, "{}", page.body);
    // A token that claims an allowed issuer but another tid is refused too.
    p.set_person(person(FABRIKAM, "eve@fabrikam.example", true));
    p.set_issuer_claim(Some(&issuer));
    assert_eq!(sign_in(&s).await.status, 400);
}

#[tokio::test]
async fn without_xms_edov_the_email_is_unverified_and_finds_no_account_and_no_tenant_is_allowed_by_default() {
    // The tenant admin set alice's address on someone else's account: never linked to alice.
    let p = FakeOidc::start(person(CONTOSO, "alice@example.com", false)).await;
    p.set_issuer_claim(Some(&format!("{}/{CONTOSO}/v2.0", p.base)));
    let s = TestServer::start_with(&config(&p, &[CONTOSO])).await;
    let page = sign_in(&s).await;
    assert_eq!(page.status, 403, "{}", page.body);
    assert!(page.body.contains("has not verified the address"), "{}", page.body);
    drop(s);

    let s = TestServer::start_with(&config(&p, &[])).await;
    let page = sign_in(&s).await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert_eq!(s.state.db.users().list_users().await.unwrap().len(), 2);
}
