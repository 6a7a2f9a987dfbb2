//! Lines in the server's log, tagged with the plugin's name (rate-limited by the host). Keep
//! secrets, tokens and personal data out of them.

use crate::bindings::gatehouse::plugin::log::{Level, log};

/// Logs at debug level.
pub fn debug(message: &str) {
    log(Level::Debug, message, &[]);
}

/// Logs at info level.
pub fn info(message: &str) {
    log(Level::Info, message, &[]);
}

/// Logs at warn level.
pub fn warn(message: &str) {
    log(Level::Warn, message, &[]);
}

/// Logs at error level.
pub fn error(message: &str) {
    log(Level::Error, message, &[]);
}

/// Logs with structured fields.
pub fn with_fields(level: Level, message: &str, fields: &[(&str, &str)]) {
    let fields: Vec<(String, String)> = fields.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    log(level, message, &fields);
}

pub use crate::bindings::gatehouse::plugin::log::Level as LogLevel;
