//! The hickory-server [`RequestHandler`]: answers through the same compiled snapshot as
//! every other transport, so hickory's `Server` (TCP here) and the UDP fast path give
//! byte-for-byte the same records.
//!
//! The handler asks the snapshot for the wire answer, then hands its sections to
//! hickory's response builder; that decode costs a little, and only TCP pays it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{
    Header, HeaderCounts, Message, MessageType, Metadata, OpCode, ResponseCode,
};
use hickory_server::net::runtime::Time;
use hickory_server::net::xfer::Protocol;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;
use tracing::debug;

use super::{DnsHandle, Outcome, ViewId};

/// Answers as the resolver of one view.
#[derive(Debug, Clone)]
pub struct DnsRequestHandler {
    handle: Arc<DnsHandle>,
    view: ViewId,
    upstream: Option<SocketAddr>,
}

impl DnsRequestHandler {
    /// A handler for `view` over the snapshots in `handle`; names outside the served zones
    /// go to `upstream` when there is one, else get REFUSED.
    pub fn new(handle: Arc<DnsHandle>, view: ViewId, upstream: Option<SocketAddr>) -> Self {
        Self {
            handle,
            view,
            upstream,
        }
    }

    /// The wire answer for `query` (forwarded upstream when outside the served zones).
    pub async fn answer(&self, query: &[u8], max_size: u16) -> Vec<u8> {
        let mut out = Vec::with_capacity(512);
        let outcome = self
            .handle
            .load()
            .answer_into(&self.view, query, max_size, &mut out);
        if outcome == Outcome::Outside
            && let Some(upstream) = self.upstream
        {
            match forward(upstream, query).await {
                Ok(reply) => return reply,
                Err(error) => debug!(%error, %upstream, "upstream did not answer; REFUSED"),
            }
        }
        out
    }
}

/// Sends `query` to `upstream` over UDP and waits (at most 2 s) for its answer.
pub async fn forward(upstream: SocketAddr, query: &[u8]) -> std::io::Result<Vec<u8>> {
    let bind: SocketAddr = if upstream.is_ipv4() {
        ([127, 0, 0, 1], 0).into()
    } else {
        "[::1]:0".parse().map_err(std::io::Error::other)?
    };
    let socket = tokio::net::UdpSocket::bind(bind).await?;
    socket.send_to(query, upstream).await?;
    let mut buf = vec![0u8; usize::from(super::MAX_UDP_PAYLOAD)];
    loop {
        let (len, from) = tokio::time::timeout(Duration::from_secs(2), socket.recv_from(&mut buf))
            .await
            .map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::TimedOut, "upstream timed out")
            })??;
        // Only the upstream's answer to this query's ID counts.
        if from == upstream && len >= 2 && query.len() >= 2 && buf[..2] == query[..2] {
            buf.truncate(len);
            return Ok(buf);
        }
    }
}

#[async_trait::async_trait]
impl RequestHandler for DnsRequestHandler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        let max = if request.protocol() == Protocol::Udp {
            512
        } else {
            u16::MAX
        };
        let bytes = self.answer(request.as_slice(), max).await;
        let failed = || {
            let mut metadata =
                Metadata::new(request.metadata.id, MessageType::Response, OpCode::Query);
            metadata.response_code = ResponseCode::ServFail;
            ResponseInfo::from(Header {
                metadata,
                counts: HeaderCounts::default(),
            })
        };
        let Ok(message) = Message::from_vec(&bytes) else {
            return failed();
        };
        let mut builder = MessageResponseBuilder::from_message_request(request);
        if let Some(edns) = &message.edns {
            builder.edns(edns);
        }
        let response = builder.build(
            message.metadata,
            message.answers.iter(),
            message.authorities.iter(),
            std::iter::empty(),
            message.additionals.iter(),
        );
        response_handle
            .send_response(response)
            .await
            .unwrap_or_else(|_| failed())
    }
}
