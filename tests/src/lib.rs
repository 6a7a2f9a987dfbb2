//! Integration test harness: real Gatehouse servers on `127.0.0.1:0` with sled stores in
#![allow(clippy::expect_used, clippy::panic, reason = "test harness: a failed setup step must fail the test loudly")]
//! temp dirs and a manual clock, real HTTP clients, and child processes running the real
//! CLI (for `kill -9` and CLI tests).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse::clock::{ManualClock, system_now};
use gatehouse::config::Config;
use gatehouse::server::Server;
use gatehouse::state::AppState;
use serde_json::Value;
use tempfile::TempDir;
use tokio::sync::oneshot;

pub mod browser;
pub mod fake_github;
pub mod fake_mail;
pub mod fake_oidc;
pub mod mfa;
pub mod pg;
pub mod plugins;
pub mod soft_passkey;
pub mod webdriver;

/// Name of the ignored test that child processes run (see `child_entry` in the tests).
pub const CHILD_ENTRY: &str = "child_process_entry";
/// Environment variable carrying the child's CLI arguments (a JSON array of strings).
pub const CHILD_ARGS_ENV: &str = "GATEHOUSE_TEST_CHILD_ARGS";

/// A confidential client every standard test config has.
pub const SVC_ID: &str = "svc";
/// Its secret.
pub const SVC_SECRET: &str = "svc-secret-0123456789abcdefghij";

/// The standard configuration for tests (dev_mode on; store under the temp dir).
pub fn standard_config() -> String {
    format!(
        r#"
[server]
bind = "127.0.0.1:0"
dev_mode = true
[store]
path = "data"
[tokens]
access_token_ttl = "10m"

[[clients]]
id = "{SVC_ID}"
secret = "{SVC_SECRET}"
grant_types = ["client_credentials"]
scopes = ["logs:write", "logs:read"]
audiences = ["logging-service", "metrics"]

[[clients]]
id = "logging-service"
secret = "logging-service-secret-0123456789"
scopes = []

[[clients]]
id = "bystander"
secret = "bystander-secret-0123456789abcd"
scopes = ["x"]

[[clients]]
id = "auditor"
secret = "auditor-secret-0123456789abcdefg"
can_introspect = true

[[clients]]
id = "no-aud"
secret = "no-aud-secret-0123456789abcdefgh"
scopes = ["a"]

[[clients]]
id = "spa"
public = true
redirect_uris = ["https://spa.example/cb"]
"#
    )
}

/// A server running in this process.
pub struct TestServer {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The server's clock.
    pub clock: ManualClock,
    /// An HTTP client.
    pub http: reqwest::Client,
    /// Shared state (keys, store) for white-box checks.
    pub state: AppState,
    /// `http://<addr>` of the separate metrics listener, when `[metrics] bind` is set.
    pub metrics_base: Option<String>,
    /// The temp dir holding the config and the store.
    pub dir: TempDir,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    /// Starts the standard configuration.
    pub async fn start() -> Self {
        Self::start_with(&standard_config()).await
    }

    /// Starts a server with `toml` (written into a temp dir; `store.path` resolves there).
    pub async fn start_with(toml: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::start_in(dir, toml).await
    }

    /// Starts a server in `dir` (reusing a store left there).
    pub async fn start_in(dir: TempDir, toml: &str) -> Self {
        match Self::try_start_in(dir, toml).await {
            Ok(s) => s,
            Err(e) => panic!("server did not start: {e}"),
        }
    }

    /// Starts a server with `toml`, or returns why it would not start (config or start-up
    /// error, as the operator would read it).
    pub async fn try_start_with(toml: &str) -> Result<Self, String> {
        Self::try_start_in(tempfile::tempdir().expect("temp dir"), toml).await
    }

