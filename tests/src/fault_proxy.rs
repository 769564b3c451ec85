//! A fault-injecting HTTP/1.1 proxy in front of the emulator: the errors, throttling and broken
//! connections that moto never produces, on chosen operations and attempts, while everything else
//! reaches moto unchanged. It fakes no AWS behaviour: a request is either forwarded or answered
//! with an error body in the protocol of the service it was meant for.
//!
//! The SDK reaches it through its endpoint URL (the tests' SDK configuration, or
//! `AWS_ENDPOINT_URL` for the `remediator` binary). Each connection carries one request and is
//! closed after the response (`Connection: close`), so a fault never leaks into a pooled
//! connection. Every request is logged: operation, target, attempt, and what was done with it.
//!
//! The SDK sends every call of these services with a `Content-Length` body (query protocol forms
//! for EC2 and Auto Scaling, JSON for SSM); a chunked request is refused loudly rather than
//! mis-forwarded.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What the proxy does to a request instead of forwarding it faithfully.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The service's throttling error: EC2 `RequestLimitExceeded` with HTTP 503 (as EC2 really
    /// answers), Auto Scaling `Throttling` with 400, SSM `ThrottlingException` with 400.
    Throttle,
    /// HTTP 500 with the protocol's internal-error body.
    InternalError,
    /// HTTP 503 with the protocol's `ServiceUnavailable` body.
    ServiceUnavailable,
    /// The request is forwarded (so it takes effect), but the response is held back this long,
    /// or until the client gives up and disconnects: a call that succeeded on the server but
    /// timed out on the client.
    Slow(Duration),
    /// The connection is closed without a response, before anything is forwarded: a request
    /// that never reached the service.
    Drop,
    /// AWS refuses the call with this error (status, code, message), in the protocol of the
    /// service: a refusal moto never gives, e.g. `InsufficientInstanceCapacity` on a start.
    Refuse {
        status: u16,
        code: &'static str,
        message: &'static str,
    },
}

impl Fault {
    /// The five kinds every fault-matrix row is run with; `Slow` holds for `hold`.
    pub fn kinds(hold: Duration) -> [Fault; 5] {
        [
            Fault::Throttle,
            Fault::InternalError,
            Fault::ServiceUnavailable,
            Fault::Slow(hold),
            Fault::Drop,
        ]
    }
}

/// Which requests of an operation a fault applies to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Schedule {
    /// The n-th requests of the operation seen by the proxy (1-based, retries included):
    /// `Requests(vec![1, 2])` fails the first two, whatever call they belong to.
    Requests(Vec<u32>),
    /// The first attempt of every call (the SDK numbers attempts in its `amz-sdk-request`
    /// header); retries go through.
    FirstAttempt,
    /// Every request of the operation.
    Always,
    /// Every attempt of the n-th calls of the operation (1-based; a call is counted at its
    /// first attempt): `Calls(vec![2])` makes the second call fail for good and lets the others
    /// through, a partial failure of a plan with several such calls.
    Calls(Vec<u32>),
}

/// What became of one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Handling {
    /// Forwarded to the emulator, which answered with this status.
    Forwarded { status: u16 },
    /// A scheduled fault (`Slow` is forwarded first; the status is the emulator's).
    Injected { fault: Fault, status: Option<u16> },
    /// Refused by a token bucket: the service's throttling error.
    RateLimited,
}

/// One request the proxy received.
#[derive(Clone, Debug)]
pub struct Exchange {
    /// `ec2`, `ssm`, `autoscaling`… (from the request's signing scope).
    pub service: String,
    /// `AuthorizeSecurityGroupIngress`, `PutParameter`…
    pub operation: String,
    /// The resource the call names, when it names one: `GroupId`, `InstanceId.1`, `VolumeId`,
    /// `AutoScalingGroupName`, or the JSON `Name`.
    pub target: Option<String>,
    /// 1-based count of this operation's requests so far, retries included.
    pub request: u32,
    /// The SDK's attempt number for this call (1 = first try).
    pub attempt: Option<u32>,
    pub handling: Handling,
    /// The token bucket the request drew from (or found empty), when rate limits are on.
    pub bucket: Option<(String, Bucket)>,
    /// The account the request acts in: the one whose role issued its access key (learnt from
    /// the `AssumeRole` answers the proxy relayed), or `None` for the caller's own.
    pub account: Option<String>,
    /// The signing scope's region.
    pub region: String,
}

