//! A reactive link for calls that fill it (video, congestion control): each direction is a
//! drop-tail bottleneck of a given capacity (`parla-netsim`'s [`Bottleneck`] over a
//! piecewise-constant [`LinkTrace`]), then a fixed propagation delay. Random loss and an outage
//! drop packets on the way in. Unlike the replayed per-packet traces of [`crate::network`], the
//! queue here grows with what the call sends: a sender that overshoots sees its own delay and
//! loss.
//!
//! Written as `--link "rate=1500k,delay=40,loss=2%,queue=200,step=10:300k,outage=5:500"`
//! ([`LinkSpec::parse`]).

use std::collections::{BinaryHeap, VecDeque};

use parla_netsim::link::{Bottleneck, LinkTrace};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::SimError;
use crate::network::{InFlight, PathCounts, is_video, tamper_nth};

/// Bytes of IPv4 + UDP headers added to each packet on the link.
const IP_UDP: u32 = 28;

/// One direction's link: capacity, delay, loss, queue, and an optional step and outage.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkSpec {
    /// Capacity, bits per second.
    pub rate_bps: f64,
    /// One-way propagation delay, ms.
    pub delay_ms: f64,
    /// Random loss before the queue, 0-1.
    pub loss: f64,
    /// Drop-tail queue length, in ms at the starting rate.
    pub queue_ms: f64,
    /// The capacity changes to `.1` bit/s at `.0` seconds.
    pub step: Option<(f64, f64)>,
    /// Everything sent from `.0` seconds for `.1` ms is lost.
    pub outage: Option<(f64, f64)>,
}

impl Default for LinkSpec {
    fn default() -> Self {
        LinkSpec {
            rate_bps: 2_500_000.0,
            delay_ms: 40.0,
            loss: 0.0,
            queue_ms: 200.0,
            step: None,
            outage: None,
        }
    }
}

/// The keys [`LinkSpec::parse`] takes.
pub const LINK_HELP: &str = "comma-separated key=value: rate=BPS (k/M suffixes; default 2500k), \
delay=MS one way (40), loss=P or P% random loss (0), queue=MS drop-tail at the start rate (200), \
step=S:BPS capacity change at S seconds, outage=S:MS all packets lost from S seconds for MS";

fn parse_rate(v: &str) -> Option<f64> {
    let (num, mul) = match v.strip_suffix(['k', 'K']) {
        Some(n) => (n, 1e3),
        None => match v.strip_suffix('M') {
            Some(n) => (n, 1e6),
            None => (v, 1.0),
        },
    };
    num.parse::<f64>()
        .ok()
        .map(|x| x * mul)
        .filter(|x| x.is_finite() && *x >= 8_000.0 && *x <= 1e10)
}

