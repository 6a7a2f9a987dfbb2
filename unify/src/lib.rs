//! No code. This package only declares features (see its `Cargo.toml`), so that building the
//! server alone and building the whole workspace compile each shared dependency once.
