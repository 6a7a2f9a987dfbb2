//! The form a login-step plugin asks the host to show, as the login flow stores it (the
//! host checks it before it is stored: `plugins/login_step.rs`).

use serde::{Deserialize, Serialize};

/// How a field is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "options", rename_all = "snake_case")]
pub enum FieldKind {
    /// One line of text.
    Text,
    /// Hidden text.
    Password,
    /// An email address.
    Email,
    /// A number.
    Number,
    /// Yes or no (`true` / `false`).
    Checkbox,
    /// One of `(value, label)`.
    Select(Vec<(String, String)>),
    /// Carried through the form unseen (the browser can change it).
    Hidden,
}

/// One form field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepField {
    /// Form name.
    pub name: String,
    /// Visible label.
    pub label: String,
    /// Kind.
    #[serde(flatten)]
    pub kind: FieldKind,
    /// Must be filled in (a required checkbox must be ticked).
    pub required: bool,
    /// Initial value.
    pub value: Option<String>,
    /// Help text.
    pub help: Option<String>,
}

/// A form a step asks the host to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepForm {
    /// Heading.
    pub title: String,
    /// Text under the heading.
    pub description: Option<String>,
    /// Fields in order.
    pub fields: Vec<StepField>,
    /// Submit button text.
    pub submit_label: String,
    /// An error above the fields.
    pub error: Option<String>,
}