impl LinkSpec {
    /// Parse `rate=1500k,delay=40,loss=2%,queue=200,step=10:300k,outage=5:500` (every key
    /// optional; see [`LINK_HELP`]).
    ///
    /// # Errors
    /// [`SimError::Config`] naming the bad key or value.
    pub fn parse(text: &str) -> Result<Self, SimError> {
        let mut s = LinkSpec::default();
        let bad = |what: &str| SimError::Config(format!("--link: {what} ({LINK_HELP})"));
        for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (k, v) = item
                .split_once('=')
                .ok_or_else(|| bad(&format!("'{item}' is not key=value")))?;
            let num = |v: &str, lo: f64, hi: f64| {
                v.parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite() && (lo..=hi).contains(x))
            };
            match k.trim() {
                "rate" => {
                    s.rate_bps =
                        parse_rate(v).ok_or_else(|| bad(&format!("rate '{v}' (8k to 10G)")))?;
                }
                "delay" => {
                    s.delay_ms = num(v, 0.0, 10_000.0)
                        .ok_or_else(|| bad(&format!("delay '{v}' (0 to 10000 ms)")))?;
                }
                "loss" => {
                    let (v2, scale) = match v.strip_suffix('%') {
                        Some(p) => (p, 100.0),
                        None => (v, 1.0),
                    };
                    s.loss = num(v2, 0.0, scale)
                        .map(|x| x / scale)
                        .filter(|x| *x < 1.0)
                        .ok_or_else(|| bad(&format!("loss '{v}' (0 to 0.99 or 0% to 99%)")))?;
                }
                "queue" => {
                    s.queue_ms = num(v, 1.0, 10_000.0)
                        .ok_or_else(|| bad(&format!("queue '{v}' (1 to 10000 ms)")))?;
                }
                "step" => {
                    let (t, r) = v.split_once(':').ok_or_else(|| bad("step takes S:BPS"))?;
                    let t = num(t, 0.0, 3600.0).ok_or_else(|| bad("step time (0 to 3600 s)"))?;
                    let r = parse_rate(r).ok_or_else(|| bad("step rate (8k to 10G)"))?;
                    s.step = Some((t, r));
                }
                "outage" => {
                    let (t, d) = v.split_once(':').ok_or_else(|| bad("outage takes S:MS"))?;
                    let t = num(t, 0.0, 3600.0).ok_or_else(|| bad("outage time (0 to 3600 s)"))?;
                    let d = num(d, 1.0, 3_600_000.0)
                        .ok_or_else(|| bad("outage length (1 ms to 1 h)"))?;
                    s.outage = Some((t, d));
                }
                other => return Err(bad(&format!("unknown key '{other}'"))),
            }
        }
        Ok(s)
    }

    /// A short name for reports, e.g. `link 1500k 40ms loss 2%`.
    pub fn name(&self) -> String {
        let mut n = format!("link {:.0}k {:.0}ms", self.rate_bps / 1000.0, self.delay_ms);
        if self.loss > 0.0 {
            n.push_str(&format!(" loss {:.1}%", self.loss * 100.0));
        }
        if let Some((t, r)) = self.step {
            n.push_str(&format!(" step {t}s->{:.0}k", r / 1000.0));
        }
        if let Some((t, d)) = self.outage {
            n.push_str(&format!(" outage {t}s+{d:.0}ms"));
        }
        n
    }

    /// The capacity trace for a call of `seconds` (the trace repeats past its end, so it covers
    /// the call plus a margin).
    fn trace(&self, seconds: f64) -> Result<LinkTrace, SimError> {
        let end = seconds + 10.0;
        let pieces: Vec<(f64, f64)> = match self.step {
            Some((t, r)) if t < end => vec![(t, self.rate_bps), (end, r)],
            _ => vec![(end, self.rate_bps)],
        };
        Ok(LinkTrace::piecewise(&pieces)?)
    }
}

/// One direction of a [`LinkSpec`] link, with the same interface as
/// [`NetPath`](crate::network::NetPath).
#[derive(Debug)]
pub struct LinkPath {
    spec: LinkSpec,
    queue: Bottleneck,
    /// Packets in the bottleneck, in order (data, send time µs, tampered, rtcp).
    waiting: VecDeque<(Vec<u8>, u64, bool, bool)>,
    next_tag: u64,
    /// Tag of `waiting`'s front.
    front_tag: u64,
    heap: BinaryHeap<InFlight>,
    order: u64,
    tamper_every: Option<u64>,
    media_sent: u64,
    rng: ChaCha8Rng,
    counts: PathCounts,
    delays_us: Vec<u64>,
    /// The largest one-way delay of the packets sent in each second of the call, µs (0: none
    /// delivered).
    max_delay_by_second: Vec<u64>,
}

