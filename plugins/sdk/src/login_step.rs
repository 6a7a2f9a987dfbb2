//! Login steps: a [`LoginStep`] adds a page to the browser sign-in after the password and
//! before the session exists (terms of service, a captcha, extra questions). The host renders
//! the [`Form`] you describe (escaped, CSRF-protected), keeps the state you return between
//! `start` and `submit`, and fails the sign-in closed if the step fails or traps.

pub use crate::bindings::gatehouse::plugin::types::{CallContext, Kv, PluginError, Subject};
pub use crate::login_step_bindings::exports::gatehouse::plugin::login_step::{
    Field, FieldKind, Form, StepInput, StepResult,
};

/// A login step. Every call runs in a fresh instance: keep what you need in the state of
/// [`StepResult::Show`] (at most 4 KiB) or in [`crate::kv`].
pub trait LoginStep {
    /// The step's page is shown for the first time in a sign-in.
    fn start(input: StepInput) -> Result<StepResult, PluginError>;
    /// The person submitted the form; `values` has one entry per field, in order, checked by
    /// the host (a checkbox is `true` or `false`, a select one of its options, a number a
    /// number, required fields filled in).
    fn submit(input: StepInput, values: Vec<Kv>) -> Result<StepResult, PluginError>;
}

impl StepResult {
    /// Show `form`, keeping `state` for the submit.
    pub fn show(form: Form, state: Option<Vec<u8>>) -> Self {
        StepResult::Show((form, state))
    }

    /// The step is passed; `recorded` pairs go to the audit log with the sign-in.
    pub fn done<I, K, V>(recorded: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        StepResult::Done(recorded.into_iter().map(|(k, v)| Kv { key: k.into(), value: v.into() }).collect())
    }

    /// The sign-in fails; the reason goes to the log and audit log, never to the person.
    pub fn fail(reason: impl Into<String>) -> Self {
        StepResult::Fail(reason.into())
    }
}

impl Form {
    /// A form with a title and a submit button.
    pub fn new(title: impl Into<String>, submit_label: impl Into<String>) -> Self {
        Form {
            title: title.into(),
            description: None,
            fields: Vec::new(),
            submit_label: submit_label.into(),
            error: None,
        }
    }

    /// Sets the text under the heading.
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = Some(text.into());
        self
    }

    /// Adds a field.
    pub fn field(mut self, field: Field) -> Self {
        self.fields.push(field);
        self
    }

    /// Sets the error shown above the fields.
    pub fn error(mut self, text: impl Into<String>) -> Self {
        self.error = Some(text.into());
        self
    }
}

impl Field {
    /// A field of `kind`, optional, without initial value or help.
    pub fn new(name: impl Into<String>, label: impl Into<String>, kind: FieldKind) -> Self {
        Field { name: name.into(), label: label.into(), kind, required: false, value: None, help: None }
    }

    /// Must be filled in (a required checkbox must be ticked).
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// Initial value.
    pub fn value(mut self, v: impl Into<String>) -> Self {
        self.value = Some(v.into());
        self
    }

    /// Help text under the field.
    pub fn help(mut self, text: impl Into<String>) -> Self {
        self.help = Some(text.into());
        self
    }
}

/// The value of field `name` in a submit.
pub fn value<'a>(values: &'a [Kv], name: &str) -> Option<&'a str> {
    values.iter().find(|kv| kv.key == name).map(|kv| kv.value.as_str())
}

/// Exports a [`LoginStep`] implementation as the component's `login-step` interface.
#[macro_export]
macro_rules! export_login_step {
    ($step:path) => {
        #[allow(unsafe_code, reason = "wit-bindgen export glue")]
        mod __gatehouse_login_step_export {
            #[allow(unused_imports)]
            use super::*;

            struct Export;

            impl $crate::login_step_bindings::exports::gatehouse::plugin::login_step::Guest for Export {
                fn start(
                    input: $crate::login_step::StepInput,
                ) -> Result<$crate::login_step::StepResult, $crate::login_step::PluginError> {
                    <$step as $crate::login_step::LoginStep>::start(input)
                }
                fn submit(
                    input: $crate::login_step::StepInput,
                    values: Vec<$crate::login_step::Kv>,
                ) -> Result<$crate::login_step::StepResult, $crate::login_step::PluginError> {
                    <$step as $crate::login_step::LoginStep>::submit(input, values)
                }
            }

            $crate::login_step_bindings::__export_login_step_world!(Export);
        }
    };
}
