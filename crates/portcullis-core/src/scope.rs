//! Scope values (RFC 6749 §3.3): space-delimited, case-sensitive tokens.

use std::collections::BTreeSet;
use std::fmt;

/// A set of scope tokens, kept sorted so the granted `scope` string is stable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeSet(BTreeSet<String>);

/// A scope string or token that RFC 6749 §3.3 does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid scope token `{0}`")]
pub struct InvalidScope(pub String);

/// RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
fn is_scope_token(token: &str) -> bool {
    !token.is_empty()
        && token.bytes().all(|byte| {
            byte == 0x21 || (0x23..=0x5b).contains(&byte) || (0x5d..=0x7e).contains(&byte)
        })
}

impl ScopeSet {
    /// Parses a space-delimited scope string. Empty tokens from repeated spaces are refused, as the
    /// grammar of RFC 6749 §3.3 has exactly one space between tokens.
    ///
    /// # Errors
    /// [`InvalidScope`] naming the first bad token.
    pub fn parse(scope: &str) -> Result<Self, InvalidScope> {
        scope
            .split(' ')
            .map(str::to_owned)
            .collect::<Vec<_>>()
            .try_into()
    }

    /// Whether every token of `self` is in `allowed`.
    pub fn is_subset(&self, allowed: &ScopeSet) -> bool {
        self.0.is_subset(&allowed.0)
    }

    /// The tokens of `self` missing from `allowed`.
    pub fn not_in<'a>(&'a self, allowed: &'a ScopeSet) -> impl Iterator<Item = &'a str> {
        self.0.difference(&allowed.0).map(String::as_str)
    }

    /// Whether the set contains `token`.
    pub fn contains(&self, token: &str) -> bool {
        self.0.contains(token)
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The tokens for which `keep` is true.
    #[must_use]
    pub fn filtered(&self, keep: impl Fn(&str) -> bool) -> ScopeSet {
        ScopeSet(self.0.iter().filter(|token| keep(token)).cloned().collect())
    }

    /// The tokens, sorted.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
}

impl TryFrom<Vec<String>> for ScopeSet {
    type Error = InvalidScope;

    fn try_from(tokens: Vec<String>) -> Result<Self, Self::Error> {
        let mut set = BTreeSet::new();
        for token in tokens {
            if !is_scope_token(&token) {
                return Err(InvalidScope(token));
            }
            set.insert(token);
        }
        Ok(ScopeSet(set))
    }
}

impl fmt::Display for ScopeSet {
    /// The space-delimited form, as sent in `scope`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, token) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str(" ")?;
            }
            f.write_str(token)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_renders_sorted() {
        let scope = ScopeSet::parse("write read read").expect("valid");
        assert_eq!(scope.to_string(), "read write");
        assert!(scope.contains("read"));
    }

    #[test]
    fn refuses_what_the_grammar_forbids() {
        for bad in [
            "",
            "a  b",
            " a",
            "a ",
            "quo\"te",
            "back\\slash",
            "tab\there",
            "ümlaut",
        ] {
            assert!(ScopeSet::parse(bad).is_err(), "{bad:?}");
        }
        assert!(ScopeSet::parse("products:read users.write !#[]~").is_ok());
    }

    #[test]
    fn subset_and_difference() {
        let allowed = ScopeSet::parse("a b c").expect("valid");
        let asked = ScopeSet::parse("a d").expect("valid");
        assert!(!asked.is_subset(&allowed));
        assert_eq!(asked.not_in(&allowed).collect::<Vec<_>>(), ["d"]);
        assert!(ScopeSet::parse("c a").expect("valid").is_subset(&allowed));
    }
}
