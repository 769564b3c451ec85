//! The one `*` wildcard matcher of the project: host patterns, stack-name selectors, alarm and
//! metric names all match through it.
//!
//! The text matched is often written by someone else (a host name in a parameter anyone with
//! write access to the path controls, an alarm name), so matching must stay cheap whatever the
//! text: a backtracking matcher spends exponential time on `*.*.*.x` against an 8 KB host, longer
//! than a Lambda's timeout. This is the greedy two-pointer glob match: it keeps a single resume
//! point (the latest `*`), so its cost is at most pattern length × text length.

/// What a `*` stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Star {
    /// Any run of bytes, including none (`prod-*` matches `prod-`).
    AnyRun,
    /// A run of at least one byte (`*.internal` does not match `.internal`).
    NonEmptyRun,
}

/// How the pattern's literal bytes compare with the text's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    /// Byte for byte.
    Exact,
    /// ASCII letters without regard to case, as DNS compares names.
    IgnoreAscii,
}

/// Whether the whole of `text` matches `pattern`, where each `*` stands for a run of bytes as
/// `star` says and every other byte stands for itself.
///
/// Bytes and characters give the same answer here: a literal of valid UTF-8 only ever matches
/// valid UTF-8 at character boundaries, so every run a `*` takes is whole characters.
pub fn matches(pattern: &str, text: &str, star: Star, case: Case) -> bool {
    let (pattern, text) = (pattern.as_bytes(), text.as_bytes());
    let least = match star {
        Star::AnyRun => 0,
        Star::NonEmptyRun => 1,
    };
    let same = |expected: u8, actual: u8| match case {
        Case::Exact => expected == actual,
        Case::IgnoreAscii => expected.eq_ignore_ascii_case(&actual),
    };
    let (mut p, mut t) = (0, 0);
    // The latest `*`: where the pattern resumes after it, and where its run ends now. Only the
    // latest matters: once the pattern after a later `*` is reached, lengthening an earlier run
    // can only leave less text for what follows, never make a failing match succeed.
    let mut resume: Option<(usize, usize)> = None;
    loop {
        if pattern.get(p) == Some(&b'*') {
            if text.len() - t < least {
                // Lengthening an earlier run would leave even less text.
                return false;
            }
            p += 1;
            t += least;
            resume = Some((p, t));
        } else if let (Some(&expected), Some(&actual)) = (pattern.get(p), text.get(t)) {
            if same(expected, actual) {
                p += 1;
                t += 1;
            } else if !backtrack(&mut resume, &mut p, &mut t, text.len()) {
                return false;
            }
        } else if p == pattern.len() && t == text.len() {
            return true;
        } else if !backtrack(&mut resume, &mut p, &mut t, text.len()) {
            return false;
        }
    }
}

