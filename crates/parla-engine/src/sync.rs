//! Lip sync: audio and video played in step, from the sender reports' NTP/RTP mapping.
//!
//! Each of the peer's streams sends RTCP sender reports (authenticated like all of the call's
//! RTCP) that pair an NTP time of the peer's clock with the RTP timestamp captured at that
//! moment; audio and video share the clock. For the sample of audio being played and the video
//! frame being rendered, the receiver maps the RTP timestamp to its capture time on the peer's
//! clock and takes the *relative delay* `receive time - capture time` (the clocks' offset is in
//! both and cancels in their difference). The skew is
//!
//! `skew = video relative delay - audio relative delay`
//!
//! positive when video is shown later than the audio it goes with (audio *leads*), negative
//! when audio lags. ITU-R BT.1359 puts the detectability window at +45 ms (audio leading) to
//! -125 ms (audio lagging).
//!
//! The earlier stream waits: every [`UPDATE`] the filtered skew moves a hold on one stream by at
//! most [`STEP`] (the audio jitter buffer's extra delay when audio leads, the video receiver's
//! when audio lags; a hold on the later stream is released first). The first measurement is
//! acted on whole, and when two measurements in a row agree on a skew far from the filtered one
//! (video's delay jumps by its retransmission budget at the first loss) the filter starts over
//! from them, so a call is in sync within a few updates of the start or of such a jump rather
//! than closing half the distance per update. Sender reports are kept by SSRC until the stream
//! is known: the peer sends each stream's first one with its first packet, which can arrive
//! before the receiver has locked the stream's SSRC. Audio is only held for skews
//! above [`LEAD_DEADBAND`], video only for lags beyond [`LAG_DEADBAND`], so a call never pays
//! audio delay for a skew nobody can see; holds are bounded ([`MAX_AUDIO_HOLD`],
//! [`MAX_VIDEO_HOLD`]). The audio hold moves the jitter buffer by time stretching, so no update
//! is made while the buffer is still below its target (on its way up to a hold); while it is
//! above (draining a delay spike it waited out) the skew is taken as it will be once the buffer
//! is there, so a hold can stop the drain at the video's delay. Like libwebrtc's stream
//! synchronizer, in the engine's own terms: nothing here is taken from elsewhere.
//!
//! Sans-IO and allocation-free: fed from the media thread's receive and tick paths.

use std::time::Duration;

use parla_core::MediaTime;
use parla_rtp::rtcp::{RtcpPacket, parse_compound};

/// The audio RTP clock (Opus), Hz.
const AUDIO_CLOCK: i64 = 48_000;
/// The video RTP clock, Hz.
const VIDEO_CLOCK: i64 = 90_000;
/// How often the holds move.
pub(crate) const UPDATE: Duration = Duration::from_millis(250);
/// The most a hold moves per update.
pub(crate) const STEP: Duration = Duration::from_millis(80);
/// Audio leading by up to this much is left alone (below BT.1359's 45 ms).
pub(crate) const LEAD_DEADBAND: Duration = Duration::from_millis(20);
/// Audio lagging by up to this much is left alone (well inside BT.1359's 125 ms).
pub(crate) const LAG_DEADBAND: Duration = Duration::from_millis(60);
/// The longest audio is held back for video.
pub(crate) const MAX_AUDIO_HOLD: Duration = Duration::from_millis(300);
/// The longest video is held back for audio.
pub(crate) const MAX_VIDEO_HOLD: Duration = Duration::from_millis(500);
/// Observations older than this are not used.
const FRESH: Duration = Duration::from_secs(2);
/// A video frame released longer ago than this is not used: the picture is frozen, and the
/// delay of the frame shown last says nothing of the audio playing now (during a freeze under
/// congestion the audio's delay grows with the queue while the last frame's stays, which read
/// as audio lagging and held the video back once it came). Above the frame interval at the
/// lowest rate the video controller steps down to (5 fps: 200 ms).
const VIDEO_FRESH: Duration = Duration::from_millis(250);
/// The jitter buffer counts as settled when within this of its target.
const SETTLED_US: i64 = 10_000;
/// Two unfiltered skews this close (µs) agree (see [`LipSync::update`]).
const AGREE_US: i64 = 20_000;
/// Sender reports kept, one per SSRC: the peer's audio and video, and room for the streams of
/// a restart.
const REPORTS: usize = 4;

