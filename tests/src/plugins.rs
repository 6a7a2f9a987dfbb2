//! Wasm components for the plugin tests, built from `plugins/` (their own workspace) for
//! `wasm32-wasip2` once per test process; cargo's own lock serialises concurrent processes.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// `plugins/` in the repository.
pub fn plugins_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("plugins")
}

/// The command that builds every plugin (also what `.ci/run` runs).
/// It runs inside `plugins/` so that `plugins/.cargo/config.toml` (the guest stack size)
/// applies.
pub const BUILD_COMMAND: &str = "cd plugins && cargo build --release --locked --target wasm32-wasip2";

static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();

fn build() -> Result<PathBuf, String> {
    let dir = plugins_dir();
    let out = Command::new(env!("CARGO"))
        .current_dir(&dir)
        .args(["build", "--release", "--locked", "--target", "wasm32-wasip2", "--target-dir"])
        .arg(dir.join("target"))
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let hint = if stderr.contains("wasm32-wasip2") && stderr.contains("target may not be installed") {
            "\nthe wasm32-wasip2 target is missing: run `rustup target add wasm32-wasip2`"
        } else {
            ""
        };
        return Err(format!("building the test plugins failed (`{BUILD_COMMAND}`):{hint}\n{stderr}"));
    }
    Ok(dir.join("target").join("wasm32-wasip2").join("release"))
}

/// The component `<crate name with underscores>.wasm`, building the plugins first if needed.
pub fn component(name: &str) -> PathBuf {
    match BUILT.get_or_init(build) {
        Ok(dir) => {
            let path = dir.join(format!("{name}.wasm"));
            assert!(path.is_file(), "{} was not built", path.display());
            path
        }
        Err(e) => panic!("{e}"),
    }
}

/// sha256 of a file, hex.
pub fn sha256_file(path: &Path) -> String {
    let bytes = std::fs::read(path).expect("read component");
    gatehouse::secret::sha256_hex(&bytes)
}

/// A `[[plugins]]` entry for `component` (a policy), with `extra` keys (TOML lines) and a
/// `[plugins.config]` table from `config` (TOML lines).
pub fn policy_entry(name: &str, component_name: &str, extra: &str, config: &str) -> String {
    let path = component(component_name);
    format!(
        "\n[[plugins]]\nname = \"{name}\"\nkind = \"policy\"\npath = \"{}\"\n{extra}\n[plugins.config]\n{config}\n",
        path.display()
    )
}

/// A `[[plugins]]` entry of `kind` for `component`, with `extra` keys (TOML lines) and a
/// `[plugins.config]` table from `config` (TOML lines).
pub fn plugin_entry(name: &str, kind: &str, component_name: &str, extra: &str, config: &str) -> String {
    let path = component(component_name);
    format!(
        "\n[[plugins]]\nname = \"{name}\"\nkind = \"{kind}\"\npath = \"{}\"\n{extra}\n[plugins.config]\n{config}\n",
        path.display()
    )
}