impl LinkPath {
    /// A path for a call of `seconds`, seeded.
    ///
    /// # Errors
    /// [`SimError::Network`] if the capacity trace cannot be built.
    pub fn new(
        spec: &LinkSpec,
        seconds: f64,
        tamper_every: Option<u64>,
        seed: u64,
    ) -> Result<Self, SimError> {
        let limit = (spec.queue_ms / 1000.0 * spec.rate_bps / 8.0 / 1200.0).ceil() as usize;
        let queue = Bottleneck::new(spec.trace(seconds)?, limit.max(8))?;
        Ok(LinkPath {
            spec: *spec,
            queue,
            waiting: VecDeque::new(),
            next_tag: 0,
            front_tag: 0,
            heap: BinaryHeap::new(),
            order: 0,
            tamper_every: tamper_every.filter(|&n| n > 0),
            media_sent: 0,
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x11ce_0000),
            counts: PathCounts::default(),
            delays_us: Vec::new(),
            max_delay_by_second: Vec::new(),
        })
    }

    /// Moves the bottleneck to `now_us`: what left it travels the propagation delay.
    fn advance(&mut self, now_us: u64) {
        let delay_us = (self.spec.delay_ms * 1000.0) as u64;
        let (waiting, heap, order, front) = (
            &mut self.waiting,
            &mut self.heap,
            &mut self.order,
            &mut self.front_tag,
        );
        let delays = &mut self.delays_us;
        let by_second = &mut self.max_delay_by_second;
        self.queue.advance(now_us, |d| {
            // FIFO: the delivered tag is the front's.
            debug_assert_eq!(d.tag, *front);
            *front += 1;
            if let Some((data, sent_us, tampered, rtcp)) = waiting.pop_front() {
                let arrival_us = d.at_us + delay_us;
                delays.push(arrival_us - sent_us);
                let sec = (sent_us / 1_000_000) as usize;
                if by_second.len() <= sec {
                    by_second.resize(sec + 1, 0);
                }
                by_second[sec] = by_second[sec].max(arrival_us - sent_us);
                *order += 1;
                heap.push(InFlight {
                    arrival_us,
                    order: *order,
                    data,
                    tampered,
                    rtcp,
                });
            }
        });
    }

    /// Send a packet at `now_us` (times never go backwards).
    pub fn send(&mut self, packet: &[u8], now_us: u64) {
        self.advance(now_us);
        let rtcp = parla_engine::is_rtcp(packet);
        self.counts.sent += 1;
        if rtcp {
            self.counts.rtcp += 1;
        } else {
            self.media_sent += 1;
        }
        let t_s = now_us as f64 / 1e6;
        let out = self
            .spec
            .outage
            .is_some_and(|(at, ms)| t_s >= at && t_s < at + ms / 1000.0);
        if out || (self.spec.loss > 0.0 && self.rng.random::<f64>() < self.spec.loss) {
            self.counts.lost += 1;
            self.counts.video_lost += u64::from(is_video(packet));
            return;
        }
        let mut data = packet.to_vec();
        let tampered = tamper_nth(
            self.tamper_every,
            !rtcp,
            self.media_sent,
            &mut self.rng,
            &mut data,
            &mut self.counts,
        );
        let bytes = data.len() as u32 + IP_UDP;
        if self.queue.enqueue(self.next_tag, bytes) {
            self.next_tag += 1;
            self.waiting.push_back((data, now_us, tampered, rtcp));
        } else {
            self.counts.lost += 1;
            self.counts.video_lost += u64::from(is_video(packet));
        }
    }

    /// Hand every copy due by `now_us` to `deliver(data, arrival_us)`.
    pub fn deliver_due(&mut self, now_us: u64, deliver: impl FnMut(&[u8], u64)) {
        self.advance(now_us);
        crate::network::deliver_heap(&mut self.heap, &mut self.counts, now_us, deliver);
    }

    /// The queueing delay per second of the call, ms: the largest one-way delay of the packets
    /// sent in that second minus the smallest of the whole call; `None` for a second none of
    /// whose packets was delivered. Call before [`finish`](Self::finish).
    pub fn queue_per_second_ms(&self) -> Vec<Option<f64>> {
        let min = self.delays_us.iter().copied().min().unwrap_or(0);
        self.max_delay_by_second
            .iter()
            .map(|&d| (d > 0).then(|| d.saturating_sub(min) as f64 / 1000.0))
            .collect()
    }

    /// The counts at the end of the call.
    pub fn finish(&mut self) -> PathCounts {
        let mut c = self.counts;
        c.in_flight_at_end = (self.heap.len() + self.waiting.len()) as u64;
        crate::network::delay_figures(&mut c, &mut self.delays_us);
        c
    }
}

/// One direction of the network: a replayed per-packet trace or a reactive link.
#[derive(Debug)]
pub(crate) enum DirPath {
    /// [`NetPath`](crate::network::NetPath).
    Replay(Box<crate::network::NetPath>),
    /// [`LinkPath`].
    Link(Box<LinkPath>),
}

impl DirPath {
    /// Send a packet at `now_us`.
    pub(crate) fn send(&mut self, packet: &[u8], now_us: u64) {
        match self {
            DirPath::Replay(p) => p.send(packet, now_us),
            DirPath::Link(p) => p.send(packet, now_us),
        }
    }

    /// Hand every copy due by `now_us` to `deliver(data, arrival_us)`.
    pub(crate) fn deliver_due(&mut self, now_us: u64, deliver: impl FnMut(&[u8], u64)) {
        match self {
            DirPath::Replay(p) => p.deliver_due(now_us, deliver),
            DirPath::Link(p) => p.deliver_due(now_us, deliver),
        }
    }

