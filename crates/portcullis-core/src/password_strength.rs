//! Whether a new password may be chosen, after NIST SP 800-63B §3.1.1.2: long enough (a
//! configurable minimum, 12 by default), long passphrases allowed (up to 1,024 bytes, far beyond
//! the 64 characters NIST asks for), no composition rules, and a refusal of passwords that are
//! common, dictionary words, repetitive or sequential, or derived from the account itself
//! (username, email) or the service. The estimator is zxcvbn (Dropbox's, bundled word lists, no
//! network); a password must reach its top score, 4 (an estimated 10^10 guesses or more): its
//! score 3 starts at 10^8, which two common words such as "hello world" already reach.

use crate::password::{MAX_PASSWORD_LENGTH, PasswordError};
use zxcvbn::Score;

/// Context-specific words no password may be built on, besides the account's own.
const SERVICE_WORDS: [&str; 3] = ["portcullis", "admin", "password"];

/// Checks a password someone chooses, with `context` the account's own words (username, email).
///
/// # Errors
/// [`PasswordError::TooShort`], [`PasswordError::TooLong`] or [`PasswordError::TooGuessable`]
/// with advice for the person choosing it.
pub fn check_new_password(
    password: &str,
    min_length: usize,
    context: &[&str],
) -> Result<(), PasswordError> {
    // NIST counts characters (code points), not bytes.
    if password.chars().count() < min_length {
        return Err(PasswordError::TooShort { min: min_length });
    }
    if password.len() > MAX_PASSWORD_LENGTH {
        return Err(PasswordError::TooLong);
    }
    let mut words: Vec<&str> = SERVICE_WORDS.to_vec();
    for word in context {
        words.push(word);
        // An email's local part and domain labels are guessable on their own.
        words.extend(
            word.split(['@', '.', '_', '-', '+'])
                .filter(|part| part.len() >= 3),
        );
    }
    let estimate = zxcvbn::zxcvbn(password, &words);
    if estimate.score() >= Score::Four {
        return Ok(());
    }
    let advice = estimate
        .feedback()
        .and_then(|feedback| {
            feedback
                .warning()
                .map(|warning| warning.to_string())
                .or_else(|| feedback.suggestions().first().map(ToString::to_string))
        })
        .unwrap_or_else(|| "add another word or two; uncommon words are better".to_owned());
    Err(PasswordError::TooGuessable(advice))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_short_and_personal_passwords_are_refused() {
        for common in [
            "password1234",
            "qwertyuiop123",
            "123456789012",
            "aaaaaaaaaaaa",
            "iloveyou2024",
        ] {
            assert!(
                matches!(
                    check_new_password(common, 12, &[]),
                    Err(PasswordError::TooGuessable(_))
                ),
                "{common}"
            );
        }
        assert_eq!(
            check_new_password("tiny", 12, &[]),
            Err(PasswordError::TooShort { min: 12 })
        );
        assert!(
            matches!(
                check_new_password("alice.wonderland", 12, &["alice.wonderland@example.com"]),
                Err(PasswordError::TooGuessable(_))
            ),
            "built on the account's own email"
        );
        assert!(matches!(
            check_new_password("portcullis2026!", 12, &[]),
            Err(PasswordError::TooGuessable(_))
        ));
        assert_eq!(
            check_new_password(&"x".repeat(1025), 12, &[]),
            Err(PasswordError::TooLong)
        );
    }

    #[test]
    fn passphrases_pass_without_composition_rules() {
        assert_eq!(
            check_new_password("correct horse battery staple", 12, &["alice"]),
            Ok(())
        );
        assert_eq!(
            check_new_password("velvet otter juggles quinces", 12, &[]),
            Ok(())
        );
        let long = "a very long passphrase of many ordinary words that keeps going on and on past sixty-four characters";
        assert!(long.chars().count() > 64);
        assert_eq!(
            check_new_password(long, 12, &[]),
            Ok(()),
            "long passphrases allowed"
        );
        assert_eq!(
            check_new_password("x7$Qp!2vZr9", 8, &[]),
            Ok(()),
            "a lower configured minimum"
        );
    }
}
