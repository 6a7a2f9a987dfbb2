//! "Forgot password?" and address verification by emailed link, through the email-notifier
//! example plugin and a fake of the mail API on loopback: the same answer whether or not
//! the address exists, a link that works once, for 30 minutes, and not after the password
//! changed; a reset ends every session; the link appears in no audit record, dead letter or
//! log line.

use gatehouse::paths;
use gatehouse::secret::sha256_hex;
use gatehouse_tests::browser::{ALICE, ALICE_PASSWORD, Browser, Page, WEB_CB, WEB_ID, browser_config, hidden};
use gatehouse_tests::fake_mail::FakeMail;
use gatehouse_tests::{ChildServer, TestServer, write_config};

const ADMIN: &str = "reset-admin-token-0123456789abcdef";
const EVENTS: &[&str] = &["password.reset_requested", "email.verification_requested", "password.reset"];
const NEW_PASSWORD: &str = "a brand new passphrase 42";

fn config(mail: &FakeMail) -> String {
    format!(
        "{}\n[admin]\ntoken_sha256 = \"{}\"\n[plugin_runtime]\nallow_loopback_http = true\n{}",
        browser_config(),
        sha256_hex(ADMIN.as_bytes()),
        mail.notifier(EVENTS)
    )
}

const PARAMS: &[(&str, &str)] =
    &[("response_type", "code"), ("client_id", WEB_ID), ("redirect_uri", WEB_CB), ("scope", "openid email")];

/// Asks for a reset link for `who` on the forgot page (reached from a login page).
async fn ask(b: &Browser, who: &str) -> Page {
    let login = b.authorize(PARAMS).await;
    let login = b.get(&login.location.expect("to the login page")).await;
    let forgot = gatehouse_tests::browser::href(&login, "/password/forgot").expect("a Forgot password? link");
    let page = b.get(&forgot).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let csrf = hidden(&page.body, "csrf").expect("csrf");
    let flow = hidden(&page.body, "flow").expect("the flow to go back to");
    b.post(paths::PASSWORD_FORGOT, &[("csrf", &csrf), ("flow", &flow), ("email", who)]).await
}

/// Submits `password` on the reset page of `link`.
async fn reset(b: &Browser, link: &str, password: &str) -> Page {
    let page = b.get(link).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let Some(token) = hidden(&page.body, "token") else { return page };
    let csrf = hidden(&page.body, "csrf").expect("csrf");
    b.post(paths::PASSWORD_RESET, &[("csrf", &csrf), ("token", &token), ("new_password", password)]).await
}

