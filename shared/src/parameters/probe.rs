//! Optional live probes of a stack's endpoints: does each DB and RPC host resolve, does it
//! accept a TCP connection, and does the RPC node serve the chain the stack declares.
//!
//! Off by default (`[parameters] probes = true` turns them on): they reach the network, and a
//! Lambda outside the node's VPC may see nothing. Their findings are reported but never trigger
//! a rollback on their own, because network state is transient and the values may be right.
//! Messages name hosts only: an RPC URL can carry an API key in its path.

use chainlink::{Endpoint, EndpointKind, Finding, FindingCode, SecretValue};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

/// Per probe step: long enough for a healthy endpoint across regions, short enough for Lambda.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// Probes every distinct endpoint once; returns what failed.
pub async fn probe_endpoints(
    endpoints: &[Endpoint],
    declared_chain: Option<u64>,
    timeout: Duration,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut seen = BTreeSet::new();
    for endpoint in endpoints {
        let Some(port) = endpoint.port else { continue };
        if !seen.insert((
            endpoint.host.clone(),
            port,
            endpoint.kind == EndpointKind::Database,
        )) {
            continue;
        }
        let what = match endpoint.kind {
            EndpointKind::Database => "database",
            EndpointKind::RpcWebsocket | EndpointKind::RpcHttp => "RPC",
        };
        let addresses = match tokio::time::timeout(
            timeout,
            tokio::net::lookup_host((endpoint.host.as_str(), port)),
        )
        .await
        {
            Ok(Ok(addresses)) => addresses.collect::<Vec<SocketAddr>>(),
            _ => Vec::new(),
        };
        let Some(address) = addresses.first() else {
            findings.push(Finding::new(
                FindingCode::EndpointUnresolvable,
                &endpoint.parameter,
                format!(
                    "the {what} host {} does not resolve in DNS from here",
                    endpoint.host
                ),
            ));
            continue;
        };
        let connected =
            tokio::time::timeout(timeout, tokio::net::TcpStream::connect(address)).await;
        if !matches!(connected, Ok(Ok(_))) {
            findings.push(Finding::new(
                FindingCode::EndpointUnreachable,
                &endpoint.parameter,
                format!(
                    "no TCP connection to the {what} endpoint {}:{port} within {} s",
                    endpoint.host,
                    timeout.as_secs()
                ),
            ));
            continue;
        }
        if let (Some(url), Some(declared)) = (&endpoint.url, declared_chain) {
            findings.extend(probe_chain_id(endpoint, url, declared, timeout).await);
        }
    }
    findings
}

async fn probe_chain_id(
    endpoint: &Endpoint,
    url: &SecretValue,
    declared: u64,
    timeout: Duration,
) -> Option<Finding> {
    let http_url = as_http(url.expose())?;
    let answer = tokio::task::spawn_blocking(move || eth_chain_id(&http_url, timeout))
        .await
        .ok()?;
    let finding = match answer {
        Ok(chain) if chain == declared => return None,
        Ok(chain) => Finding::new(
            FindingCode::RpcChainMismatch,
            &endpoint.parameter,
            format!(
                "the RPC node at {} serves chain {chain}, but the stack declares chain {declared}",
                endpoint.host
            ),
        ),
        Err(reason) => Finding::new(
            FindingCode::RpcNoChainId,
            &endpoint.parameter,
            format!(
                "the RPC node at {} gave no usable eth_chainId answer: {reason}",
                endpoint.host
            ),
        ),
    };
    Some(match &endpoint.field {
        Some(field) => finding.with_field(field.clone()),
        None => finding,
    })
}

/// JSON-RPC over HTTP: nodes serve websocket and HTTP on the same listener, so a ws(s) URL is
/// asked as http(s).
fn as_http(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "ws" | "http" => "http",
        "wss" | "https" => "https",
        _ => return None,
    };
    Some(format!("{scheme}://{rest}"))
}

/// The chain the node answers, or why not, in words that never include the URL.
fn eth_chain_id(url: &str, timeout: Duration) -> Result<u64, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .build()
        .into();
    let request = r#"{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}"#;
    let response = agent
        .post(url)
        .header("content-type", "application/json")
        .send(request)
        .map_err(|e| match e {
            ureq::Error::Timeout(_) => "timed out".to_string(),
            ureq::Error::Io(_) | ureq::Error::ConnectionFailed => "connection failed".to_string(),
            ureq::Error::Tls(_) | ureq::Error::Rustls(_) => "TLS failed".to_string(),
            _ => "request failed".to_string(),
        })?;
    let status = response.status().as_u16();
    if status != 200 {
        return Err(format!("HTTP status {status}"));
    }
    let body = response
        .into_body()
        .with_config()
        .limit(64 * 1024)
        .read_to_string()
        .map_err(|_| "unreadable response".to_string())?;
    #[derive(serde::Deserialize)]
    struct Answer {
        result: Option<String>,
    }
    let hex = serde_json::from_str::<Answer>(&body)
        .ok()
        .and_then(|a| a.result)
        .ok_or_else(|| "no result in the answer".to_string())?;
    u64::from_str_radix(hex.trim_start_matches("0x"), 16)
        .map_err(|_| "the result is not a chain ID".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn websocket_urls_are_asked_over_http() {
        assert_eq!(
            as_http("wss://eth.example/v3/key").as_deref(),
            Some("https://eth.example/v3/key")
        );
        assert_eq!(
            as_http("ws://127.0.0.1:8546").as_deref(),
            Some("http://127.0.0.1:8546")
        );
        assert_eq!(as_http("ftp://x"), None);
    }
}
