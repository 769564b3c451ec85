//! The LINK token address of each chain, and the check that a configured
//! LINK address belongs to the configured chain.
//!
//! A node pointed at another chain's LINK (a testnet token on mainnet, after
//! copying a config between environments) accepts jobs whose payments then
//! revert with 'Must use LINK token'. The table is the Chainlink docs' list
//! (src/data/link-token-addresses.csv), which the docs keep in EIP-55 form.

use super::eip55::{check_eip55, AddressProblem};
use super::finding::{Finding, FindingCode, Severity};

const TABLE: &str = include_str!("data/link-token-addresses.csv");

struct LinkToken {
    network: &'static str,
    chain_id: u64,
    address: &'static str,
    /// The node's built-in default, when the docs flag it as different.
    node_default_differs: bool,
}

fn tokens() -> impl Iterator<Item = LinkToken> {
    TABLE
        .lines()
        .filter(|line| {
            !line.starts_with('#') && !line.starts_with("network,") && !line.trim().is_empty()
        })
        .filter_map(|line| {
            let mut cells = line.split(',');
            let network = cells.next()?;
            let chain_id = cells.next()?.trim().parse().ok()?;
            let address = cells.next()?.trim();
            let node_default = cells.next().unwrap_or("").trim();
            Some(LinkToken {
                network,
                chain_id,
                address,
                node_default_differs: node_default.starts_with("0x"),
            })
        })
}

/// The documented LINK token address on `chain_id`, in EIP-55 form.
pub fn link_token_for_chain(chain_id: u64) -> Option<&'static str> {
    tokens()
        .find(|token| token.chain_id == chain_id)
        .map(|token| token.address)
}

fn network_name(chain_id: u64) -> Option<&'static str> {
    tokens()
        .find(|token| token.chain_id == chain_id)
        .map(|token| token.network)
}

/// Chains whose LINK token is `address` (case-insensitive; some testnets share one).
fn chains_using(address: &str) -> Vec<(u64, &'static str)> {
    tokens()
        .filter(|token| token.address.eq_ignore_ascii_case(address))
        .map(|token| (token.chain_id, token.network))
        .collect()
}

/// How strictly the address is read: v2 TOML rejects a bad checksum, v1 env
/// did not check it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AddressStrictness {
    Eip55,
    Lenient,
}

/// Where an address came from, for the findings.
pub(super) struct AddressSource<'a> {
    pub parameter: &'a str,
    pub field: Option<String>,
    /// The node's name for the setting, used in messages.
    pub setting: &'a str,
    pub strictness: AddressStrictness,
}

impl AddressSource<'_> {
    fn finding(&self, code: FindingCode, message: String) -> Finding {
        let finding = Finding::new(code, self.parameter, message);
        match &self.field {
            Some(field) => finding.with_field(field.clone()),
            None => finding,
        }
    }
}

/// Format and checksum of any address setting (addresses are public, so
/// they may appear in messages).
pub(super) fn check_address(
    address: &str,
    source: &AddressSource<'_>,
    out: &mut Vec<Finding>,
) -> bool {
    match check_eip55(address) {
        Ok(()) => true,
        Err(AddressProblem::Malformed) => {
            out.push(source.finding(
                FindingCode::AddressMalformed,
                // Not shown: a value that is not an address may be a misplaced secret.
                format!(
                    "{} is not an address: {}",
                    source.setting,
                    AddressProblem::Malformed
                ),
            ));
            false
        }
        Err(problem @ AddressProblem::Checksum { .. }) => {
            let (severity, consequence) = match source.strictness {
                AddressStrictness::Eip55 => (Severity::Error, "the v2 node rejects it"),
                AddressStrictness::Lenient => (
                    Severity::Warning,
                    "v1 accepts it, but it fails the moment this value moves into v2 TOML",
                ),
            };
            out.push(
                source
                    .finding(
                        FindingCode::AddressChecksum,
                        format!("\"{address}\" is not a valid EIP55 formatted address ({problem}); {consequence}."),
                    )
                    .with_severity(severity),
            );
            true
        }
    }
}

