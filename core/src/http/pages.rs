//! Pages for people: turns a sign-in [`Reply`] into an HTML response or a 303 redirect,
//! reads and writes the sign-in cookies, and parses browser forms and queries with HTML
//! error pages (never JSON) when they are malformed.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::extract::{has_content_type, read_body};
use crate::oauth::error::OAuthError;
use crate::oauth::params::{MAX_FORM_BYTES, Params};
use crate::oidc::flow::{Action, BrowserCookies, CookieChange, ErrorKind, ErrorPage, Page, Reply};
use crate::oidc::page::LinkPage;
use crate::oidc::session::{browser_cookie, federation_cookie, session_cookie};
use crate::state::AppState;

/// The CSP of our pages: our stylesheet and our one script (passkeys) only, no inline
/// script, no framing; images also over https (sign-in providers' icons); `connect-src
/// 'self'` for the passkey script's calls. (No `form-action`: Chromium applies it to the
/// redirect that follows a form post, which goes to the client.)
const PAGE_CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; \
     img-src 'self' data: https:; base-uri 'none'; frame-ancestors 'none'";

/// Reads the sign-in cookies.
pub fn cookies(headers: &HeaderMap, secure: bool) -> BrowserCookies {
    BrowserCookies {
        binding: cookie(headers, browser_cookie(secure)),
        session: cookie(headers, session_cookie(secure)),
        federation: cookie(headers, federation_cookie(secure)),
    }
}

/// The first value of cookie `name` (RFC 6265 §5.4), if it is a plausible token.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
        .filter(|v| {
            !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
        })
        .map(str::to_owned)
}

fn set_cookie(resp: &mut Response, name: &str, value: &str, max_age: Option<u64>, secure: bool) {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if secure {
        c.push_str("; Secure");
    }
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    if let Ok(v) = HeaderValue::from_str(&c) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// Whether cookies get `Secure` and the `__Host-` names (the issuer is https).
pub fn secure(state: &AppState) -> bool {
    state.issuer.starts_with("https://")
}

/// Renders a reply.
pub fn respond(state: &AppState, reply: Reply) -> Response {
    let secure = secure(state);
    let mut resp = match reply.action {
        Action::Redirect(to) => match HeaderValue::from_str(&to) {
            Ok(loc) => {
                let mut r = StatusCode::SEE_OTHER.into_response();
                r.headers_mut().insert(header::LOCATION, loc);
                r
            }
            Err(_) => error_page(
                state,
                &ErrorPage {
                    kind: ErrorKind::BadRequest,
                    title: "Invalid request",
                    message: "The address to return to is not valid.",
                    back: None,
                },
            ),
        },
        Action::Page(page) => html(StatusCode::OK, page_html(state, *page)),
        Action::Error(e) => error_page(state, &e),
    };
    if let Some(b) = reply.set_binding {
        set_cookie(&mut resp, browser_cookie(secure), &b, None, secure);
    }
    if let Some((value, lifetime)) = reply.set_session {
        set_cookie(&mut resp, session_cookie(secure), &value, Some(lifetime.as_secs()), secure);
    } else if reply.clear_session {
        set_cookie(&mut resp, session_cookie(secure), "", Some(0), secure);
    }
    // SameSite=Lax like the others: the provider sends the browser back with a top-level GET.
    match reply.federation {
        CookieChange::Keep => {}
        CookieChange::Set(flow) => {
            let ttl = crate::oidc::flow::FLOW_TTL.as_secs();
            set_cookie(&mut resp, federation_cookie(secure), &flow, Some(ttl), secure);
        }
        CookieChange::Clear => set_cookie(&mut resp, federation_cookie(secure), "", Some(0), secure),
    }
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

pub(super) fn html(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(PAGE_CSP));
    r
}

#[derive(Serialize)]
struct Field<'a> {
    name: &'a str,
    value: &'a str,
}

#[derive(Serialize)]
struct LinkRow<'a> {
    provider: &'a str,
    issuer: &'a str,
    subject: &'a str,
    linked_at: &'a str,
    removable: bool,
}

#[derive(Serialize)]
struct ProviderView<'a> {
    start: &'a str,
    name: &'a str,
    icon: Option<&'a str>,
}

#[derive(Serialize)]
struct ScopeView<'a> {
    name: &'a str,
    description: &'a str,
}

/// A login-step field as the template sees it.
#[derive(Serialize)]
struct StepFieldView<'a> {
    name: &'a str,
    label: &'a str,
    /// `text`, `password`, `email`, `number`, `checkbox`, `select` or `hidden`.
    kind: &'static str,
    required: bool,
    value: &'a str,
    help: Option<&'a str>,
    options: Vec<Field<'a>>,
}

