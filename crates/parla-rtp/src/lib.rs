//! Parla's media transport, sans-IO: RTP and RTCP, payload formats, SFrame end-to-end encryption
//! and two-party key agreement. No sockets, threads, timers or clocks: time is passed in as
//! [`parla_core::MediaTime`], packets come in and go out as byte slices (STYLE.md section 3).
//!
//! - [`rtp`]: packets borrowing their buffer, RFC 8285 header extensions, RTX (RFC 4588), 64-bit sequence and
//!   timestamp unwrapping, sender sequencing.
//! - [`rtcp`]: SR/RR with loss, jitter and RTT; generic NACK, PLI, FIR.
//! - [`payload`]: Opus (RFC 7587), H.264 (RFC 6184 mode 1), VP8 (RFC 7741) and the frame
//!   assembler.
//! - [`e2ee`]: SFrame (RFC 9605) senders and receivers with key rotation, replay protection and
//!   rejection counters; X25519 key agreement with a safety code.
//! - [`sdp`]: the SDP description of an Opus, H.264 or VP8 RTP stream (for peers such as ffmpeg).
//!
//! # Send and receive loop (audio)
//! ```no_run
//! use std::time::Duration;
//! use parla_core::MediaTime;
//! use parla_rtp::e2ee::{CipherSuite, SframeReceiver, SframeSender};
//! use parla_rtp::payload::opus::{OpusDepacketizer, OpusPacketizer};
//! use parla_rtp::rtp::RtpPacket;
//!
//! # fn encode_opus() -> Vec<u8> { vec![0xfc, 1, 2] }
//! # fn send_udp(_: &[u8]) {}
//! # fn recv_udp() -> (Vec<u8>, MediaTime) { (vec![], MediaTime::ZERO) }
//! # let key = [7u8; 32];
//! let mut e2ee = SframeSender::new(CipherSuite::default(), 0, &key).unwrap();
//! let mut pack = OpusPacketizer::new(0x1234, 111, 4242, 99_000);
//! // Buffers are sized once; the per-frame calls never allocate.
//! let (mut protected, mut packet) = (Vec::with_capacity(1500), [0u8; 1500]);
//! let opus = encode_opus();
//! e2ee.protect_into(&[], &opus, &mut protected).unwrap();
//! let n = pack.packetize(&protected, Duration::from_millis(20), &mut packet).unwrap();
//! send_udp(&packet[..n]);
//!
//! let mut rx = SframeReceiver::new(Duration::from_secs(2));
//! rx.add_key(CipherSuite::default(), 0, &key).unwrap();
//! let mut depack = OpusDepacketizer::new(Some(111));
//! let mut plain = Vec::with_capacity(1500);
//! let (datagram, now) = recv_udp();
//! if let Ok(pkt) = RtpPacket::parse(&datagram) {
//!     if let Ok(frame) = depack.depacketize(&pkt) {
//!         if rx.unprotect_into(&[], frame.payload, &mut plain, now).is_ok() {
//!             // hand `plain` (an Opus packet) and `frame.timestamp` to the jitter buffer
//!         } // else: rejected and counted in rx.stats(); never played
//!     }
//! }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(clippy::disallowed_methods, clippy::disallowed_macros)]

pub mod e2ee;
pub mod error;
pub mod payload;
pub mod rtcp;
pub mod rtp;
pub mod sdp;

pub use error::{Error, ParseError, WriteError};
