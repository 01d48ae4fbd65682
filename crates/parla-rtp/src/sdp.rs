//! SDP (RFC 8866) for an Opus or a video (H.264, VP8) RTP stream, as a peer such as ffmpeg or
//! GStreamer reads it.

use std::fmt::Write as _;
use std::net::IpAddr;

/// What the SDP of an Opus RTP stream says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpusSdp {
    /// Session name (`s=`); line breaks are replaced by spaces.
    pub session_name: String,
    /// Address of the sender (`o=`).
    pub origin: IpAddr,
    /// Address the stream goes to (`c=`).
    pub destination: IpAddr,
    /// UDP port the stream goes to (`m=`).
    pub port: u16,
    /// Dynamic payload type (96..=127).
    pub payload_type: u8,
    /// Whether the stream carries stereo (`stereo=1; sprop-stereo=1`).
    pub stereo: bool,
    /// Packet duration in milliseconds (`a=ptime`).
    pub ptime_ms: u32,
    /// Whether in-band FEC is used (`useinbandfec`).
    pub inband_fec: bool,
    /// The stream's SSRC, if it should be announced (`a=ssrc`).
    pub ssrc: Option<u32>,
}

impl OpusSdp {
    /// The SDP text (CRLF line endings). The `rtpmap` always says `opus/48000/2` (RFC 7587 7):
    /// the RTP clock is 48 kHz and the channel count is signalled by `stereo`.
    pub fn to_sdp(&self) -> String {
        let pt = self.payload_type;
        let st = u8::from(self.stereo);
        let mut s = session_lines(&self.session_name, self.origin, self.destination);
        // Writing into a String cannot fail.
        let _ = write!(
            s,
            "m=audio {} RTP/AVP {pt}\r\n\
             a=rtpmap:{pt} opus/48000/2\r\n\
             a=fmtp:{pt} minptime=10;useinbandfec={};stereo={st};sprop-stereo={st}\r\n\
             a=ptime:{}\r\n\
             a=sendonly\r\n",
            self.port,
            u8::from(self.inband_fec),
            self.ptime_ms,
        );
        if let Some(ssrc) = self.ssrc {
            let _ = write!(s, "a=ssrc:{ssrc} cname:parla\r\n");
        }
        s
    }
}

/// The session-level lines (`v=` to `t=`) every description here starts with.
fn session_lines(name: &str, origin: IpAddr, destination: IpAddr) -> String {
    let ip = |a: &IpAddr| match a {
        IpAddr::V4(_) => "IP4",
        IpAddr::V6(_) => "IP6",
    };
    let name: String = name
        .chars()
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .collect();
    format!(
        "v=0\r\no=- 0 0 IN {} {origin}\r\ns={}\r\nc=IN {} {destination}\r\nt=0 0\r\n",
        ip(&origin),
        if name.is_empty() { "-" } else { &name },
        ip(&destination),
    )
}

/// The codec of a video stream and what its SDP must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VideoSdpCodec {
    /// H.264 (RFC 6184), packetization-mode 1.
    H264 {
        /// The sequence parameter set NAL unit (header byte included): gives
        /// `profile-level-id` and goes in `sprop-parameter-sets`.
        sps: Vec<u8>,
        /// The picture parameter set NAL unit, for `sprop-parameter-sets`.
        pps: Vec<u8>,
    },
    /// VP8 (RFC 7741).
    Vp8,
}

/// What the SDP of a video RTP stream (90 kHz clock) says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoSdp {
    /// Session name (`s=`); line breaks are replaced by spaces.
    pub session_name: String,
    /// Address of the sender (`o=`).
    pub origin: IpAddr,
    /// Address the stream goes to (`c=`).
    pub destination: IpAddr,
    /// UDP port the stream goes to (`m=`).
    pub port: u16,
    /// Dynamic payload type (96..=127).
    pub payload_type: u8,
    /// The codec.
    pub codec: VideoSdpCodec,
    /// Frame rate (`a=framerate`), if announced.
    pub framerate: Option<u32>,
    /// The stream's SSRC, if it should be announced (`a=ssrc`).
    pub ssrc: Option<u32>,
}