impl<'a> StepFieldView<'a> {
    fn of(f: &'a crate::plugins::StepField) -> Self {
        use crate::plugins::FieldKind;
        let (kind, options) = match &f.kind {
            FieldKind::Text => ("text", Vec::new()),
            FieldKind::Password => ("password", Vec::new()),
            FieldKind::Email => ("email", Vec::new()),
            FieldKind::Number => ("number", Vec::new()),
            FieldKind::Checkbox => ("checkbox", Vec::new()),
            FieldKind::Hidden => ("hidden", Vec::new()),
            FieldKind::Select(o) => ("select", o.iter().map(|(v, l)| Field { name: l, value: v }).collect()),
        };
        Self {
            name: &f.name,
            label: &f.label,
            kind,
            required: f.required,
            value: f.value.as_deref().unwrap_or(""),
            help: f.help.as_deref(),
            options,
        }
    }
}

fn page_html(state: &AppState, page: Page) -> String {
    let pages = &state.pages;
    let action = super::paths::LOGIN;
    match page {
        Page::Password { flow, csrf, client_name, username, error, password, providers, link_provider, passkeys } => {
            let providers: Vec<ProviderView<'_>> = providers
                .iter()
                .map(|p| ProviderView { start: &p.start, name: &p.name, icon: p.icon.as_deref() })
                .collect();
            pages.render(
                "login.html",
                minijinja::context! {
                    action, flow, csrf, client_name, username, error, password, providers, link_provider, passkeys,
                    script => super::paths::PASSKEY_SCRIPT,
                    passkey_begin => format!("{}?flow={flow}", super::paths::LOGIN_PASSKEY_BEGIN),
                    passkey_finish => format!("{}?flow={flow}", super::paths::LOGIN_PASSKEY_FINISH),
                    forgot => format!("{}?flow={flow}", super::paths::PASSWORD_FORGOT),
                },
            )
        }
        Page::Step { flow, csrf, client_name, form } => {
            let fields: Vec<StepFieldView<'_>> = form.fields.iter().map(StepFieldView::of).collect();
            pages.render(
                "step.html",
                minijinja::context! {
                    action, flow, csrf, client_name,
                    title => form.title, description => form.description, error => form.error,
                    submit_label => form.submit_label, fields,
                },
            )
        }
        Page::SelectAccount { flow, csrf, client_name, username } => {
            pages.render("select_account.html", minijinja::context! { action, flow, csrf, client_name, username })
        }
        Page::Consent { flow, csrf, client_name, username, scopes } => {
            let scopes: Vec<ScopeView<'_>> =
                scopes.iter().map(|(n, d)| ScopeView { name: n, description: d }).collect();
            pages.render("consent.html", minijinja::context! { action, flow, csrf, client_name, username, scopes })
        }
        Page::Logout { csrf, username, carry } => {
            let carry: Vec<Field<'_>> = carry.iter().map(|(n, v)| Field { name: n, value: v }).collect();
            pages.render("logout.html", minijinja::context! { action => super::paths::LOGOUT, csrf, username, carry })
        }
        Page::Factor { flow, csrf, client_name, error, totp, passkey, codes } => pages.render(
            "mfa.html",
            minijinja::context! {
                action, flow, csrf, client_name, error, totp, passkey, codes,
                script => super::paths::PASSKEY_SCRIPT,
                passkey_begin => format!("{}?flow={flow}", super::paths::LOGIN_PASSKEY_BEGIN),
                passkey_finish => format!("{}?flow={flow}", super::paths::LOGIN_PASSKEY_FINISH),
            },
        ),
        Page::FactorEnrol { flow, csrf, client_name, enrolment, error } => {
            let e = *enrolment;
            pages.render(
                "mfa_enrol.html",
                minijinja::context! {
                    action, flow, csrf, client_name, error, submit_action => "enrol",
                    qr_svg => svg_element(&e.qr_svg), secret => e.secret_text, uri => e.uri,
                },
            )
        }
        Page::AccountTotp { csrf, enrolment, error, reauth } => {
            let e = *enrolment;
            pages.render(
                "mfa_enrol.html",
                minijinja::context! {
                    action => super::paths::ACCOUNT, csrf, error, reauth, submit_action => "totp_confirm",
                    qr_svg => svg_element(&e.qr_svg), secret => e.secret_text, uri => e.uri,
                },
            )
        }
        Page::RecoveryCodes { flow, csrf, codes } => {
            let action = if flow.is_some() { action } else { super::paths::ACCOUNT };
            pages.render("recovery_codes.html", minijinja::context! { action, flow, csrf, codes })
        }
        Page::LoggedOut => pages.render("logged_out.html", ()),
        Page::Account(a) => {
            let links: Vec<LinkRow<'_>> = a
                .links
                .iter()
                .map(|l| LinkRow {
                    provider: &l.provider,
                    issuer: &l.issuer,
                    subject: &l.subject,
                    linked_at: &l.linked_at,
                    removable: l.removable,
                })
                .collect();
            let available: Vec<Field<'_>> = a.available.iter().map(|(id, name)| Field { name, value: id }).collect();
            pages.render(
                "account.html",
                minijinja::context! {
                    action => super::paths::ACCOUNT, logout => super::paths::LOGOUT, csrf => a.csrf, username => a.username, email => a.email,
                    email_verified => a.email_verified,
                    links, available, notice => a.notice,
                    security => minijinja::context! {
                        enrolled => a.security.enrolled, totp_added => a.security.totp_added,
                        codes_left => a.security.codes_left, removable => a.security.removable,
                        reauth => a.security.reauth, has_password => a.security.has_password,
                        has_totp => a.security.has_totp, passkeys_enabled => a.security.passkeys_enabled,
                        passkeys => a.security.passkeys.iter().map(|(name, id, added, used)| minijinja::context! {
                            name, id, added, used,
                        }).collect::<Vec<_>>(),
                    },
                    sessions => a.sessions.iter().map(|v| minijinja::context! {
                        sid => v.sid, current => v.current, device => v.device, ip => v.ip,
                        signed_in => v.signed_in, last_seen => v.last_seen, methods => v.methods,
                    }).collect::<Vec<_>>(),
                    script => super::paths::PASSKEY_SCRIPT,
                    passkey_begin => super::paths::PASSKEY_REGISTER_BEGIN,
                    passkey_finish => super::paths::PASSKEY_REGISTER_FINISH,
                },
            )
        }
        Page::Link(page) => link_page(state, page),
    }
}

