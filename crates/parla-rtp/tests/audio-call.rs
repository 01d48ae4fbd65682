//! A two-endpoint encrypted audio stream in lockstep, time advanced by hand (STYLE.md S6): Opus-
//! sized frames -> SFrame -> RTP over a seeded lossy, jittery, duplicating link -> parse ->
//! unprotect; RTCP sender and receiver reports over the same link give loss, jitter and RTT that
//! match what the link did.
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)] // tests print and read test data

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use parla_core::MediaTime;
use parla_rtp::e2ee::{CipherSuite, KeyAgreement, MediaStream, rtp_aad};
use parla_rtp::payload::opus::{OpusDepacketizer, OpusPacketizer};
use parla_rtp::rtcp::{self, ReceiveStats, RtcpPacket, SenderInfo};
use parla_rtp::rtp::RtpPacket;
use rand::Rng;

#[test]
fn encrypted_opus_stream_with_reports() {
    let mut rng = common::rng(7001);
    let (a, b) = (KeyAgreement::new(&mut rng), KeyAgreement::new(&mut rng));
    let (ab, bb) = (a.public_blob(), b.public_blob());
    let mut ka = a.finish(&bb, b"audio call").expect("a");
    let kb = b.finish(&ab, b"audio call").expect("b");
    let suite = CipherSuite::default();
    let mut e2ee_tx = ka.sender(MediaStream::Audio, suite).expect("sender");
    let mut e2ee_rx = kb
        .receiver(MediaStream::Audio, suite, Duration::from_secs(2))
        .expect("receiver");

    let ssrc = 0x5151_5151;
    let mut pack = OpusPacketizer::new(ssrc, 111, rng.random(), rng.random());
    let mut depack = OpusDepacketizer::new(Some(111));
    let mut stats = ReceiveStats::new(ssrc, 48_000);
    let one_way = Duration::from_millis(40);
    let loss = 0.05;

    let (mut protected, mut plain) = (Vec::with_capacity(1500), Vec::with_capacity(1500));
    let mut packet = [0u8; 1500];
    let mut in_flight: Vec<(MediaTime, Vec<u8>)> = Vec::new();
    let mut sent_frames = 0u64;
    let mut lost = 0u64;
    let mut lost_idx = Vec::new();
    let mut received: BTreeSet<u64> = BTreeSet::new();
    let mut sr_ntp = None;
    let mut rtt_seen = Vec::new();
    let mut rtcp_buf = [0u8; 1500];

    for tick in 0..3000u64 {
        let now = MediaTime::from_millis(tick);
        // Sender: one 20 ms frame every 20 ms, its first byte numbering it.
        if tick % 20 == 0 {
            let n = rng.random_range(40..160);
            let mut frame = vec![(sent_frames % 251) as u8; n];
            frame[1] = (sent_frames / 251) as u8;
            // The RTP header fields are authenticated with the frame (not sent twice).
            let aad = rtp_aad(&pack.peek_header());
            e2ee_tx
                .protect_with_aad(&aad, &frame, &mut protected)
                .expect("protect");
            let len = pack
                .packetize(&protected, Duration::from_millis(20), &mut packet)
                .expect("packetize");
            sent_frames += 1;
            if rng.random_bool(loss) {
                lost += 1;
                lost_idx.push(sent_frames - 1);
            } else {
                let jitter = Duration::from_micros(rng.random_range(0..15_000));
                in_flight.push((now + one_way + jitter, packet[..len].to_vec()));
                if rng.random_bool(0.02) {
                    in_flight.push((now + one_way + jitter * 2, packet[..len].to_vec()));
                }
            }
        }
        // Sender report every second, receiver report 100 ms after it arrives.
        if tick % 1000 == 500 {
            let info = SenderInfo {
                ssrc,
                ntp: rtcp::ntp_from_media_time(now),
                rtp_timestamp: pack.next_timestamp(),
                packet_count: pack.sequencer().packets() as u32,
                octet_count: pack.sequencer().octets() as u32,
            };
            let n = rtcp::write_sr(&info, &[], &mut rtcp_buf).expect("sr");
            // Over the link (no loss for RTCP here): the receiver gets it one way later.
            for p in rtcp::parse_compound(&rtcp_buf[..n]) {
                if let Ok(RtcpPacket::SenderReport { info, .. }) = p {
                    sr_ntp = Some((info.ntp, now + one_way));
                }
            }
        }
        if let Some((ntp, at)) = sr_ntp
            && now == at + Duration::from_millis(100)
        {
            stats.on_sender_report(ntp, at);
            let block = stats.report_block(now).expect("block");
            let n = rtcp::write_rr(0x0b0b, &[block], &mut rtcp_buf).expect("rr");
            let back = now + one_way;
            for p in rtcp::parse_compound(&rtcp_buf[..n]) {
                if let Ok(RtcpPacket::ReceiverReport { reports, .. }) = p {
                    for b in reports.iter() {
                        rtt_seen.push(rtcp::round_trip_time(back, &b).expect("rtt"));
                    }
                }
            }
            sr_ntp = None;
        }
        // Receiver: everything due now.
        let due: Vec<_> = {
            let (due, rest): (Vec<_>, Vec<_>) = in_flight.drain(..).partition(|(t, _)| *t <= now);
            in_flight = rest;
            due
        };
        for (_, datagram) in due {
            let pkt = RtpPacket::parse(&datagram).expect("parse");
            stats.on_packet(pkt.header.sequence, pkt.header.timestamp, now);
            let f = depack.depacketize(&pkt).expect("opus");
            // Duplicates are rejected as replays and counted (checked below).
            if e2ee_rx
                .unprotect_into(&rtp_aad(&pkt.header), f.payload, &mut plain, now)
                .is_ok()
            {
                let idx = u64::from(plain[0]) + 251 * u64::from(plain[1]);
                assert!(plain.iter().skip(2).all(|&x| x == plain[0]));
                assert!(received.insert(idx), "frame {idx} delivered twice");
            }
        }
    }
    let st = e2ee_rx.stats();
    println!(
        "sent {sent_frames}, lost {lost}, received {}, e2ee {st:?}",
        received.len()
    );
    assert_eq!(
        received.len() as u64 + lost,
        sent_frames - in_flight.len() as u64
    );
    assert_eq!(st.rejected(), st.replay, "only duplicates are rejected");
    assert!(st.replay > 0);
    // Loss seen by RTCP equals the link's: packets lost between the first and the highest one
    // received (others are not expected), minus duplicates (RFC 3550 counts them as received).
    let highest = *received.last().expect("received something");
    let first = *received.first().expect("received something");
    let lost_before = lost_idx
        .iter()
        .filter(|&&i| i > first && i < highest)
        .count() as i64;
    let block = stats
        .report_block(MediaTime::from_millis(3000))
        .expect("block");
    assert_eq!(
        i64::from(block.cumulative_lost),
        lost_before - st.replay as i64
    );
    // Jitter: uniform 0..15 ms delay variation gives a mean |D| of 5 ms = 240 units.
    let j = stats.jitter_duration();
    assert!(
        j > Duration::from_millis(2) && j < Duration::from_millis(8),
        "jitter {j:?}"
    );
    // RTT: twice the one-way delay.
    assert!(!rtt_seen.is_empty());
    for r in rtt_seen {
        assert!(
            r.abs_diff(one_way * 2) < Duration::from_millis(1),
            "rtt {r:?}"
        );
    }
}
