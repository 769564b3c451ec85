//! Showing URLs to people without showing their secrets.
//!
//! Database URLs carry passwords and RPC URLs often carry API keys in the
//! path or query, so messages show at most `scheme://host:port`; `mask_url`
//! keeps the rest of the URL but replaces passwords. A URL whose password
//! broke its syntax is never shown beyond scheme and host, because a parser
//! would put part of that password in the host, port or path.

use url::Url;

use super::userinfo::delimiter_breaking_userinfo;

const MASK: &str = "****";
const UNPARSEABLE: &str = "<unparseable URL>";

/// `raw` with the password in its userinfo and in any `password=` query
/// parameter replaced by `****`, and without a fragment. When the URL does
/// not parse (or its password broke the syntax) only the scheme and host are
/// kept, or `<unparseable URL>` if even those are not recognisable.
pub fn mask_url(raw: &str) -> String {
    let raw = raw.trim();
    if delimiter_breaking_userinfo(raw).is_some() {
        return scheme_and_host(raw);
    }
    let Ok(mut url) = Url::parse(raw) else {
        return scheme_and_host(raw);
    };
    if url.password().is_some() && url.set_password(Some(MASK)).is_err() {
        return scheme_and_host(raw);
    }
    if let Some(query) = url.query() {
        let masked = mask_password_query(query);
        url.set_query(Some(&masked));
    }
    url.set_fragment(None);
    url.to_string()
}

/// `scheme://host[:port]` and nothing else: safe for any URL, including RPC
/// URLs with API keys in the path.
pub(super) fn url_origin(raw: &str) -> String {
    let raw = raw.trim();
    if delimiter_breaking_userinfo(raw).is_none() {
        if let Ok(url) = Url::parse(raw) {
            if let Some(host) = url.host_str() {
                return match url.port() {
                    Some(port) => format!("{}://{host}:{port}", url.scheme()),
                    None => format!("{}://{host}", url.scheme()),
                };
            }
        }
    }
    scheme_and_host(raw)
}

/// Replaces every `scheme://...` token in free text (such as a TOML parser's
/// error, which quotes the offending line) by its origin.
pub(super) fn scrub_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(found) = rest.find("://") {
        let scheme_start = rest[..found]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
            .map_or(0, |i| i + 1);
        let token_end = rest[found..]
            .find(|c: char| c.is_whitespace() || matches!(c, '\'' | '"' | '`' | ',' | ']' | '}'))
            .map_or(rest.len(), |i| found + i);
        out.push_str(&rest[..scheme_start]);
        let token = &rest[scheme_start..token_end];
        let origin = url_origin(token);
        out.push_str(&origin);
        if token.len() > origin.len() {
            out.push_str("/…");
        }
        rest = &rest[token_end..];
    }
    out.push_str(rest);
    out
}

/// The scheme (lowercase) before `://`, if it looks like one.
pub(super) fn scheme_of(raw: &str) -> Option<String> {
    let (scheme, _) = raw.trim().split_once("://")?;
    let mut chars = scheme.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    (first_ok && rest_ok).then(|| scheme.to_ascii_lowercase())
}

/// The host and explicit port, read leniently: the host is what follows the
/// last `@`, so a password with unencoded delimiters does not hide it.
pub(super) fn lenient_host_port(raw: &str) -> Option<(String, Option<u16>)> {
    let (_, rest) = raw.trim().split_once("://")?;
    let after_userinfo = match rest.rfind('@') {
        Some(at) => &rest[at + 1..],
        None => rest,
    };
    let authority_end = after_userinfo
        .find(['/', '?', '#'])
        .unwrap_or(after_userinfo.len());
    let authority = &after_userinfo[..authority_end];
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (host, after) = bracketed.split_once(']')?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | ':'));
    if !host_ok {
        return None;
    }
    let port = port.and_then(|p| p.parse::<u16>().ok());
    Some((host.to_ascii_lowercase(), port))
}

fn scheme_and_host(raw: &str) -> String {
    match (scheme_of(raw), lenient_host_port(raw)) {
        (Some(scheme), Some((host, _))) => format!("{scheme}://{host}"),
        (Some(scheme), None) => format!("{scheme}://…"),
        _ => UNPARSEABLE.to_owned(),
    }
}

fn mask_password_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}={MASK}"),
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_url_table() {
        let cases = [
            (
                "postgresql://user:s3cret@db.prod:5432/chainlink?sslmode=require",
                "postgresql://user:****@db.prod:5432/chainlink?sslmode=require",
            ),
            (
                "postgres://user@db/cl?password=s3cret&sslmode=disable",
                "postgres://user@db/cl?password=****&sslmode=disable",
            ),
            ("wss://eth.example/ws", "wss://eth.example/ws"),
            (
                "https://u:p@rpc.example/v2",
                "https://u:****@rpc.example/v2",
            ),
            // '#' ends the authority early: only scheme and the real host are kept.
            (
                "postgresql://user:pa#ss@db.prod:5432/cl",
                "postgresql://db.prod",
            ),
            ("postgresql://user:12/ss@db.prod/cl", "postgresql://db.prod"),
            ("not a url", "<unparseable URL>"),
            ("", "<unparseable URL>"),
            ("host=db password=secret", "<unparseable URL>"),
        ];
        for (raw, expected) in cases {
            assert_eq!(mask_url(raw), expected, "{raw}");
        }
    }

    #[test]
    fn origin_hides_paths_and_queries() {
        let cases = [
            ("wss://eth.rpc.example/v3/KEY123", "wss://eth.rpc.example"),
            (
                "https://rpc.example:8545/?apikey=KEY",
                "https://rpc.example:8545",
            ),
            ("postgresql://u:p@db:5432/x", "postgresql://db:5432"),
            ("ws", "<unparseable URL>"),
        ];
        for (raw, expected) in cases {
            assert_eq!(url_origin(raw), expected, "{raw}");
        }
    }

    #[test]
    fn scrub_urls_in_free_text() {
        let text = "expected newline, found `x` at line 3: WSURL = 'wss://rpc.example/v3/KEY'";
        assert_eq!(
            scrub_urls(text),
            "expected newline, found `x` at line 3: WSURL = 'wss://rpc.example/…'"
        );
        assert_eq!(scrub_urls("no urls here"), "no urls here");
    }

    #[test]
    fn lenient_host_port_table() {
        let cases = [
            (
                "postgresql://u:p@db.dev.demo.internal:5432/x",
                Some(("db.dev.demo.internal", Some(5432))),
            ),
            (
                "postgresql://u:p#q@db.dev.demo.internal/x",
                Some(("db.dev.demo.internal", None)),
            ),
            ("wss://[::1]:8546", Some(("::1", Some(8546)))),
            ("nonsense", None),
        ];
        for (raw, expected) in cases {
            let got = lenient_host_port(raw);
            let got = got.as_ref().map(|(h, p)| (h.as_str(), *p));
            assert_eq!(got, expected, "{raw}");
        }
    }
}
