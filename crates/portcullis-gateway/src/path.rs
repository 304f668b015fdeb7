//! Request path normalization, the first thing done to a request target: the route is chosen on
//! the normalized path and the same path is forwarded, so the gateway and the upstream never
//! disagree about which resource is asked for (Envoy's `normalize_path` and `merge_slashes`).
//!
//! * Percent-encoded unreserved characters are decoded and other escapes written in upper case
//!   (RFC 3986 §6.2.2.1, §6.2.2.2); dot segments are removed (RFC 3986 §5.2.4); repeated slashes
//!   are merged. Letter case is kept: paths are case-sensitive.
//! * What cannot be normalized without guessing how the upstream reads it is refused: an encoded
//!   dot segment (`%2e%2e`), a dot segment with a `;` parameter (`..;`, which Tomcat resolves),
//!   control characters (`%00`), malformed escapes and escapes that do not decode to UTF-8.
//! * An encoded `/` or `\`, a raw `\` and a double-encoded one (`%252f`) are separators to some
//!   upstreams and data to others: they are kept as they are, and only a route that opts in
//!   (`allow_encoded_slashes`) accepts such a path.
//! * `;` parameters (`/admin;jsessionid=1`) are dropped by some upstreams: a route is matched on
//!   the path without them, so `/admin;x` is matched as `/admin`.

use std::borrow::Cow;
use thiserror::Error;

/// Why a path is refused (400).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum PathRejection {
    /// Not an absolute path (`*`, or a request target without one).
    #[error("the request target must be an absolute path")]
    NotAbsolutePath,
    /// `%` not followed by two hex digits.
    #[error("the path has a malformed percent-encoding")]
    MalformedEncoding,
    /// `%2e`, `.%2e` or `%2e%2e` as a whole segment.
    #[error("the path has a percent-encoded dot segment")]
    EncodedDotSegment,
    /// `..;x` or `.;x`.
    #[error("the path has a dot segment with a parameter")]
    DotSegmentParameter,
    /// An encoded control character, NUL included.
    #[error("the path has an encoded control character")]
    ControlCharacter,
    /// Percent-encoded bytes that are not UTF-8.
    #[error("the path is not valid UTF-8")]
    InvalidUtf8,
    /// An encoded or raw separator on a route that did not opt in.
    #[error("the path has an encoded slash or a backslash")]
    EncodedSeparator,
}

/// A normalized request path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalizedPath<'a> {
    path: Cow<'a, str>,
    /// The path without `;` parameters, when it has any.
    without_parameters: Option<String>,
    keeps_separators: bool,
}

impl NormalizedPath<'_> {
    /// The path to forward.
    pub fn as_str(&self) -> &str {
        &self.path
    }

    /// The path routes are matched on: without `;` parameters.
    pub fn for_matching(&self) -> &str {
        self.without_parameters.as_deref().unwrap_or(&self.path)
    }

    /// Whether it keeps an encoded or raw separator that only opted-in routes accept.
    pub fn keeps_encoded_separators(&self) -> bool {
        self.keeps_separators
    }
}

impl<'a> NormalizedPath<'a> {
    /// The path to forward: borrowed when the request's path was already normal.
    pub fn into_path(self) -> Cow<'a, str> {
        self.path
    }
}

/// Whether `path` is already normal: no escapes, backslashes, parameters, empty or dot segments.
/// Most paths are, and are used as they are, without a copy.
fn is_normal(path: &str) -> bool {
    let plain = !path.bytes().any(|byte| matches!(byte, b'%' | b'\\' | b';'));
    // The first split part is the empty text before the leading `/`; an empty segment elsewhere
    // is a doubled slash, except a single trailing one.
    let mut segments = path.split('/').skip(1).peekable();
    plain
        && std::iter::from_fn(|| {
            let segment = segments.next()?;
            Some((segment, segments.peek().is_none()))
        })
        .all(|(segment, last)| segment != "." && segment != ".." && (last || !segment.is_empty()))
}

