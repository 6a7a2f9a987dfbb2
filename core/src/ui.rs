//! Server-rendered pages: minijinja templates compiled once at start-up, with HTML
//! auto-escaping. The built-in templates (`core/templates/`) can be replaced one by one by
//! files of the same name in `[ui] templates_dir`, as can `style.css`; a template that does
//! not compile stops the start with the file and the error.

use std::path::Path;

use minijinja::Environment;
use serde::Serialize;

/// The built-in templates and stylesheet.
const BUILT_IN: &[(&str, &str)] = &[
    ("base.html", include_str!("../templates/base.html")),
    ("login.html", include_str!("../templates/login.html")),
    ("consent.html", include_str!("../templates/consent.html")),
    ("step.html", include_str!("../templates/step.html")),
    ("error.html", include_str!("../templates/error.html")),
    ("logout.html", include_str!("../templates/logout.html")),
    ("logged_out.html", include_str!("../templates/logged_out.html")),
    ("select_account.html", include_str!("../templates/select_account.html")),
    ("home.html", include_str!("../templates/home.html")),
    ("account.html", include_str!("../templates/account.html")),
    ("mfa.html", include_str!("../templates/mfa.html")),
    ("mfa_enrol.html", include_str!("../templates/mfa_enrol.html")),
    ("recovery_codes.html", include_str!("../templates/recovery_codes.html")),
    ("password_forgot.html", include_str!("../templates/password_forgot.html")),
    ("password_reset.html", include_str!("../templates/password_reset.html")),
    ("email_verify.html", include_str!("../templates/email_verify.html")),
    ("link_done.html", include_str!("../templates/link_done.html")),
];
const STYLE: &str = include_str!("../templates/style.css");

/// The path the stylesheet is served at.
pub const STYLESHEET_PATH: &str = "/assets/gatehouse.css";

/// Compiled templates and the stylesheet.
pub struct Pages {
    env: Environment<'static>,
    /// The stylesheet served at [`STYLESHEET_PATH`].
    pub stylesheet: bytes::Bytes,
}

impl std::fmt::Debug for Pages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pages")
    }
}

/// A template that failed to load or compile.
#[derive(Debug, thiserror::Error)]
#[error("template {file}: {detail}")]
pub struct TemplateError {
    /// The file (or built-in name).
    pub file: String,
    /// What went wrong.
    pub detail: String,
}

impl Pages {
    /// Compiles the templates, taking each from `dir` when it has a file of that name.
    pub fn load(dir: Option<&Path>) -> Result<Self, TemplateError> {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
        env.add_filter("linked", linked);
        let read = |name: &str| -> Result<Option<(String, String)>, TemplateError> {
            let Some(dir) = dir else { return Ok(None) };
            let path = dir.join(name);
            if !path.is_file() {
                return Ok(None);
            }
            let file = path.display().to_string();
            std::fs::read_to_string(&path)
                .map(|text| Some((file.clone(), text)))
                .map_err(|e| TemplateError { file, detail: e.to_string() })
        };
        for (name, built_in) in BUILT_IN {
            let (file, text) = read(name)?.unwrap_or_else(|| (format!("<built-in {name}>"), (*built_in).to_owned()));
            env.add_template_owned(*name, text).map_err(|e| TemplateError { file, detail: e.to_string() })?;
        }
        let stylesheet = read("style.css")?.map_or_else(|| STYLE.to_owned(), |(_, t)| t);
        Ok(Self { env, stylesheet: stylesheet.into() })
    }

    /// Renders `name` with `ctx` plus the common variables; a render failure is logged and
    /// yields a minimal plain page rather than an error.
    pub fn render<S: Serialize>(&self, name: &str, ctx: S) -> String {
        let common = minijinja::context! { site_name => "Gatehouse", stylesheet => STYLESHEET_PATH };
        let result = self
            .env
            .get_template(name)
            .and_then(|t| t.render(minijinja::context! { ..common, ..minijinja::Value::from_serialize(&ctx) }));
        match result {
            Ok(html) => html,
            Err(e) => {
                tracing::error!(request_id = %crate::logctx::current(), template = name, error = %e, "rendering a page failed");
                "<!doctype html><title>Error</title><p>Something went wrong. Please try again.</p>".to_owned()
            }
        }
    }
}

/// Escapes `text` for HTML.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

/// The `linked` filter: plain text in which `[label](https://...)` becomes a link (plugins
/// send text, never HTML; this is the one markup they have). Everything else is escaped, and
/// only http(s) URLs become links.
fn linked(text: &str) -> minijinja::Value {
    let mut out = String::new();
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        let link = after.find("](").and_then(|close| {
            let label = &after[..close];
            let tail = &after[close + 2..];
            let end = tail.find(')')?;
            let url = &tail[..end];
            let ok = !label.is_empty()
                && !label.contains('[')
                && url::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "https" | "http"))
                && !url.contains(char::is_whitespace);
            ok.then_some((label, url, open + 1 + close + 2 + end + 1))
        });
        match link {
            Some((label, url, used)) => {
                out.push_str(&escape(&rest[..open]));
                out.push_str(&format!(
                    "<a href=\"{}\" target=\"_blank\" rel=\"noopener noreferrer\">{}</a>",
                    escape(url),
                    escape(label)
                ));
                rest = &rest[used..];
            }
            None => {
                out.push_str(&escape(&rest[..=open]));
                rest = &rest[open + 1..];
            }
        }
    }
    out.push_str(&escape(rest));
    minijinja::Value::from_safe_string(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_written_links_become_links_and_everything_is_escaped() {
        let html = |t: &str| linked(t).to_string();
        assert_eq!(
            html("Read the [terms](https://example.com/t?a=1&b=2)."),
            "Read the <a href=\"https://example.com/t?a=1&amp;b=2\" target=\"_blank\" rel=\"noopener noreferrer\">terms</a>."
        );
        assert_eq!(html("<b>[x](javascript:alert(1))</b>"), "&lt;b&gt;[x](javascript:alert(1))&lt;/b&gt;");
        assert_eq!(
            html("[<i>](https://e.com/\"onclick=)"),
            "<a href=\"https://e.com/&quot;onclick=\" target=\"_blank\" rel=\"noopener noreferrer\">&lt;i&gt;</a>"
        );
        assert_eq!(
            html("a [b] c [d](https://e.org) [e"),
            "a [b] c <a href=\"https://e.org\" target=\"_blank\" rel=\"noopener noreferrer\">d</a> [e"
        );
    }

    #[test]
    fn built_ins_compile_and_escape() {
        let pages = Pages::load(None).unwrap_or_else(|e| panic!("{e}"));
        let html = pages.render("error.html", minijinja::context! { title => "T", message => "<script>x</script>" });
        assert!(html.contains("&lt;script&gt;x&lt;&#x2f;script&gt;") || html.contains("&lt;script&gt;"), "{html}");
        assert!(!html.contains("<script>"));
        assert!(html.contains("gatehouse.css"), "{html}");
    }

    #[test]
    fn operator_templates_override_and_broken_ones_are_named() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.path().join("logged_out.html"), "Bye {{ site_name }}").unwrap_or_else(|e| panic!("{e}"));
        let pages = Pages::load(Some(dir.path())).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(pages.render("logged_out.html", ()), "Bye Gatehouse");
        std::fs::write(dir.path().join("login.html"), "{% if %}").unwrap_or_else(|e| panic!("{e}"));
        let err = Pages::load(Some(dir.path())).err().unwrap_or_else(|| panic!("loaded a broken template"));
        assert!(err.file.ends_with("login.html"), "{err}");
    }
}