    async fn try_start_in(dir: TempDir, toml: &str) -> Result<Self, String> {
        let path = dir.path().join("gatehouse.toml");
        std::fs::write(&path, toml).expect("write config");
        let config =
            Config::from_toml(toml, &path.display().to_string(), dir.path(), &|_| None).map_err(|e| e.to_string())?;
        let clock = ManualClock::new(system_now());
        let server = Server::bind(config, Arc::new(clock.clone())).await.map_err(|e| e.to_string())?;
        let base = format!("http://{}", server.local_addr());
        let metrics_base = server.metrics_addr().map(|a| format!("http://{a}"));
        let state = server.state().clone();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async move {
            let _ = rx.await;
        }));
        Ok(Self {
            base,
            clock,
            http: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client"),
            state,
            metrics_base,
            dir,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// Stops the server gracefully and returns its temp dir (for a restart).
    pub async fn stop(mut self) -> TempDir {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        std::mem::replace(&mut self.dir, dir)
    }

    /// The audit event names stored so far, once every name in `expected` is among them
    /// (events of stateless actions are written within one commit window, so this polls).
    pub async fn audit_events(&self, expected: &[&str]) -> Vec<&'static str> {
        let mut names = Vec::new();
        for _ in 0..100 {
            names = gatehouse::audit::all_records(self.state.db.audit(), 0)
                .await
                .expect("audit records")
                .into_iter()
                .map(|r| r.event.name())
                .collect::<Vec<_>>();
            if expected.iter().all(|e| names.contains(e)) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        names
    }

    /// The `policy_decision` audit records so far as `(plugin, outcome, reason)`, once there
    /// are at least `n` (they trail the response by one commit window).
    pub async fn policy_decisions(&self, n: usize) -> Vec<(String, String, Option<String>)> {
        let mut out = Vec::new();
        for _ in 0..100 {
            out = gatehouse::audit::all_records(self.state.db.audit(), 0)
                .await
                .expect("audit records")
                .into_iter()
                .filter_map(|r| match r.event {
                    gatehouse::audit::AuditEvent::PolicyDecision { plugin, outcome, reason, .. } => {
                        Some((plugin, outcome, reason))
                    }
                    _ => None,
                })
                .collect();
            if out.len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        out
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// GETs `path` and parses the JSON body.
    pub async fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> T {
        self.http.get(self.url(path)).send().await.expect("request").json().await.expect("json")
    }

    /// Calls the admin API: `method path` with a Bearer credential and a JSON body; the
    /// status and the JSON answer (`null` when there is none).
    pub async fn admin_call(
        &self,
        method: &str,
        path: &str,
        bearer: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
        let mut req = self.http.request(method, self.url(path)).bearer_auth(bearer);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.expect("the admin API answers");
        (r.status().as_u16(), r.json().await.unwrap_or_default())
    }

    /// POSTs a form with HTTP Basic credentials.
    pub async fn post_basic(&self, path: &str, id: &str, secret: &str, form: &[(&str, &str)]) -> reqwest::Response {
        post_basic(&self.http, &self.url(path), id, secret, form).await
    }

    /// A client_credentials token for `svc` with extra parameters; panics unless 200.
    pub async fn svc_token(&self, extra: &[(&str, &str)]) -> String {
        if extra.is_empty() {
            return cc_token(&self.http, &self.base, SVC_ID, SVC_SECRET).await;
        }
        let mut form = vec![("grant_type", "client_credentials")];
        form.extend_from_slice(extra);
        let resp = self.post_basic(gatehouse::paths::TOKEN, SVC_ID, SVC_SECRET, &form).await;
        assert_eq!(resp.status(), 200, "token request failed");
        let body: Value = resp.json().await.expect("json");
        body["access_token"].as_str().expect("access_token").to_owned()
    }

    /// Introspects `token` as `id`/`secret`.
    pub async fn introspect(&self, id: &str, secret: &str, token: &str) -> Value {
        let resp = self.post_basic(gatehouse::paths::INTROSPECT, id, secret, &[("token", token)]).await;
        assert_eq!(resp.status(), 200);
        resp.json().await.expect("json")
    }

    /// POSTs `/verify` with a JSON body; returns status and body.
    pub async fn verify(&self, body: Value) -> (u16, Value) {
        let resp = self.http.post(self.url(gatehouse::paths::VERIFY)).json(&body).send().await.expect("request");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// POSTs a form with HTTP Basic credentials to `url`.
pub async fn post_basic(
    http: &reqwest::Client,
    url: &str,
    id: &str,
    secret: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    http.post(url).basic_auth(id, Some(secret)).form(form).send().await.expect("request")
}

/// A client_credentials access token from the server at `base`; panics unless 200.
pub async fn cc_token(http: &reqwest::Client, base: &str, id: &str, secret: &str) -> String {
    let resp = post_basic(
        http,
        &format!("{base}{}", gatehouse::paths::TOKEN),
        id,
        secret,
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(resp.status(), 200, "token request failed");
    let body: Value = resp.json().await.expect("json");
    body["access_token"].as_str().expect("access_token").to_owned()
}

/// Decodes the header and claims of a JWT without verifying it.
pub fn jwt_parts(token: &str) -> (Value, Value) {
    let mut it = token.split('.');
    let mut part = || -> Value {
        let raw = URL_SAFE_NO_PAD.decode(it.next().expect("part")).expect("b64");
        serde_json::from_slice(&raw).expect("json")
    };
    let header = part();
    let claims = part();
    (header, claims)
}

/// The real `gatehouse` CLI in a child process (this test binary re-executed into
/// `gatehouse::cli::main`, so no separately built binary is needed).
pub fn gatehouse_command(args: &[&str]) -> Command {
    let exe = std::env::current_exe().expect("current exe");
    let mut cmd = Command::new(exe);
    cmd.args([CHILD_ENTRY, "--exact", "--ignored", "--nocapture", "--test-threads=1", "-q"])
        .env(CHILD_ARGS_ENV, serde_json::to_string(args).expect("args as JSON"))
        .env("GATEHOUSE_LOG", "warn")
        .stdin(Stdio::null());
    cmd
}

/// The child's stdout without the libtest header that precedes the CLI's own output.
fn cli_stdout(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let trimmed = text.trim_start_matches('\n');
    trimmed.strip_prefix("running 1 test\n").unwrap_or(trimmed).to_owned()
}

/// The record count of `gatehouse audit verify`'s answer (`audit chain ok: N records, ...`).
pub fn verified_records(out: &str) -> usize {
    let rest = out.trim().strip_prefix("audit chain ok: ").unwrap_or_else(|| panic!("not a verified chain: {out}"));
    rest.split_whitespace().next().and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("no count in {out}"))
}

/// Runs a CLI verb to completion; returns (exit code, stdout, stderr).
pub fn run_cli(args: &[&str]) -> (i32, String, String) {
    let out = gatehouse_command(args).output().expect("spawn gatehouse");
    (out.status.code().unwrap_or(-1), cli_stdout(&out.stdout), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Runs a CLI verb with `input` on its standard input; returns (exit code, stdout, stderr).
pub fn run_cli_with_stdin(args: &[&str], input: &str) -> (i32, String, String) {
    use std::io::Write as _;
    let mut child = gatehouse_command(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn gatehouse");
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.as_bytes()).expect("write stdin");
    }
    let out = child.wait_with_output().expect("wait");
    (out.status.code().unwrap_or(-1), cli_stdout(&out.stdout), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Runs a CLI verb with `env` set and `input` on its standard input; returns (exit code,
/// stdout, stderr). Blocking: call it from `spawn_blocking` beside a running test server.
pub fn run_cli_env(args: &[&str], env: &[(&str, &str)], input: &str) -> (i32, String, String) {
    use std::io::Write as _;
    let mut cmd = gatehouse_command(args);
    cmd.envs(env.iter().copied()).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn gatehouse");
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.as_bytes()).expect("write stdin");
    }
    let out = child.wait_with_output().expect("wait");
    (out.status.code().unwrap_or(-1), cli_stdout(&out.stdout), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// A `gatehouse serve` child process.
pub struct ChildServer {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// Everything printed on stdout up to the listening line.
    pub stdout: String,
}

impl ChildServer {
    /// The child's process id (to send it signals).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Spawns `gatehouse serve --config <config> --bind 127.0.0.1:0` and waits until it listens.
    #[allow(clippy::zombie_processes, reason = "the child moves into ChildServer, whose Drop kills and waits")]
    pub fn spawn(config: &Path) -> Self {
        Self::spawn_logging(config, None, "warn")
    }

    /// Like [`Self::spawn`], with the log filter `log` and the logs (stderr) written to `log_file`.
    #[allow(clippy::zombie_processes, reason = "the child moves into ChildServer, whose Drop kills and waits")]
    pub fn spawn_logging(config: &Path, log_file: Option<&Path>, log: &str) -> Self {
        use std::io::{BufRead, BufReader};
        let cfg = config.display().to_string();
        let stderr = match log_file {
            Some(p) => Stdio::from(std::fs::File::create(p).expect("log file")),
            None => Stdio::inherit(),
        };
        let mut child = gatehouse_command(&["gatehouse", "serve", "--config", &cfg, "--bind", "127.0.0.1:0"])
            .env("GATEHOUSE_LOG", log)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("spawn server");
        let stdout = child.stdout.take().expect("stdout");
        let mut reader = BufReader::new(stdout);
        let mut seen = String::new();
        let mut line = String::new();
        loop {
            line.clear();
            let n = reader.read_line(&mut line).unwrap_or(0);
            if n == 0 {
                let status = child.wait();
                panic!("server exited ({status:?}) before listening; output:\n{seen}");
            }
            seen.push_str(&line);
            if let Some(rest) = line.split("listening on ").nth(1) {
                let base = rest.split_whitespace().next().expect("address").to_owned();
                // Keep draining stdout so the child never blocks on a full pipe.
                std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
                return Self { child, base, stdout: seen };
            }
        }
    }

    /// SIGTERM, then waits up to `within` for the exit; returns the exit code (None: still running).
    pub fn terminate(mut self, within: Duration) -> Option<i32> {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let start = gatehouse::clock::monotonic();
        while start.elapsed() < within {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status.code().unwrap_or(-1));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// `kill -9`.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes `toml` to `dir/name` and returns the path.
pub fn write_config(dir: &Path, name: &str, toml: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, toml).expect("write config");
    p
}