/// Lets the latest `*` take one more byte and restarts the pattern after it; false when there
/// is no `*` to lengthen or no text left for it.
fn backtrack(
    resume: &mut Option<(usize, usize)>,
    p: &mut usize,
    t: &mut usize,
    text_len: usize,
) -> bool {
    match resume {
        Some((after_star, run_end)) if *run_end < text_len => {
            *run_end += 1;
            *p = *after_star;
            *t = *run_end;
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The definition, by dynamic programming over every (pattern, text) suffix pair: slow, but
    /// obviously right.
    fn reference(pattern: &str, text: &str, star: Star, case: Case) -> bool {
        let (pattern, text) = (pattern.as_bytes(), text.as_bytes());
        let same = |a: u8, b: u8| match case {
            Case::Exact => a == b,
            Case::IgnoreAscii => a.eq_ignore_ascii_case(&b),
        };
        // fits[i][j]: pattern[i..] matches text[j..].
        let mut fits = vec![vec![false; text.len() + 1]; pattern.len() + 1];
        fits[pattern.len()][text.len()] = true;
        for i in (0..pattern.len()).rev() {
            for j in (0..=text.len()).rev() {
                fits[i][j] = if pattern[i] == b'*' {
                    let start = match star {
                        Star::AnyRun => j,
                        Star::NonEmptyRun => j + 1,
                    };
                    (start..=text.len()).any(|end| fits[i + 1][end])
                } else {
                    j < text.len() && same(pattern[i], text[j]) && fits[i + 1][j + 1]
                };
            }
        }
        fits[0][0]
    }

    const ALL: [(Star, Case); 4] = [
        (Star::AnyRun, Case::Exact),
        (Star::AnyRun, Case::IgnoreAscii),
        (Star::NonEmptyRun, Case::Exact),
        (Star::NonEmptyRun, Case::IgnoreAscii),
    ];

    #[test]
    fn semantics_table() {
        use Case::*;
        use Star::*;
        let cases = [
            ("", "", AnyRun, Exact, true),
            ("", "a", AnyRun, Exact, false),
            ("*", "", AnyRun, Exact, true),
            ("*", "", NonEmptyRun, Exact, false),
            ("*", "x", NonEmptyRun, Exact, true),
            ("prod-*", "prod-", AnyRun, Exact, true),
            ("prod-*", "prod-", NonEmptyRun, Exact, false),
            ("a*a", "a", AnyRun, Exact, false),
            ("a*a", "aa", AnyRun, Exact, true),
            ("a*a", "aa", NonEmptyRun, Exact, false),
            ("a*a", "aba", NonEmptyRun, Exact, true),
            ("ab*ba", "aba", AnyRun, Exact, false),
            ("*.dev.*", "dev.x", NonEmptyRun, IgnoreAscii, false),
            ("*.dev.*", "DB.Dev.X", NonEmptyRun, IgnoreAscii, true),
            ("*.dev.*", "DB.Dev.X", AnyRun, Exact, false),
            (
                "StatusCheckFailed*",
                "StatusCheckFailed_System",
                AnyRun,
                Exact,
                true,
            ),
            ("*-é-*", "a-é-b", NonEmptyRun, Exact, true),
            ("*é", "aé", AnyRun, Exact, true),
        ];
        for (pattern, text, star, case, expected) in cases {
            assert_eq!(
                matches(pattern, text, star, case),
                expected,
                "{pattern:?} ~ {text:?} ({star:?}, {case:?})"
            );
            assert_eq!(reference(pattern, text, star, case), expected, "reference");
        }
    }

    /// Patterns that make a backtracking matcher explore every way of splitting the text; the
    /// answers are asserted, the cost is shown by the `wildcard` benchmark of the domain crate.
    #[test]
    fn adversarial_patterns_on_long_texts() {
        for len in [8 * 1024, 64 * 1024] {
            let dots = "a.".repeat(len / 2);
            let a_run = "a".repeat(len);
            let cases = [
                ("*.*.*.x", dots.clone(), false),
                ("*.*.*.x", format!("{dots}x"), true),
                ("*.*.*.*.*.*.*.*.*.*.*.*.*.*.*.*.x", dots.clone(), false),
                ("a*a*a*a*a*b", a_run.clone(), false),
                ("a*a*a*a*a*b", format!("{a_run}b"), true),
                ("*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b", a_run.clone(), false),
                ("*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a", a_run.clone(), true),
                ("*aaaaaaaaaaaaaaaaaaaaaaaaab", a_run.clone(), false),
            ];
            for (pattern, text, expected) in cases {
                for (star, case) in ALL {
                    assert_eq!(
                        matches(pattern, &text, star, case),
                        expected,
                        "{pattern:?} ~ {len} bytes ({star:?}, {case:?})"
                    );
                }
            }
        }
    }

    proptest! {
        /// Small alphabets, so that stars, repeats and near-misses are common.
        #[test]
        fn agrees_with_the_reference(
            pattern in "[ab.*A]{0,10}",
            text in "[ab.AB]{0,16}",
            rules in 0..ALL.len(),
        ) {
            let (star, case) = ALL[rules];
            prop_assert_eq!(
                matches(&pattern, &text, star, case),
                reference(&pattern, &text, star, case)
            );
        }
    }
}