/// The link in the `n`th link mail (security notices such as `password.reset` arrive
/// through the queue in their own time, between them).
async fn link(mail: &FakeMail, n: usize) -> String {
    for _ in 0..100 {
        let links: Vec<String> = mail.all().iter().filter_map(|m| m.link("http")).collect();
        if let Some(l) = links.get(n) {
            return l.clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no link mail {n} in {:?}", mail.all());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_link_is_mailed_used_once_and_ends_every_session() {
    let mail = FakeMail::start().await;
    let s = TestServer::start_with(&config(&mail)).await;
    let signed_in = Browser::new(&s.base);
    signed_in.sign_in(PARAMS, ALICE, ALICE_PASSWORD).await;
    assert_eq!(signed_in.get(paths::ACCOUNT).await.status, 200);
    let refresh = gatehouse_tests::browser::web_refresh_token(&s, ALICE, ALICE_PASSWORD).await;

    // The same page for an unknown address as for a known one; only the known one gets mail.
    let b = Browser::new(&s.base);
    let unknown = ask(&b, "nobody@example.com").await;
    let known = ask(&b, "alice@example.com").await;
    assert_eq!(unknown.status, 200);
    assert!(known.body.contains("link-sent"), "{}", known.body);
    // Equal but for the login flow each went back to.
    let page = |p: &Page| p.body.lines().filter(|l| !l.contains("flow")).collect::<Vec<_>>().join("\n");
    assert_eq!(page(&unknown), page(&known), "the answer does not tell whether the address exists");
    let got = mail.wait(1).await;
    assert_eq!((got[0].to.as_str(), got[0].subject.as_str()), ("alice@example.com", "Reset your password"));
    let link = link(&mail, 0).await;
    assert!(link.starts_with(&format!("{}{}?token=", s.base, paths::PASSWORD_RESET)), "{link}");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(mail.all().len(), 1, "nothing for the unknown address");

    // Opening the link uses nothing; a short password is refused and the link still works.
    let short = reset(&b, &link, "short").await;
    assert!(short.body.contains("at least 8 characters"), "{}", short.body);
    let done = reset(&b, &link, NEW_PASSWORD).await;
    assert!(done.body.contains("Password changed"), "{}", done.body);
    let again = reset(&b, &link, "yet another passphrase").await;
    assert!(again.body.contains("Link expired"), "once only: {}", again.body);

    // Every session ended, every refresh token revoked; only the new password signs in.
    assert_eq!(signed_in.get(paths::ACCOUNT).await.status, 403, "the session ended");
    let (status, answer) = gatehouse_tests::browser::web_refresh(&s, &refresh).await;
    assert_eq!((status, answer["error"].as_str()), (400, Some("invalid_grant")), "{answer}");
    let fresh = Browser::new(&s.base);
    let start = fresh.authorize(PARAMS).await;
    let page = fresh.get(&start.location.unwrap()).await;
    assert!(fresh.submit_login(&page, ALICE, ALICE_PASSWORD).await.body.contains("Incorrect"), "old password");
    fresh.sign_in(PARAMS, ALICE, NEW_PASSWORD).await;
    let alice = s.state.db.shared_users().find_user(ALICE).await.unwrap().unwrap();
    assert!(alice.email_verified, "a used reset link proves the address");

    // Audited and notified, without the link.
    let names = s.audit_events(&["password_reset_requested", "password_reset"]).await;
    assert!(names.contains(&"session_ended"));
    let notice = mail.wait(2).await.remove(1);
    assert!(notice.text.contains("was reset through an emailed link; 2 sessions ended"), "{}", notice.text);
    let token = link.split("token=").nth(1).unwrap();
    let audit = s.http.get(s.url(paths::ADMIN_AUDIT)).bearer_auth(ADMIN).send().await.unwrap().text().await.unwrap();
    assert!(audit.contains("password_reset_requested") && !audit.contains(token), "{audit}");
    let letters =
        s.http.get(s.url(paths::ADMIN_NOTIFICATIONS)).bearer_auth(ADMIN).send().await.unwrap().text().await.unwrap();
    assert!(!letters.contains(token), "no queued or dead message holds the link: {letters}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_link_expires_dies_with_a_password_change_and_needs_its_form() {
    let mail = FakeMail::start().await;
    let s = TestServer::start_with(&config(&mail)).await;
    let b = Browser::new(&s.base);
    ask(&b, "alice@example.com").await;
    let first = link(&mail, 0).await;
    // One link per minute per person, whoever asks.
    ask(&Browser::new(&s.base), ALICE).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(mail.all().len(), 1, "a second link within the minute is not sent");
    s.clock.advance(std::time::Duration::from_secs(61));
    ask(&b, ALICE).await;
    let second = link(&mail, 1).await;
    assert_ne!(first, second);

    // The form is bound to the browser it was shown to.
    let page = b.get(&first).await;
    let token = hidden(&page.body, "token").unwrap();
    let other = Browser::new(&s.base);
    let forged = other.post(paths::PASSWORD_RESET, &[("token", &token), ("new_password", NEW_PASSWORD)]).await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    let wrong =
        b.post(paths::PASSWORD_RESET, &[("csrf", "x"), ("token", &token), ("new_password", NEW_PASSWORD)]).await;
    assert_eq!(wrong.status, 403);

    // Using one link kills the other: the password it was issued against changed.
    assert!(reset(&b, &first, NEW_PASSWORD).await.body.contains("Password changed"));
    assert!(reset(&b, &second, "yet another passphrase").await.body.contains("Link expired"));

    // A link older than 30 minutes is dead, and the page offers a new one.
    s.clock.advance(std::time::Duration::from_secs(61));
    ask(&b, ALICE).await;
    let third = link(&mail, 2).await;
    s.clock.advance(std::time::Duration::from_secs(31 * 60));
    let dead = b.get(&third).await;
    assert!(dead.body.contains("Link expired") && dead.body.contains("Ask for a new link"), "{}", dead.body);
    // A made-up or mangled token is the same dead link.
    let bogus = b.get(&format!("{}?token=not-a-token", paths::PASSWORD_RESET)).await;
    assert!(bogus.body.contains("Link expired"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_is_verified_through_its_link() {
    let mail = FakeMail::start().await;
    let s = TestServer::start_with(&config(&mail)).await;
    let b = Browser::new(&s.base);
    b.sign_in(PARAMS, ALICE, ALICE_PASSWORD).await;
    let account = b.get(paths::ACCOUNT).await;
    assert!(account.body.contains("not verified yet"), "{}", account.body);
    let csrf = hidden(&account.body, "csrf").unwrap();
    let sent = b.post(paths::ACCOUNT, &[("csrf", &csrf), ("action", "email_verify_send")]).await;
    assert!(sent.body.contains("A link was sent to alice@example.com"), "{}", sent.body);
    let forged = b.post(paths::ACCOUNT, &[("csrf", "forged"), ("action", "email_verify_send")]).await;
    assert_eq!(forged.status, 403);
    let got = mail.wait(1).await;
    assert_eq!(got[0].subject, "Verify your email address");
    let link = got[0].link("http").unwrap();
    assert!(link.starts_with(&format!("{}{}?token=", s.base, paths::EMAIL_VERIFY)), "{link}");

    // Opened in another browser (the mail app's): a button, then verified.
    let elsewhere = Browser::new(&s.base);
    let page = elsewhere.get(&link).await;
    assert!(page.body.contains("alice@example.com"), "{}", page.body);
    let form = [("csrf", hidden(&page.body, "csrf").unwrap()), ("token", hidden(&page.body, "token").unwrap())];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let done = elsewhere.post(paths::EMAIL_VERIFY, &form).await;
    assert!(done.body.contains("Address verified"), "{}", done.body);
    assert!(elsewhere.post(paths::EMAIL_VERIFY, &form).await.body.contains("Link expired"), "once only");
    assert!(b.get(paths::ACCOUNT).await.body.contains("Your email address is verified."));
    assert!(s.state.db.shared_users().find_user(ALICE).await.unwrap().unwrap().email_verified);
    assert!(s.audit_events(&["email_verification_requested", "email_verified"]).await.contains(&"email_verified"));
}

#[tokio::test]
async fn links_go_only_to_the_persons_own_address() {
    let mail = FakeMail::start().await;
    let to_ops = mail
        .notifier(&["password.reset_requested"])
        .replace("channel = \"email\"", "channel = \"email\"\nrecipient = \"ops@example.com\"");
    let err = TestServer::try_start_with(&format!(
        "{}\n[plugin_runtime]\nallow_loopback_http = true\n{to_ops}",
        browser_config()
    ))
    .await
    .err()
    .expect("refused");
    assert!(err.contains("recipient") && err.contains("person's own address"), "{err}");
    let by_sms = mail
        .notifier(&["email.verification_requested"])
        .replace("channel = \"email\"", "channel = \"sms\"\nrecipient = \"+15005550006\"");
    let err = TestServer::try_start_with(&format!(
        "{}\n[plugin_runtime]\nallow_loopback_http = true\n{by_sms}",
        browser_config()
    ))
    .await
    .err()
    .expect("refused");
    assert!(err.contains("events") && err.contains("not for channel = \"sms\""), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_logs_of_a_password_reset_hold_no_link_or_password() {
    let mail = FakeMail::start().await;
    let dir = tempfile::tempdir().unwrap();
    let toml = config(&mail) + "\n[telemetry]\nlog_format = \"json\"\n";
    let cfg = write_config(dir.path(), "gatehouse.toml", &toml);
    let log = dir.path().join("server.log");
    // Everything at trace but the compiler's own passes over the plugin (gigabytes of them).
    let filter = "trace,cranelift_codegen=warn,cranelift_frontend=warn,wasmtime_internal_cranelift=warn,regalloc2=warn";
    let server = ChildServer::spawn_logging(&cfg, Some(&log), filter);
    let b = Browser::new(&server.base);
    ask(&b, "alice@example.com").await;
    let link = link(&mail, 0).await;
    assert!(reset(&b, &link, NEW_PASSWORD).await.body.contains("Password changed"));
    assert_eq!(server.terminate(std::time::Duration::from_secs(10)), Some(0));
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(logs.lines().count() > 20, "trace logging produced output");
    let token = link.split("token=").nth(1).unwrap();
    for secret in [token, NEW_PASSWORD, ALICE_PASSWORD] {
        assert!(!logs.contains(secret), "a link or a password appears in the logs");
    }
}
