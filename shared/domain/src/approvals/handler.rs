//! What the approval handler answers, behind its Lambda function URL. Opening a link (GET)
//! only shows what it decides and a button: chat tools open links to unfurl them, and that
//! must change nothing. Only the button's POST acts, and then only by handing the verified
//! token to the function that owns the remediation, which verifies it again and re-plans.
//! Pure: the key, the place and the clock are inputs; the caller invokes the function.

use super::{verify, ApprovalClaim, Decision, Presented, Refusal, Subject};
use crate::outputs::html::escape;

/// A request as the function URL delivers it: the method, the query string, and the body
/// (form-encoded, already base64-decoded).
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    pub method: &'a str,
    pub query: &'a str,
    pub body: &'a str,
}

/// The page to answer with, and the token to hand on when the person confirmed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub html: String,
    /// Set only for a confirmed (POSTed), verified token: (the token, the function to hand it to).
    pub dispatch: Option<(String, String)>,
}

/// The functions that own what approvals decide on, as deployed.
#[derive(Clone, Copy, Debug)]
pub struct Owners<'a> {
    /// Alarm remediations: instance-guard.
    pub alarms: &'a str,
    /// Security-group plans: security-group-guard, when the deployment lets it ask.
    pub security_groups: Option<&'a str>,
}

impl Owners<'_> {
    fn of(&self, subject: &Subject) -> Option<&str> {
        match subject {
            Subject::Alarm { .. } => Some(self.alarms),
            Subject::SecurityGroups => self.security_groups,
        }
    }
}

/// Headers of every answer: the page inlines its style and loads nothing; the token in the
/// URL must not leak through a `Referer`, a cache or a frame.
pub const HEADERS: [(&str, &str); 6] = [
    ("content-type", "text/html; charset=utf-8"),
    (
        "content-security-policy",
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
    ),
    ("referrer-policy", "no-referrer"),
    ("cache-control", "no-store"),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
];

/// The answer to `request`, given the stack's key, where the handler runs, and the functions
/// that own what approvals decide on.
pub fn answer(
    request: Request<'_>,
    key: &[u8],
    here: &Presented<'_>,
    owners: Owners<'_>,
) -> Answer {
    let (method, source) = match request.method.to_ascii_uppercase().as_str() {
        "GET" => ("GET", request.query),
        "POST" => ("POST", request.body),
        other => {
            return page(
                405,
                "Not allowed",
                &format!("{other} is not answered here: open the link, then confirm."),
            )
        }
    };
    let Some(token) = form_value(source, "token") else {
        return page(400, "No approval token", &Refusal::Malformed.to_string());
    };
    let claim = match verify(&token, key, here) {
        Ok(claim) => claim,
        Err(refusal) => return refused(&refusal),
    };
    let Some(function) = owners.of(&claim.subject) else {
        return page(
            409,
            "Not deployed",
            &format!(
                "{} approvals are not handed to any function in this deployment: nothing was done.",
                claim.subject.what()
            ),
        );
    };
    if method == "GET" {
        return confirmation(&claim, &token);
    }
    let (title, text) = match claim.decision {
        Decision::Approve => (
            "Approved",
            format!(
                "{} re-reads {} now and applies {} only if the plan is still the one you approved; the outcome is published to the stack's report topic. Nothing else acts on this link.",
                function,
                claim.stack,
                claim.subject.what()
            ),
        ),
        Decision::Deny => (
            "Denied",
            format!(
                "{} of stack {} will not run on this request; {} reports the denial to the stack's report topic.",
                claim.subject.what(),
                claim.stack,
                function
            ),
        ),
    };
    Answer {
        dispatch: Some((token, function.to_string())),
        ..page(202, title, &text)
    }
}

