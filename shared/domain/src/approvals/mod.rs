//! Approval tokens: what an approve or deny link carries, so that the remediator stays stateless
//! and nothing in a link can be forged, altered or moved to another stack. A token is a claim
//! (account, region, stack, the digest of the exact planned actions, an expiry, a nonce) and an
//! HMAC of it under the stack's approval key, which the functions read from a SecureString.
//! Verifying checks the MAC first (in constant time), then the expiry and the place; single use
//! is the caller's, recorded on the resource as incidents are. Pure: the key and the clock are
//! inputs.
//!
//! The functions issue them for what the stack file's `[approvals]` names (alarm remediations,
//! a security-group plan over the change limit or opening rules in production);
//! the approval handler (behind a Lambda function URL) verifies one and hands it to the
//! function that owns the remediation, which verifies it again, re-plans, and applies only the
//! plan that was approved.

pub mod handler;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha3::{Digest, Sha3_256};
use std::fmt;

use crate::ids::StackName;
use crate::stack::{Remediation, StackSelector};

type Signer = Hmac<Sha3_256>;

/// Keys shorter than this are refused: an HMAC is only as strong as its key.
pub const MIN_KEY_BYTES: usize = 32;

/// What a person approves or denies: exactly these actions, on this stack, until then.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalClaim {
    pub account: String,
    pub region: String,
    pub stack: String,
    /// `plan_digest` of the planned actions: a re-plan that differs is not what was approved.
    pub plan: String,
    /// `approve` or `deny`: the two links of one request carry different tokens.
    pub decision: Decision,
    /// What waits, and how the function finds it again on approval.
    pub subject: Subject,
    /// Unix seconds.
    pub expires_at: i64,
    /// Makes every token unique, so a use can be recorded and refused the second time.
    pub nonce: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Approve,
    Deny,
}

/// Where a token is presented: the account and region it acts in, and the stacks its stack
/// file guards.
#[derive(Clone, Copy, Debug)]
pub struct Presented<'a> {
    pub account: &'a str,
    pub region: &'a str,
    pub stacks: &'a StackSelector,
    pub now: DateTime<Utc>,
}

/// Why a token is refused: each a clear reason for the person who opened the link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Not a token at all (truncated, mangled by a chat client).
    Malformed,
    /// The MAC does not match: altered, forged, or signed with another key.
    Forged,
    Expired {
        at: DateTime<Utc>,
    },
    /// A token of another account, region or stack.
    ElsewhereIssued {
        claimed: String,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed => f.write_str("the link is not a complete approval token"),
            Self::Forged => f.write_str(
                "the token's signature does not match: it was altered, or not issued by this stack",
            ),
            Self::Expired { at } => write!(
                f,
                "the approval expired at {}: nothing was done; the next run asks again",
                at.to_rfc3339()
            ),
            Self::ElsewhereIssued { claimed } => write!(
                f,
                "the token was issued for {claimed}, which is not guarded here: nothing was done"
            ),
        }
    }
}

/// What an approval decides on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Subject {
    /// An alarm remediation (`resize`, `scale_class`…): on approval the alarm is re-read as if
    /// that transition (the incident) were notified again.
    Alarm {
        alarm: String,
        changed_at: String,
        remediation: Remediation,
    },
    /// The stack's security-group plan: on approval the stack is swept and planned again.
    SecurityGroups,
}

impl Subject {
    /// What waits, in the words of reports and pages: `resize`, `security_groups`.
    pub fn what(&self) -> &'static str {
        match self {
            Self::Alarm { remediation, .. } => remediation.as_str(),
            Self::SecurityGroups => "security_groups",
        }
    }

    /// The alarm, for an alarm remediation.
    pub fn alarm(&self) -> Option<&str> {
        match self {
            Self::Alarm { alarm, .. } => Some(alarm),
            Self::SecurityGroups => None,
        }
    }

    /// Whether `other` is the same thing to decide on (the same alarm, or the groups).
    pub fn same_as(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Alarm { alarm, .. }, Self::Alarm { alarm: other, .. }) => alarm == other,
            (Self::SecurityGroups, Self::SecurityGroups) => true,
            _ => false,
        }
    }
}

