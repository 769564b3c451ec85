//! Approvals in AWS: the stack's signing key (an SSM SecureString) and the account a run acts
//! in, read once per run and only when a remediation waits or an approval arrives, and the gate
//! the router puts between a plan and its apply. The tokens are `domain::approvals`; which
//! remediations wait is the stack file's `[approvals]`.

pub(crate) mod issuer;
pub(crate) mod subject;

use crate::capability::Context;
use chrono::{DateTime, Utc};
use domain::approvals::{link, sign, verify, ApprovalClaim, ApprovalRequest, Decision, Presented};
use sha3::{Digest, Sha3_256};

pub use issuer::{account, signing_key, Issuer, SigningKey};
pub(crate) use subject::Approvable;

/// The signing key and the account, read once per run (`Context::issuer`): `Err` says why
/// no approval can be issued or checked.
pub(crate) async fn issuer<'c>(cx: &'c Context<'_>) -> &'c Result<Issuer, String> {
    cx.issuer.get_or_init(|| read_issuer(cx)).await
}

async fn read_issuer(cx: &Context<'_>) -> Result<Issuer, String> {
    let Some(policy) = &cx.file.approvals else {
        return Err("the stack file has no [approvals]".into());
    };
    if cx.file.organization.is_some() {
        return Err(domain::stack::MEMBER_APPROVALS.into());
    }
    let (key, account) = tokio::join!(
        signing_key(&cx.clients.ssm, &policy.key_parameter),
        account(&cx.clients.sts)
    );
    Ok(Issuer::new(key?, account?, cx.clients.region.clone()))
}

/// The claim of an approval event's token, verified under the stack's key where this run
/// acts; `Err` is the reason it is refused, in the words the person who clicked will read.
pub(crate) async fn verified(cx: &Context<'_>, token: &str) -> Result<ApprovalClaim, String> {
    let issuer = issuer(cx).await.as_ref().map_err(|reason| {
        format!("the approval could not be checked: {reason}; nothing was done")
    })?;
    let here = Presented {
        account: issuer.account(),
        region: issuer.region(),
        stacks: &cx.file.selector,
        now: cx.now,
    };
    verify(token, issuer.key.bytes(), &here)
        .map_err(|refusal| format!("the approval is refused: {refusal}"))
}

/// What the router does with a plan, given `[approvals]` and the run's approval, if any.
#[derive(Debug)]
pub(crate) enum Gate {
    /// Apply as usual (the stack file's limits still hold).
    Open,
    /// Apply: a person approved exactly this plan (over the change limit, if that is what
    /// waited).
    Approved,
    /// Not applied: it waits for a person, who gets this request; `note` says why it is asked
    /// again, when an approval arrived for a plan that changed.
    Wait {
        request: ApprovalRequest,
        note: Option<String>,
    },
    /// Not applied, and why.
    Closed(String),
}

/// Whether a plan with `actions` steps may run now.
pub(crate) async fn gate(cx: &Context<'_>, subject: Option<Approvable>, actions: usize) -> Gate {
    let Some(subject) = subject else {
        return Gate::Open;
    };
    let claim = cx.approval.as_ref().filter(|claim| subject.answers(claim));
    let Some(claim) = claim else {
        if actions == 0 || !subject.waits {
            return Gate::Open;
        }
        return ask(cx, &subject, None).await;
    };
    let what = subject.subject.what();
    if subject.used.contains(&claim.nonce) {
        return Gate::Closed(format!(
            "this approval was already used: {what} of {} ran on it; an approval acts once",
            subject.target
        ));
    }
    if claim.decision == Decision::Deny {
        return Gate::Closed(format!(
            "{what} of {} was denied by a person: nothing was done",
            subject.target
        ));
    }
    if actions == 0 {
        return Gate::Closed(format!(
            "the approved {what} of stack {} has nothing left to do: the situation changed, or the approval was used; nothing was done",
            subject.stack
        ));
    }
    if claim.plan != subject.digest || claim.subject != subject.subject {
        let note = format!(
            "the situation changed since {} of {} was approved: the plan is not the one approved, so it was not applied and approval is asked again",
            claim.subject.what(),
            subject.target
        );
        return ask(cx, &subject, Some(note)).await;
    }
    Gate::Approved
}

/// A new request for `subject`: both links, signed; `Closed` when none can be signed (the
/// plan then does not run: waiting is the safe side).
async fn ask(cx: &Context<'_>, subject: &Approvable, note: Option<String>) -> Gate {
    let issuer = match issuer(cx).await {
        Ok(issuer) => issuer,
        Err(reason) => {
            return Gate::Closed(format!(
                "{} waits for approval, but no approval can be asked: {reason}; nothing was done",
                subject.subject.what()
            ))
        }
    };
    let valid_for = cx
        .file
        .approvals
        .as_ref()
        .map(|p| p.valid_for)
        .unwrap_or_default();
    let expires_at = cx.now + valid_for;
    let nonce = nonce(subject, cx.now);
    let token = |decision| {
        let claim = ApprovalClaim {
            account: issuer.account().to_string(),
            region: issuer.region().to_string(),
            stack: subject.stack.to_string(),
            plan: subject.digest.clone(),
            decision,
            expires_at: expires_at.timestamp(),
            nonce: nonce.clone(),
            subject: subject.subject.clone(),
        };
        sign(&claim, issuer.key.bytes()).map(|token| link(cx.approval_url, &token))
    };
    match (token(Decision::Approve), token(Decision::Deny)) {
        (Some(approve), Some(deny)) => Gate::Wait {
            request: ApprovalRequest {
                remediation: subject.subject.what().to_string(),
                target: subject.target.clone(),
                alarm: subject.subject.alarm().map(str::to_string),
                expires_at: DateTime::from_timestamp(expires_at.timestamp(), 0)
                    .unwrap_or(expires_at),
                approve,
                deny,
            },
            note,
        },
        _ => Gate::Closed("the approval key is too short to sign with; nothing was done".into()),
    }
}

/// Unique per request (the stack, what waits, the plan and the clock to the nanosecond): what a
/// used approval is recorded as. The MAC, not the nonce, makes a token unforgeable.
fn nonce(subject: &Approvable, now: DateTime<Utc>) -> String {
    let digest = Sha3_256::digest(format!(
        "{}\n{:?}\n{}\n{}",
        subject.stack,
        subject.subject,
        subject.digest,
        now.timestamp_nanos_opt().unwrap_or_default()
    ));
    digest.iter().take(12).map(|b| format!("{b:02x}")).collect()
}
