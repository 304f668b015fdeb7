//! The pages of second factors: entering a code at sign-in, setting up an authenticator app
//! (a QR code drawn here as inline SVG, no outside service, and the secret for typing in), and
//! the recovery codes shown once.

use crate::pages::{escape, hidden_fields};
use portcullis_service::TotpEnrollment;
use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};

/// The input of a one-time code (or a recovery code, which is longer).
fn code_input(label: &str) -> String {
    format!(
        "<label for=\"code\">{}</label>\
         <input type=\"text\" id=\"code\" name=\"code\" autocomplete=\"one-time-code\" \
         autocapitalize=\"none\" spellcheck=\"false\" maxlength=\"32\" required autofocus>",
        escape(label)
    )
}

/// Hidden inputs: the CSRF token and `fields`.
fn csrf_fields(csrf: &str, fields: &[(&str, &str)]) -> String {
    let mut hidden: Vec<(String, String)> = vec![("csrf_token".into(), csrf.into())];
    hidden.extend(
        fields
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned())),
    );
    hidden_fields(&hidden)
}

fn error_line(error: Option<&str>) -> String {
    error.map_or(String::new(), |message| {
        format!("<p class=\"error\" role=\"alert\">{}</p>", escape(message))
    })
}

/// The form asking for the code of the user's app (or a recovery code), posted to `action`.
pub fn code_form(
    action: &str,
    csrf: &str,
    fields: &[(&str, &str)],
    button: &str,
    error: Option<&str>,
) -> String {
    format!(
        "{error}<form method=\"post\" action=\"{action}\">{input}{hidden}\
         <button type=\"submit\">{button}</button></form>",
        error = error_line(error),
        action = escape(action),
        input = code_input("Code from your authenticator app, or a recovery code"),
        hidden = csrf_fields(csrf, fields),
        button = escape(button),
    )
}

/// The setup of an app: the QR code of its URI, the secret to type in, and the form for the
/// first code, carrying the sealed setup (and, with `ask_password`, asking for the password).
pub fn totp_setup(
    enrollment: &TotpEnrollment,
    action: &str,
    csrf: &str,
    fields: &[(&str, &str)],
    ask_password: bool,
    error: Option<&str>,
) -> String {
    let mut fields = fields.to_vec();
    fields.push(("setup", &enrollment.setup));
    let secret = &enrollment.secret;
    // The secret is grouped by four for reading; apps ignore the spaces.
    let grouped: Vec<String> = secret
        .as_bytes()
        .chunks(4)
        .map(|chunk| String::from_utf8_lossy(chunk).into_owned())
        .collect();
    format!(
        "{error}<p>Scan this code with an authenticator app (any app that supports time-based \
         one-time codes), then enter the code it shows.</p>\
         <figure aria-label=\"QR code of the authenticator setup\">{qr}</figure>\
         <p>Or type this key in: <code id=\"totp-secret\">{grouped}</code></p>\
         <form method=\"post\" action=\"{action}\">{input}{password}{hidden}\
         <button type=\"submit\">Confirm</button></form>",
        error = error_line(error),
        qr = qr_svg(&enrollment.uri),
        password = if ask_password {
            "<label for=\"current_password\">Your password</label>\
             <input type=\"password\" id=\"current_password\" name=\"current_password\" \
             autocomplete=\"current-password\" required>"
        } else {
            ""
        },
        grouped = escape(&grouped.join(" ")),
        action = escape(action),
        input = code_input("Code from the app"),
        hidden = csrf_fields(csrf, &fields),
    )
}

/// The recovery codes, shown once, and where to go next.
pub fn recovery_codes(codes: &[String], continue_to: &str) -> String {
    let items: String = codes
        .iter()
        .map(|code| format!("<li><code>{}</code></li>", escape(code)))
        .collect();
    format!(
        "<p>Keep these recovery codes somewhere safe. Each one signs you in once if you lose \
         your authenticator app. They are shown only now.</p>\
         <ul id=\"recovery-codes\">{items}</ul><p><a href=\"{}\">Continue</a></p>",
        escape(continue_to)
    )
}

/// What a page does with passkeys (the script reads it from `#passkeys`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasskeyMode {
    /// The account page adds one.
    Register,
    /// The sign-in page signs in with one (a button, and the username's autofill).
    SignIn,
    /// The code page uses one as the second factor.
    SecondFactor,
}

/// The passkey controls of a page and its script; hidden until the script finds WebAuthn.
pub fn passkey_block(mode: PasskeyMode, return_to: &str) -> String {
    let (name, controls) = match mode {
        PasskeyMode::Register => (
            "register",
            "<label for=\"passkey-name\">Name of the new passkey</label>\
             <input type=\"text\" id=\"passkey-name\" maxlength=\"64\" value=\"Passkey\">\
             <label for=\"passkey-password\">Your password</label>\
             <input type=\"password\" id=\"passkey-password\" autocomplete=\"current-password\">\
             <button type=\"button\" id=\"passkey-add\">Add a passkey</button>",
        ),
        PasskeyMode::SignIn => (
            "sign-in",
            "<button type=\"button\" id=\"passkey-sign-in\" class=\"secondary\">\
             Sign in with a passkey</button>",
        ),
        PasskeyMode::SecondFactor => (
            "second-factor",
            "<button type=\"button\" id=\"passkey-verify\" class=\"secondary\">\
             Use a passkey or security key</button>",
        ),
    };
    format!(
        "<div id=\"passkeys\" data-mode=\"{name}\" data-return-to=\"{return_to}\" hidden>\
         {controls}<p id=\"passkey-status\" role=\"status\"></p></div>\
         <script src=\"{script}\" defer></script>",
        return_to = escape(return_to),
        script = crate::routes::PASSKEY_SCRIPT,
    )
}

/// `data` as an inline SVG QR code (no `<?xml?>` prologue, so it can sit in the page).
fn qr_svg(data: &str) -> String {
    let Ok(code) = QrCode::with_error_correction_level(data.as_bytes(), EcLevel::M) else {
        return String::new();
    };
    let image = code
        .render::<svg::Color<'_>>()
        .min_dimensions(200, 200)
        .dark_color(svg::Color("#000"))
        .light_color(svg::Color("#fff"))
        .build();
    image
        .find("<svg")
        .map_or(String::new(), |start| image[start..].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_setup_shows_a_qr_code_and_the_grouped_secret_escaped() {
        let enrollment = TotpEnrollment {
            secret: "ABCDEFGH".into(),
            uri: "otpauth://totp/A:b?secret=ABCDEFGH".into(),
            setup: "sealed".into(),
        };
        let page = totp_setup(
            &enrollment,
            "/signin/enroll",
            "tok",
            &[("return_to", "/authorize?a=\"b\"")],
            true,
            Some("<wrong>"),
        );
        assert!(page.contains("name=\"setup\" value=\"sealed\""));
        assert!(page.contains("name=\"current_password\""));
        assert!(page.contains("<svg"), "{page}");
        assert!(!page.contains("<?xml"));
        assert!(page.contains("ABCD EFGH"));
        assert!(page.contains("&lt;wrong&gt;"));
        assert!(page.contains("/authorize?a=&quot;b&quot;"));
    }
}