/// The pages of emailed links.
fn link_page(state: &AppState, page: LinkPage) -> String {
    use super::paths::{LOGIN, PASSWORD_FORGOT, PASSWORD_RESET};
    let pages = &state.pages;
    match page {
        LinkPage::Forgot { csrf, flow, sent, error } => {
            let back = flow.as_ref().map(|f| format!("{LOGIN}?flow={f}"));
            pages.render(
                "password_forgot.html",
                minijinja::context! { action => PASSWORD_FORGOT, csrf, flow, sent, error, back },
            )
        }
        LinkPage::Reset { csrf, token, error } => {
            pages.render("password_reset.html", minijinja::context! { action => PASSWORD_RESET, csrf, token, error })
        }
        LinkPage::Verify { csrf, token, email } => pages.render(
            "email_verify.html",
            minijinja::context! { action => super::paths::EMAIL_VERIFY, csrf, token, email },
        ),
        LinkPage::Done { title, message, ask_again } => {
            let forgot = ask_again.then_some(PASSWORD_FORGOT);
            pages.render("link_done.html", minijinja::context! { title, message, forgot })
        }
    }
}

/// The `<svg>` element of a generated SVG document (its XML declaration dropped), inlined in
/// a page: no request for an image, nothing the CSP has to allow.
fn svg_element(document: &str) -> String {
    document.find("<svg").map_or_else(String::new, |i| document[i..].to_owned())
}

/// An error page.
pub fn error_page(state: &AppState, e: &ErrorPage) -> Response {
    let status = match e.kind {
        ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::TooMany => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
    };
    let request_id = crate::logctx::current();
    let body = state.pages.render(
        "error.html",
        minijinja::context! { title => e.title, message => e.message, back => e.back, request_id => request_id.to_string() },
    );
    let mut r = html(status, body);
    match e.kind {
        ErrorKind::TooMany => {
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
        }
        ErrorKind::Unavailable => {
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        ErrorKind::BadRequest | ErrorKind::Forbidden => {}
    }
    r
}

/// Query or form parameters of a page request; malformed input gets an HTML error page.
#[derive(Debug)]
pub struct PageParams(pub Params);

fn bad_input(state: &AppState, e: &OAuthError) -> Response {
    let message = match e {
        OAuthError::PayloadTooLarge => "The request is too large.",
        _ => "The request could not be read.",
    };
    error_page(state, &ErrorPage { kind: ErrorKind::BadRequest, title: "Invalid request", message, back: None })
}

impl FromRequest<AppState> for PageParams {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let fail = |e: &OAuthError| bad_input(state, e);
        if req.method() == axum::http::Method::GET || req.method() == axum::http::Method::HEAD {
            let query = req.uri().query().unwrap_or("");
            if query.len() > MAX_FORM_BYTES {
                return Err(fail(&OAuthError::PayloadTooLarge));
            }
            return Params::parse(query.as_bytes()).map(Self).map_err(|e| fail(&e));
        }
        if !has_content_type(req.headers(), "application/x-www-form-urlencoded") {
            return Err(fail(&OAuthError::InvalidRequest("not a form")));
        }
        let bytes = read_body(req.into_body(), MAX_FORM_BYTES).await.map_err(|e| fail(&e))?;
        Params::parse(&bytes).map(Self).map_err(|e| fail(&e))
    }
}

/// The sign-in cookies of a request.
#[derive(Debug)]
pub struct Cookies(pub BrowserCookies);

impl FromRequestParts<AppState> for Cookies {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Self(cookies(&parts.headers, secure(state))))
    }
}
