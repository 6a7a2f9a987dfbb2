//! A policy whose initial linear memory is 96 MiB (set by the linker in build.rs): the host
//! refuses it at load when `memory_limit_mb` is smaller.

use gatehouse_plugin::policy::{Decision, Policy, PolicyInput};

struct BigMemory;

impl Policy for BigMemory {
    fn evaluate(_input: PolicyInput) -> Decision {
        Decision::allow()
    }
}

gatehouse_plugin::export_policy!(BigMemory);
