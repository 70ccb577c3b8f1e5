//! The HTTP adapter: one handler for every path and method, as EC2 has, and the
//! connection loop that bounds what clients can hold.
//!
//! A request is read (bounded in size and time), parsed and checked (`Action`,
//! `Version`, the parameters' shape) before the control-plane lock is taken; under the
//! lock only the call itself runs. A `DryRun` call runs the same validation with
//! commits turned off ([`ControlPlane::without_commit`]). A panic while answering is
//! caught and answered as `InternalError`; the lock is a `parking_lot` mutex, which a
//! panic does not poison, so the next request is served as usual.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::ApiState;
use super::actions::{self, Call};
use super::protocol::{self, Params, VERSION};
use crate::control::{ApiError, ControlPlane, ErrorCode};

/// What one client may hold of the API server; each is a `serve` flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// A request's headers must arrive within this, counted from the moment the server
    /// waits for them: on a new connection, or on a kept-alive one after its last
    /// answer. A half-open or idle connection is closed when it runs out.
    pub header_timeout: Duration,
    /// A request's body must arrive within this once its headers have (`RequestTimeout`).
    pub body_timeout: Duration,
    /// The largest request body (`RequestEntityTooLarge`, HTTP 413).
    pub max_body: usize,
    /// Connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            max_body: 2 << 20,
            max_connections: 256,
        }
    }
}

struct Shared {
    state: ApiState,
    limits: Limits,
    requests: AtomicU64,
}

/// The EC2 Query API over `state`: mount it on any listener (see [`serve`]).
pub fn router(state: ApiState, limits: Limits) -> Router {
    let shared = Arc::new(Shared {
        state,
        limits,
        requests: AtomicU64::new(0),
    });
    Router::new().fallback(handle).with_state(shared)
}

/// Serves `router` on `listener` with the header timeout and connection bound of
/// `limits`, until the task is dropped. Accept errors (`EMFILE` among them) back off
/// for 100 ms instead of spinning.
pub async fn serve(listener: TcpListener, router: Router, limits: Limits) {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!("the API cannot accept a connection: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let service = TowerToHyperService::new(router.clone());
        tokio::spawn(async move {
            let _permit = permit;
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout);
            if let Err(e) = builder
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!("API connection ended: {e}");
            }
        });
    }
}

/// A request ID with the shape of EC2's (a UUID), unique per server.
fn request_id(n: u64) -> String {
    let hex = format!("{:032x}", u128::from(n) | (0x7c5e_u128 << 112));
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// The access key ID of a SigV4 request: `Credential=AKID/date/region/service/...`.
fn access_key(headers: &HeaderMap, params: &Params) -> Option<String> {
    let from_header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|auth| auth.split("Credential=").nth(1))
        .and_then(|rest| rest.split('/').next())
        .map(str::to_string);
    from_header.or_else(|| {
        params
            .get("X-Amz-Credential")
            .and_then(|c| c.split('/').next())
            .map(str::to_string)
    })
}

/// The account (name) a request acts as.
fn caller(control: &ControlPlane, key: Option<&str>) -> Result<String, ApiError> {
    let accounts = &control.topology().accounts;
    let first =
        accounts.keys().next().cloned().ok_or_else(|| {
            ApiError::new(ErrorCode::InternalError, "The topology has no account")
        })?;
    let any_keys = accounts.values().any(|a| !a.access_keys.is_empty());
    let Some(key) = key.filter(|_| any_keys) else {
        return Ok(first);
    };
    accounts
        .values()
        .find(|a| a.access_keys.iter().any(|k| k == key))
        .map(|a| a.name.clone())
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::AuthFailure,
                format!("AWS was not able to validate the provided access credentials: no account has the access key {key}"),
            )
        })
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let id = request_id(shared.requests.fetch_add(1, Ordering::Relaxed));
    let (parts, body) = request.into_parts();
    let body = match read_body(&parts.headers, body, &shared.limits).await {
        Ok(body) => body,
        Err(error) => return error_response(&error, &id),
    };
    let query = parts.uri.query().unwrap_or("");
    let answered = std::panic::catch_unwind(AssertUnwindSafe(|| {
        answer(&shared.state, query, &parts.headers, &body)
    }));
    match answered {
        Ok(Ok((action, body))) => xml(StatusCode::OK, protocol::response(&action, &id, body)),
        Ok(Err(error)) => error_response(&error, &id),
        Err(_) => {
            tracing::error!(request = %id, "a panic while answering an API request");
            error_response(
                &ApiError::new(
                    ErrorCode::InternalError,
                    "vpcesim failed while answering this request; the control plane is unchanged by it where the call had not committed",
                ),
                &id,
            )
        }
    }
}

