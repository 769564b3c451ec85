//! Scheme checks on RPC URLs, shared by `ETH_URL`-style variables and
//! `[[EVM.Nodes]]` entries.
//!
//! Messages name the scheme and host only: RPC URLs often carry an API key
//! in the path or query.

use url::Url;

use super::finding::{Finding, FindingCode};
use super::url_display::{scheme_of, url_origin};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RpcTransport {
    Websocket,
    Http,
}

/// A finding if `raw` is not a URL of `transport`'s schemes; `node_text`
/// is the node's own phrase for the failure.
pub(super) fn check_rpc_url(
    raw: &str,
    transport: RpcTransport,
    parameter: &str,
    field: Option<&str>,
    node_text: &str,
) -> Option<Finding> {
    let label = field.unwrap_or(parameter);
    let shown = url_origin(raw);
    let scheme = scheme_of(raw);
    let finding = |code, message: String| {
        let finding = Finding::new(code, parameter, message);
        Some(match field {
            Some(field) => finding.with_field(field),
            None => finding,
        })
    };
    let (allowed, code, want): (&[&str], FindingCode, &str) = match transport {
        RpcTransport::Websocket => (
            &["ws", "wss"],
            FindingCode::WebsocketUrlScheme,
            "ws:// or wss://",
        ),
        RpcTransport::Http => (
            &["http", "https"],
            FindingCode::HttpUrlScheme,
            "http:// or https://",
        ),
    };
    match scheme.as_deref() {
        Some(s) if allowed.contains(&s) => {
            if Url::parse(raw.trim()).is_ok_and(|u| u.host_str().is_some_and(|h| !h.is_empty())) {
                None
            } else {
                finding(
                    FindingCode::RpcUrlUnparseable,
                    format!("{label} ({shown}) is not a valid URL with a host; the node cannot dial it."),
                )
            }
        }
        Some(other) => finding(
            code,
            format!("{label} uses '{other}' ({shown}) but must be {want}: '{node_text}'. Check that the websocket and HTTP URLs were not swapped."),
        ),
        None => finding(
            FindingCode::RpcUrlUnparseable,
            format!("{label} is not a URL ({shown}); it must be {want}."),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpc_scheme_table() {
        use RpcTransport::*;
        let cases = [
            ("wss://eth.example/ws", Websocket, None),
            ("ws://10.0.0.1:8546", Websocket, None),
            (
                "http://eth.example",
                Websocket,
                Some(FindingCode::WebsocketUrlScheme),
            ),
            ("https://eth.example", Http, None),
            ("wss://eth.example", Http, Some(FindingCode::HttpUrlScheme)),
            (
                "eth.example:8545",
                Http,
                Some(FindingCode::RpcUrlUnparseable),
            ),
            (
                "invalid-test-value-ETH_URL",
                Websocket,
                Some(FindingCode::RpcUrlUnparseable),
            ),
        ];
        for (raw, transport, expected) in cases {
            let got = check_rpc_url(raw, transport, "ETH_URL", None, "x").map(|f| f.code);
            assert_eq!(got, expected, "{raw}");
        }
    }

    #[test]
    fn api_keys_in_paths_are_not_shown() {
        let finding = check_rpc_url(
            "http://eth.example/v3/SECRETKEY",
            RpcTransport::Websocket,
            "ETH_URL",
            None,
            "x",
        );
        let message = finding.map(|f| f.message).unwrap_or_default();
        assert!(
            message.contains("http://eth.example") && !message.contains("SECRETKEY"),
            "{message}"
        );
    }
}
