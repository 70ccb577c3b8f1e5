//! The axum adapter: one handler for every path and method, as EC2 has.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use super::ApiState;
use super::actions::{self, Call};
use super::protocol::{self, Params};
use crate::control::{ApiError, ControlPlane, ErrorCode};

struct Shared {
    state: ApiState,
    requests: AtomicU64,
}

/// The EC2 Query API over `state`: mount it on any listener.
pub fn router(state: ApiState) -> Router {
    let shared = Arc::new(Shared {
        state,
        requests: AtomicU64::new(0),
    });
    Router::new().fallback(handle).with_state(shared)
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

async fn handle(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let id = request_id(shared.requests.fetch_add(1, Ordering::Relaxed));
    let params = Params::parse(uri.query().unwrap_or(""), &body);
    let action = params.get("Action").unwrap_or("").to_string();
    match run(
        &shared.state,
        &params,
        &action,
        access_key(&headers, &params),
    ) {
        Ok(body) => xml(StatusCode::OK, protocol::response(&action, &id, body)),
        Err(error) => {
            let status =
                StatusCode::from_u16(error.code.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
            tracing::debug!(%action, code = error.code.as_str(), message = %error.message, "API error");
            xml(status, protocol::error_document(&error, &id))
        }
    }
}

fn run(
    state: &ApiState,
    params: &Params,
    action: &str,
    key: Option<String>,
) -> Result<protocol::Xml, ApiError> {
    if action.is_empty() {
        return Err(ApiError::new(
            ErrorCode::MissingParameter,
            "The request must contain the parameter Action",
        ));
    }
    let handler = actions::find(action).ok_or_else(|| {
        ApiError::new(
            ErrorCode::InvalidAction,
            format!("The action {action} is not valid for this web service."),
        )
    })?;
    let dry_run = params.bool("DryRun")?.unwrap_or(false);
    let now = (state.clock)();
    let mut control = state
        .control
        .lock()
        .map_err(|_| ApiError::new(ErrorCode::InternalError, "The control plane is poisoned"))?;
    let caller = caller(&control, key.as_deref())?;
    if dry_run {
        // Run the call on a copy: the same validation, no effect.
        let mut copy = control.clone();
        copy.advance(now);
        let mut call = Call {
            control: &mut copy,
            caller: &caller,
            now,
            params,
        };
        handler(&mut call)?;
        return Err(ApiError::new(
            ErrorCode::DryRunOperation,
            "Request would have succeeded, but DryRun flag is set.",
        ));
    }
    let before = control.generation();
    control.advance(now);
    let due = control.generation();
    let mut call = Call {
        control: &mut control,
        caller: &caller,
        now,
        params,
    };
    let result = handler(&mut call);
    if control.generation() != due {
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
    result
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
}