/// Normalizes the path of a request target.
///
/// # Errors
/// [`PathRejection`], for paths that cannot be normalized safely (never
/// [`PathRejection::EncodedSeparator`]: see [`NormalizedPath::keeps_encoded_separators`]).
pub fn normalize(raw: &str) -> Result<NormalizedPath<'_>, PathRejection> {
    let Some(rest) = raw.strip_prefix('/') else {
        return Err(PathRejection::NotAbsolutePath);
    };
    if is_normal(raw) {
        return Ok(NormalizedPath {
            path: Cow::Borrowed(raw),
            without_parameters: None,
            keeps_separators: false,
        });
    }
    let mut keeps_separators = false;
    let mut segments: Vec<String> = Vec::new();
    let mut trailing_slash = false;
    let mut parts = rest.split('/').peekable();
    while let Some(part) = parts.next() {
        let last = parts.peek().is_none();
        let segment = decode_segment(part, &mut keeps_separators)?;
        let (name, has_parameters) = match segment.text.split_once(';') {
            Some((name, _)) => (name, true),
            None => (segment.text.as_str(), false),
        };
        match name {
            "." | ".." => {
                if has_parameters {
                    return Err(PathRejection::DotSegmentParameter);
                }
                if segment.encoded_dot {
                    return Err(PathRejection::EncodedDotSegment);
                }
                // RFC 3986 §5.2.4: `..` removes the segment before it; a path ending in a dot
                // segment ends in `/`.
                if name == ".." {
                    segments.pop();
                }
                trailing_slash = last;
            }
            // Doubled slashes are merged; a trailing one is kept.
            "" if !has_parameters => trailing_slash = last,
            _ => {
                segments.push(segment.text);
                trailing_slash = false;
            }
        }
    }
    let mut path = String::with_capacity(raw.len());
    for segment in &segments {
        path.push('/');
        path.push_str(segment);
    }
    if trailing_slash || segments.is_empty() {
        path.push('/');
    }
    if percent_encoding::percent_decode_str(&path)
        .decode_utf8()
        .is_err()
    {
        return Err(PathRejection::InvalidUtf8);
    }
    // Matched as an upstream that drops the parameters would read it: `/;x/admin` is `/admin`.
    let without_parameters = path.contains(';').then(|| {
        let mut matching = String::with_capacity(path.len());
        for name in segments
            .iter()
            .map(|segment| {
                segment
                    .split_once(';')
                    .map_or(segment.as_str(), |(name, _)| name)
            })
            .filter(|name| !name.is_empty())
        {
            matching.push('/');
            matching.push_str(name);
        }
        if trailing_slash || matching.is_empty() {
            matching.push('/');
        }
        matching
    });
    Ok(NormalizedPath {
        path: Cow::Owned(path),
        without_parameters,
        keeps_separators,
    })
}

/// One segment with unreserved escapes decoded, and whether a dot came from an escape.
struct DecodedSegment {
    text: String,
    encoded_dot: bool,
}

fn hex_value(digit: u8) -> Option<u8> {
    char::from(digit)
        .to_digit(16)
        .and_then(|value| u8::try_from(value).ok())
}

/// The byte that `%XY` at `bytes[at..]` encodes.
fn escaped_byte(bytes: &[u8], at: usize) -> Option<u8> {
    let high = hex_value(*bytes.get(at + 1)?)?;
    let low = hex_value(*bytes.get(at + 2)?)?;
    Some(high << 4 | low)
}

/// RFC 3986 §2.3: `ALPHA / DIGIT / "-" / "." / "_" / "~"`.
fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

