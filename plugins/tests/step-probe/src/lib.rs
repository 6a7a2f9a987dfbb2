//! A login step for the tests: `[plugins.config] mode` picks what it does.
//!
//! - `ask`: a form with a text field `answer` (required), a select and markup in its texts
//!   (the host must escape it); the submit passes when `answer` is `42` and shows the form
//!   again with an error otherwise; its state counts the attempts, and the third wrong answer
//!   fails the sign-in.
//! - `panic`: traps in `start`. `bad-form`: a form with a field named `csrf` (refused by the
//!   host). `fail`: refuses at once. `done`: passes at once. `unavailable`: an error.

use gatehouse_plugin::login_step::{Field, FieldKind, Form, Kv, LoginStep, PluginError, StepInput, StepResult, value};

struct Probe;

fn mode() -> String {
    gatehouse_plugin::config::get("mode").unwrap_or_default()
}

fn ask_form(error: Option<&str>) -> Form {
    let colours = vec![Kv { key: "blue".into(), value: "Blue".into() }, Kv { key: "red".into(), value: "Red".into() }];
    let f = Form::new("One more question <b>now</b>", "Answer")
        .description("<script>alert(1)</script> The answer, please.")
        .field(Field::new("answer", "The answer", FieldKind::Text).required().help("A number"))
        .field(Field::new("colour", "Colour", FieldKind::Select(colours)).value("red"));
    match error {
        Some(e) => f.error(e),
        None => f,
    }
}

impl LoginStep for Probe {
    fn start(input: StepInput) -> Result<StepResult, PluginError> {
        match mode().as_str() {
            "ask" => {
                let user = input.subject.map(|s| s.id).unwrap_or_default();
                Ok(StepResult::show(ask_form(None), Some(format!("0:{user}").into_bytes())))
            }
            "panic" => panic!("step-probe panics"),
            "bad-form" => Ok(StepResult::show(
                Form::new("Bad", "Go").field(Field::new("csrf", "Sneaky", FieldKind::Hidden)),
                None,
            )),
            "fail" => Ok(StepResult::fail("step-probe refuses")),
            "done" => Ok(StepResult::done([("probe", "passed")])),
            _ => Err(PluginError::Unavailable("step-probe is unavailable".into())),
        }
    }

    fn submit(input: StepInput, values: Vec<Kv>) -> Result<StepResult, PluginError> {
        let state = input.state.and_then(|s| String::from_utf8(s).ok()).unwrap_or_default();
        let (tries, user) = state.split_once(':').unwrap_or(("0", ""));
        let tries: u32 = tries.parse().unwrap_or(0) + 1;
        if value(&values, "answer") == Some("42") {
            let colour = value(&values, "colour").unwrap_or("").to_owned();
            return Ok(StepResult::done([
                ("answer", "42".to_owned()),
                ("colour", colour),
                ("tries", tries.to_string()),
            ]));
        }
        if tries >= 3 {
            return Ok(StepResult::fail(format!("three wrong answers from {user}")));
        }
        Ok(StepResult::show(
            ask_form(Some("Wrong answer <i>try again</i>")),
            Some(format!("{tries}:{user}").into_bytes()),
        ))
    }
}

gatehouse_plugin::export_login_step!(Probe);