/// One sender report's pairing: NTP time in microseconds and the RTP timestamp.
#[derive(Debug, Clone, Copy)]
struct Mapping {
    ntp_us: i64,
    rtp: u32,
}

impl Mapping {
    /// The capture time (µs, peer clock) of RTP timestamp `ts` of a stream clocked at `clock`.
    fn capture_us(&self, ts: u32, clock: i64) -> i64 {
        let d = i64::from(ts.wrapping_sub(self.rtp) as i32);
        self.ntp_us + d * 1_000_000 / clock
    }
}

/// Microseconds of a 64-bit NTP timestamp.
pub(crate) fn ntp_to_us(ntp: u64) -> i64 {
    let secs = (ntp >> 32) as i64;
    let frac = ((ntp & 0xffff_ffff) * 1_000_000) >> 32;
    secs * 1_000_000 + frac as i64
}

/// What lip sync asks of the two playout paths after an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Holds {
    /// Extra delay for the audio jitter buffer.
    pub(crate) audio: Duration,
    /// Extra delay for the video receiver.
    pub(crate) video: Duration,
}

/// The lip-sync state of one receive side; see the [module docs](self).
#[derive(Debug, Clone, Default)]
pub(crate) struct LipSync {
    /// The newest sender report of each SSRC. Kept by SSRC, not matched to the streams when
    /// it arrives: a call's first report can come before the stream's first packet has told
    /// the receiver the SSRC, and the next one may be seconds later.
    reports: [Option<(u32, Mapping)>; REPORTS],
    /// The slot the next new SSRC takes (round robin).
    next_slot: usize,
    /// (when observed, relative delay µs) of the audio being played.
    audio_rel: Option<(MediaTime, i64)>,
    /// (when observed, relative delay µs) of the last video frame released.
    video_rel: Option<(MediaTime, i64)>,
    /// The filtered skew, µs.
    skew_us: Option<f64>,
    /// The previous update's unfiltered skew, µs (what the filter would expect it to be now,
    /// after the holds it moved).
    last_raw: Option<i64>,
    holds: Holds,
    last_update: Option<MediaTime>,
    /// Skew measurements made (updates with both streams fresh).
    pub(crate) measurements: u64,
    /// The extreme skews measured, µs (min, max), unfiltered.
    pub(crate) range_us: Option<(i64, i64)>,
}

impl LipSync {
    /// A sender report of the peer's stream `ssrc` arrived (authenticated): kept as that
    /// SSRC's mapping, replacing its previous one (a new SSRC takes the oldest slot).
    pub(crate) fn on_sender_report(&mut self, ssrc: u32, ntp: u64, rtp: u32) {
        let m = Mapping {
            ntp_us: ntp_to_us(ntp),
            rtp,
        };
        let slot = match self
            .reports
            .iter()
            .position(|r| r.is_some_and(|(s, _)| s == ssrc))
        {
            Some(i) => i,
            None => {
                let i = self.next_slot;
                self.next_slot = (i + 1) % REPORTS;
                i
            }
        };
        self.reports[slot] = Some((ssrc, m));
    }

    /// The newest sender report's mapping of stream `ssrc`.
    fn mapping(&self, ssrc: Option<u32>) -> Option<Mapping> {
        let ssrc = ssrc?;
        self.reports
            .iter()
            .flatten()
            .find(|(s, _)| *s == ssrc)
            .map(|(_, m)| *m)
    }

    /// The audio sample with RTP timestamp `ts` of the peer's stream `ssrc` is being played at
    /// `now`.
    pub(crate) fn on_audio_played(&mut self, now: MediaTime, ssrc: Option<u32>, ts: u32) {
        if let Some(m) = self.mapping(ssrc) {
            let rel = now.as_micros() as i64 - m.capture_us(ts, AUDIO_CLOCK);
            self.audio_rel = Some((now, rel));
        }
    }