fn decode_segment(
    segment: &str,
    keeps_separators: &mut bool,
) -> Result<DecodedSegment, PathRejection> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let bytes = segment.as_bytes();
    let mut text = Vec::with_capacity(bytes.len());
    let mut encoded_dot = false;
    let mut at = 0;
    while let Some(&byte) = bytes.get(at) {
        if byte == b'\\' {
            *keeps_separators = true;
        }
        if byte != b'%' {
            text.push(byte);
            at += 1;
            continue;
        }
        let value = escaped_byte(bytes, at).ok_or(PathRejection::MalformedEncoding)?;
        at += 3;
        if is_unreserved(value) {
            encoded_dot |= value == b'.';
            text.push(value);
            continue;
        }
        if value.is_ascii_control() {
            return Err(PathRejection::ControlCharacter);
        }
        let double_encoded_separator = value == b'%'
            && escaped_byte(bytes, at - 1).is_some_and(|next| matches!(next, b'.' | b'/' | b'\\'));
        if matches!(value, b'/' | b'\\') || double_encoded_separator {
            *keeps_separators = true;
        }
        text.extend_from_slice(&[
            b'%',
            HEX[usize::from(value >> 4)],
            HEX[usize::from(value & 0x0f)],
        ]);
    }
    // Only ASCII was replaced by ASCII, so the text is as valid UTF-8 as the segment was.
    let text = String::from_utf8(text).map_err(|_| PathRejection::InvalidUtf8)?;
    Ok(DecodedSegment { text, encoded_dot })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normal(raw: &str) -> String {
        normalize(raw)
            .map(|path| path.as_str().to_owned())
            .unwrap_or_else(|error| format!("refused: {error}"))
    }

    #[test]
    fn dot_segments_are_removed_and_slashes_merged() {
        for (raw, expected) in [
            ("/", "/"),
            ("/users/7", "/users/7"),
            ("/users/", "/users/"),
            ("/public/../admin/users", "/admin/users"),
            ("/public/./x", "/public/x"),
            ("/a/b/..", "/a/"),
            ("/a/b/.", "/a/b/"),
            ("/../../admin", "/admin"),
            ("//admin", "/admin"),
            ("/public//..//admin", "/admin"),
            ("/a///b//", "/a/b/"),
            ("/Admin/CASE", "/Admin/CASE"),
        ] {
            assert_eq!(normal(raw), expected, "{raw}");
        }
        assert!(matches!(
            normalize("/users/7").map(|p| p.path),
            Ok(Cow::Borrowed(_))
        ));
    }

    #[test]
    fn unreserved_escapes_are_decoded_and_others_upper_cased() {
        assert_eq!(normal("/%61dmin/%7euser"), "/admin/~user");
        assert_eq!(normal("/v1%2e2/file"), "/v1.2/file");
        assert_eq!(normal("/a%20b/%3f%c3%a9"), "/a%20b/%3F%C3%A9");
    }

    #[test]
    fn what_cannot_be_normalized_safely_is_refused() {
        for (raw, rejection) in [
            ("*", PathRejection::NotAbsolutePath),
            ("/public/%2e%2e/admin", PathRejection::EncodedDotSegment),
            ("/public/.%2E/admin", PathRejection::EncodedDotSegment),
            ("/public/%2e/admin", PathRejection::EncodedDotSegment),
            ("/public/..;/admin", PathRejection::DotSegmentParameter),
            ("/public/..;x=1/admin", PathRejection::DotSegmentParameter),
            ("/public/.;/admin", PathRejection::DotSegmentParameter),
            ("/public/%00", PathRejection::ControlCharacter),
            ("/public/%0d%0a", PathRejection::ControlCharacter),
            ("/public/%zz", PathRejection::MalformedEncoding),
            ("/public/%2", PathRejection::MalformedEncoding),
            ("/public/%c3%28", PathRejection::InvalidUtf8),
            ("/public/%ff", PathRejection::InvalidUtf8),
        ] {
            assert_eq!(normalize(raw).err(), Some(rejection), "{raw}");
        }
    }

    #[test]
    fn separators_are_kept_and_flagged() {
        for (raw, expected) in [
            ("/public/..%2fadmin", "/public/..%2Fadmin"),
            ("/public/..%5cadmin", "/public/..%5Cadmin"),
            ("/public\\..\\admin", "/public\\..\\admin"),
            ("/public/%252e%252e/admin", "/public/%252e%252e/admin"),
            ("/public/%252fadmin", "/public/%252fadmin"),
        ] {
            let path = normalize(raw).expect(raw);
            assert_eq!(path.as_str(), expected);
            assert!(path.keeps_encoded_separators(), "{raw}");
        }
        let plain = normalize("/files/%2541").expect("a literal %41 is data");
        assert!(!plain.keeps_encoded_separators());
    }

    #[test]
    fn routes_match_without_parameters() {
        let path = normalize("/admin;jsessionid=1/users;v=2").expect("valid");
        assert_eq!(path.as_str(), "/admin;jsessionid=1/users;v=2");
        assert_eq!(path.for_matching(), "/admin/users");
        let path = normalize("/public;x/../admin").expect("valid");
        assert_eq!(path.as_str(), "/admin");
        assert_eq!(normal("/;x/admin"), "/;x/admin");
        assert_eq!(
            normalize("/;x/admin").expect("valid").for_matching(),
            "/admin"
        );
    }
}
