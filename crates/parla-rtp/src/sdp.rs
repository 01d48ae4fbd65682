//! SDP (RFC 8866) for an Opus RTP stream, as a peer such as ffmpeg or GStreamer reads it.

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
        let ip = |a: &IpAddr| match a {
            IpAddr::V4(_) => "IP4",
            IpAddr::V6(_) => "IP6",
        };
        let name: String = self
            .session_name
            .chars()
            .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
            .collect();
        let pt = self.payload_type;
        let st = u8::from(self.stereo);
        let mut s = String::new();
        // Writing into a String cannot fail.
        let _ = write!(
            s,
            "v=0\r\n\
             o=- 0 0 IN {} {}\r\n\
             s={}\r\n\
             c=IN {} {}\r\n\
             t=0 0\r\n\
             m=audio {} RTP/AVP {pt}\r\n\
             a=rtpmap:{pt} opus/48000/2\r\n\
             a=fmtp:{pt} minptime=10;useinbandfec={};stereo={st};sprop-stereo={st}\r\n\
             a=ptime:{}\r\n\
             a=sendonly\r\n",
            ip(&self.origin),
            self.origin,
            if name.is_empty() { "-" } else { &name },
            ip(&self.destination),
            self.destination,
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
}
