//! The pages of sign-in and the account, as data: what each shows, rendered by the HTTP
//! layer's templates (`http/pages.rs`).

/// A page to render.
#[derive(Debug)]
pub enum Page {
    /// Username and password.
    Password {
        /// Flow id (URL and form).
        flow: String,
        /// CSRF token.
        csrf: String,
        /// The client's display name.
        client_name: String,
        /// Prefilled username.
        username: String,
        /// A failure message.
        error: Option<String>,
        /// Whether the password form is shown (`[login] password`).
        password: bool,
        /// One button per sign-in provider: `(start URL, display name, icon URL)`.
        providers: Vec<Provider>,
        /// An identity waits to be linked: the provider's display name.
        link_provider: Option<String>,
        /// "Sign in with a passkey" is offered (the issuer is a host name).
        passkeys: bool,
    },
    /// A login-step plugin's form.
    Step {
        /// Flow id.
        flow: String,
        /// CSRF token.
        csrf: String,
        /// The client's display name.
        client_name: String,
        /// The form (checked when the plugin returned it; escaped when rendered).
        form: crate::plugins::StepForm,
    },
    /// Continue as the signed-in person, or use another account (`prompt=select_account`).
    SelectAccount {
        /// Flow id.
        flow: String,
        /// CSRF token.
        csrf: String,
        /// The client's display name.
        client_name: String,
        /// Who is signed in.
        username: String,
    },
    /// Approve scopes.
    Consent {
        /// Flow id.
        flow: String,
        /// CSRF token.
        csrf: String,
        /// The client's display name.
        client_name: String,
        /// Who is signed in.
        username: String,
        /// `(scope, description)`.
        scopes: Vec<(String, String)>,
    },
    /// Confirm signing out.
    Logout {
        /// CSRF token of the session.
        csrf: String,
        /// Who is signed in.
        username: String,
        /// Request parameters carried through the form.
        carry: Vec<(String, String)>,
    },
    /// The second-factor step: a code (field `code`), or a passkey.
    Factor {
        /// Flow id.
        flow: String,
        /// CSRF token.
        csrf: String,
        /// The client's display name.
        client_name: String,
        /// A failure message.
        error: Option<String>,
        /// The person has an authenticator app.
        totp: bool,
        /// The person has a passkey (and passkeys work here).
        passkey: bool,
        /// Codes are taken (not when only a passkey will do).
        codes: bool,
    },
    /// Enrolling an authenticator app while signing in.
    FactorEnrol {
        /// Flow id.
        flow: String,
        /// CSRF token.
        csrf: String,
        /// The client's display name.
        client_name: String,
        /// The QR code, URI and secret to show.
        enrolment: Box<crate::mfa::totp::Enrolment>,
        /// A failure message.
        error: Option<String>,
    },
    /// New recovery codes, shown once; `codes` is `None` when the page is shown again.
    RecoveryCodes {
        /// The flow to continue (`None`: back to the account page).
        flow: Option<String>,
        /// CSRF token (the flow's or the session's).
        csrf: String,
        /// The codes.
        codes: Option<Vec<String>>,
    },
    /// The account page's authenticator enrolment.
    AccountTotp {
        /// The session's CSRF token.
        csrf: String,
        /// The QR code, URI and secret to show.
        enrolment: Box<crate::mfa::totp::Enrolment>,
        /// A failure message.
        error: Option<String>,
        /// What confirming needs beyond the session (`account_reauth::Reauth::name`).
        reauth: &'static str,
    },
    /// Signed out, nowhere to go.
    LoggedOut,
    /// The signed-in person's account page.
    Account(Box<super::account::AccountPage>),
    /// The pages of emailed links (password reset, address verification).
    Link(LinkPage),
}

/// The pages of emailed links. Their forms carry a CSRF token bound to the browser
/// (`tickets::form_csrf`): there is no session or flow to hold one.
#[derive(Debug)]
pub enum LinkPage {
    /// "Forgot password?": ask for a link (`sent`: the answer, whether or not the address is
    /// known).
    Forgot {
        /// CSRF token.
        csrf: String,
        /// The login flow to go back to.
        flow: Option<String>,
        /// The request was taken.
        sent: bool,
        /// A failure message.
        error: Option<String>,
    },
    /// Choose a new password (field `new_password`).
    Reset {
        /// CSRF token.
        csrf: String,
        /// The link's token (hidden field `token`).
        token: String,
        /// A failure message.
        error: Option<String>,
    },
    /// Confirm an address.
    Verify {
        /// CSRF token.
        csrf: String,
        /// The link's token (hidden field `token`).
        token: String,
        /// The address.
        email: String,
    },
    /// The outcome of a link: a heading and a sentence.
    Done {
        /// Heading.
        title: &'static str,
        /// What happened.
        message: String,
        /// Offer to ask for a new link (the one used was expired or spent).
        ask_again: bool,
    },
}

/// A sign-in provider's button.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    /// `/federation/{id}/start?flow=...`.
    pub start: String,
    /// Button text.
    pub name: String,
    /// Button icon (https).
    pub icon: Option<String>,
}