/// Checks a configured LINK address: its format, then that it is the LINK
/// token of `chain_id`.
pub(super) fn check_link_address(
    address: &str,
    chain_id: Option<u64>,
    source: &AddressSource<'_>,
    out: &mut Vec<Finding>,
) {
    if !check_address(address, source, out) {
        return;
    }
    let Some(chain_id) = chain_id else { return };
    let Some(expected) = link_token_for_chain(chain_id) else {
        return;
    };
    if expected.eq_ignore_ascii_case(address) {
        return;
    }
    let network = network_name(chain_id).unwrap_or("this chain");
    let owners = chains_using(address);
    if owners.is_empty() {
        out.push(source.finding(
            FindingCode::LinkTokenUnknown,
            format!(
                "{} {address} is not the documented LINK token for chain {chain_id} ({network}), which is \
                 {expected}; requests paid with the wrong token revert with 'Must use LINK token'.",
                source.setting
            ),
        ));
    } else {
        let owners = owners
            .iter()
            .map(|(id, name)| format!("chain {id} ({name})"))
            .collect::<Vec<_>>()
            .join(", ");
        out.push(source.finding(
            FindingCode::LinkTokenOfOtherChain,
            format!(
                "{} {address} is the LINK token of {owners}, but the configured chain is {chain_id} ({network}), \
                 whose LINK token is {expected}. This looks like configuration copied from another environment.",
                source.setting
            ),
        ));
    }
}

/// The node's built-in LINK default for `chain_id` is known to differ from
/// the documented token (Arbitrum Sepolia), so relying on it is a mistake.
pub(super) fn node_default_link_is_wrong(chain_id: u64) -> Option<&'static str> {
    tokens()
        .find(|token| token.chain_id == chain_id && token.node_default_differs)
        .map(|token| token.address)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_lookups() {
        assert_eq!(
            link_token_for_chain(1),
            Some("0x514910771AF9Ca656af840dff83E8264EcF986CA")
        );
        assert_eq!(
            link_token_for_chain(11155111),
            Some("0x779877A7B0D9E8603169DdbD7836e478b4624789")
        );
        assert_eq!(
            link_token_for_chain(421614),
            Some("0xb1D4538B4571d411F07960EF2838Ce337FE1E80E")
        );
        assert_eq!(link_token_for_chain(424242), None);
        assert_eq!(
            node_default_link_is_wrong(421614),
            Some("0xb1D4538B4571d411F07960EF2838Ce337FE1E80E")
        );
        assert_eq!(node_default_link_is_wrong(1), None);
    }

    #[test]
    fn every_documented_address_is_eip55() {
        let mut count = 0;
        for token in tokens() {
            assert_eq!(check_eip55(token.address), Ok(()), "{}", token.network);
            count += 1;
        }
        assert!(count >= 15);
    }

    fn link_codes(
        address: &str,
        chain_id: u64,
        strictness: AddressStrictness,
    ) -> Vec<(FindingCode, Severity)> {
        let source = AddressSource {
            parameter: "LINK_CONTRACT_ADDRESS",
            field: None,
            setting: "LINK_CONTRACT_ADDRESS",
            strictness,
        };
        let mut out = Vec::new();
        check_link_address(address, Some(chain_id), &source, &mut out);
        out.into_iter().map(|f| (f.code, f.severity)).collect()
    }

    #[test]
    fn link_cross_check_table() {
        use AddressStrictness::*;
        use FindingCode::*;
        use Severity::*;
        let sepolia = "0x779877A7B0D9E8603169DdbD7836e478b4624789";
        let mainnet = "0x514910771AF9Ca656af840dff83E8264EcF986CA";
        let cases = [
            (mainnet, 1, Eip55, vec![]),
            (sepolia, 1, Eip55, vec![(LinkTokenOfOtherChain, Error)]),
            (
                "0x514910771af9ca656af840dff83e8264ecf986ca",
                1,
                Lenient,
                vec![(AddressChecksum, Warning)],
            ),
            (
                "0x514910771af9ca656af840dff83e8264ecf986ca",
                1,
                Eip55,
                vec![(AddressChecksum, Error)],
            ),
            (
                "0x538aAaB4ea120b2bC2fe5D296852D948F07D849e",
                1,
                Eip55,
                vec![(LinkTokenUnknown, Warning)],
            ),
            (
                "0xE4aB69C077896252FAFBD49EFD26B5D171A32410",
                84532,
                Eip55,
                vec![],
            ),
            (
                "0xE4aB69C077896252FAFBD49EFD26B5D171A32410",
                421614,
                Eip55,
                vec![(LinkTokenOfOtherChain, Error)],
            ),
            (
                "not-an-address",
                1,
                Lenient,
                vec![(AddressMalformed, Error)],
            ),
            (mainnet, 424242, Eip55, vec![]),
        ];
        for (address, chain, strictness, expected) in cases {
            assert_eq!(
                link_codes(address, chain, strictness),
                expected,
                "{address} on {chain}"
            );
        }
    }
}