/// The subject a token claims, read without verifying it: only to route it to the function
/// that owns it, which verifies it before anything else.
pub fn claimed_subject(token: &str) -> Option<Subject> {
    let (body, _) = token.trim().split_once('.')?;
    let body = URL_SAFE_NO_PAD.decode(body).ok()?;
    serde_json::from_slice::<ApprovalClaim>(&body)
        .ok()
        .map(|claim| claim.subject)
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Approve => "approve",
            Self::Deny => "deny",
        })
    }
}

/// A remediation that waits for a person, as the report and the notification carry it: the
/// approve and deny links (or the bare tokens, when no handler URL is deployed).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ApprovalRequest {
    /// What waits: a remediation (`resize`…) or `security_groups`.
    pub remediation: String,
    /// What it changes: the instance, group or DB instance, or the stack's rules.
    pub target: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alarm: Option<String>,
    pub expires_at: DateTime<Utc>,
    pub approve: String,
    pub deny: String,
}

impl fmt::Display for ApprovalRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "  waits for approval: {} of {}",
            self.remediation, self.target
        )?;
        if let Some(alarm) = &self.alarm {
            write!(f, " (alarm {alarm})")?;
        }
        writeln!(f, ", until {}", self.expires_at.to_rfc3339())?;
        writeln!(f, "    approve: {}", self.approve)?;
        writeln!(f, "    deny:    {}", self.deny)
    }
}

/// The link a person opens: the handler's URL with the token as its query, or the bare token
/// when there is no handler (`base` is `None`).
pub fn link(base: Option<&str>, token: &str) -> String {
    match base {
        Some(base) => format!("{}?token={token}", base.trim_end_matches(['/', '?'])),
        None => token.to_string(),
    }
}

/// The token of a link (or a bare token): what follows `token=`, up to the next parameter.
pub fn token_of(link_or_token: &str) -> &str {
    match link_or_token.split_once("token=") {
        Some((_, rest)) => rest.split('&').next().unwrap_or_default(),
        None => link_or_token.trim(),
    }
}

/// The digest of planned actions as their canonical JSON: the same plan, the same digest.
pub fn plan_digest<T: Serialize>(actions: &T) -> String {
    let json = serde_json::to_vec(actions).unwrap_or_default();
    Sha3_256::digest(&json)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `claim` signed with `key`: `<claim>.<mac>`, both base64url without padding (safe in a URL).
/// `None` for a key shorter than `MIN_KEY_BYTES`.
pub fn sign(claim: &ApprovalClaim, key: &[u8]) -> Option<String> {
    let body = serde_json::to_vec(claim).ok()?;
    let mac = signer(key)?.chain_update(&body).finalize().into_bytes();
    Some(format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(&body),
        URL_SAFE_NO_PAD.encode(mac)
    ))
}

/// The claim of `token` if `key` signed it, it has not expired and it was issued where it is
/// presented. The MAC is checked before the claim is even parsed.
pub fn verify(token: &str, key: &[u8], at: &Presented<'_>) -> Result<ApprovalClaim, Refusal> {
    let (body, mac) = token.trim().split_once('.').ok_or(Refusal::Malformed)?;
    let body = URL_SAFE_NO_PAD
        .decode(body)
        .map_err(|_| Refusal::Malformed)?;
    let mac = URL_SAFE_NO_PAD
        .decode(mac)
        .map_err(|_| Refusal::Malformed)?;
    signer(key)
        .ok_or(Refusal::Forged)?
        .chain_update(&body)
        .verify_slice(&mac)
        .map_err(|_| Refusal::Forged)?;
    let claim: ApprovalClaim = serde_json::from_slice(&body).map_err(|_| Refusal::Malformed)?;
    let expires = DateTime::<Utc>::from_timestamp(claim.expires_at, 0).ok_or(Refusal::Malformed)?;
    if at.now >= expires {
        return Err(Refusal::Expired { at: expires });
    }
    let here = (claim.account.as_str(), claim.region.as_str()) == (at.account, at.region);
    if !here || !at.stacks.matches(&StackName::new(&claim.stack)) {
        return Err(Refusal::ElsewhereIssued {
            claimed: format!(
                "stack {} in account {}, {}",
                claim.stack, claim.account, claim.region
            ),
        });
    }
    Ok(claim)
}

