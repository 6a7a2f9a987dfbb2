//! The one wasmtime `Engine` of a server, its `Linker`, the epoch ticker, and the making of
//! a fresh `Store` per call with every limit attached.
//!
//! Engine settings: component model, async (a guest that computes yields to tokio at every
//! epoch tick, so it never holds a worker thread), epoch interruption (a 1 ms tick), a
//! bounded Wasm stack, and the pooling allocator sized by `[plugin_runtime]` with slots as
//! large as the largest `memory_limit_mb`, so instantiation reuses memory instead of mapping
//! it (copy-on-write initialisation). Components compile on a pool of low-priority threads.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wasmtime::component::Linker;
use wasmtime::{Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, UpdateDeadline};

use super::bindings::{PolicyPluginNet, connector_world};
use super::host::{Ctx, Grants};
use super::limits::CpuMeter;
use crate::config::{PluginLimits, PluginRuntimeConfig};

/// The epoch tick: the granularity of CPU budgets and of yielding to other tasks.
pub(crate) const TICK: Duration = Duration::from_millis(1);

/// How long a guest may run on a worker thread before it yields to other tasks. Short calls
/// (the common case) never yield, so their latency does not include a trip through the
/// scheduler's queue; long ones give way every slice.
const YIELD_SLICE: Duration = Duration::from_millis(2);

/// Bytes at the start of each linear memory that are zeroed in place on reuse instead of
/// returned to the kernel: with the 64 KiB guest stack of plugins/.cargo/config.toml they
/// hold the stack, the data and the first heap pages a call touches.
const KEEP_RESIDENT: usize = 128 << 10;

/// Slots freed before their pages go back to the kernel in one batch.
const DECOMMIT_BATCH: usize = 32;

/// Wasm stack of one call: deep recursion traps instead of growing without bound.
const MAX_WASM_STACK: usize = 512 << 10;

/// Why a call was stopped by the host (carried in the wasmtime error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Stop {
    /// The CPU budget is used up.
    #[error("CPU budget exhausted")]
    CpuBudget,
}

/// Engine + linker + ticker.
pub(crate) struct Runtime {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<Ctx>,
    pub(crate) settings: PluginRuntimeConfig,
    /// Largest linear memory a slot holds.
    pub(crate) max_memory_bytes: u64,
    ticker_stop: Arc<AtomicBool>,
    /// Compiled components by the sha256 of their bytes: a reload compiles only what changed.
    compiled: std::sync::Mutex<std::collections::HashMap<String, wasmtime::component::Component>>,
    /// Counts compilations (the `plugin_compilations` metric).
    compilations: prometheus_client::metrics::counter::Counter,
    /// Where components compile: threads of low priority, so that a reload under load takes
    /// the CPU requests leave rather than theirs (cranelift's parallel compilation runs in the
    /// pool it is called from).
    compile_pool: rayon::ThreadPool,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("max_memory_bytes", &self.max_memory_bytes).finish_non_exhaustive()
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

impl Runtime {
    /// Builds the engine for plugins whose memory limits are at most `max_memory_bytes`.
    pub(crate) fn new(
        settings: PluginRuntimeConfig,
        max_memory_bytes: u64,
        compilations: prometheus_client::metrics::counter::Counter,
    ) -> Result<Self, String> {
        let max_memory_bytes = max_memory_bytes.max(16 << 20).next_multiple_of(64 << 10);
        let mut pool = PoolingAllocationConfig::default();
        let slots = settings.pool_instances;
        pool.total_component_instances(slots)
            .total_core_instances(slots.saturating_mul(4))
            .total_memories(slots.saturating_mul(2))
            .total_tables(slots.saturating_mul(4))
            .total_stacks(slots)
            .max_memory_size(usize::try_from(max_memory_bytes).unwrap_or(usize::MAX))
            // Returning a slot's pages to the kernel costs an madvise and a TLB shootdown;
            // batching them amortises both over many calls.
            .decommit_batch_size(DECOMMIT_BATCH)
            .linear_memory_keep_resident(KEEP_RESIDENT)
            .table_keep_resident(16 << 10)
            .async_stack_keep_resident(16 << 10);
        let mut cfg = wasmtime::Config::new();
        cfg.wasm_component_model(true)
            .epoch_interruption(true)
            .max_wasm_stack(MAX_WASM_STACK)
            .async_stack_size(MAX_WASM_STACK + (512 << 10))
            .memory_reservation(max_memory_bytes)
            .memory_guard_size(64 << 10)
            .memory_reservation_for_growth(0)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
            .cranelift_opt_level(wasmtime::OptLevel::Speed);
        let engine = Engine::new(&cfg).map_err(|e| format!("starting the Wasm engine failed: {e:#}"))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(|e| format!("linking WASI failed: {e:#}"))?;
        PolicyPluginNet::add_to_linker::<Ctx, wasmtime::component::HasSelf<Ctx>>(&mut linker, |c| c)
            .map_err(|e| format!("linking the host interfaces failed: {e:#}"))?;
        connector_world::gatehouse::plugin::jwt::add_to_linker::<Ctx, wasmtime::component::HasSelf<Ctx>>(
            &mut linker,
            |c| c,
        )
        .map_err(|e| format!("linking the jwt interface failed: {e:#}"))?;
        let ticker_stop = Arc::new(AtomicBool::new(false));
        spawn_ticker(engine.clone(), Arc::clone(&ticker_stop))?;
        let compile_pool = rayon::ThreadPoolBuilder::new()
            .thread_name(|i| format!("gatehouse-compile-{i}"))
            .start_handler(|_| lower_priority())
            .build()
            .map_err(|e| format!("starting the compile threads failed: {e}"))?;
        Ok(Self {
            engine,
            linker,
            settings,
            max_memory_bytes,
            ticker_stop,
            compiled: std::sync::Mutex::default(),
            compilations,
            compile_pool,
        })
    }

