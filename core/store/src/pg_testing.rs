//! Throwaway PostgreSQL clusters for tests: `initdb` into a temporary directory, a server
//! listening only on a unix socket there (no port to allocate), trust authentication. One
//! cluster is shared by a whole test binary ([`shared`]) and each test takes a schema of its
//! own ([`Cluster::fresh_url`]); a test that stops the database starts a [`private`] one.
//!
//! When no PostgreSQL is installed the tests say they did not run, unless
//! `GATEHOUSE_REQUIRE_PG` is set (as `.ci/run` does), which makes that a failure. As root
//! (CI containers) the cluster runs as the `postgres` user, since PostgreSQL refuses root.
#![allow(clippy::panic, clippy::expect_used, reason = "a test harness: a failed step fails the test")]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Set to make a missing PostgreSQL a test failure instead of a skip.
pub const REQUIRE_ENV: &str = "GATEHOUSE_REQUIRE_PG";

/// A running cluster. Dropping a private one stops it and removes its directory; the shared
/// one is stopped by a watchdog when the test process ends (however it ends).
pub struct Cluster {
    dir: PathBuf,
    bin: PathBuf,
    as_postgres: bool,
    /// Holds the watchdog's stdin: when this process exits the pipe closes and the watchdog
    /// stops the server and removes the directory.
    watchdog: Option<Child>,
}

/// The directory holding `initdb`, `pg_ctl` and `postgres`: the newest of Debian's
/// `/usr/lib/postgresql/<version>/bin`, or wherever `initdb` is on the PATH.
fn bindir() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, p)| p.join("initdb").exists() && p.join("pg_ctl").exists())
        .collect();
    versions.sort();
    if let Some((_, p)) = versions.pop() {
        return Some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).find(|p| p.join("initdb").exists() && p.join("pg_ctl").exists())
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Whether PostgreSQL is installed; when it is not and [`REQUIRE_ENV`] is unset, the caller
/// says the test did not run and returns.
pub fn available() -> bool {
    let present = bindir().is_some();
    if !present && std::env::var_os(REQUIRE_ENV).is_some() {
        panic!("{REQUIRE_ENV} is set but no PostgreSQL (initdb, pg_ctl) is installed: apt-get install postgresql");
    }
    if !present {
        eprintln!("postgres test not run: install PostgreSQL (Debian: postgresql) to run it; .ci/run does");
    }
    present
}

/// The cluster this test binary shares, started on first use; `None` when PostgreSQL is not
/// installed (see [`available`]).
pub fn shared() -> Option<&'static Cluster> {
    static SHARED: OnceLock<Option<Cluster>> = OnceLock::new();
    SHARED
        .get_or_init(|| {
            if !available() {
                return None;
            }
            let mut c = Cluster::init();
            c.start();
            c.watch();
            Some(c)
        })
        .as_ref()
}

/// A cluster of the caller's own (to stop and start it); `None` without PostgreSQL.
pub fn private() -> Option<Cluster> {
    if !available() {
        return None;
    }
    let mut c = Cluster::init();
    c.start();
    Some(c)
}

impl Cluster {
    fn init() -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let bin = bindir().expect("PostgreSQL binaries");
        let dir = std::env::temp_dir().join(format!(
            "gatehouse-pg-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("cluster directory");
        let as_postgres = is_root();
        if as_postgres {
            let status = Command::new("chown").args(["postgres:", &dir.display().to_string()]).status();
            assert!(status.is_ok_and(|s| s.success()), "chown of the cluster directory to postgres");
        }
        let c = Self { dir, bin, as_postgres, watchdog: None };
        let out = c
            .command("initdb")
            .args(["-U", "gatehouse", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C", "-D"])
            .arg(c.data())
            .output()
            .expect("initdb runs");
        assert!(out.status.success(), "initdb failed: {}", String::from_utf8_lossy(&out.stderr));
        c
    }

    /// A command of the cluster's binaries, as `postgres` when we are root.
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        };
        cmd.stdin(Stdio::null());
        cmd
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// The directory holding the server's socket (the URL's host).
    pub fn socket_dir(&self) -> &Path {
        &self.dir
    }

    /// Starts the server and waits until it accepts connections.
    pub fn start(&mut self) {
        let opts = format!(
            "-c listen_addresses='' -k {} -p 5432 -c fsync=off -c full_page_writes=off -c max_connections=300",
            self.dir.display()
        );
        let out = self
            .command("pg_ctl")
            .args(["-w", "-t", "60", "-l"])
            .arg(self.dir.join("log"))
            .arg("-D")
            .arg(self.data())
            .args(["-o", &opts, "start"])
            .output()
            .expect("pg_ctl runs");
        assert!(out.status.success(), "pg_ctl start failed: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Stops the server at once (connections drop, as in an outage).
    pub fn stop(&self) {
        let _ = self.command("pg_ctl").arg("-D").arg(self.data()).args(["-m", "immediate", "-w", "stop"]).output();
    }

    /// Makes the shared cluster stop with this process: a shell waits on a pipe only this
    /// process holds, then stops the server and removes the directory.
    fn watch(&mut self) {
        let pg_ctl = self.bin.join("pg_ctl");
        let script = format!(
            "read _; {} -D '{}' -m immediate -w stop >/dev/null 2>&1; rm -rf '{}'",
            pg_ctl.display(),
            self.data().display(),
            self.dir.display()
        );
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--", "sh", "-c", &script]);
            c
        } else {
            let mut c = Command::new("sh");
            c.args(["-c", &script]);
            c
        };
        let child = cmd.stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("watchdog");
        self.watchdog = Some(child);
    }

    /// A connection string for `schema` (its `search_path`).
    pub fn url(&self, schema: &str) -> String {
        format!(
            "host={} port=5432 user=gatehouse dbname=postgres options='-c search_path={schema}'",
            self.dir.display()
        )
    }

    /// A new, empty schema and the connection string that uses it.
    pub async fn fresh_url(&self) -> String {
        static N: AtomicU32 = AtomicU32::new(0);
        let schema = format!("t_{}_{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
        let admin = format!("host={} port=5432 user=gatehouse dbname=postgres", self.dir.display());
        let mut last = String::new();
        for _ in 0..100 {
            match tokio_postgres::connect(&admin, tokio_postgres::NoTls).await {
                Ok((client, conn)) => {
                    tokio::spawn(conn);
                    client.batch_execute(&format!("CREATE SCHEMA {schema}")).await.expect("create schema");
                    return self.url(&schema);
                }
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the test cluster does not accept connections: {last}");
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        match self.watchdog.take() {
            // The shared cluster: closing the pipe ends it.
            Some(mut w) => {
                if let Some(mut stdin) = w.stdin.take() {
                    let _ = stdin.write_all(b"\n");
                }
                let _ = w.wait();
            }
            None => {
                self.stop();
                let _ = std::fs::remove_dir_all(&self.dir);
            }
        }
    }
}
