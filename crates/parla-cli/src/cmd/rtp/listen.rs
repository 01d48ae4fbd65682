//! The receive side's UDP socket and stop conditions, shared by `parla rtp recv` for audio and
//! video: a datagram at a time until Ctrl-C, `--seconds` or an idle stream.

use std::io::{ErrorKind, Write as _};
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use parla_rtp::rtp::RtpPacket;

/// How often the receive loop wakes up without packets to check Ctrl-C and the deadlines.
const POLL: Duration = Duration::from_millis(50);
/// Largest UDP datagram.
pub(super) const MAX_DATAGRAM: usize = 65_536;

/// What ended the receive loop.
#[derive(Debug, Clone, Copy)]
pub(super) enum Stop {
    Interrupted,
    Seconds,
    Idle,
}

impl Stop {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Stop::Interrupted => "interrupted",
            Stop::Seconds => "--seconds reached",
            Stop::Idle => "stream idle",
        }
    }
}

/// What [`Listener::next_rtp`] got.
pub(super) enum Next<'b> {
    /// An RTP packet (not yet checked against the stream).
    Packet(RtpPacket<'b>),
    /// A datagram that is not an RTP packet.
    Malformed,
    /// Time to stop.
    Stop(Stop),
}

/// A bound UDP socket with the stop conditions of a receive run.
pub(super) struct Listener {
    socket: UdpSocket,
    stop: Arc<AtomicBool>,
    /// When the run started (after binding).
    pub(super) start: Instant,
    deadline: Option<Instant>,
    idle: Option<Duration>,
    last_packet: Option<Instant>,
    /// The sender of the first datagram.
    pub(super) from: Option<SocketAddr>,
    /// The bound address.
    pub(super) local: SocketAddr,
    /// Datagrams and bytes received.
    pub(super) datagrams: u64,
    pub(super) bytes: u64,
}

impl Listener {
    /// Binds `listen`, installs the Ctrl-C handler and prints `listening on ADDR` (the first
    /// line of output, which scripts and tests read the bound port from).
    pub(super) fn bind(
        listen: SocketAddr,
        seconds: Option<f64>,
        idle_stop_ms: u64,
    ) -> anyhow::Result<Self> {
        if seconds.is_some_and(|s| !(s > 0.0 && s <= 1e6)) {
            bail!("--seconds must be a positive number of seconds");
        }
        let socket =
            UdpSocket::bind(listen).with_context(|| format!("cannot receive on {listen}"))?;
        socket.set_read_timeout(Some(POLL))?;
        let local = socket.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        {
            let stop = Arc::clone(&stop);
            ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst))
                .context("cannot install the Ctrl-C handler")?;
        }
        let start = Instant::now();
        Ok(Listener {
            socket,
            stop,
            start,
            deadline: seconds.map(|s| start + Duration::from_secs_f64(s)),
            idle: (idle_stop_ms > 0).then(|| Duration::from_millis(idle_stop_ms)),
            last_packet: None,
            from: None,
            local,
            datagrams: 0,
            bytes: 0,
        })
    }

    /// Prints the `listening on ADDR` line.
    pub(super) fn announce(&self) -> anyhow::Result<()> {
        println!("listening on {}", self.local);
        std::io::stdout().flush()?;
        Ok(())
    }

    /// Waits for the next datagram (read into `buf`) and parses it as RTP, or for a reason to
    /// stop.
    pub(super) fn next_rtp<'b>(&mut self, buf: &'b mut [u8]) -> anyhow::Result<Next<'b>> {
        Ok(match self.next_datagram(buf)? {
            Err(stop) => Next::Stop(stop),
            Ok(n) => match RtpPacket::parse(&buf[..n]) {
                Ok(p) => Next::Packet(p),
                Err(_) => Next::Malformed,
            },
        })
    }

    /// Waits for the next datagram into `buf` (its length), or for a reason to stop.
    fn next_datagram(&mut self, buf: &mut [u8]) -> anyhow::Result<Result<usize, Stop>> {
        loop {
            if self.stop.load(Ordering::SeqCst) {
                return Ok(Err(Stop::Interrupted));
            }
            let now = Instant::now();
            if self.deadline.is_some_and(|d| now >= d) {
                return Ok(Err(Stop::Seconds));
            }
            if let (Some(idle), Some(last)) = (self.idle, self.last_packet)
                && now.duration_since(last) >= idle
            {
                return Ok(Err(Stop::Idle));
            }
            match self.socket.recv_from(buf) {
                Ok((n, peer)) => {
                    self.last_packet = Some(Instant::now());
                    self.from.get_or_insert(peer);
                    self.datagrams += 1;
                    self.bytes += n as u64;
                    return Ok(Ok(n));
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                    ) => {}
                Err(e) => return Err(anyhow::Error::new(e).context("receiving")),
            }
        }
    }

    /// The `received: ...` summary line.
    pub(super) fn summary(&self) -> String {
        let from = self
            .from
            .map_or_else(|| "nobody".to_string(), |a| a.to_string());
        format!(
            "received: {} datagrams ({} bytes) from {from} on {}",
            self.datagrams, self.bytes, self.local
        )
    }
}