/// The body, within the size and time limits.
async fn read_body(headers: &HeaderMap, body: Body, limits: &Limits) -> Result<Bytes, ApiError> {
    let too_large = |size: Option<u64>| {
        let size = size.map_or_else(|| "larger".to_string(), |n| format!("{n} bytes"));
        ApiError::new(
            ErrorCode::RequestEntityTooLarge,
            format!(
                "The request body is {size}; the limit is {} bytes",
                limits.max_body
            ),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_body as u64) {
        return Err(too_large(declared));
    }
    match tokio::time::timeout(
        limits.body_timeout,
        axum::body::to_bytes(body, limits.max_body),
    )
    .await
    {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(e)) => {
            let over = e
                .into_inner()
                .downcast::<http_body_util::LengthLimitError>()
                .is_ok();
            Err(if over {
                too_large(None)
            } else {
                ApiError::new(
                    ErrorCode::InvalidQueryParameter,
                    "The request body could not be read",
                )
            })
        }
        Err(_) => Err(ApiError::new(
            ErrorCode::RequestTimeout,
            format!(
                "The request body did not arrive within {} s",
                limits.body_timeout.as_secs_f64()
            ),
        )),
    }
}

/// Parses and checks the request outside the lock, then runs the call under it.
/// Returns the action's name and the response body.
fn answer(
    state: &ApiState,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(String, protocol::Xml), ApiError> {
    let params = Params::parse(query, body)?;
    let action = params
        .get("Action")
        .filter(|a| !a.is_empty())
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::MissingAction,
                "The request must contain the parameter Action",
            )
        })?;
    check_version(params.get("Version"))?;
    let handler = actions::find(action).ok_or_else(|| {
        ApiError::new(
            ErrorCode::InvalidAction,
            format!("The action {action} is not valid for this web service."),
        )
    })?;
    let dry_run = params.bool("DryRun")?.unwrap_or(false);
    let key = access_key(headers, &params);
    let now = (state.clock)();

    let mut control = state.control.lock();
    let caller = caller(&control, key.as_deref())?;
    let before = control.generation();
    control.advance(now);
    // Changes made by this call alone, not the lifecycle transitions `advance` just ran.
    let due = control.generation();
    let result = if dry_run {
        control.without_commit(|control| {
            handler(&mut Call {
                control,
                caller: &caller,
                now,
                params: &params,
            })
        })
    } else {
        handler(&mut Call {
            control: &mut control,
            caller: &caller,
            now,
            params: &params,
        })
    };
    if control.generation() != due && !dry_run {
        // One line per change at the default level: what, who, on which resources.
        let response = result.as_ref().map_or(&[][..], protocol::Xml::as_bytes);
        let ids = resource_ids(params.values().chain([&*String::from_utf8_lossy(response)]));
        tracing::info!(
            action,
            account = %format!("{caller} ({})", actions::account_id(&control, &caller)),
            resources = %ids.join(" "),
            "API change"
        );
    }
    if control.generation() != before {
        (state.on_change)(&control);
    }
    drop(control);

    match result {
        Ok(_) if dry_run => Err(dry_run_succeeded()),
        Ok(body) => Ok((action.to_string(), body)),
        Err(error) => Err(error),
    }
}

fn dry_run_succeeded() -> ApiError {
    ApiError::new(
        ErrorCode::DryRunOperation,
        "Request would have succeeded, but DryRun flag is set.",
    )
}

