//! `log`: plugin lines into tracing under the target `gatehouse::plugin`, tagged with the
//! plugin's name; at most a few lines per call, each cut to a bounded length.

use super::{Ctx, LOG_LINES_PER_CALL};
use crate::plugins::bindings::gatehouse::plugin::log::{Host, Level};

/// Longest message or field value kept.
const MAX_LEN: usize = 1024;

fn cut(s: &str) -> &str {
    if s.len() <= MAX_LEN {
        return s;
    }
    let mut end = MAX_LEN;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl Host for Ctx {
    fn log(&mut self, level: Level, message: String, fields: Vec<(String, String)>) -> wasmtime::Result<()> {
        if self.logs_left == 0 {
            return Ok(());
        }
        self.logs_left -= 1;
        let plugin = self.grants.name.as_str();
        let message = cut(&message);
        let fields: Vec<String> = fields.iter().take(16).map(|(k, v)| format!("{}={}", cut(k), cut(v))).collect();
        let fields = fields.join(" ");
        match level {
            Level::Trace => tracing::trace!(target: "gatehouse::plugin", plugin, %fields, "{message}"),
            Level::Debug => tracing::debug!(target: "gatehouse::plugin", plugin, %fields, "{message}"),
            Level::Info => tracing::info!(target: "gatehouse::plugin", plugin, %fields, "{message}"),
            Level::Warn => tracing::warn!(target: "gatehouse::plugin", plugin, %fields, "{message}"),
            Level::Error => tracing::error!(target: "gatehouse::plugin", plugin, %fields, "{message}"),
        }
        if self.logs_left == 0 {
            tracing::warn!(target: "gatehouse::plugin", plugin, "log limit of {LOG_LINES_PER_CALL} lines per call reached");
        }
        Ok(())
    }
}