impl VideoSdp {
    /// The SDP text (CRLF line endings). For H.264, `profile-level-id` is the SPS's
    /// `profile_idc`, constraint flags and `level_idc` (RFC 6184 8.1), and
    /// `sprop-parameter-sets` the base64 SPS and PPS, so a receiver can set up its decoder before
    /// the first keyframe arrives. An SPS shorter than 4 bytes gives no `profile-level-id`.
    pub fn to_sdp(&self) -> String {
        let pt = self.payload_type;
        let mut s = session_lines(&self.session_name, self.origin, self.destination);
        // Writing into a String cannot fail.
        let _ = write!(s, "m=video {} RTP/AVP {pt}\r\n", self.port);
        match &self.codec {
            VideoSdpCodec::H264 { sps, pps } => {
                let _ = write!(
                    s,
                    "a=rtpmap:{pt} H264/90000\r\na=fmtp:{pt} packetization-mode=1"
                );
                if let Some(pli) = sps.get(1..4) {
                    let _ = write!(
                        s,
                        ";profile-level-id={:02x}{:02x}{:02x}",
                        pli[0], pli[1], pli[2]
                    );
                }
                if !sps.is_empty() && !pps.is_empty() {
                    let _ = write!(s, ";sprop-parameter-sets={},{}", base64(sps), base64(pps));
                }
                s.push_str("\r\n");
            }
            VideoSdpCodec::Vp8 => {
                let _ = write!(s, "a=rtpmap:{pt} VP8/90000\r\n");
            }
        }
        if let Some(fps) = self.framerate {
            let _ = write!(s, "a=framerate:{fps}\r\n");
        }
        s.push_str("a=sendonly\r\n");
        if let Some(ssrc) = self.ssrc {
            let _ = write!(s, "a=ssrc:{ssrc} cname:parla\r\n");
        }
        s
    }
}

/// Base64 (RFC 4648 section 4, with padding).
fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from_be_bytes([0, b[0], b[1], b[2]]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opus_sdp_text() {
        let sdp = OpusSdp {
            session_name: "parla\ntest".into(),
            origin: "127.0.0.1".parse().unwrap(),
            destination: "::1".parse().unwrap(),
            port: 5004,
            payload_type: 111,
            stereo: false,
            ptime_ms: 20,
            inband_fec: true,
            ssrc: Some(42),
        }
        .to_sdp();
        assert!(sdp.starts_with("v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=parla test\r\n"));
        assert!(sdp.contains("c=IN IP6 ::1\r\n"));
        assert!(sdp.contains("m=audio 5004 RTP/AVP 111\r\na=rtpmap:111 opus/48000/2\r\n"));
        assert!(sdp.contains("a=fmtp:111 minptime=10;useinbandfec=1;stereo=0;sprop-stereo=0\r\n"));
        assert!(sdp.ends_with("a=ssrc:42 cname:parla\r\n"));
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }

    #[test]
    fn video_sdp_text() {
        let mut v = VideoSdp {
            session_name: "parla".into(),
            origin: "127.0.0.1".parse().unwrap(),
            destination: "127.0.0.1".parse().unwrap(),
            port: 5006,
            payload_type: 96,
            codec: VideoSdpCodec::H264 {
                sps: vec![0x67, 0x42, 0xc0, 0x1e, 0xda],
                pps: vec![0x68, 0xce, 0x3c, 0x80],
            },
            framerate: Some(30),
            ssrc: None,
        };
        let sdp = v.to_sdp();
        assert!(sdp.starts_with("v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=parla\r\n"));
        assert!(sdp.contains(
            "m=video 5006 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n\
             a=fmtp:96 packetization-mode=1;profile-level-id=42c01e;\
             sprop-parameter-sets=Z0LAHto=,aM48gA==\r\na=framerate:30\r\n"
        ));
        v.codec = VideoSdpCodec::Vp8;
        v.ssrc = Some(7);
        let sdp = v.to_sdp();
        assert!(sdp.contains("a=rtpmap:96 VP8/90000\r\n"), "{sdp}");
        assert!(!sdp.contains("fmtp"));
        assert!(sdp.ends_with("a=sendonly\r\na=ssrc:7 cname:parla\r\n"));
    }
}