/// The value of `name` in a query string or form body, percent-decoded.
fn form_value(encoded: &str, name: &str) -> Option<String> {
    encoded.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == name).then(|| {
            percent_encoding::percent_decode_str(&value.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

fn refused(refusal: &Refusal) -> Answer {
    let status = match refusal {
        Refusal::Malformed => 400,
        Refusal::Forged | Refusal::ElsewhereIssued { .. } => 403,
        Refusal::Expired { .. } => 410,
    };
    page(status, "Refused", &format!("{refusal}."))
}

fn confirmation(claim: &ApprovalClaim, token: &str) -> Answer {
    let verb = match claim.decision {
        Decision::Approve => "Approve",
        Decision::Deny => "Deny",
    };
    let expires = chrono::DateTime::from_timestamp(claim.expires_at, 0)
        .map(|t| t.to_rfc3339())
        .unwrap_or_default();
    let on_alarm = match claim.subject.alarm() {
        Some(alarm) => format!(", planned on alarm <b>{}</b>", escape(alarm)),
        None => String::new(),
    };
    let body = format!(
        "<p>{verb} <b>{remediation}</b> on stack <b>{stack}</b> ({account}, {region}){on_alarm}.</p>\
         <p>The link is valid until {expires}. On approval the remediation is re-planned and applied only if the plan is unchanged.</p>\
         <form method=\"post\"><input type=\"hidden\" name=\"token\" value=\"{token}\"><button type=\"submit\">{verb} {remediation}</button></form>",
        remediation = escape(claim.subject.what()),
        stack = escape(&claim.stack),
        account = escape(&claim.account),
        region = escape(&claim.region),
        expires = escape(&expires),
        token = escape(token),
    );
    Answer {
        status: 200,
        html: document(&format!("{verb}?"), &body),
        dispatch: None,
    }
}

/// A page that only says something (a refusal, a failure), acting on nothing.
pub fn page(status: u16, title: &str, text: &str) -> Answer {
    Answer {
        status,
        html: document(title, &format!("<p>{}</p>", escape(text))),
        dispatch: None,
    }
}

fn document(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>chainlink-remediator: {title}</title><style>body{{font:16px system-ui,sans-serif;max-width:40em;margin:3em auto;padding:0 1em}}button{{font-size:1em;padding:.5em 1em}}</style></head>\
         <body><h1>{title}</h1>{body}</body></html>",
        title = escape(title)
    )
}

#[cfg(test)]
mod tests {
    use super::super::{plan_digest, sign};
    use super::*;
    use crate::ids::StackName;
    use crate::stack::{Remediation, StackSelector};
    use chrono::{DateTime, Duration, Utc};

    const KEY: &[u8] = b"the demo stack's approval key, 32+ bytes long";

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_796_000_000, 0).unwrap_or_default()
    }

    fn token(decision: Decision, key: &[u8]) -> String {
        let claim = ApprovalClaim {
            account: "123456789012".into(),
            region: "us-east-1".into(),
            stack: "demo".into(),
            plan: plan_digest(&["resize"]),
            decision,
            expires_at: (now() + Duration::hours(1)).timestamp(),
            nonce: "6f1c2a".into(),
            subject: super::super::Subject::Alarm {
                alarm: "demo-node-cpu".into(),
                changed_at: "2026-12-06T10:00:00.000+0000".into(),
                remediation: Remediation::Resize,
            },
        };
        sign(&claim, key).unwrap_or_default()
    }

    fn ask(method: &str, query: &str, body: &str, at: DateTime<Utc>) -> Answer {
        let stacks = StackSelector::Exact(StackName::new("demo"));
        let here = Presented {
            account: "123456789012",
            region: "us-east-1",
            stacks: &stacks,
            now: at,
        };
        let request = Request {
            method,
            query,
            body,
        };
        let owners = Owners {
            alarms: "instance-guard",
            security_groups: None,
        };
        answer(request, KEY, &here, owners)
    }

    #[test]
    fn opening_a_link_only_shows_a_confirmation_that_posts_the_token() {
        let token = token(Decision::Approve, KEY);
        let shown = ask("GET", &format!("token={token}"), "", now());
        assert_eq!(shown.status, 200);
        assert_eq!(shown.dispatch, None, "a GET never acts");
        assert!(
            shown.html.contains("<form method=\"post\">"),
            "{}",
            shown.html
        );
        assert!(shown.html.contains(&format!("value=\"{token}\"")));
        assert!(shown
            .html
            .contains("Approve <b>resize</b> on stack <b>demo</b>"));
    }

    #[test]
    fn only_a_confirmed_verified_token_is_handed_on() {
        for decision in [Decision::Approve, Decision::Deny] {
            let token = token(decision, KEY);
            let confirmed = ask("post", "", &format!("token={token}"), now());
            assert_eq!(confirmed.status, 202);
            assert_eq!(
                confirmed.dispatch,
                Some((token, "instance-guard".to_string()))
            );
        }
    }

    #[test]
    fn a_security_group_approval_goes_to_its_function_or_is_not_deployed() {
        let mut claim: ApprovalClaim = serde_json::from_slice(
            &base64::Engine::decode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                token(Decision::Approve, KEY)
                    .split('.')
                    .next()
                    .unwrap_or_default(),
            )
            .unwrap_or_default(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        claim.subject = Subject::SecurityGroups;
        let groups = sign(&claim, KEY).unwrap_or_default();
        assert_eq!(
            super::super::claimed_subject(&groups),
            Some(Subject::SecurityGroups)
        );
        let answer = ask("POST", "", &format!("token={groups}"), now());
        assert_eq!(
            (answer.status, answer.dispatch),
            (409, None),
            "{}",
            answer.html
        );
    }

    #[test]
    fn forged_expired_and_missing_tokens_are_refused_with_the_reason() {
        let forged = token(
            Decision::Approve,
            b"someone else's key, also 32+ bytes long",
        );
        let answer = ask("POST", "", &format!("token={forged}"), now());
        assert_eq!((answer.status, answer.dispatch), (403, None));
        assert!(
            answer.html.contains("signature does not match"),
            "{}",
            answer.html
        );

        let late = now() + Duration::hours(2);
        let good = token(Decision::Approve, KEY);
        let answer = ask("POST", "", &format!("token={good}"), late);
        assert_eq!((answer.status, answer.dispatch), (410, None));
        assert!(answer.html.contains("expired"), "{}", answer.html);

        let answer = ask("GET", "other=1", "", now());
        assert_eq!((answer.status, answer.dispatch), (400, None));
        let answer = ask("PUT", &format!("token={good}"), "", now());
        assert_eq!((answer.status, answer.dispatch), (405, None));
    }

    #[test]
    fn the_page_escapes_what_it_shows_and_forbids_referrers_and_frames() {
        assert_eq!(
            form_value("a=1&token=x%2Ey&b=2", "token").as_deref(),
            Some("x.y")
        );
        let answer = ask("GET", "token=<script>", "", now());
        assert!(!answer.html.contains("<script>"), "{}", answer.html);
        let headers: std::collections::BTreeMap<_, _> = HEADERS.into_iter().collect();
        assert_eq!(headers["referrer-policy"], "no-referrer");
        assert!(headers["content-security-policy"].contains("default-src 'none'"));
    }
}