    /// The video frame with RTP timestamp `ts` of the peer's stream `ssrc` is rendered at
    /// `render`.
    pub(crate) fn on_video_rendered(&mut self, render: MediaTime, ssrc: Option<u32>, ts: u32) {
        if let Some(m) = self.mapping(ssrc) {
            let rel = render.as_micros() as i64 - m.capture_us(ts, VIDEO_CLOCK);
            self.video_rel = Some((render, rel));
        }
    }

    /// The current filtered skew (video minus audio relative delay), ms; `None` until both
    /// streams have been mapped.
    pub(crate) fn skew_ms(&self) -> Option<f64> {
        self.skew_us.map(|s| s / 1000.0)
    }

    /// The holds in force.
    pub(crate) fn holds(&self) -> Holds {
        self.holds
    }

    /// Called every tick: every [`UPDATE`], measures the skew and moves the holds.
    /// `audio_offset_error_us` is how far the jitter buffer still is from its target (positive:
    /// below it). Returns the new holds when they changed.
    pub(crate) fn update(
        &mut self,
        now: MediaTime,
        audio_offset_error_us: Option<i64>,
    ) -> Option<Holds> {
        if self
            .last_update
            .is_some_and(|t| now.saturating_since(t) < UPDATE)
        {
            return None;
        }
        self.last_update = Some(now);
        let fresh = |o: Option<(MediaTime, i64)>, limit: Duration| {
            o.filter(|(t, _)| now.saturating_since(*t) < limit)
                .map(|(_, r)| r)
        };
        let (Some(a), Some(v)) = (
            fresh(self.audio_rel, FRESH),
            fresh(self.video_rel, VIDEO_FRESH),
        ) else {
            return None;
        };
        let raw = v - a;
        self.measurements += 1;
        self.range_us = Some(match self.range_us {
            Some((lo, hi)) => (lo.min(raw), hi.max(raw)),
            None => (raw, raw),
        });
        // The audio hold acts by time stretching. While the buffer is still below its target
        // (a hold or a higher target on its way), wait until it has arrived. While it is above
        // (draining a delay spike it waited out), act on the skew it will have once there:
        // audio will be that much earlier.
        let us = |d: Duration| d.as_micros() as i64;
        let err = audio_offset_error_us.unwrap_or(0);
        if err > SETTLED_US {
            return None;
        }
        let raw = if err < -SETTLED_US { raw - err } else { raw };
        let first = self.skew_us.is_none();
        let s = match (self.skew_us, self.last_raw) {
            // Two measurements in a row agree on a skew the filter is far from: the delay of
            // one stream really moved (video's retransmission budget set in, a route changed),
            // so the filter starts over from them rather than close half the distance per
            // update. A single late frame does not start it over (it only enters the filter).
            (Some(old), Some(prev))
                if (raw - prev).abs() <= AGREE_US && (raw as f64 - old).abs() > AGREE_US as f64 =>
            {
                (raw + prev) as f64 / 2.0
            }
            (Some(old), _) => old + 0.5 * (raw as f64 - old),
            (None, _) => raw as f64,
        };
        self.skew_us = Some(s);
        let si = s as i64;
        // The first measurement moves a hold the whole way (the hold bounds still apply).
        let step = if first { us(MAX_VIDEO_HOLD) } else { us(STEP) };
        let (mut ha, mut hv) = (us(self.holds.audio), us(self.holds.video));
        if si > us(LEAD_DEADBAND) {
            // Audio leads: release video's hold first, then hold audio back.
            let mut need = si.min(step);
            let from_video = need.min(hv);
            hv -= from_video;
            need -= from_video;
            ha = (ha + need).min(us(MAX_AUDIO_HOLD));
        } else if si < 0 && ha > 0 {
            // Audio lags while held: give the hold back (audio delay is what a call feels).
            ha = (ha - (-si).min(step)).max(0);
        } else if si < -us(LAG_DEADBAND) {
            // Audio lags by more than the window allows: video waits.
            let need = (-si).min(step);
            hv = (hv + need).min(us(MAX_VIDEO_HOLD));
        }
        let holds = Holds {
            audio: Duration::from_micros(ha as u64),
            video: Duration::from_micros(hv as u64),
        };
        // The filter expects what the move will do (video's hold adds to its delay, audio's
        // to its own), so the next update does not act on the same skew twice.
        let moved = (hv - us(self.holds.video)) - (ha - us(self.holds.audio));
        self.skew_us = Some(s + moved as f64);
        self.last_raw = Some(raw + moved);
        (holds != self.holds).then(|| {
            self.holds = holds;
            holds
        })
    }
}

