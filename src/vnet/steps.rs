//! The applications of one step (`connect`, `transfer`, `resolve`) as the fabric's
//! [`Apps`]: which sockets exist, what each runs, and when the step's goal is reached.

use std::sync::Arc;
use std::time::Duration;

use smoltcp::iface::SocketHandle;
use smoltcp::socket::{tcp, udp};

use super::apps::{Conn, Pattern, Receiver, Role, Sender};
use super::fabric::{Accepted, Apps, Flow};
use super::host::Host;
use crate::model::{Backend, Direction};

/// What ends a step's run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Goal {
    /// Every client connection is established.
    Established,
    /// Every stream's bytes are delivered and acknowledged.
    Complete,
    /// The UDP socket received a datagram.
    Datagram,
}

/// One stream of a transfer, known by its client port.
pub(crate) struct Stream {
    pub(crate) client_port: u16,
    pub(crate) bytes: u64,
    pub(crate) salt: u64,
}

/// The applications of one step.
pub(crate) struct StepApps {
    pub(crate) conns: Vec<Conn>,
    pub(crate) goal: Goal,
    pub(crate) direction: Direction,
    pub(crate) streams: Vec<Stream>,
    pub(crate) udp: Option<(usize, SocketHandle)>,
    pub(crate) datagram: Option<(Vec<u8>, Duration)>,
    /// How many client connections the step opened.
    pub(crate) clients: usize,
    pattern: Arc<Pattern>,
    scratch: Vec<u8>,
    /// Server conns' backends, by conn index, for `connect` steps.
    backends: Vec<(usize, Backend)>,
}

impl StepApps {
    /// Apps for a step with goal `goal`.
    pub(crate) fn new(goal: Goal, direction: Direction, pattern: Arc<Pattern>) -> Self {
        Self {
            conns: Vec::new(),
            goal,
            direction,
            streams: Vec::new(),
            udp: None,
            datagram: None,
            clients: 0,
            pattern,
            scratch: Vec::new(),
            backends: Vec::new(),
        }
    }

    /// The client connections, in the order they were opened.
    pub(crate) fn client_conns(&self) -> impl Iterator<Item = &Conn> {
        self.conns.iter().take(self.clients)
    }

    /// The role a transfer's server side takes for the stream from `client_port`.
    fn server_role(&self, client_port: u16) -> Option<Role> {
        let s = self.streams.iter().find(|s| s.client_port == client_port)?;
        Some(match self.direction {
            Direction::Upload => Role::Receive(Receiver::new()),
            Direction::Download => Role::Send(Sender::new(s.bytes, s.salt)),
        })
    }

    /// Whether every stream has delivered its bytes and seen them acknowledged.
    fn complete(&self) -> bool {
        let mut acked = 0;
        let mut received = 0u64;
        for c in &self.conns {
            match &c.role {
                Role::Send(s) if s.acked_at.is_some() => acked += 1,
                Role::Receive(r) => received += r.got,
                _ => {}
            }
        }
        let total: u64 = self.streams.iter().map(|s| s.bytes).sum();
        acked == self.streams.len() && received == total
    }
}

impl Apps for StepApps {
    fn run_host(&mut self, hosts: &mut [Host], h: usize, now: Duration) -> bool {
        let Some(stack) = hosts[h].stack.as_mut() else {
            return false;
        };
        let mut moved = false;
        for i in 0..self.conns.len() {
            if self.conns[i].host != h {
                continue;
            }
            let socket = stack
                .sockets
                .get_mut::<tcp::Socket<'static>>(self.conns[i].handle);
            if matches!(self.conns[i].role, Role::Unbound)
                && let Some(remote) = socket.remote_endpoint()
            {
                let role = match self.backends.iter().find(|(c, _)| *c == i) {
                    Some((_, backend)) => backend_role(*backend),
                    None => self.server_role(remote.port),
                };
                if let Some(role) = role {
                    self.conns[i].role = role;
                }
            }
            moved |= self.conns[i].run(socket, now, &self.pattern, &mut self.scratch);
        }
        if let Some((uh, handle)) = self.udp
            && uh == h
            && self.datagram.is_none()
        {
            let socket = stack.sockets.get_mut::<udp::Socket<'static>>(handle);
            if let Ok((data, _)) = socket.recv() {
                self.datagram = Some((data.to_vec(), now));
            }
        }
        moved
    }

    fn accept(&mut self, accepted: Accepted, flows: &[Flow]) {
        let index = self.conns.len();
        // Outside a transfer, the ENI runs the service's backend model.
        if self.streams.is_empty()
            && let Some(backend) = flows.get(accepted.flow).and_then(|f| f.backend)
        {
            self.backends.push((index, backend));
        }
        self.conns.push(Conn {
            host: accepted.host,
            handle: accepted.handle,
            role: Role::Unbound,
            established_at: None,
        });
    }

    fn done(&self) -> bool {
        match self.goal {
            Goal::Established => self.client_conns().all(|c| c.established_at.is_some()),
            Goal::Complete => self.complete(),
            Goal::Datagram => self.datagram.is_some(),
        }
    }
}

/// The ENI side of a connection outside a transfer: the service's backend model
/// (`Addr`, a real server in `serve`, is `echo` inside the simulation).
fn backend_role(backend: Backend) -> Option<Role> {
    Some(match backend {
        Backend::Echo | Backend::Addr(_) => Role::Echo,
        Backend::Sink => Role::Receive(Receiver::new()),
        Backend::Source => Role::Send(Sender::new(u64::MAX, 0)),
    })
}
