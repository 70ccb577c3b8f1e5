//! EC2 Query API input: a short session of requests through the API's router (the
//! public entry point that `serve --api` mounts), on a fresh copy of one world per input,
//! so that a request can meet the state an earlier one left (a tag stored by one call is
//! written out by the next Describe).
//!
//! Input format: one request per line (at most [`MAX_REQUESTS`]), each
//! `[@ACCESS_KEY ]QUERY[ BODY]`: an optional access key (sent as a SigV4
//! `Authorization` header), the URI's query string, then after the first space the
//! form body (sent with POST; a request without a body is a GET). Bytes that a URI
//! cannot carry are percent-encoded first, as a client would send them.
//!
//! Properties, for every answer:
//! - nothing panics (in parsing, the action, or rebuilding DNS and policy after a
//!   change, which `serve` does in the same place);
//! - the body is one well-formed XML 1.0 document in UTF-8 (no character XML forbids)
//!   with `Content-Type: text/xml`;
//! - a success (200) is `<{Action}Response xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">`
//!   whose first child is `requestId`;
//! - anything else is a 4xx/5xx EC2 error document,
//!   `<Response><Errors><Error><Code>C</Code><Message>M</Message></Error></Errors><RequestID>`,
//!   with a non-empty code made of letters, digits and dots.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, Uri, header};
use tower::ServiceExt;
use vpcesim::api::{ApiState, router};
use vpcesim::control::ControlPlane;
use vpcesim::dns::DnsSnapshot;
use vpcesim::policy::PolicySnapshot;

use crate::xml::{self, Element};

/// Requests per input.
pub const MAX_REQUESTS: usize = 8;

/// Simulated time between two requests of a session: long enough for a created
/// endpoint to become available before the next call.
const STEP: Duration = Duration::from_secs(600);

/// The world every session starts from, and the runtime that drives the router.
pub struct World {
    template: ControlPlane,
    runtime: tokio::runtime::Runtime,
}

impl World {
    /// The topology of the AWS guide that the API's end-to-end tests use: two accounts
    /// with access keys, a consumer VPC with subnets and a security group, a provider's
    /// service that needs acceptance.
    pub fn load() -> Self {
        let path = crate::repo_root().join("tests/e2e/fixtures/guide.toml");
        let scenario = vpcesim::scenario::load_file(&path)
            .unwrap_or_else(|e| panic!("the API fuzz world does not load: {e}"));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        Self {
            template: scenario.control,
            runtime,
        }
    }

    /// The state every session starts from.
    pub fn control(&self) -> &ControlPlane {
        &self.template
    }
}

/// One request of a session.
#[derive(Clone, PartialEq, Eq)]
pub struct Call {
    /// The access key of its `Authorization` header.
    pub access_key: Option<String>,
    /// The query string (already a valid URI query).
    pub query: String,
    /// The form body.
    pub body: Vec<u8>,
}

impl std::fmt::Debug for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(key) = &self.access_key {
            write!(f, "@{key} ")?;
        }
        write!(
            f,
            "{} {:?}",
            self.query,
            String::from_utf8_lossy(&self.body)
        )
    }
}

/// Splits an input into its requests.
pub fn calls(input: &[u8]) -> Vec<Call> {
    input
        .split(|&b| b == b'\n')
        .filter(|line| !line.is_empty())
        .take(MAX_REQUESTS)
        .map(|line| {
            let (access_key, line) = match line.strip_prefix(b"@") {
                Some(rest) => {
                    let end = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
                    let key = String::from_utf8_lossy(&rest[..end]).into_owned();
                    (Some(key), rest.get(end + 1..).unwrap_or_default())
                }
                None => (None, line),
            };
            let (query, body) = match line.iter().position(|&b| b == b' ') {
                Some(at) => (&line[..at], line[at + 1..].to_vec()),
                None => (line, Vec::new()),
            };
            Call {
                access_key,
                query: uri_query(query),
                body,
            }
        })
        .collect()
}

/// `query` as a URI can carry it: unchanged when it is valid, else with every byte
/// outside the URI's unreserved and sub-delimiter characters percent-encoded.
fn uri_query(query: &[u8]) -> String {
    if let Ok(text) = std::str::from_utf8(query)
        && format!("/?{text}").parse::<Uri>().is_ok()
    {
        return text.to_string();
    }
    let mut out = String::with_capacity(query.len() * 3);
    for &b in query {
        if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if format!("/?{out}").parse::<Uri>().is_err() {
        // A stray `%` that does not start an escape: encode those too.
        out = out.replace('%', "%25");
    }
    out
}

/// One answer: its status, `Content-Type` and body.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The HTTP status.
    pub status: StatusCode,
    /// The `Content-Type` header, when there is one.
    pub content_type: Option<String>,
    /// The body.
    pub body: Vec<u8>,
}

/// Runs the session in `input` on a fresh copy of the world; returns the calls and
/// their answers.
pub fn run(world: &World, input: &[u8]) -> Vec<(Call, Answer)> {
    let calls = calls(input);
    if calls.is_empty() {
        return Vec::new();
    }
    let control = world.template.clone();
    let start = control.now();
    let ticks = Arc::new(AtomicU64::new(0));
    let clock_ticks = ticks.clone();
    let state = ApiState {
        control: Arc::new(parking_lot::Mutex::new(control)),
        clock: Arc::new(move || {
            start + STEP.saturating_mul(clock_ticks.load(Ordering::Relaxed) as u32)
        }),
        on_change: Arc::new(|control: &ControlPlane| {
            // What `serve` rebuilds after every change: it must not panic either.
            let _ = DnsSnapshot::compile(control);
            let _ = PolicySnapshot::compile(control.topology());
        }),
    };
    let app = router(state, vpcesim::api::Limits::default());
    calls
        .into_iter()
        .enumerate()
        .map(|(n, call)| {
            ticks.store(n as u64, Ordering::Relaxed);
            let answer = world.runtime.block_on(send(&app, &call));
            (call, answer)
        })
        .collect()
}

