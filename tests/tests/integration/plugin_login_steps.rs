//! Login-step plugins in the browser sign-in: `terms-of-service` (from `plugins/`) asks once
//! per user and terms version, and the session exists only after the step passed; the
//! `step-probe` test plugin shows that the host escapes and checks the plugin's form, keeps
//! its state between calls, and fails closed when the step refuses, traps or answers with a
//! form the host cannot render.

use gatehouse::audit::AuditEvent;
use gatehouse_tests::TestServer;
use gatehouse_tests::browser::{
    ALICE, ALICE_PASSWORD, Browser, Page, WEB_CB, WEB_ID, WEB_SECRET, browser_config, hidden, query_param, redeem,
};
use gatehouse_tests::plugins::plugin_entry;

fn params() -> [(&'static str, &'static str); 5] {
    [
        ("response_type", "code"),
        ("client_id", WEB_ID),
        ("redirect_uri", WEB_CB),
        ("scope", "openid email"),
        ("state", "st-7"),
    ]
}

fn sets_session(p: &Page) -> bool {
    p.cookies.iter().any(|c| c.starts_with("gatehouse_session=") && !c.starts_with("gatehouse_session=;"))
}

async fn server(entry: &str) -> TestServer {
    TestServer::start_with(&format!("{}{entry}", browser_config())).await
}

/// authorize → login page → password; returns the response to the password POST.
async fn password(b: &Browser) -> Page {
    let start = b.authorize(&params()).await;
    let login = b.get(start.location.as_deref().expect("to the login page")).await;
    b.submit_login(&login, ALICE, ALICE_PASSWORD).await
}

/// Posts the step form on `page` with `fields` (flow, csrf and action added).
async fn submit_step(b: &Browser, page: &Page, fields: &[(&str, &str)]) -> Page {
    let flow = hidden(&page.body, "flow").expect("flow field");
    let csrf = hidden(&page.body, "csrf").expect("csrf field");
    let mut form = vec![("flow", flow.as_str()), ("csrf", csrf.as_str()), ("action", "submit")];
    form.extend_from_slice(fields);
    b.post("/login", &form).await
}