/// The sender reports in a (verified) compound RTCP packet: `(ssrc, ntp, rtp timestamp)` each
/// (parla-rtp's compound parser; it stops at the first malformed packet).
pub(crate) fn sender_reports(body: &[u8]) -> impl Iterator<Item = (u32, u64, u32)> + '_ {
    parse_compound(body)
        .map_while(Result::ok)
        .filter_map(|p| match p {
            RtcpPacket::SenderReport { info, .. } => {
                Some((info.ssrc, info.ntp, info.rtp_timestamp))
            }
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> MediaTime {
        MediaTime::from_millis(v)
    }

    /// A peer whose audio and video RTP clocks start at `now = 0` with these offsets; the
    /// receiver plays audio `audio_delay` and video `video_delay` after capture.
    fn drive(sync: &mut LipSync, audio_delay: i64, video_delay: i64, secs: u64) -> Vec<Holds> {
        let (a0, v0) = (1_000_000u32, 7_000_000u32);
        let ntp = |t_ms: u64| parla_rtp::rtcp::ntp_from_media_time(ms(t_ms));
        let mut out = Vec::new();
        for t in (0..secs * 1000).step_by(10) {
            if t % 1000 == 0 {
                sync.on_sender_report(1, ntp(t), a0.wrapping_add((t * 48) as u32));
                sync.on_sender_report(2, ntp(t), v0.wrapping_add((t * 90) as u32));
            }
            if t < 1000 {
                continue;
            }
            let held = sync.holds();
            let ad = audio_delay + held.audio.as_millis() as i64;
            let vd = video_delay + held.video.as_millis() as i64;
            let cap_a = t as i64 - ad;
            sync.on_audio_played(ms(t), Some(1), a0.wrapping_add((cap_a * 48) as u32));
            if t % 30 == 0 {
                let cap_v = t as i64 - vd;
                sync.on_video_rendered(ms(t), Some(2), v0.wrapping_add((cap_v * 90) as u32));
            }
            if let Some(h) = sync.update(ms(t), Some(0)) {
                out.push(h);
            }
        }
        out
    }

    #[test]
    fn late_video_holds_audio_back_until_the_skew_is_inside_the_window() {
        let mut s = LipSync::default();
        drive(&mut s, 60, 260, 10);
        let skew = s.skew_ms().unwrap();
        assert!((0.0..=20.0).contains(&skew), "skew {skew} ms");
        let h = s.holds();
        assert!(h.audio >= Duration::from_millis(180), "{h:?}");
        assert_eq!(h.video, Duration::ZERO);
        // Held in steps of at most STEP.
        assert!(s.measurements >= 10);
    }

    #[test]
    fn late_audio_holds_video_and_small_lags_are_left_alone() {
        let mut s = LipSync::default();
        drive(&mut s, 200, 60, 10);
        let skew = s.skew_ms().unwrap();
        assert!((-60.0..=0.0).contains(&skew), "skew {skew} ms");
        assert_eq!(s.holds().audio, Duration::ZERO);
        assert!(s.holds().video >= Duration::from_millis(80));
        let mut s = LipSync::default();
        // Audio lagging by 40 ms is inside the window: nothing is held.
        assert!(drive(&mut s, 100, 60, 5).is_empty());
        assert_eq!(s.holds(), Holds::default());
    }

    #[test]
    fn holds_are_bounded_and_nothing_moves_without_both_streams() {
        let mut s = LipSync::default();
        drive(&mut s, 0, 2_000, 20);
        assert_eq!(s.holds().audio, MAX_AUDIO_HOLD);
        let mut s = LipSync::default();
        s.on_audio_played(ms(5), Some(1), 3);
        assert_eq!(s.update(ms(10), None), None);
        assert_eq!(s.skew_ms(), None);
    }

    /// The peer's audio (SSRC 1) and video (SSRC 2) RTP times at capture time 0.
    const A0: u32 = 1_000_000;
    const V0: u32 = 7_000_000;

    /// Lip sync with both of the peer's streams mapped by a sender report at 0 ms.
    fn mapped() -> LipSync {
        let ntp = parla_rtp::rtcp::ntp_from_media_time(ms(0));
        let mut s = LipSync::default();
        s.on_sender_report(1, ntp, A0);
        s.on_sender_report(2, ntp, V0);
        s
    }

    /// Audio captured at `cap` ms is played at `t` ms.
    fn play(s: &mut LipSync, t: u64, cap: u64) {
        s.on_audio_played(ms(t), Some(1), A0.wrapping_add((cap * 48) as u32));
    }

    /// The frame captured at `cap` ms is shown at `t` ms.
    fn show(s: &mut LipSync, t: u64, cap: u64) {
        s.on_video_rendered(ms(t), Some(2), V0.wrapping_add((cap * 90) as u32));
    }

    #[test]
    fn a_jump_two_measurements_agree_on_is_followed_at_once() {
        let mut s = mapped();
        // Audio and video 100 ms after capture, until video's delay jumps by 140 ms at 3 s
        // (the receiver's retransmission budget after the first loss).
        let mut moved_at = None;
        for t in (1_000..5_000u64).step_by(10) {
            let held = s.holds().audio.as_millis() as u64;
            let cap_a = t - 100 - held;
            play(&mut s, t, cap_a);
            if t % 30 == 0 {
                let cap_v = t - if t < 3_000 { 100 } else { 240 };
                show(&mut s, t, cap_v);
            }
            s.update(ms(t), Some(0));
            if moved_at.is_none() && s.holds().audio >= Duration::from_millis(130) {
                moved_at = Some(t);
            }
        }
        assert_eq!(s.holds().video, Duration::ZERO);
        // Caught up at the second update after the jump, and all of it (closing half the
        // distance per update took four updates and stopped 9 ms short).
        let at = moved_at.expect("audio held with the video");
        assert!(
            at <= 3_000 + 2 * UPDATE.as_millis() as u64,
            "caught up at {at} ms"
        );
        let held = s.holds().audio;
        assert!(
            (Duration::from_millis(135)..=Duration::from_millis(140)).contains(&held),
            "{held:?}"
        );
    }

    #[test]
    fn audio_draining_a_spike_is_caught_at_the_video_delay() {
        let mut s = mapped();
        // After a delay spike the audio buffer plays 400 ms behind capture, above its 100 ms
        // target, and drains 50 ms a second towards its target plus the hold; video is shown
        // 250 ms after capture throughout.
        let mut audio = 400.0f64;
        let mut worst_lead = f64::MIN;
        for t in (1_000..12_000u64).step_by(10) {
            let target = 100.0 + s.holds().audio.as_secs_f64() * 1e3;
            audio = if audio > target {
                (audio - 0.5).max(target)
            } else {
                (audio + 0.5).min(target)
            };
            let cap_a = t - audio as u64;
            play(&mut s, t, cap_a);
            if t % 30 == 0 {
                let cap_v = t - 250;
                show(&mut s, t, cap_v);
            }
            s.update(ms(t), Some(((target - audio) * 1e3) as i64));
            worst_lead = worst_lead.max(250.0 - audio);
        }
        // The hold rose while the audio drained, so it stopped near the video's delay instead
        // of draining to 100 ms and coming back (audio 150 ms ahead on the way).
        assert!(worst_lead <= 45.0, "audio led by {worst_lead} ms");
        assert!(
            (200.0..=250.0).contains(&audio),
            "audio {audio} ms behind capture"
        );
        assert_eq!(s.holds().video, Duration::ZERO);
    }

    #[test]
    fn a_frozen_picture_is_not_measured() {
        let mut s = mapped();
        // Both 100 ms after capture; from 2 s no frame comes (a freeze), and from 2.5 s the
        // audio's delay is 300 ms (a queue).
        for t in (1_000..4_000u64).step_by(10) {
            let audio_delay = if t < 2_500 { 100 } else { 300 };
            let cap_a = t - audio_delay;
            play(&mut s, t, cap_a);
            if t < 2_000 && t % 30 == 0 {
                let cap_v = t - 100;
                show(&mut s, t, cap_v);
            }
            s.update(ms(t), Some(0));
        }
        // The last frame shown long ago does not read as audio lagging 200 ms behind it.
        assert_eq!(s.holds(), Holds::default());
    }

    #[test]
    fn a_report_that_comes_before_its_stream_still_maps_it() {
        let ntp = parla_rtp::rtcp::ntp_from_media_time(ms(10));
        let mut s = LipSync::default();
        // Both reports arrive before the receiver knows which SSRC is which stream.
        s.on_sender_report(1, ntp, 480);
        s.on_sender_report(2, ntp, 900);
        // Audio captured at 10 ms played at 110 ms; video captured at 10 ms shown at 240 ms.
        s.on_audio_played(ms(110), Some(1), 480);
        s.on_video_rendered(ms(240), Some(2), 900);
        // The first measurement is acted on whole: audio is held 130 ms at once.
        let h = s.update(ms(250), Some(0)).unwrap();
        assert_eq!(h.audio, Duration::from_millis(130));
        assert_eq!(s.skew_ms(), Some(0.0), "the move is expected");
        // An unknown SSRC maps nothing; a stream's newer report replaces its older one.
        let mut t = LipSync::default();
        t.on_sender_report(1, ntp, 480);
        t.on_audio_played(ms(110), Some(3), 480);
        t.on_audio_played(ms(110), None, 480);
        assert_eq!(t.audio_rel, None);
        t.on_sender_report(1, ntp, 960);
        t.on_audio_played(ms(110), Some(1), 960);
        // The new report puts 960 at 10 ms (the old one put it at 20 ms): played 100 ms after
        // capture (to the microsecond NTP keeps).
        let (at, rel) = t.audio_rel.unwrap();
        assert_eq!(at, ms(110));
        assert!((rel - 100_000).abs() <= 1, "{rel}");
        // Four other SSRCs later (a peer that restarted), the oldest report has made room.
        for ssrc in 10..14 {
            t.on_sender_report(ssrc, ntp, 0);
        }
        assert!(t.mapping(Some(1)).is_none());
        assert!((10..14).all(|x| t.mapping(Some(x)).is_some()));
    }

    #[test]
    fn sender_reports_are_found_in_a_compound_packet() {
        let si = |ssrc, ntp, rtp| parla_rtp::rtcp::SenderInfo {
            ssrc,
            ntp,
            rtp_timestamp: rtp,
            packet_count: 1,
            octet_count: 2,
        };
        let mut buf = [0u8; 200];
        let n = parla_rtp::rtcp::write_sr(&si(5, 1 << 32, 99), &[], &mut buf).unwrap();
        let m = parla_rtp::rtcp::write_sr(&si(6, 3 << 31, 7), &[], &mut buf[n..]).unwrap();
        let got: Vec<_> = sender_reports(&buf[..n + m]).collect();
        assert_eq!(got, vec![(5, 1 << 32, 99), (6, 3 << 31, 7)]);
        assert_eq!(ntp_to_us(3 << 31), 1_500_000);
        // Truncated or garbage input ends the walk without a panic.
        assert_eq!(sender_reports(&buf[..3]).count(), 0);
        assert_eq!(sender_reports(&[0x80, 200, 0xff, 0xff]).count(), 0);
    }
}