/// Runs the session in `input` and checks every answer.
pub fn check(world: &World, input: &[u8]) {
    let session = run(world, input);
    for (n, (call, answer)) in session.iter().enumerate() {
        if let Err(problem) =
            check_answer(answer.status, answer.content_type.as_deref(), &answer.body)
        {
            panic!(
                "request {n} ({call:?}): {problem}\nstatus {}, body {:?}\nsession: {:?}",
                answer.status,
                String::from_utf8_lossy(&answer.body),
                session.iter().map(|(c, _)| c).collect::<Vec<_>>()
            );
        }
    }
}

async fn send(app: &axum::Router, call: &Call) -> Answer {
    let uri = format!("/?{}", call.query);
    let method = if call.body.is_empty() { "GET" } else { "POST" };
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::HOST, "127.0.0.1")
        .header(
            header::CONTENT_TYPE,
            "application/x-www-form-urlencoded; charset=utf-8",
        );
    if let Some(key) = &call.access_key
        && let Ok(value) = header::HeaderValue::from_str(&format!(
            "AWS4-HMAC-SHA256 Credential={key}/20260101/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=00"
        ))
    {
        request = request.header(header::AUTHORIZATION, value);
    }
    let request = request
        .body(Body::from(call.body.clone()))
        .expect("a request from a valid URI and headers");
    let response = app
        .clone()
        .oneshot(request)
        .await
        .expect("the router is infallible");
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("an in-memory body");
    Answer {
        status,
        content_type,
        body: body.to_vec(),
    }
}

/// Checks one answer; says what is wrong.
pub fn check_answer(
    status: StatusCode,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<(), String> {
    if !content_type.is_some_and(|t| t.starts_with("text/xml")) {
        return Err(format!("Content-Type {content_type:?}, not text/xml"));
    }
    let root = xml::parse(body).map_err(|e| format!("malformed XML: {e}"))?;
    if status == StatusCode::OK {
        success_shape(&root)
    } else if status.is_client_error() || status.is_server_error() {
        error_shape(&root)
    } else {
        Err(format!("status {status} is neither a success nor an error"))
    }
}

fn success_shape(root: &Element) -> Result<(), String> {
    let action = root
        .name
        .strip_suffix("Response")
        .filter(|a| !a.is_empty() && a.chars().all(|c| c.is_ascii_alphanumeric()))
        .ok_or_else(|| format!("success root <{}> is not <ActionResponse>", root.name))?;
    if root.attribute("xmlns") != Some(vpcesim::api::protocol::XMLNS) {
        return Err(format!("<{action}Response> without EC2's xmlns"));
    }
    match root.children.first() {
        Some(first) if first.name == "requestId" && !first.text.is_empty() => Ok(()),
        _ => Err("a success whose first element is not requestId".into()),
    }
}

fn error_shape(root: &Element) -> Result<(), String> {
    if root.name != "Response" {
        return Err(format!("error root <{}>, not <Response>", root.name));
    }
    let error = root
        .child("Errors")
        .and_then(|e| e.child("Error"))
        .ok_or("an error without <Errors><Error>")?;
    let code = &error.child("Code").ok_or("<Error> without <Code>")?.text;
    if code.is_empty() || !code.chars().all(|c| c.is_ascii_alphanumeric() || c == '.') {
        return Err(format!("error code {code:?} is not an EC2 code"));
    }
    error.child("Message").ok_or("<Error> without <Message>")?;
    match root.child("RequestID") {
        Some(id) if !id.text.is_empty() => Ok(()),
        _ => Err("an error without <RequestID>".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_split_into_calls() {
        let c = calls(b"@AKIA1 Action=DescribeVpcs Version=2016-11-15\nAction=X\n\nq%zz\xff");
        assert_eq!(c.len(), 3);
        assert_eq!(c[0].access_key.as_deref(), Some("AKIA1"));
        assert_eq!(c[0].query, "Action=DescribeVpcs");
        assert_eq!(c[0].body, b"Version=2016-11-15");
        assert_eq!(c[1].body, b"");
        assert!(format!("/?{}", c[2].query).parse::<Uri>().is_ok());
    }

    #[test]
    fn answers_are_judged_by_their_shape() {
        let ok = format!(
            "<?xml version=\"1.0\"?><DescribeVpcsResponse xmlns=\"{}\"><requestId>r</requestId></DescribeVpcsResponse>",
            vpcesim::api::protocol::XMLNS
        );
        assert!(check_answer(StatusCode::OK, Some("text/xml"), ok.as_bytes()).is_ok());
        let err = b"<Response><Errors><Error><Code>InvalidAction</Code><Message>m</Message></Error></Errors><RequestID>r</RequestID></Response>";
        assert!(check_answer(StatusCode::BAD_REQUEST, Some("text/xml"), err).is_ok());
        assert!(check_answer(StatusCode::OK, Some("text/xml"), err).is_err());
        assert!(check_answer(StatusCode::PAYLOAD_TOO_LARGE, Some("text/plain"), b"").is_err());
        let no_code = b"<Response><Errors><Error><Message>m</Message></Error></Errors><RequestID>r</RequestID></Response>";
        assert!(check_answer(StatusCode::BAD_REQUEST, Some("text/xml"), no_code).is_err());
    }
}
