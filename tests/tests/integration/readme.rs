//! The README's "Writing a plugin" tutorial, followed literally: its `Cargo.toml` lines and
//! its `src/lib.rs` build into a component that `gatehouse plugins check` accepts and that
//! decides as the text says. If the README drifts from the SDK, this fails.

use std::path::{Path, PathBuf};
use std::process::Command;

use gatehouse_tests::run_cli;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().unwrap()
}

/// The fenced blocks of `lang` in the README section headed `heading`, in order.
fn blocks(readme: &str, heading: &str, lang: &str) -> Vec<String> {
    let section = readme.split("\n## ").find(|s| s.starts_with(heading)).expect("the section exists");
    let fence = format!("```{lang}");
    let mut out = Vec::new();
    let mut rest = section;
    while let Some(start) = rest.find(&fence) {
        let body = &rest[start + fence.len()..];
        let end = body.find("```").expect("a closed block");
        // The blocks sit in a numbered list: drop the list's indentation.
        let text: Vec<&str> = body[..end].lines().map(|l| l.strip_prefix("   ").unwrap_or(l)).collect();
        out.push(text.join("\n"));
        rest = &body[end + 3..];
    }
    out
}

#[test]
fn the_plugin_tutorial_builds_as_written_and_its_component_checks() {
    let root = repo();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let tomls = blocks(&readme, "Writing a plugin", "toml");
    let rusts = blocks(&readme, "Writing a plugin", "rust");
    let (manifest, lib) = (tomls.first().expect("a Cargo.toml block"), rusts.first().expect("a src/lib.rs block"));
    // `cargo new --lib my-policy` beside a checkout named `gatehouse`, as the tutorial has it.
    let dir = tempfile::tempdir().unwrap();
    let krate = dir.path().join("my-policy");
    std::fs::create_dir_all(krate.join("src")).unwrap();
    std::fs::create_dir_all(krate.join(".cargo")).unwrap();
    let sdk = root.join("plugins").join("sdk");
    let manifest = manifest.replace("../gatehouse/plugins/sdk", &sdk.display().to_string());
    std::fs::write(
        krate.join("Cargo.toml"),
        format!(
            "[package]\nname = \"my-policy\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n{manifest}\n\n[workspace]\n"
        ),
    )
    .unwrap();
    std::fs::write(krate.join("src").join("lib.rs"), lib).unwrap();
    // The optional stack setting, and the plugins' lock so that the versions are known ones.
    std::fs::copy(root.join("plugins/.cargo/config.toml"), krate.join(".cargo/config.toml")).unwrap();
    std::fs::copy(root.join("plugins/Cargo.lock"), krate.join("Cargo.lock")).unwrap();
    let out = Command::new(env!("CARGO"))
        .current_dir(&krate)
        .args(["build", "--release", "--target", "wasm32-wasip2", "--target-dir"])
        .arg(root.join("plugins").join("target").join("readme-tutorial"))
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .output()
        .unwrap();
    assert!(out.status.success(), "the README's plugin does not build:\n{}", String::from_utf8_lossy(&out.stderr));
    let wasm = root.join("plugins/target/readme-tutorial/wasm32-wasip2/release/my_policy.wasm");
    let wasm_s = wasm.display().to_string();
    let (code, out, err) = run_cli(&["gatehouse", "plugins", "check", &wasm_s, "--kind", "policy"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("sha256 = "), "{out}");

    // Step 5 of the tutorial: `policy eval` with its input decides as the code says.
    let config = dir.path().join("gatehouse.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\ndev_mode = true\n[[plugins]]\nname = \"my-policy\"\nkind = \"policy\"\npath = \"{wasm_s}\"\n\
             [plugins.config]\ngroup = \"staff\"\n"
        ),
    )
    .unwrap();
    let input = dir.path().join("input.json");
    let eval = |json: &str| {
        std::fs::write(&input, json).unwrap();
        run_cli(&[
            "gatehouse",
            "policy",
            "eval",
            "--config",
            &config.display().to_string(),
            "--input",
            &input.display().to_string(),
        ])
    };
    let (code, out, err) = eval(
        r#"{"stage": "token", "client_id": "web", "scopes": ["openid"], "subject": {"id": "u1", "email": "a@example.com", "groups": ["staff"]}}"#,
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("allow"), "{out}");
    let (_, out, _) = eval(r#"{"stage": "token", "client_id": "web", "subject": {"id": "u2", "groups": []}}"#);
    assert!(out.contains("deny") && out.contains("not in staff"), "{out}");
}
