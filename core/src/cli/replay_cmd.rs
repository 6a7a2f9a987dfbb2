//! `gatehouse policy replay --plugin NEW.wasm`: recorded policy decisions asked of a candidate
//! component, from a stopped server's store (`--config`), a backup file (`--backup`) or a
//! running server (`--url`, which posts the component to `POST /admin/policy/replay` with the
//! admin token from `GATEHOUSE_ADMIN_TOKEN`).

use std::io::BufReader;
use std::path::{Path, PathBuf};

use crate::audit::AuditRecord;
use crate::audit::replay::{Replay, ReplayFilter, ReplayReport, candidate_config, render};
use crate::config::{Config, LoadMode};
use crate::plugins::Candidate;
use crate::store::Db;

/// The environment variable the admin token is read from with `--url`.
pub(super) const TOKEN_ENV: &str = "GATEHOUSE_ADMIN_TOKEN";

/// What `gatehouse policy replay` was asked.
#[derive(Debug)]
pub(super) struct ReplayArgs {
    pub plugin: PathBuf,
    pub name: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub config: Option<PathBuf>,
    pub backup: Option<PathBuf>,
    pub url: Option<String>,
    pub limit: Option<u64>,
    pub json: bool,
}

fn time(flag: &str, raw: Option<&str>) -> Result<Option<i64>, String> {
    raw.map(|r| {
        crate::audit::parse_time_ms(r)
            .ok_or_else(|| format!("--{flag} `{r}` is not an RFC 3339 time such as 2026-11-22T00:00:00Z"))
    })
    .transpose()
}

pub(super) fn replay(args: ReplayArgs) -> Result<(), String> {
    let (since_ms, until_ms) = (time("since", args.since.as_deref())?, time("until", args.until.as_deref())?);
    let bytes = std::fs::read(&args.plugin).map_err(|e| format!("--plugin {}: {e}", args.plugin.display()))?;
    let runtime = tokio::runtime::Runtime::new().map_err(|e| format!("cannot start the runtime: {e}"))?;
    let report = match &args.url {
        Some(url) => runtime.block_on(remote(url, bytes, &args))?,
        None => {
            let config = super::load_for(args.config.as_deref(), LoadMode::Offline)?;
            let cfg = candidate_config(&config, args.name.as_deref(), &args.plugin)?;
            let filter = ReplayFilter { plugin: cfg.name.clone(), since_ms, until_ms };
            runtime.block_on(async {
                let candidate = Candidate::load(bytes, cfg, config.plugin_runtime)
                    .await
                    .map_err(|e| format!("--plugin {}: {e}", args.plugin.display()))?;
                let mut replay = Replay::new(&candidate, filter, args.limit, None);
                match &args.backup {
                    Some(file) => from_backup(&mut replay, file).await?,
                    None => from_store(&mut replay, &config).await?,
                }
                Ok::<_, String>(replay.finish())
            })?
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?);
    } else {
        print!("{}", render(&report));
    }
    Ok(())
}

/// The audit log of the store `config` names (a sled store's server must be stopped).
async fn from_store(replay: &mut Replay<'_>, config: &Config) -> Result<(), String> {
    let backend = crate::server::open_store(config).await.map_err(|e| e.to_string())?;
    let db = Db::new(backend);
    let mut records = crate::audit::records(db.audit(), 0);
    while let Some(r) = records.next().await {
        if !replay.offer(&r.map_err(|e| e.to_string())?).await {
            break;
        }
    }
    Ok(())
}

/// The audit lines of a backup file, after its checksum was verified.
async fn from_backup(replay: &mut Replay<'_>, file: &Path) -> Result<(), String> {
    let open =
        || std::fs::File::open(file).map(BufReader::new).map_err(|e| format!("--backup {}: {e}", file.display()));
    let bad = |e: crate::store::StoreError| format!("--backup {}: {e}", file.display());
    crate::store::backup::read(&mut open()?, None).map_err(bad)?;
    let mut lines = Vec::new();
    let mut keep = |item: crate::store::backup::Item| {
        if let crate::store::backup::Item::Audit(line) = item {
            lines.push(line);
        }
        Ok(())
    };
    crate::store::backup::read(&mut open()?, Some(&mut keep)).map_err(bad)?;
    for (i, line) in lines.iter().enumerate() {
        let r: AuditRecord = serde_json::from_str(line)
            .map_err(|e| format!("--backup {}: audit line {}: {e}", file.display(), i + 1))?;
        if !replay.offer(&r).await {
            break;
        }
    }
    Ok(())
}

/// Posts the component to a running server's `POST /admin/policy/replay`.
async fn remote(url: &str, bytes: Vec<u8>, args: &ReplayArgs) -> Result<ReplayReport, String> {
    let token = std::env::var(TOKEN_ENV)
        .ok()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| format!("--url needs the admin token in the environment variable {TOKEN_ENV}"))?;
    let mut endpoint = url::Url::parse(url)
        .and_then(|u| u.join(crate::http::paths::ADMIN_POLICY_REPLAY))
        .map_err(|e| format!("--url `{url}`: {e}"))?;
    {
        let mut q = endpoint.query_pairs_mut();
        for (k, v) in [("name", &args.name), ("since", &args.since), ("until", &args.until)] {
            if let Some(v) = v {
                q.append_pair(k, v);
            }
        }
        if let Some(l) = args.limit {
            q.append_pair("limit", &l.to_string());
        }
    }
    let response = reqwest::Client::new()
        .post(endpoint.clone())
        .bearer_auth(token)
        .header(reqwest::header::CONTENT_TYPE, "application/wasm")
        .body(bytes)
        .send()
        .await
        .map_err(|e| format!("{endpoint}: {e}"))?;
    let status = response.status();
    let body = response.text().await.map_err(|e| format!("{endpoint}: {e}"))?;
    if !status.is_success() {
        return Err(format!("{endpoint}: {status}: {body}"));
    }
    serde_json::from_str(&body).map_err(|e| format!("{endpoint}: not a replay report: {e}"))
}