/// The login-step audit records so far, once there are `n`.
async fn step_events(s: &TestServer, n: usize) -> Vec<AuditEvent> {
    let mut out = Vec::new();
    for _ in 0..100 {
        out = gatehouse::audit::all_records(s.state.db.audit(), 0)
            .await
            .expect("audit records")
            .into_iter()
            .map(|r| r.event)
            .filter(|e| matches!(e, AuditEvent::LoginStepPassed { .. } | AuditEvent::LoginStepFailed { .. }))
            .collect();
        if out.len() >= n {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    out
}

#[tokio::test]
async fn terms_of_service_is_asked_once_per_version_and_the_session_starts_after_it() {
    let cfg = "version = \"2026-11\"\nurl = \"https://example.com/terms\"";
    let s = server(&plugin_entry("terms", "login-step", "terms_of_service", "", cfg)).await;

    // Cancel on the page: back to the client with access_denied, no session.
    let quitter = Browser::new(&s.base);
    let to_step = password(&quitter).await;
    let page = quitter.get(to_step.location.as_deref().expect("location")).await;
    let flow = hidden(&page.body, "flow").expect("flow");
    let csrf = hidden(&page.body, "csrf").expect("csrf");
    let cancelled = quitter.post("/login", &[("flow", &flow), ("csrf", &csrf), ("action", "cancel")]).await;
    let to = cancelled.location.clone().expect("location");
    assert!(to.starts_with(WEB_CB) && to.contains("error=access_denied"), "{to}");
    assert!(!sets_session(&cancelled));

    let b = Browser::new(&s.base);

    let after_password = password(&b).await;
    assert_eq!(after_password.status, 303, "{}", after_password.body);
    assert!(!sets_session(&after_password), "no session before the step: {:?}", after_password.cookies);
    let step_url = after_password.location.clone().expect("location");
    assert!(step_url.contains("/login?flow="), "{step_url}");
    let terms = b.get(&step_url).await;
    assert_eq!(terms.status, 200, "{}", terms.body);
    assert!(terms.body.contains("Terms of service"), "{}", terms.body);
    assert!(terms.body.contains("version 2026-11"), "{}", terms.body);
    // The terms are a link the person can follow, not text.
    assert!(
        terms.body.contains(
            "<a href=\"https://example.com/terms\" target=\"_blank\" rel=\"noopener noreferrer\">terms of service</a>"
        ),
        "{}",
        terms.body
    );
    assert!(!sets_session(&terms));

    // Not ticked: the host's own check, the plugin is not asked.
    let again = submit_step(&b, &terms, &[]).await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert!(again.body.contains("Please tick"), "{}", again.body);
    assert!(!sets_session(&again));

    let done = submit_step(&b, &terms, &[("accept", "true")]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert!(sets_session(&done), "the session starts once the step passed: {:?}", done.cookies);
    let cb = done.location.expect("location");
    assert!(cb.starts_with(WEB_CB), "{cb}");
    let code = query_param(&cb, "code").expect("code");
    let (status, body) = redeem(&s.http, &s.base, (WEB_ID, WEB_SECRET), &code, WEB_CB, None).await;
    assert_eq!(status, 200, "{body}");

    let events = step_events(&s, 1).await;
    match &events[..] {
        [AuditEvent::LoginStepPassed { plugin, sha256, recorded, .. }] => {
            assert_eq!(plugin, "terms");
            assert_eq!(sha256.len(), 64);
            assert!(recorded.contains(&"terms_version=2026-11".to_owned()), "{recorded:?}");
        }
        other => panic!("{other:?}"),
    }

    // Another browser, the same user: accepted already, so no page (the step passes at start).
    let other = Browser::new(&s.base);
    let to_step = password(&other).await;
    let through = other.get(to_step.location.as_deref().expect("location")).await;
    assert_eq!(through.status, 303, "{}", through.body);
    assert!(through.location.as_deref().is_some_and(|l| l.starts_with(WEB_CB)), "{:?}", through.location);
    assert!(sets_session(&through));
    assert_eq!(step_events(&s, 2).await.len(), 2);
}

#[tokio::test]
async fn a_step_form_is_escaped_checked_and_keeps_its_state() {
    let s = server(&plugin_entry("probe", "login-step", "test_step_probe", "", "mode = \"ask\"")).await;
    let b = Browser::new(&s.base);
    let to_step = password(&b).await;
    let page = b.get(to_step.location.as_deref().expect("location")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    // The plugin's markup is text, never HTML.
    assert!(!page.body.contains("<script>alert(1)</script>"), "{}", page.body);
    assert!(page.body.contains("&lt;script&gt;"), "{}", page.body);
    assert!(!page.body.contains("<b>now</b>"));
    assert!(page.body.contains("<select"), "{}", page.body);

    // Host checks: a required field, a select option that was not offered.
    let missing = submit_step(&b, &page, &[("colour", "blue")]).await;
    assert!(missing.body.contains("Please fill in"), "{}", missing.body);
    let bad_option = submit_step(&b, &page, &[("answer", "1"), ("colour", "green")]).await;
    assert!(bad_option.body.contains("choose one of the options"), "{}", bad_option.body);

    // A wrong answer: the plugin's form again, its error escaped, its state kept.
    let wrong = submit_step(&b, &page, &[("answer", "41"), ("colour", "blue")]).await;
    assert_eq!(wrong.status, 200, "{}", wrong.body);
    assert!(wrong.body.contains("Wrong answer &lt;i&gt;"), "{}", wrong.body);
    let right = submit_step(&b, &wrong, &[("answer", "42"), ("colour", "blue")]).await;
    assert_eq!(right.status, 303, "{}", right.body);
    assert!(right.location.as_deref().is_some_and(|l| l.starts_with(WEB_CB) && l.contains("code=")));
    match &step_events(&s, 1).await[..] {
        [AuditEvent::LoginStepPassed { recorded, .. }] => {
            assert_eq!(recorded, &["answer=42", "colour=blue", "tries=2"], "state counted the attempts");
        }
        other => panic!("{other:?}"),
    }

    // Three wrong answers: the step fails the sign-in; the reason is audited, not shown.
    let b2 = Browser::new(&s.base);
    let to_step = password(&b2).await;
    let mut page = b2.get(to_step.location.as_deref().expect("location")).await;
    for _ in 0..2 {
        page = submit_step(&b2, &page, &[("answer", "0")]).await;
        assert_eq!(page.status, 200, "{}", page.body);
    }
    let failed = submit_step(&b2, &page, &[("answer", "0")]).await;
    let to = failed.location.clone().expect("location");
    assert!(to.starts_with(WEB_CB) && to.contains("error=access_denied"), "{to}");
    assert!(!to.contains("three"), "{to}");
    assert!(!sets_session(&failed));
    match &step_events(&s, 2).await[1] {
        AuditEvent::LoginStepFailed { outcome, reason, .. } => {
            assert_eq!(outcome, "fail");
            assert!(reason.starts_with("three wrong answers"), "{reason}");
        }
        other => panic!("{other:?}"),
    }

    // A forged form (wrong CSRF token) is refused before the plugin runs.
    let b3 = Browser::new(&s.base);
    let to_step = password(&b3).await;
    let page = b3.get(to_step.location.as_deref().expect("location")).await;
    let flow = hidden(&page.body, "flow").expect("flow");
    let forged = b3.post("/login", &[("flow", &flow), ("csrf", "nope"), ("action", "submit"), ("answer", "42")]).await;
    assert_eq!(forged.status, 403, "{}", forged.body);
}

#[tokio::test]
async fn a_failing_step_fails_closed_and_the_server_keeps_serving() {
    for (mode, expect_redirect) in [("panic", false), ("bad-form", false), ("unavailable", false), ("fail", true)] {
        let s =
            server(&plugin_entry("probe", "login-step", "test_step_probe", "", &format!("mode = \"{mode}\""))).await;
        let b = Browser::new(&s.base);
        let to_step = password(&b).await;
        assert!(!sets_session(&to_step));
        let page = b.get(to_step.location.as_deref().expect("location")).await;
        assert!(!sets_session(&page), "{mode}: no session");
        if expect_redirect {
            let to = page.location.clone().expect("location");
            assert!(to.starts_with(WEB_CB) && to.contains("error=access_denied"), "{mode}: {to}");
        } else {
            assert_eq!(page.status, 503, "{mode}: {}", page.body);
            assert!(page.body.contains("not available right now"), "{mode}: {}", page.body);
            assert!(!page.body.contains("step-probe"), "{mode}: the plugin's words stay out of the page");
        }
        match &step_events(&s, 1).await[..] {
            [AuditEvent::LoginStepFailed { plugin, outcome, .. }] => {
                assert_eq!(plugin, "probe");
                assert_eq!(outcome, if expect_redirect { "fail" } else { "error" }, "{mode}");
            }
            other => panic!("{mode}: {other:?}"),
        }
        let ping = s.http.get(s.url("/ping")).send().await.expect("ping");
        assert_eq!(ping.status(), 200, "{mode}");
    }
}

#[tokio::test]
async fn a_passing_step_records_and_consent_still_follows_for_untrusted_clients() {
    use gatehouse_tests::browser::{THIRD_CB, THIRD_ID};
    let s = server(&plugin_entry("probe", "login-step", "test_step_probe", "", "mode = \"done\"")).await;
    let b = Browser::new(&s.base);
    let p = [
        ("response_type", "code"),
        ("client_id", THIRD_ID),
        ("redirect_uri", THIRD_CB),
        ("scope", "openid"),
        ("state", "x"),
    ];
    let start = b.authorize(&p).await;
    let login = b.get(start.location.as_deref().expect("login")).await;
    let to_step = b.submit_login(&login, ALICE, ALICE_PASSWORD).await;
    let consent = b.get(to_step.location.as_deref().expect("location")).await;
    assert_eq!(consent.status, 200, "{}", consent.body);
    assert!(consent.body.contains("Allow access"), "{}", consent.body);
    assert!(sets_session(&consent), "the step passed, so the session started before consent");
    let done = b.consent(&consent, "approve").await;
    assert!(done.location.as_deref().is_some_and(|l| l.starts_with(THIRD_CB) && l.contains("code=")));
}
