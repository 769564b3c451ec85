//! Where a URL's userinfo ends, and what in a password breaks it: the one question both the
//! database-URL checks and the URL display must answer the same way.

/// The first URL delimiter that occurs, unencoded, inside the userinfo of
/// `raw` and so cuts the URL short, or a malformed `%` escape there.
pub(super) fn delimiter_breaking_userinfo(raw: &str) -> Option<char> {
    let (_, rest) = raw.trim().split_once("://")?;
    let naive_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..naive_end];
    match authority.matches('@').count() {
        0 => {
            // No '@' before the first delimiter: if one comes later, the
            // delimiter was probably inside the password.
            let culprit = rest[naive_end..].chars().next()?;
            let after = &rest[naive_end + culprit.len_utf8()..];
            let at = after.find('@')?;
            let between = &after[..at];
            let broken = match culprit {
                '#' => true,
                '?' => !between.contains('='),
                _ => !between.contains('?') && !between.contains('='),
            };
            (broken && authority.contains(':')).then_some(culprit)
        }
        1 => {
            let userinfo = &authority[..authority.find('@')?];
            if has_bad_escape(userinfo) {
                Some('%')
            } else {
                userinfo.chars().find(|c| c.is_whitespace())
            }
        }
        _ => Some('@'),
    }
}

fn has_bad_escape(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.iter().enumerate().any(|(i, &b)| {
        b == b'%'
            && !(bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
    })
}