fn signer(key: &[u8]) -> Option<Signer> {
    if key.len() < MIN_KEY_BYTES {
        return None;
    }
    <Signer as KeyInit>::new_from_slice(key).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    const KEY: &[u8] = b"the demo stack's approval key, 32+ bytes long";

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_796_000_000, 0).unwrap_or_default()
    }

    fn claim() -> ApprovalClaim {
        ApprovalClaim {
            account: "123456789012".into(),
            region: "us-east-1".into(),
            stack: "demo".into(),
            plan: plan_digest(&["resize i-0123 m6i.large → m6i.xlarge"]),
            decision: Decision::Approve,
            subject: Subject::Alarm {
                alarm: "demo-node-cpu".into(),
                changed_at: "2026-12-06T10:00:00.000+0000".into(),
                remediation: Remediation::Resize,
            },
            expires_at: (now() + Duration::hours(1)).timestamp(),
            nonce: "6f1c2a".into(),
        }
    }

    static DEMO: std::sync::LazyLock<StackSelector> =
        std::sync::LazyLock::new(|| StackSelector::Exact(StackName::new("demo")));
    static PROD: std::sync::LazyLock<StackSelector> =
        std::sync::LazyLock::new(|| StackSelector::Exact(StackName::new("prod")));

    fn here() -> Presented<'static> {
        Presented {
            account: "123456789012",
            region: "us-east-1",
            stacks: &DEMO,
            now: now(),
        }
    }

    fn signed() -> String {
        sign(&claim(), KEY).unwrap_or_else(|| panic!("a long enough key"))
    }

    #[test]
    fn a_signed_claim_verifies_where_it_was_issued() {
        assert_eq!(verify(&signed(), KEY, &here()), Ok(claim()));
    }

    #[test]
    fn an_altered_or_forged_token_is_refused() {
        let token = signed();
        let (body, mac) = token.split_once('.').unwrap_or_default();
        // Another plan or stack in the claim, with the original MAC.
        let mut other = claim();
        other.plan = plan_digest(&["revoke everything"]);
        let altered = format!(
            "{}.{mac}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&other).unwrap_or_default())
        );
        assert_eq!(verify(&altered, KEY, &here()), Err(Refusal::Forged));
        // Signed with someone else's key.
        let forged = sign(&claim(), b"someone else's key, also 32+ bytes long").unwrap_or_default();
        assert_eq!(verify(&forged, KEY, &here()), Err(Refusal::Forged));
        // One changed character of the MAC (the first: every bit of it is the MAC's).
        let first = if mac.starts_with('A') { "B" } else { "A" };
        let flipped = format!("{first}{}", &mac[1..]);
        assert_eq!(
            verify(&format!("{body}.{flipped}"), KEY, &here()),
            Err(Refusal::Forged)
        );
    }

    #[test]
    fn an_expired_token_or_one_of_another_stack_is_refused() {
        let later = Presented {
            now: now() + Duration::hours(2),
            ..here()
        };
        assert!(matches!(
            verify(&signed(), KEY, &later),
            Err(Refusal::Expired { .. })
        ));
        let elsewhere = Presented {
            stacks: &PROD,
            ..here()
        };
        let refused = verify(&signed(), KEY, &elsewhere);
        assert!(
            matches!(&refused, Err(Refusal::ElsewhereIssued { claimed }) if claimed.contains("stack demo")),
            "{refused:?}"
        );
    }

    #[test]
    fn truncated_tokens_and_short_keys_are_refused() {
        let token = signed();
        for broken in ["", "no-dot", &token[..token.len() / 2], "a.b.c"] {
            assert!(verify(broken, KEY, &here()).is_err(), "{broken:?}");
        }
        assert_eq!(sign(&claim(), b"short"), None);
        assert_eq!(verify(&token, b"short", &here()), Err(Refusal::Forged));
    }

    #[test]
    fn the_same_plan_has_the_same_digest_and_another_plan_another() {
        assert_eq!(plan_digest(&["a", "b"]), plan_digest(&["a", "b"]));
        assert_ne!(plan_digest(&["a", "b"]), plan_digest(&["b", "a"]));
    }
}