impl Exchange {
    /// Whether the emulator received the request and accepted it (2xx).
    pub fn took_effect(&self) -> bool {
        match &self.handling {
            Handling::Forwarded { status } => (200..300).contains(status),
            Handling::Injected { status, .. } => status.is_some_and(|s| (200..300).contains(&s)),
            Handling::RateLimited => false,
        }
    }
}

/// A token bucket's size: at most `capacity` requests at once, then `refill_per_second`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bucket {
    pub capacity: f64,
    pub refill_per_second: f64,
}

impl Bucket {
    pub const fn new(capacity: f64, refill_per_second: f64) -> Bucket {
        Bucket {
            capacity,
            refill_per_second,
        }
    }
}

/// Whether every action has its own bucket, or a category shares one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BucketScope {
    /// As AWS applies them: "Limits are applied to individual API actions, not API action
    /// categories"; the category only sets the bucket's size.
    PerAction,
    /// Stricter: all actions of a category draw from one bucket (e.g. authorize and revoke
    /// share the 50-token bucket), as if other tooling used the rest of the account's limit.
    PerCategory,
}

/// EC2's request-rate throttling, documented in "Request throttling for the Amazon EC2 API"
/// (<https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html>, section "Request
/// token bucket sizes and refill rates"): a token bucket per API action, sized by category:
///
/// | category | actions | capacity | refill/s |
/// |---|---|---|---|
/// | non-mutating | `Describe*`, `List*`, `Search*`, `Get*` | 100 | 20 |
/// | unfiltered and unpaginated non-mutating | `DescribeInstances`, `DescribeSecurityGroups`, `DescribeVolumes`… without a filter or pagination | 50 | 10 |
/// | mutating | every other action | 50 | 5 |
/// | resource-intensive | `AuthorizeSecurityGroupIngress`, `RevokeSecurityGroupIngress`, `CreateKeyPair`… | 50 | 5 |
/// | uncategorized | their own sizes, e.g. `StartInstances` and `RunInstances` 5 / 2, `CreateTags` 100 / 10 | | |
///
/// Over the limit, EC2 answers `RequestLimitExceeded` (HTTP 503). Only EC2 requests are limited
/// here; the resource-token buckets of `RunInstances`/`StartInstances`/`StopInstances`/
/// `TerminateInstances` (per instance) are not modelled.
#[derive(Clone, Debug, PartialEq)]
pub struct RateLimits {
    pub scope: BucketScope,
    pub non_mutating: Bucket,
    pub unfiltered: Bucket,
    pub mutating: Bucket,
    pub resource_intensive: Bucket,
    /// Actions with a bucket size of their own.
    pub uncategorized: Vec<(&'static str, Bucket)>,
}

const UNFILTERED_WHEN_UNPAGINATED: &[&str] = &[
    "DescribeInstances",
    "DescribeInstanceStatus",
    "DescribeNetworkInterfaces",
    "DescribeSecurityGroups",
    "DescribeSnapshots",
    "DescribeSpotInstanceRequests",
    "DescribeVolumes",
];

const RESOURCE_INTENSIVE: &[&str] = &[
    "AcceptVpcPeeringConnection",
    "AuthorizeSecurityGroupIngress",
    "CancelSpotInstanceRequests",
    "CreateKeyPair",
    "CreateVpcPeeringConnection",
    "DeleteVpcPeeringConnection",
    "RejectVpcPeeringConnection",
    "RevokeSecurityGroupIngress",
    "RequestSpotInstances",
];

impl RateLimits {
    /// The documented sizes, one bucket per action.
    pub fn ec2() -> RateLimits {
        RateLimits {
            scope: BucketScope::PerAction,
            non_mutating: Bucket::new(100.0, 20.0),
            unfiltered: Bucket::new(50.0, 10.0),
            mutating: Bucket::new(50.0, 5.0),
            resource_intensive: Bucket::new(50.0, 5.0),
            uncategorized: vec![
                ("CreateLaunchTemplateVersion", Bucket::new(100.0, 5.0)),
                ("CreateSnapshot", Bucket::new(100.0, 5.0)),
                ("CreateTags", Bucket::new(100.0, 10.0)),
                ("CreateVolume", Bucket::new(100.0, 5.0)),
                ("DeleteTags", Bucket::new(100.0, 10.0)),
                ("ModifyLaunchTemplate", Bucket::new(100.0, 5.0)),
                ("RunInstances", Bucket::new(5.0, 2.0)),
                ("StartInstances", Bucket::new(5.0, 2.0)),
                ("TerminateInstances", Bucket::new(100.0, 5.0)),
            ],
        }
    }

