//! A minimal W3C WebDriver client (the JSON-over-HTTP protocol) driving Debian's headless
//! Chromium through `chromedriver`: enough to open pages, fill forms, click and take
//! screenshots. Spoken with reqwest directly, so no WebDriver crate is needed.

use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

/// Where Debian puts the browser and its driver.
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// The driver.
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Set (as `.ci/run` does) to make a missing browser a test failure instead of a skip.
pub const REQUIRE_ENV: &str = "GATEHOUSE_REQUIRE_BROWSER";

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A browser session. Dropping it ends the driver process.
pub struct Chromium {
    http: reqwest::Client,
    session: String,
    _driver: Driver,
    _profile: tempfile::TempDir,
}

/// The chromedriver process; dropping it kills its process group (driver and browser), also
/// when starting the session fails halfway.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).stderr(Stdio::null()).status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether the browser is installed; when it is not and [`REQUIRE_ENV`] is unset, browser
/// tests say so and return.
pub fn available() -> bool {
    let present = std::path::Path::new(CHROMIUM).exists() && std::path::Path::new(CHROMEDRIVER).exists();
    if !present && std::env::var_os(REQUIRE_ENV).is_some() {
        panic!(
            "{REQUIRE_ENV} is set but {CHROMIUM} or {CHROMEDRIVER} is missing: apt-get install chromium chromium-driver"
        );
    }
    if !present {
        eprintln!("browser test not run: install chromium and chromium-driver (Debian) to run it; .ci/run does");
    }
    present
}

impl Chromium {
    /// Starts chromedriver on a free port and opens a headless session.
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        // Its own process group, so dropping the session (even on a failed assertion) can end
        // the driver and the browser it started together.
        let driver = Driver(
            Command::new(CHROMEDRIVER)
                .process_group(0)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("chromedriver starts"),
        );
        // Generous: on a loaded 2-core machine the driver and the browser start slowly.
        let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("client");
        let base = format!("http://127.0.0.1:{port}");
        for _ in 0..600 {
            let ready = match http.get(format!("{base}/status")).send().await {
                Ok(r) => r.json::<Value>().await.is_ok_and(|v| v["value"]["ready"] == true),
                Err(_) => false,
            };
            if ready {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = tempfile::tempdir().expect("profile dir");
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1000,760",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
        }}});
        let resp: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .expect("new session")
            .json()
            .await
            .expect("session json");
        let id = resp["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {resp}"));
        Self { http, session: format!("{base}/session/{id}"), _driver: driver, _profile: profile }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self.http.request(method, format!("{}{path}", self.session));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let v: Value = req.send().await.expect("webdriver call").json().await.expect("webdriver json");
        if v["value"].get("error").is_some() {
            panic!("webdriver {path}: {v}");
        }
        v["value"].clone()
    }

    /// Navigates to `url` and waits for the load.
    pub async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url }))).await;
    }

    /// The current URL.
    pub async fn url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None).await.as_str().unwrap_or_default().to_owned()
    }

    /// The page's HTML.
    pub async fn source(&self) -> String {
        self.call(reqwest::Method::GET, "/source", None).await.as_str().unwrap_or_default().to_owned()
    }

    /// The element matching a CSS selector.
    pub async fn find(&self, css: &str) -> String {
        let v =
            self.call(reqwest::Method::POST, "/element", Some(json!({ "using": "css selector", "value": css }))).await;
        v[ELEMENT].as_str().unwrap_or_else(|| panic!("no element {css}: {v}")).to_owned()
    }

    /// Fills the login page's username and password and submits them.
    pub async fn submit_password(&self, username: &str, password: &str) {
        self.type_into("#username", username).await;
        self.type_into("#password", password).await;
        self.click("button[value=login]").await;
    }

    /// Saves a screenshot as the test artefact `DIR/NAME.png` (a test passes its
    /// `CARGO_TARGET_TMPDIR`).
    pub async fn keep(&self, dir: &str, name: &str) {
        let png = self.screenshot().await;
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        let out = std::path::Path::new(dir).join(format!("{name}.png"));
        std::fs::write(out, png).expect("the artefact is written");
    }

    /// Adds a W3C WebAuthn virtual authenticator (CTAP2, internal, resident keys, user
    /// verification as `verified` says); its id.
    pub async fn add_authenticator(&self, verified: bool) -> String {
        let options = json!({
            "protocol": "ctap2", "transport": "internal", "hasResidentKey": true,
            "hasUserVerification": true, "isUserConsenting": true, "isUserVerified": verified,
        });
        let v = self.call(reqwest::Method::POST, "/webauthn/authenticator", Some(options)).await;
        v.as_str().expect("an authenticator id").to_owned()
    }

    /// Whether the virtual authenticator `id` verifies the user from now on.
    pub async fn set_user_verified(&self, id: &str, verified: bool) {
        let body = json!({ "isUserVerified": verified });
        self.call(reqwest::Method::POST, &format!("/webauthn/authenticator/{id}/uv"), Some(body)).await;
    }

    /// The credentials the virtual authenticator `id` holds.
    pub async fn credentials(&self, id: &str) -> Vec<Value> {
        let v = self.call(reqwest::Method::GET, &format!("/webauthn/authenticator/{id}/credentials"), None).await;
        v.as_array().cloned().unwrap_or_default()
    }

    /// Runs `script` in the page as an async function (its last argument is the callback
    /// that ends it) and returns what it passed to the callback.
    pub async fn run_async(&self, script: &str) -> Value {
        self.call(reqwest::Method::POST, "/execute/async", Some(json!({ "script": script, "args": [] }))).await
    }

    /// The rendered size of the element matching `css`: `(width, height)` in CSS pixels.
    pub async fn size(&self, css: &str) -> (f64, f64) {
        let el = self.find(css).await;
        let r = self.call(reqwest::Method::GET, &format!("/element/{el}/rect"), None).await;
        (r["width"].as_f64().unwrap_or(0.0), r["height"].as_f64().unwrap_or(0.0))
    }

    /// Types into an element.
    pub async fn type_into(&self, css: &str, text: &str) {
        let el = self.find(css).await;
        self.call(reqwest::Method::POST, &format!("/element/{el}/value"), Some(json!({ "text": text }))).await;
    }

    /// Clicks an element (a link or submit button navigates; the call returns after the load).
    pub async fn click(&self, css: &str) {
        let el = self.find(css).await;
        self.call(reqwest::Method::POST, &format!("/element/{el}/click"), Some(json!({}))).await;
    }

    /// A PNG of the viewport.
    pub async fn screenshot(&self) -> Vec<u8> {
        let b64 = self.call(reqwest::Method::GET, "/screenshot", None).await;
        STANDARD.decode(b64.as_str().unwrap_or_default()).expect("png base64")
    }

    /// Waits until the page's HTML contains `text` (a click's navigation may trail the click),
    /// and returns the HTML.
    pub async fn wait_for_text(&self, text: &str) -> String {
        let mut html = String::new();
        for _ in 0..400 {
            html = self.source().await;
            if html.contains(text) {
                return html;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the page never showed {text:?}: {html}");
    }

    /// Waits until the URL starts with `prefix` (navigation after a click may trail it).
    pub async fn wait_for_url(&self, prefix: &str) -> String {
        let mut url = String::new();
        for _ in 0..400 {
            url = self.url().await;
            if url.starts_with(prefix) {
                return url;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("still at {url}, expected {prefix}…");
    }
}

impl Chromium {
    /// Ends the session (closing the browser), then the driver.
    pub async fn quit(self) {
        let _ = self.http.delete(&self.session).send().await;
    }
}
