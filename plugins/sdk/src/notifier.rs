//! Notifiers: a [`Notifier`] delivers messages (email, SMS, webhooks) from the server's
//! persistent queue, never on a request path. Return [`Outcome::Sent`] when delivered,
//! [`Outcome::RetryAfter`] when the provider asks you to wait, [`Outcome::Rejected`] when the
//! message can never be delivered (it goes to the dead-letter list); an `Err` or a trap is
//! retried with back-off. A retry carries the same [`Message::id`]: pass it on as an
//! idempotency key so the receiver can drop duplicates.

pub use crate::bindings::gatehouse::plugin::types::{CallContext, PluginError};
pub use crate::notifier_bindings::exports::gatehouse::plugin::notifier::{Channel, Message, Outcome};

/// A notifier. Every call runs in a fresh instance.
pub trait Notifier {
    /// The channels this plugin delivers (checked against the operator's `channel` at load).
    fn channels() -> Vec<Channel>;
    /// Delivers one message.
    fn send(ctx: CallContext, msg: Message) -> Result<Outcome, PluginError>;
}

/// Exports a [`Notifier`] implementation as the component's `notifier` interface.
#[macro_export]
macro_rules! export_notifier {
    ($notifier:path) => {
        #[allow(unsafe_code, reason = "wit-bindgen export glue")]
        mod __gatehouse_notifier_export {
            #[allow(unused_imports)]
            use super::*;

            struct Export;

            impl $crate::notifier_bindings::exports::gatehouse::plugin::notifier::Guest for Export {
                fn channels() -> Vec<$crate::notifier::Channel> {
                    <$notifier as $crate::notifier::Notifier>::channels()
                }
                fn send(
                    ctx: $crate::notifier::CallContext,
                    msg: $crate::notifier::Message,
                ) -> Result<$crate::notifier::Outcome, $crate::notifier::PluginError> {
                    <$notifier as $crate::notifier::Notifier>::send(ctx, msg)
                }
            }

            $crate::notifier_bindings::__export_notifier_world!(Export);
        }
    };
}