/// `Version` must be the one vpcesim speaks: `MissingParameter` without it,
/// `NoSuchVersion` for another, as EC2 answers.
fn check_version(version: Option<&str>) -> Result<(), ApiError> {
    match version {
        Some(VERSION) => Ok(()),
        None | Some("") => Err(ApiError::new(
            ErrorCode::MissingParameter,
            "The request must contain the parameter Version",
        )),
        Some(other) => Err(ApiError::new(
            ErrorCode::NoSuchVersion,
            format!(
                "The requested version ({}) of service AmazonEC2 does not exist",
                protocol::printable(other)
            ),
        )),
    }
}

fn error_response(error: &ApiError, id: &str) -> Response {
    let status = StatusCode::from_u16(error.code.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
    tracing::debug!(code = error.code.as_str(), message = %error.message, "API error");
    xml(status, protocol::error_document(error, id))
}

/// The AWS resource IDs (`vpce-...`, `subnet-...`, ...) in `texts`, each once, in order of
/// appearance: the request's parameters and the response's body.
fn resource_ids<'a>(texts: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    const PREFIXES: [&str; 7] = [
        "vpce-svc-",
        "vpce-nfn-",
        "vpce-",
        "vpc-",
        "subnet-",
        "sg-",
        "eni-",
    ];
    let mut ids: Vec<String> = Vec::new();
    for text in texts {
        let tokens = text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'));
        for token in tokens {
            let is_id = PREFIXES.iter().any(|prefix| {
                token.strip_prefix(prefix).is_some_and(|rest| {
                    (8..=17).contains(&rest.len()) && rest.bytes().all(|b| b.is_ascii_hexdigit())
                })
            });
            if is_id && !ids.iter().any(|id| id == token) {
                ids.push(token.to_string());
            }
        }
    }
    ids
}

fn xml(status: StatusCode, body: Vec<u8>) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/xml;charset=UTF-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::testkit::two_accounts;

    #[test]
    fn request_ids_are_uuid_shaped_and_distinct() {
        let a = request_id(0);
        let b = request_id(1);
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(a.matches('-').count(), 4);
    }

    #[test]
    fn resource_ids_are_found_once_in_order() {
        let ids = resource_ids([
            "vpc-ec43eb89",
            "<vpcEndpointId>vpce-0fe5b17a0707d6abc</vpcEndpointId><subnetId>subnet-abababab</subnetId>",
            "subnet-abababab sg-1a2b3c4d vpce-svc-0a1b2c3d4e5f60718 com.amazonaws.us-east-1.sqs",
            "vpc-xyz vpce-12 Interface",
        ]);
        assert_eq!(
            ids,
            [
                "vpc-ec43eb89",
                "vpce-0fe5b17a0707d6abc",
                "subnet-abababab",
                "sg-1a2b3c4d",
                "vpce-svc-0a1b2c3d4e5f60718"
            ]
        );
    }

    #[test]
    fn access_keys_pick_accounts() {
        let cp = two_accounts();
        assert_eq!(caller(&cp, None).unwrap(), "c");
        assert_eq!(caller(&cp, Some("AKIAPROVIDER")).unwrap(), "p");
        assert_eq!(caller(&cp, Some("AKIACONSUMER")).unwrap(), "c");
        let err = caller(&cp, Some("AKIAUNKNOWN")).unwrap_err();
        assert_eq!(err.code, ErrorCode::AuthFailure);

        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("AWS4-HMAC-SHA256 Credential=AKIAPROVIDER/20250101/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=00"),
        );
        assert_eq!(
            access_key(&headers, &Params::default()).as_deref(),
            Some("AKIAPROVIDER")
        );
    }

    #[test]
    fn versions() {
        assert!(check_version(Some(VERSION)).is_ok());
        assert_eq!(
            check_version(None).unwrap_err().code,
            ErrorCode::MissingParameter
        );
        assert_eq!(
            check_version(Some("2014-01-01")).unwrap_err().code,
            ErrorCode::NoSuchVersion
        );
    }
}
