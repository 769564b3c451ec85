//! Text cut to a service's length limit without splitting a character.
//!
//! AWS states string limits as a length without saying in what unit; counting UTF-16 code
//! units (what a Java `String` counts) is never more than the count of characters, so a text
//! that fits in units fits in either reading.

/// `text` as it is when it fits in `max` UTF-16 units; otherwise its longest prefix that fits
/// with a final `…`.
pub(crate) fn clip(text: &str, max: usize) -> String {
    if units(text) <= max {
        return text.to_string();
    }
    let room = max.saturating_sub(1);
    let mut used = 0;
    let mut clipped = String::with_capacity(text.len().min(max * 4));
    for c in text.chars() {
        used += c.len_utf16();
        if used > room {
            break;
        }
        clipped.push(c);
    }
    if max > 0 {
        clipped.push('…');
    }
    clipped
}

/// The length of `text` in UTF-16 code units.
pub(crate) fn units(text: &str) -> usize {
    text.chars().map(char::len_utf16).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_that_fits_is_left_alone_and_a_longer_one_ends_in_an_ellipsis() {
        assert_eq!(clip("abc", 3), "abc");
        assert_eq!(clip("abcd", 3), "ab…");
        assert_eq!(clip("", 0), "");
        assert_eq!(clip("abc", 0), "");
    }

    #[test]
    fn a_cut_never_splits_a_character() {
        // 'é' is two bytes, '𝄞' two UTF-16 units and four bytes.
        let text = "é𝄞é𝄞é𝄞";
        for max in 0..12 {
            let clipped = clip(text, max);
            assert!(units(&clipped) <= max, "{max}: {clipped:?}");
            assert!(text.starts_with(clipped.trim_end_matches('…')));
        }
        assert_eq!(clip(text, 4), "é𝄞…");
        assert_eq!(clip(text, 3), "é…", "𝄞 does not fit in one unit");
    }
}
