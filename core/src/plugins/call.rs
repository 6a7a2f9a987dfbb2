//! The guard around every plugin call, whatever its kind: a permit (or fail fast), the
//! circuit breaker, a fresh store with the plugin's limits, the wall timeout, and the
//! classification of whatever stopped the call.

use std::future::Future;
use std::sync::Arc;

use wasmtime::Store;

use super::FailureKind;
use super::engine::{Runtime, Stop};
use super::host::Ctx;
use super::registry::LoadedPlugin;

/// Runs `body` with a fresh store for `p`, whose clock starts at `now_ms` (unix ms). The body owns the store while it runs and hands
/// it back with its result, so the memory-limit flag can be read afterwards.
pub(crate) async fn guarded<T, F, Fut>(rt: &Runtime, p: &LoadedPlugin, now_ms: i64, body: F) -> Result<T, FailureKind>
where
    F: FnOnce(Store<Ctx>) -> Fut,
    Fut: Future<Output = (Store<Ctx>, wasmtime::Result<T>)>,
{
    let Ok(_permit) = Arc::clone(&p.permits).try_acquire_owned() else {
        return Err(FailureKind::Busy);
    };
    if !p.breaker.allows() {
        return Err(FailureKind::BreakerOpen);
    }
    let store = rt.store(Arc::clone(&p.grants), &p.config.limits, now_ms);
    match tokio::time::timeout(p.config.limits.timeout, body(store)).await {
        Err(_elapsed) => Err(FailureKind::Timeout),
        Ok((_, Ok(value))) => Ok(value),
        Ok((store, Err(e))) => Err(classify(&e, store.data().memory.hit)),
    }
}

/// What stopped a call.
fn classify(e: &wasmtime::Error, memory_hit: bool) -> FailureKind {
    if e.downcast_ref::<Stop>().is_some() {
        return FailureKind::CpuBudget;
    }
    if memory_hit {
        return FailureKind::OutOfMemory;
    }
    if e.downcast_ref::<wasmtime::PoolConcurrencyLimitError>().is_some() {
        return FailureKind::Busy;
    }
    match e.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::StackOverflow) => FailureKind::Trap("stack overflow".into()),
        Some(wasmtime::Trap::UnreachableCodeReached) => FailureKind::Trap("unreachable (a panic or abort)".into()),
        Some(t) => FailureKind::Trap(t.to_string()),
        None => FailureKind::Trap(format!("{e:#}")),
    }
}
