//! The store data of one call (`Ctx`) and the imported interfaces, one file each. Every
//! side-effecting import checks the plugin's grant first; WASI is linked with a deny-all
//! context (no files, no environment, no arguments, no sockets, no name lookup).

pub(crate) mod config;
pub(crate) mod http;
pub(crate) mod jwt;
pub(crate) mod kv;
pub(crate) mod log;
pub(crate) mod secrets;

use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::gatehouse::plugin::types;
use super::limits::{CpuMeter, MemoryCap};
use crate::secret::Secret;

/// What the operator granted one plugin, shared by all its calls.
pub(crate) struct Grants {
    /// The plugin's name (log lines).
    pub(crate) name: String,
    /// `[plugins.config]`: strings as they are, other values as JSON.
    pub(crate) config: Vec<(String, String)>,
    /// The table as a JSON object.
    pub(crate) config_json: String,
    /// Granted secrets, resolved at load.
    pub(crate) secrets: Vec<(String, Secret)>,
    /// Outbound HTTP, when hosts were granted.
    pub(crate) http: Option<http::HttpGate>,
    /// The store behind `kv-store` (namespaced by `name`), once attached.
    pub(crate) kv: Option<crate::plugins::KvSlot>,
    /// JWKS fetched by `jwt.verify`, by URL, with when they were fetched.
    pub(crate) jwks_cache: JwksCache,
}

/// JWKS by URL with their fetch time (`jwt.rs`).
pub(crate) type JwksCache =
    std::sync::Mutex<std::collections::HashMap<String, (std::time::Instant, jsonwebtoken::jwk::JwkSet)>>;

impl std::fmt::Debug for Grants {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grants").field("name", &self.name).field("secrets", &self.secrets.len()).finish_non_exhaustive()
    }
}

/// Log lines one call may write.
const LOG_LINES_PER_CALL: u32 = 32;

/// The data of one call's `Store`: created fresh for every call, dropped after it.
pub(crate) struct Ctx {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) memory: MemoryCap,
    pub(crate) cpu: Arc<CpuMeter>,
    pub(crate) grants: Arc<Grants>,
    logs_left: u32,
    fetches_left: u32,
    /// The host's time of the call, unix seconds (token checks).
    pub(crate) now_unix: i64,
}

impl Ctx {
    /// The store behind `kv-store`, when there is one.
    pub(crate) fn kv(&self) -> Option<std::sync::Arc<dyn crate::store::PluginKv>> {
        self.grants.kv.as_ref().and_then(|slot| slot.get()).cloned()
    }

    /// The data of a call at the host time `now_ms` (unix milliseconds).
    pub(crate) fn new(grants: Arc<Grants>, cpu: Arc<CpuMeter>, max_memory_bytes: u64, now_ms: i64) -> Self {
        let wasi = WasiCtx::builder()
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .wall_clock(CallClock { start_ms: now_ms, started: crate::clock::monotonic() })
            .build();
        Self {
            wasi,
            table: ResourceTable::new(),
            memory: MemoryCap { max_bytes: usize::try_from(max_memory_bytes).unwrap_or(usize::MAX), hit: false },
            cpu,
            grants,
            logs_left: LOG_LINES_PER_CALL,
            fetches_left: http::FETCHES_PER_CALL,
            now_unix: now_ms.div_euclid(1000),
        }
    }
}

/// `wasi:clocks/wall-clock` of a call: the host's time of the call (the server's clock, or a
/// recorded decision's time in a replay), advancing with real time while the call runs.
struct CallClock {
    start_ms: i64,
    started: std::time::Instant,
}

impl wasmtime_wasi::HostWallClock for CallClock {
    fn resolution(&self) -> std::time::Duration {
        std::time::Duration::from_millis(1)
    }

    fn now(&self) -> std::time::Duration {
        let start = std::time::Duration::from_millis(u64::try_from(self.start_ms).unwrap_or(0));
        start + self.started.elapsed()
    }
}

impl WasiView for Ctx {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl types::Host for Ctx {}