    pub fn with_scope(mut self, scope: BucketScope) -> RateLimits {
        self.scope = scope;
        self
    }

    /// The same buckets refilled `factor` times faster: the shape of the real limits in a
    /// fraction of the time, for tests.
    pub fn refilled_faster(mut self, factor: f64) -> RateLimits {
        for bucket in [
            &mut self.non_mutating,
            &mut self.unfiltered,
            &mut self.mutating,
            &mut self.resource_intensive,
        ] {
            bucket.refill_per_second *= factor;
        }
        for (_, bucket) in &mut self.uncategorized {
            bucket.refill_per_second *= factor;
        }
        self
    }

    /// The bucket a request draws from: (key, size).
    fn bucket_for(&self, operation: &str, form: &[(String, String)]) -> (String, Bucket) {
        let (category, bucket) = if let Some((name, bucket)) = self
            .uncategorized
            .iter()
            .find(|(name, _)| *name == operation)
        {
            (*name, *bucket)
        } else if RESOURCE_INTENSIVE.contains(&operation) {
            ("resource-intensive", self.resource_intensive)
        } else if ["Describe", "List", "Search", "Get"]
            .iter()
            .any(|read| operation.starts_with(read))
        {
            let narrowed = form.iter().any(|(key, _)| {
                key.starts_with("Filter.") || key == "MaxResults" || key == "NextToken"
            });
            if UNFILTERED_WHEN_UNPAGINATED.contains(&operation) && !narrowed {
                ("unfiltered-non-mutating", self.unfiltered)
            } else {
                ("non-mutating", self.non_mutating)
            }
        } else {
            ("mutating", self.mutating)
        };
        let key = match self.scope {
            BucketScope::PerAction => operation.to_string(),
            BucketScope::PerCategory => category.to_string(),
        };
        (key, bucket)
    }
}

#[derive(Debug)]
struct Level {
    tokens: f64,
    at: Instant,
}

#[derive(Debug)]
struct FaultRule {
    operation: String,
    schedule: Schedule,
    fault: Fault,
    /// Only requests acting in this account (`None`: any).
    account: Option<String>,
}

/// Which member roles exist: moto lets anyone assume any role, even one that does not exist,
/// and ignores the external ID. With this set, the proxy answers `AssumeRole` as AWS would:
/// `AccessDenied` unless the role is `role_name` in one of `accounts` and the external ID is
/// the one its trust policy requires.
#[derive(Clone, Debug)]
pub struct MemberRoles {
    pub role_name: String,
    pub external_id: Option<String>,
    pub accounts: Vec<String>,
}

#[derive(Debug, Default)]
struct State {
    /// Counts resets, so a request still in flight from before one is not logged after it.
    epoch: u64,
    rules: Vec<FaultRule>,
    limits: Option<RateLimits>,
    levels: HashMap<String, Level>,
    counts: HashMap<String, u32>,
    /// The account of each access key an `AssumeRole` answer carried.
    keys: HashMap<String, String>,
    roles: Option<MemberRoles>,
    /// Calls (first attempts) per operation, for `Schedule::Calls`.
    calls: HashMap<String, u32>,
    log: Vec<Exchange>,
}

#[derive(Debug)]
struct Shared {
    upstream: SocketAddr,
    state: Mutex<State>,
    stopping: AtomicBool,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // A panicking connection thread must not take the whole proxy down with it.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The proxy, listening on a loopback port until dropped.
#[derive(Debug)]
pub struct FaultProxy {
    /// `http://127.0.0.1:<port>`: the endpoint URL to give the SDK.
    pub endpoint: String,
    address: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts a proxy forwarding to `upstream` (an `http://host:port` endpoint, e.g. moto's).
    pub fn start(upstream: &str) -> FaultProxy {
        let authority = upstream.trim_start_matches("http://").trim_end_matches('/');
        let upstream: SocketAddr = authority
            .parse()
            .unwrap_or_else(|e| panic!("fault proxy: upstream {authority:?}: {e}"));
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .unwrap_or_else(|e| panic!("fault proxy: cannot listen: {e}"));
        let address = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("fault proxy: {e}"));
        let shared = Arc::new(Shared {
            upstream,
            state: Mutex::new(State::default()),
            stopping: AtomicBool::new(false),
        });
        let accepting = Arc::clone(&shared);
        let acceptor = std::thread::spawn(move || {
            for client in listener.incoming() {
                if accepting.stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let serving = Arc::clone(&accepting);
                std::thread::spawn(move || serve(&serving, client));
            }
        });
        FaultProxy {
            endpoint: format!("http://{address}"),
            address,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// Fails `operation`'s requests chosen by `schedule` with `fault` (rules add up; the first
    /// matching one applies).
    pub fn fail(&self, operation: &str, schedule: Schedule, fault: Fault) -> &Self {
        self.shared.state().rules.push(FaultRule {
            operation: operation.to_string(),
            schedule,
            fault,
            account: None,
        });
        self
    }

    /// `fail`, only for requests acting in `account` (through its member role).
    pub fn fail_in(
        &self,
        account: &str,
        operation: &str,
        schedule: Schedule,
        fault: Fault,
    ) -> &Self {
        self.shared.state().rules.push(FaultRule {
            operation: operation.to_string(),
            schedule,
            fault,
            account: Some(account.to_string()),
        });
        self
    }

    /// Makes `AssumeRole` refuse what AWS would refuse (`MemberRoles`). Survives `reset`.
    pub fn member_roles(&self, roles: MemberRoles) -> &Self {
        self.shared.state().roles = Some(roles);
        self
    }

    /// Puts token buckets in front of EC2, starting full.
    pub fn limit(&self, limits: RateLimits) -> &Self {
        let mut state = self.shared.state();
        state.limits = Some(limits);
        state.levels.clear();
        self
    }

    /// Forgets every rule, bucket, count and logged request: a clean proxy for the next case.
    pub fn reset(&self) {
        let mut state = self.shared.state();
        let epoch = state.epoch + 1;
        let keys = std::mem::take(&mut state.keys);
        let roles = state.roles.take();
        *state = State {
            epoch,
            keys,
            roles,
            ..State::default()
        };
    }

    /// Every request so far, in arrival order.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.shared.state().log.clone()
    }

    /// The logged requests of one operation.
    pub fn exchanges_of(&self, operation: &str) -> Vec<Exchange> {
        self.exchanges()
            .into_iter()
            .filter(|e| e.operation == operation)
            .collect()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // Wake the acceptor so it sees the flag.
        let _ = TcpStream::connect(self.address);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// A request as read from the client.
#[derive(Debug)]
struct Request {
    head: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The signing scope's service: `Credential=AKID/20260101/us-east-1/ec2/aws4_request`.
    fn service(&self) -> String {
        self.header("authorization")
            .and_then(|auth| auth.split("Credential=").nth(1))
            .and_then(|credential| credential.split('/').nth(3))
            .unwrap_or("unknown")
            .to_string()
    }

    /// The signing scope's access key and region.
    fn credential(&self) -> (String, String) {
        let scope: Vec<&str> = self
            .header("authorization")
            .and_then(|auth| auth.split("Credential=").nth(1))
            .map(|credential| credential.split(['/', ',']).collect())
            .unwrap_or_default();
        (
            scope.first().copied().unwrap_or_default().to_string(),
            scope.get(2).copied().unwrap_or_default().to_string(),
        )
    }

    fn is_json(&self) -> bool {
        self.header("x-amz-target").is_some()
    }

    fn form(&self) -> Vec<(String, String)> {
        if self.is_json() {
            return Vec::new();
        }
        String::from_utf8_lossy(&self.body)
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .map(|(key, value)| (percent_decode(key), percent_decode(value)))
            .collect()
    }

    fn operation(&self, form: &[(String, String)]) -> String {
        if let Some(target) = self.header("x-amz-target") {
            return target.rsplit('.').next().unwrap_or(target).to_string();
        }
        form.iter()
            .find(|(key, _)| key == "Action")
            .map(|(_, value)| value.clone())
            .unwrap_or_default()
    }

    fn target(&self, form: &[(String, String)]) -> Option<String> {
        if self.is_json() {
            let body: serde_json::Value = serde_json::from_slice(&self.body).ok()?;
            return body.get("Name")?.as_str().map(String::from);
        }
        [
            "GroupId",
            "InstanceId.1",
            "InstanceId",
            "VolumeId",
            "AutoScalingGroupName",
            "LaunchTemplateId",
        ]
        .iter()
        .find_map(|name| form.iter().find(|(key, _)| key == name))
        .map(|(_, value)| value.clone())
    }

    /// `amz-sdk-request: attempt=2; max=4` → 2.
    fn attempt(&self) -> Option<u32> {
        self.header("amz-sdk-request")?
            .split(';')
            .find_map(|part| part.trim().strip_prefix("attempt="))?
            .parse()
            .ok()
    }

    /// The request as sent upstream: same head, one request per connection.
    fn to_upstream(&self) -> Vec<u8> {
        let mut out = format!("{}\r\n", self.head);
        for (key, value) in &self.headers {
            if !key.eq_ignore_ascii_case("connection") {
                out.push_str(&format!("{key}: {value}\r\n"));
            }
        }
        out.push_str("Connection: close\r\n\r\n");
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

/// A form value as AWS reads it (`+` is a space; `%+1` is not a byte).
fn percent_decode(text: &str) -> String {
    url::form_urlencoded::parse(format!("v={text}").as_bytes())
        .next()
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default()
}

fn read_request(client: &TcpStream) -> std::io::Result<Option<Request>> {
    let mut reader = BufReader::new(client);
    let mut head = String::new();
    if reader.read_line(&mut head)? == 0 {
        return Ok(None);
    }
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            break;
        }
        if let Some((key, value)) = line.split_once(':') {
            headers.push((key.trim().to_string(), value.trim().to_string()));
        }
    }
    let mut request = Request {
        head: head.trim_end_matches(['\r', '\n']).to_string(),
        headers,
        body: Vec::new(),
    };
    if request
        .header("transfer-encoding")
        .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"))
    {
        return Err(std::io::Error::other(
            "chunked request bodies are not supported by the fault proxy",
        ));
    }
    let length: usize = request
        .header("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    request.body = vec![0; length];
    reader.read_exact(&mut request.body)?;
    Ok(Some(request))
}

/// What to do with a request, decided (and counted) under the lock.
enum Decision {
    Forward,
    Inject(Fault),
    RateLimit,
    /// `AssumeRole` of a role that does not exist or whose trust refuses: AWS's answer.
    DenyRole(String),
}

/// Decides, and logs the request in arrival order (its handling is filled in once known).
fn decide(shared: &Shared, request: &Request) -> (Decision, (u64, usize), Exchange) {
    let form = request.form();
    let operation = request.operation(&form);
    let service = request.service();
    let attempt = request.attempt();
    let (key, region) = request.credential();
    let mut state = shared.state();
    let account = state.keys.get(&key).cloned();
    let denied = (operation == "AssumeRole")
        .then(|| state.roles.as_ref().and_then(|roles| denial(roles, &form)))
        .flatten();
    let count = state.counts.entry(operation.clone()).or_insert(0);
    *count += 1;
    let ordinal = *count;
    let call = state.calls.entry(operation.clone()).or_insert(0);
    if attempt.unwrap_or(1) == 1 {
        *call += 1;
    }
    let call = *call;
    let scheduled = state
        .rules
        .iter()
        .find(|rule| {
            rule.operation == operation
                && rule
                    .account
                    .as_ref()
                    .is_none_or(|a| Some(a) == account.as_ref())
                && match &rule.schedule {
                    Schedule::Requests(which) => which.contains(&ordinal),
                    Schedule::FirstAttempt => attempt.unwrap_or(1) == 1,
                    Schedule::Always => true,
                    Schedule::Calls(which) => which.contains(&call),
                }
        })
        .map(|rule| rule.fault.clone());
    let limited = (service == "ec2")
        .then(|| take_token(&mut state, &operation, &form))
        .flatten();
    let decision = match (scheduled, &limited) {
        _ if denied.is_some() => Decision::DenyRole(denied.unwrap_or_default()),
        (Some(fault), _) => Decision::Inject(fault),
        (None, Some((false, _))) => Decision::RateLimit,
        (None, _) => Decision::Forward,
    };
    let exchange = Exchange {
        service,
        operation: operation.clone(),
        target: request.target(&form),
        request: ordinal,
        attempt,
        handling: Handling::RateLimited,
        bucket: limited.map(|(_, bucket)| bucket),
        account,
        region,
    };
    state.log.push(exchange.clone());
    (decision, (state.epoch, state.log.len() - 1), exchange)
}

/// Takes a token from the request's bucket: whether there was one, and which bucket it was.
/// `None` without rate limits.
fn take_token(
    state: &mut State,
    operation: &str,
    form: &[(String, String)],
) -> Option<(bool, (String, Bucket))> {
    let limits = state.limits.as_ref()?;
    let (key, bucket) = limits.bucket_for(operation, form);
    let now = Instant::now();
    let level = state.levels.entry(key.clone()).or_insert(Level {
        tokens: bucket.capacity,
        at: now,
    });
    let refilled =
        level.tokens + now.duration_since(level.at).as_secs_f64() * bucket.refill_per_second;
    level.tokens = refilled.min(bucket.capacity);
    level.at = now;
    let granted = level.tokens >= 1.0;
    if granted {
        level.tokens -= 1.0;
    }
    Some((granted, (key, bucket)))
}

/// The least time the buckets allow for the requests that got through in `exchanges`: buckets
/// start full and refill in parallel, so it is the slowest bucket's
/// `(granted - capacity) / refill`.
pub fn minimum_duration(exchanges: &[Exchange]) -> Duration {
    let mut granted: HashMap<&str, (u32, Bucket)> = HashMap::new();
    for exchange in exchanges {
        if let (Some((key, bucket)), false) =
            (&exchange.bucket, exchange.handling == Handling::RateLimited)
        {
            granted.entry(key).or_insert((0, *bucket)).0 += 1;
        }
    }
    let seconds = granted
        .values()
        .map(|(count, bucket)| {
            (f64::from(*count) - bucket.capacity).max(0.0) / bucket.refill_per_second
        })
        .fold(0.0, f64::max);
    Duration::from_secs_f64(seconds)
}

fn serve(shared: &Shared, mut client: TcpStream) {
    let request = match read_request(&client) {
        Ok(Some(request)) => request,
        Ok(None) => return,
        Err(error) => {
            let body = format!("fault proxy: {error}");
            let _ = client.write_all(&response(501, "text/plain", &body));
            return;
        }
    };
    let (decision, (epoch, index), mut exchange) = decide(shared, &request);
    let protocol = Protocol::of(&request, &exchange.service);
    let reply: Option<Vec<u8>> = match &decision {
        Decision::RateLimit => Some(error_response(protocol, &Fault::Throttle)),
        Decision::DenyRole(message) => {
            exchange.handling = Handling::Forwarded { status: 403 };
            Some(query_error(403, "AccessDenied", message))
        }
        Decision::Inject(Fault::Drop) => {
            exchange.handling = Handling::Injected {
                fault: Fault::Drop,
                status: None,
            };
            None
        }
        Decision::Inject(Fault::Slow(hold)) => {
            let forwarded = forward(shared.upstream, &request);
            exchange.handling = Handling::Injected {
                fault: Fault::Slow(*hold),
                status: forwarded.as_ref().ok().map(|bytes| status_of(bytes)),
            };
            wait_for_disconnect(&client, *hold);
            forwarded.ok()
        }
        Decision::Inject(fault) => {
            exchange.handling = Handling::Injected {
                fault: fault.clone(),
                status: None,
            };
            Some(error_response(protocol, fault))
        }
        Decision::Forward => match forward(shared.upstream, &request) {
            Ok(bytes) => {
                exchange.handling = Handling::Forwarded {
                    status: status_of(&bytes),
                };
                if exchange.operation == "AssumeRole" {
                    learn_key(shared, &request, &bytes);
                }
                Some(bytes)
            }
            Err(error) => {
                exchange.handling = Handling::Forwarded { status: 502 };
                let body = format!("fault proxy: upstream: {error}");
                Some(response(502, "text/plain", &body))
            }
        },
    };
    let mut state = shared.state();
    if state.epoch == epoch {
        if let Some(logged) = state.log.get_mut(index) {
            *logged = exchange;
        }
    }
    drop(state);
    if let Some(bytes) = reply {
        let _ = client.write_all(&bytes);
        let _ = client.flush();
    }
    let _ = client.shutdown(Shutdown::Both);
}

/// Why AWS would refuse this `AssumeRole`, if it would.
fn denial(roles: &MemberRoles, form: &[(String, String)]) -> Option<String> {
    let value = |name: &str| {
        form.iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    let arn = value("RoleArn").unwrap_or_default();
    // arn:aws:iam::<account>:role/<name>
    let mut parts = arn.splitn(6, ':');
    let account = parts.nth(4).unwrap_or_default();
    let name = parts
        .next()
        .and_then(|r| r.strip_prefix("role/"))
        .unwrap_or_default();
    let exists = name == roles.role_name && roles.accounts.iter().any(|a| a == account);
    let trusted = roles.external_id.as_deref() == value("ExternalId");
    (!(exists && trusted)).then(|| {
        format!("User: arn:aws:iam::123456789012:user/testing is not authorized to perform: sts:AssumeRole on resource: {arn}")
    })
}

/// Remembers which account the access key of a relayed `AssumeRole` answer acts in.
fn learn_key(shared: &Shared, request: &Request, response: &[u8]) {
    let form = request.form();
    let Some(account) = form
        .iter()
        .find(|(key, _)| key == "RoleArn")
        .and_then(|(_, arn)| arn.split(':').nth(4))
    else {
        return;
    };
    let body = String::from_utf8_lossy(response);
    let Some(key) = body
        .split("<AccessKeyId>")
        .nth(1)
        .and_then(|rest| rest.split("</AccessKeyId>").next())
    else {
        return;
    };
    shared
        .state()
        .keys
        .insert(key.trim().to_string(), account.to_string());
}

fn query_error(status: u16, code: &str, message: &str) -> Vec<u8> {
    let kind = if status >= 500 { "Receiver" } else { "Sender" };
    response(
        status,
        "text/xml",
        &format!(
            "<ErrorResponse><Error><Type>{kind}</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>00000000-0000-4000-8000-fa0170000000</RequestId></ErrorResponse>"
        ),
    )
}

/// Sends the request to the emulator and reads its whole response (it closes the connection).
fn forward(upstream: SocketAddr, request: &Request) -> std::io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(upstream)?;
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    stream.write_all(&request.to_upstream())?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    Ok(closing(response))
}

/// The response with `Connection: close`, whatever the emulator said: the client must not pool
/// a connection the proxy is about to close.
fn closing(response: Vec<u8>) -> Vec<u8> {
    let Some(end) = response.windows(4).position(|w| w == b"\r\n\r\n") else {
        return response;
    };
    let head = String::from_utf8_lossy(&response[..end]);
    let mut out: String = head
        .split("\r\n")
        .filter(|line| {
            !line
                .split(':')
                .next()
                .is_some_and(|name| name.trim().eq_ignore_ascii_case("connection"))
        })
        .map(|line| format!("{line}\r\n"))
        .collect();
    out.push_str("Connection: close\r\n\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&response[end + 4..]);
    bytes
}

/// Waits `hold`, or less if the client hangs up first (its attempt timed out).
fn wait_for_disconnect(client: &TcpStream, hold: Duration) {
    let deadline = Instant::now() + hold;
    let _ = client.set_read_timeout(Some(Duration::from_millis(20)));
    let mut probe = [0u8; 1];
    let mut reader = client;
    while Instant::now() < deadline {
        match reader.read(&mut probe) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return,
        }
    }
}

fn status_of(response: &[u8]) -> u16 {
    // "HTTP/1.1 200 OK"
    String::from_utf8_lossy(&response[..response.len().min(32)])
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

/// The error format a service expects.
#[derive(Clone, Copy, Debug)]
enum Protocol {
    /// EC2's own query protocol: `<Response><Errors><Error>…`.
    Ec2Query,
    /// The AWS query protocol (Auto Scaling, …): `<ErrorResponse><Error>…`.
    AwsQuery,
    /// AWS JSON 1.1 (SSM): `{"__type": …}`.
    AwsJson,
}

impl Protocol {
    fn of(request: &Request, service: &str) -> Protocol {
        if request.is_json() {
            Protocol::AwsJson
        } else if service == "ec2" {
            Protocol::Ec2Query
        } else {
            Protocol::AwsQuery
        }
    }
}

fn error_response(protocol: Protocol, fault: &Fault) -> Vec<u8> {
    let (status, code, message) = match (protocol, fault) {
        (
            _,
            Fault::Refuse {
                status,
                code,
                message,
            },
        ) => (*status, *code, *message),
        (Protocol::Ec2Query, Fault::Throttle) => {
            (503, "RequestLimitExceeded", "Request limit exceeded.")
        }
        (Protocol::AwsQuery, Fault::Throttle) => (400, "Throttling", "Rate exceeded"),
        (Protocol::AwsJson, Fault::Throttle) => (400, "ThrottlingException", "Rate exceeded"),
        (Protocol::AwsJson, Fault::InternalError) => (
            500,
            "InternalServerError",
            "An error occurred on the server side.",
        ),
        (_, Fault::InternalError) => (500, "InternalError", "An internal error has occurred."),
        (_, _) => (
            503,
            "ServiceUnavailable",
            "The request has failed due to a temporary failure of the server.",
        ),
    };
    let request_id = "00000000-0000-4000-8000-fa0170000000";
    match protocol {
        Protocol::Ec2Query => response(
            status,
            "text/xml;charset=UTF-8",
            &format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>"
            ),
        ),
        Protocol::AwsQuery => {
            let kind = if status >= 500 { "Receiver" } else { "Sender" };
            response(
                status,
                "text/xml",
                &format!(
                    "<ErrorResponse><Error><Type>{kind}</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
                ),
            )
        }
        Protocol::AwsJson => response(
            status,
            "application/x-amz-json-1.1",
            &format!("{{\"__type\":\"{code}\",\"message\":\"{message}\"}}"),
        ),
    }
}

fn response(status: u16, content_type: &str, body: &str) -> Vec<u8> {
    let reason = match status {
        400 => "Bad Request",
        403 => "Forbidden",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        _ => "Service Unavailable",
    };
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nx-amzn-RequestId: 00000000-0000-4000-8000-fa0170000000\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_values_are_percent_decoded() {
        assert_eq!(
            percent_decode("IpPermissions.1.IpRanges.1.CidrIp=0.0.0.0%2F0"),
            "IpPermissions.1.IpRanges.1.CidrIp=0.0.0.0/0"
        );
        assert_eq!(percent_decode("a+b%3Ac%"), "a b:c%");
        // A sign is not a hex digit: "%+1" is a percent and a space, not the byte 0x01.
        assert_eq!(percent_decode("%+1"), "% 1");
    }

    #[test]
    fn buckets_follow_the_documented_categories() {
        let limits = RateLimits::ec2();
        let filtered = [("Filter.1.Name".to_string(), "group-id".to_string())];
        let cases = [
            ("AuthorizeSecurityGroupIngress", &[][..], 50.0, 5.0),
            ("ModifyInstanceAttribute", &[][..], 50.0, 5.0),
            ("DescribeSecurityGroups", &filtered[..], 100.0, 20.0),
            ("DescribeSecurityGroups", &[][..], 50.0, 10.0),
            ("StartInstances", &[][..], 5.0, 2.0),
        ];
        for (operation, form, capacity, refill) in cases {
            let (key, bucket) = limits.bucket_for(operation, form);
            assert_eq!(key, operation);
            assert_eq!(bucket, Bucket::new(capacity, refill), "{operation}");
        }
        let shared = limits.with_scope(BucketScope::PerCategory);
        assert_eq!(
            shared.bucket_for("RevokeSecurityGroupIngress", &[]).0,
            shared.bucket_for("AuthorizeSecurityGroupIngress", &[]).0
        );
    }
}
