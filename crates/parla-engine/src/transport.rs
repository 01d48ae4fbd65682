//! [`UdpTransport`]: the optional desktop/test transport. A network thread moves packets
//! between a UDP socket and a [`Call`]'s packet queues; the app that owns its sockets (mobile)
//! uses [`Call::receive_packet`] and [`Call::poll_packet`] itself instead.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::call::Call;
use crate::config::MAX_WIRE_PACKET;
use crate::error::EngineError;

/// Counters of the network thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TransportStats {
    /// Datagrams sent.
    pub sent: u64,
    /// Datagrams received from the peer's address.
    pub received: u64,
    /// Datagrams from other addresses (dropped: a stray or spoofed source).
    pub foreign: u64,
    /// Socket errors (send or receive).
    pub errors: u64,
}

#[derive(Default)]
struct Counters {
    sent: AtomicU64,
    received: AtomicU64,
    foreign: AtomicU64,
    errors: AtomicU64,
}

/// A network thread between a UDP socket and a call. Dropping it stops and joins the thread.
pub struct UdpTransport {
    stop: Arc<AtomicBool>,
    counters: Arc<Counters>,
    thread: Option<JoinHandle<()>>,
    local: SocketAddr,
}

impl std::fmt::Debug for UdpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UdpTransport")
            .field("local", &self.local)
            .field("stats", &self.stats())
            .finish()
    }
}

impl UdpTransport {
    /// Start moving packets between `socket` and `call`, sending to `peer` and accepting only
    /// datagrams from `peer`.
    ///
    /// # Errors
    /// [`EngineError::Io`] if the socket cannot be configured, [`EngineError::Thread`] if the
    /// thread cannot start.
    pub fn start(
        call: Arc<Call>,
        socket: UdpSocket,
        peer: SocketAddr,
    ) -> Result<Self, EngineError> {
        // The receive timeout paces the loop: outgoing packets wait at most this long.
        socket.set_read_timeout(Some(Duration::from_millis(2)))?;
        let local = socket.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(Counters::default());
        let (stop_t, counters_t) = (Arc::clone(&stop), Arc::clone(&counters));
        let thread = std::thread::Builder::new()
            .name("parla-udp".into())
            .spawn(move || network_loop(&call, &socket, peer, &stop_t, &counters_t))
            .map_err(|e| EngineError::Thread(e.to_string()))?;
        Ok(UdpTransport {
            stop,
            counters,
            thread: Some(thread),
            local,
        })
    }

    /// The socket's local address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The counters so far.
    pub fn stats(&self) -> TransportStats {
        TransportStats {
            sent: self.counters.sent.load(Ordering::Relaxed),
            received: self.counters.received.load(Ordering::Relaxed),
            foreign: self.counters.foreign.load(Ordering::Relaxed),
            errors: self.counters.errors.load(Ordering::Relaxed),
        }
    }

    /// Stop and join the network thread.
    pub fn stop(mut self) -> TransportStats {
        self.shutdown();
        self.stats()
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for UdpTransport {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn network_loop(
    call: &Call,
    socket: &UdpSocket,
    peer: SocketAddr,
    stop: &AtomicBool,
    c: &Counters,
) {
    let mut out = [0u8; MAX_WIRE_PACKET];
    let mut inb = [0u8; 2048];
    while !stop.load(Ordering::Acquire) {
        while let Ok(Some(n)) = call.poll_packet(&mut out) {
            match socket.send_to(&out[..n], peer) {
                Ok(_) => c.sent.fetch_add(1, Ordering::Relaxed),
                Err(_) => c.errors.fetch_add(1, Ordering::Relaxed),
            };
        }
        match socket.recv_from(&mut inb) {
            Ok((n, from)) if from == peer => {
                c.received.fetch_add(1, Ordering::Relaxed);
                call.receive_packet(&inb[..n]);
            }
            Ok(_) => {
                c.foreign.fetch_add(1, Ordering::Relaxed);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => {
                c.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}
