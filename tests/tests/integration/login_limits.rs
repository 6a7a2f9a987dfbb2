//! Sign-in limits under concurrency: attempts are counted before passwords are hashed, so a
//! burst of guesses gets at most the lockout threshold of verifications, whether it comes
//! through one login flow or many; an account's aliases share one count; the count survives
//! a restart.

use std::time::Duration;

use gatehouse_tests::TestServer;
use gatehouse_tests::browser::{ALICE, ALICE_PASSWORD, Browser, Page, WEB_CB, WEB_ID, browser_config};

const PARAMS: [(&str, &str); 4] =
    [("response_type", "code"), ("client_id", WEB_ID), ("redirect_uri", WEB_CB), ("scope", "openid")];

async fn login_page(b: &Browser) -> Page {
    let start = b.authorize(&PARAMS).await;
    b.get(start.location.as_deref().expect("sent to the login page")).await
}

/// `n` browsers, each on the login page of its own flow.
async fn browsers_on_login_pages(s: &TestServer, n: usize) -> Vec<(Browser, Page)> {
    let mut pages = Vec::new();
    for _ in 0..n {
        let b = Browser::new(&s.base);
        let page = login_page(&b).await;
        pages.push((b, page));
    }
    pages
}

/// How many password checks the server ran and failed (each leaves a `login_failed` record
/// with reason `bad_credentials`; refused attempts say `locked` or `rate_limited`).
async fn verified_failures(s: &TestServer) -> usize {
    // Stateless records trail by a commit window.
    tokio::time::sleep(Duration::from_millis(100)).await;
    gatehouse::audit::all_records(s.state.db.audit(), 0).await.expect("audit records")
        .into_iter()
        .filter(|r| {
            matches!(&r.event, gatehouse::audit::AuditEvent::LoginFailed { reason, .. } if reason == "bad_credentials")
        })
        .count()
}

#[tokio::test]
async fn a_concurrent_burst_through_one_flow_gets_at_most_the_threshold_of_verifications() {
    // Generous rate limits, so that the lockout (5) is the limit under test.
    let config = browser_config().replace(
        "[login]\n",
        "[login]\nfailed_per_ip = \"1000/min\"\nfailed_per_user = \"1000/min\"\nattempts_per_flow = 1000\n",
    );
    let s = TestServer::start_with(&config).await;
    let b = Browser::new(&s.base);
    let page = login_page(&b).await;
    let guesses = (0..40).map(|i| {
        let (b, page) = (&b, &page);
        async move { b.submit_login(page, ALICE, &format!("guess {i}")).await.status }
    });
    let statuses = futures::future::join_all(guesses).await;
    assert!(statuses.iter().all(|s| *s == 200 || *s == 429), "{statuses:?}");
    assert_eq!(verified_failures(&s).await, 5, "five checks, then the lock: {statuses:?}");
    let right = b.submit_login(&page, ALICE, ALICE_PASSWORD).await;
    assert_eq!(right.status, 429, "locked, even with the right password: {}", right.body);
}

#[tokio::test]
async fn a_concurrent_burst_across_flows_and_aliases_shares_one_count() {
    let config = browser_config().replace("[login]\n", "[login]\nfailed_per_ip = \"1000/min\"\n");
    let s = TestServer::start_with(&config).await;
    // Forty browsers, each with its own flow, guessing alice by name and by email at once.
    let pages = browsers_on_login_pages(&s, 40).await;
    let guesses = pages.iter().enumerate().map(|(i, (b, page))| async move {
        let name = if i % 2 == 0 { ALICE } else { "Alice@Example.com" };
        b.submit_login(page, name, "wrong password").await.status
    });
    let statuses = futures::future::join_all(guesses).await;
    assert!(statuses.iter().all(|s| *s == 200 || *s == 429), "{statuses:?}");
    assert_eq!(verified_failures(&s).await, 5, "{statuses:?}");
    let b = Browser::new(&s.base);
    let page = login_page(&b).await;
    for name in [ALICE, "alice@example.com"] {
        let r = b.submit_login(&page, name, ALICE_PASSWORD).await;
        assert_eq!(r.status, 429, "{name} is locked too: {}", r.body);
    }
}

#[tokio::test]
async fn one_login_flow_may_make_only_so_many_attempts() {
    let config = browser_config()
        .replace("[login]\n", "[login]\nattempts_per_flow = 3\nlockout_threshold = 0\nfailed_per_ip = \"1000/min\"\n");
    let s = TestServer::start_with(&config).await;
    let b = Browser::new(&s.base);
    let page = login_page(&b).await;
    for name in ["a", "b", "c"] {
        assert_eq!(b.submit_login(&page, name, "x").await.status, 200);
    }
    let r = b.submit_login(&page, ALICE, ALICE_PASSWORD).await;
    assert_eq!(r.status, 429);
    assert!(r.body.contains("start again"), "{}", r.body);
    // A new flow may try again.
    let page = login_page(&b).await;
    assert_eq!(b.submit_login(&page, ALICE, ALICE_PASSWORD).await.status, 303);
}

#[tokio::test]
async fn a_lockout_survives_a_restart() {
    let config = browser_config().replace("[login]\n", "[login]\nlockout_threshold = 2\nlockout_duration = \"10m\"\n");
    let s = TestServer::start_with(&config).await;
    let b = Browser::new(&s.base);
    let page = login_page(&b).await;
    for _ in 0..2 {
        assert_eq!(b.submit_login(&page, ALICE, "wrong").await.status, 200);
    }
    let dir = s.stop().await;
    let s = TestServer::start_in(dir, &config).await;
    let b = Browser::new(&s.base);
    let page = login_page(&b).await;
    let r = b.submit_login(&page, ALICE, ALICE_PASSWORD).await;
    assert_eq!(r.status, 429, "still locked after the restart: {}", r.body);
    s.clock.advance(Duration::from_secs(601));
    let page = login_page(&b).await;
    assert_eq!(b.submit_login(&page, ALICE, ALICE_PASSWORD).await.status, 303, "the lock ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_right_passwords_at_once_are_told_to_retry_and_never_lock_the_account() {
    // Hashing slow enough that more checks overlap than the lockout threshold (5).
    let config = browser_config()
        .replace("password_hash_memory_kib = 256", "password_hash_memory_kib = 8192")
        .replace("[login]\n", "[login]\nfailed_per_ip = \"1000/min\"\nfailed_per_user = \"1000/min\"\n");
    let s = TestServer::start_with(&config).await;
    let pages = browsers_on_login_pages(&s, 20).await;
    let sign_ins = pages.iter().map(|(b, page)| b.submit_login(page, ALICE, ALICE_PASSWORD));
    let answers = futures::future::join_all(sign_ins).await;
    let signed_in = answers.iter().filter(|p| p.status == 303).count();
    let busy = answers.iter().filter(|p| p.status == 429).collect::<Vec<_>>();
    assert_eq!(signed_in + busy.len(), 20, "each either signs in or is told to retry");
    assert!(signed_in >= 5, "{signed_in} signed in");
    assert!(!busy.is_empty(), "twenty at once are more than the five the lockout lets through");
    for p in &busy {
        assert!(p.body.contains("Too many sign-ins at once"), "not a lockout: {}", p.body);
    }
    assert_eq!(verified_failures(&s).await, 0);
    let b = Browser::new(&s.base);
    let page = login_page(&b).await;
    assert_eq!(b.submit_login(&page, ALICE, ALICE_PASSWORD).await.status, 303, "alice is not locked");
}
