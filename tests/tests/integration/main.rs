//! The one integration test binary: every test starts real servers on 127.0.0.1:0.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests")]

mod account_pages;
mod admin_clients;
mod admin_groups;
mod admin_roles;
mod admin_user_ops;
mod admin_users;
mod audit;
mod audit_checkpoints;
mod backup;
mod bad_input;
mod browser;
mod browser_durability;
mod browser_logs;
mod browser_session;
mod chromium;
mod chromium_links;
mod chromium_mfa;
mod chromium_passkeys;
mod cli;
mod cli_remote;
mod client_auth;
mod connections;
mod cors;
mod discovery;
mod durability;
mod examples;
mod federation;
mod federation_entra;
mod federation_github;
mod hardening;
mod instances;
mod instances_jobs;
mod introspect_revoke;
mod keys;
mod limits;
mod login_limits;
mod metrics;
mod mfa;
mod operator;
mod passkeys_soft;
mod password_reset;
mod plugin_connector;
mod plugin_email_sms;
mod plugin_kv;
mod plugin_login_steps;
mod plugin_net;
mod plugin_notifier;
mod plugin_policies;
mod plugin_reload;
mod plugin_reload_load;
mod plugin_sandbox;
mod policy_replay;
mod policy_shadow;
mod profile;
mod readme;
mod relying_party;
mod store_config;
mod store_copy;
mod telemetry;
mod token;
mod users;
mod verify;

/// Entry point for child processes: the harness re-executes this test binary with
/// `GATEHOUSE_TEST_CHILD_ARGS` set, and this runs the real `gatehouse` CLI with those
/// arguments, then exits with its status. Ignored in normal runs.
#[test]
#[ignore = "entry point for child processes spawned by the harness"]
fn child_process_entry() {
    let Ok(args) = std::env::var(gatehouse_tests::CHILD_ARGS_ENV) else {
        return;
    };
    let args: Vec<String> = serde_json::from_str(&args).expect("child arguments as a JSON array");
    let code = gatehouse::cli::main(args.into_iter().map(std::ffi::OsString::from));
    let code: i32 = if code == std::process::ExitCode::SUCCESS { 0 } else { 1 };
    std::process::exit(code);
}