    /// The component of `bytes` (whose sha256 is `sha256`), compiled once for this engine: a
    /// reload of an unchanged file reuses it (the same bytes on the same engine compile to
    /// the same thing), so it costs the request cores nothing.
    pub(crate) fn component(&self, sha256: &str, bytes: &[u8]) -> wasmtime::Result<wasmtime::component::Component> {
        if let Some(c) = self.cache().get(sha256) {
            return Ok(c.clone());
        }
        let component = self.compile_pool.install(|| wasmtime::component::Component::new(&self.engine, bytes))?;
        self.compilations.inc();
        self.cache().insert(sha256.to_owned(), component.clone());
        Ok(component)
    }

    /// Forgets the compiled components whose sha256 is not in `keep` (after a reload: those of
    /// the set in force stay).
    pub(crate) fn keep_compiled(&self, keep: &[String]) {
        self.cache().retain(|sha, _| keep.contains(sha));
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, wasmtime::component::Component>> {
        self.compiled.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A fresh store for one call of a plugin with `limits`, at the host time `now_ms` (unix
    /// milliseconds): the plugin's wall clock starts there (a replay runs at the record's time).
    pub(crate) fn store(&self, grants: Arc<Grants>, limits: &PluginLimits, now_ms: i64) -> Store<Ctx> {
        let cpu = CpuMeter::new(limits.cpu_budget);
        let mut store = Store::new(&self.engine, Ctx::new(grants, Arc::clone(&cpu), limits.memory_limit_bytes, now_ms));
        store.limiter(|c| &mut c.memory);
        store.call_hook(|cx, hook| {
            if hook.entering_host() {
                cx.data().cpu.leave();
            } else {
                cx.data().cpu.enter();
            }
            Ok(())
        });
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |cx| {
            let meter = Arc::clone(&cx.data().cpu);
            if meter.exhausted() {
                return Err(wasmtime::Error::new(Stop::CpuBudget));
            }
            if !meter.slice_used(YIELD_SLICE) {
                return Ok(UpdateDeadline::Continue(1));
            }
            // Yield to the executor; time spent waiting to run again is not CPU time.
            meter.yielded();
            Ok(UpdateDeadline::YieldCustom(
                1,
                Box::pin(async move {
                    tokio::task::yield_now().await;
                    meter.enter();
                }),
            ))
        });
        store
    }
}

/// Nice value of the compile threads: under contention the scheduler gives them about a tenth
/// of what a request worker gets (CFS weights 110 against 1024).
#[cfg(target_os = "linux")]
const COMPILE_NICE: i32 = 10;

/// Lowers the calling thread's priority (Linux: the nice value is per thread). Raising one's
/// own nice value needs no privilege; if it fails anyway, compiling just competes as before.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        let tid = rustix::thread::gettid();
        if let Err(e) = rustix::process::setpriority_process(Some(tid), COMPILE_NICE) {
            tracing::debug!(error = %e, "could not lower the compile thread's priority");
        }
    }
}

/// Advances the engine's epoch every [`TICK`] until `stop` is set (when the runtime drops).
fn spawn_ticker(engine: Engine, stop: Arc<AtomicBool>) -> Result<(), String> {
    std::thread::Builder::new()
        .name("gatehouse-epoch".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(TICK);
                engine.increment_epoch();
            }
        })
        .map(|_| ())
        .map_err(|e| format!("starting the epoch thread failed: {e}"))
}