    /// The counts at the end of the call.
    pub(crate) fn finish(&mut self) -> PathCounts {
        match self {
            DirPath::Replay(p) => p.finish(),
            DirPath::Link(p) => p.finish(),
        }
    }

    /// The link's queueing delay per second ([`LinkPath::queue_per_second_ms`]); empty for a
    /// replayed trace.
    pub(crate) fn queue_per_second_ms(&self) -> Vec<Option<f64>> {
        match self {
            DirPath::Replay(_) => Vec::new(),
            DirPath::Link(p) => p.queue_per_second_ms(),
        }
    }

    /// Whether this is a reactive link.
    pub(crate) fn is_link(&self) -> bool {
        matches!(self, DirPath::Link(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_with_clear_errors() {
        let s = LinkSpec::parse("rate=1.5M, delay=40,loss=2%,queue=100,step=10:300k,outage=5:500")
            .expect("valid");
        assert_eq!(s.rate_bps, 1.5e6);
        assert_eq!((s.delay_ms, s.queue_ms), (40.0, 100.0));
        assert!((s.loss - 0.02).abs() < 1e-12);
        assert_eq!(s.step, Some((10.0, 300e3)));
        assert_eq!(s.outage, Some((5.0, 500.0)));
        assert_eq!(LinkSpec::parse("").expect("defaults"), LinkSpec::default());
        for (bad, says) in [
            ("rate=fast", "rate"),
            ("delay=-1", "delay"),
            ("loss=100%", "loss"),
            ("step=10", "step"),
            ("colour=red", "unknown key 'colour'"),
            ("rate", "not key=value"),
        ] {
            let e = LinkSpec::parse(bad).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn the_queue_grows_with_what_is_sent_and_drains_after() {
        // 1 Mbit/s, 10 ms: 1,000-byte packets every 4 ms (2 Mbit/s) for 1 s overflow a 100 ms
        // queue; the delay climbs to about the queue's length plus the propagation.
        let spec = LinkSpec::parse("rate=1M,delay=10,queue=100").expect("valid");
        let mut p = LinkPath::new(&spec, 5.0, None, 1).expect("path");
        let mut got = Vec::new();
        for i in 0..250u64 {
            let t = i * 4_000;
            let mut pkt = vec![0u8; 1000];
            pkt[0] = 0x80;
            pkt[1] = 96;
            p.send(&pkt, t);
            p.deliver_due(t, |_, at| got.push(at));
        }
        // Nothing in second 1; in second 2, a packet every 100 ms finds the queue empty.
        for i in 0..10u64 {
            let t = 2_000_000 + i * 100_000;
            p.send(&[0x80, 96, 0, 0], t);
            p.deliver_due(t, |_, at| got.push(at));
        }
        p.deliver_due(5_000_000, |_, at| got.push(at));
        let q = p.queue_per_second_ms();
        assert_eq!(q.len(), 3, "{q:?}");
        assert!(q[0].is_some_and(|q| q > 60.0), "{q:?}");
        assert_eq!(q[1], None);
        // Within one delivery opportunity (1504 bytes at 1 Mbit/s: 12 ms).
        assert!(q[2].is_some_and(|q| q < 13.0), "{q:?}");
        let c = p.finish();
        assert!(c.lost > 50, "{c:?}");
        assert_eq!(c.delivered + c.lost, 260);
        assert!(
            (90.0..=140.0).contains(&c.max_delay_ms),
            "max delay {}",
            c.max_delay_ms
        );
        assert!(c.queue_p95_ms > 60.0, "{c:?}");
    }

    #[test]
    fn an_outage_and_random_loss_drop_packets() {
        let spec = LinkSpec::parse("rate=10M,delay=5,loss=10%,outage=1:500").expect("valid");
        let mut p = LinkPath::new(&spec, 3.0, None, 3).expect("path");
        for i in 0..300u64 {
            p.send(&[0x80, 96, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0], i * 10_000);
        }
        p.deliver_due(10_000_000, |_, _| {});
        let c = p.finish();
        // 50 packets in the outage, about 10 % of the other 250.
        assert!((60..=110).contains(&c.lost), "{c:?}");
        assert_eq!(c.max_delay_ms, c.mean_delay_ms.max(c.max_delay_ms));
    }
}
