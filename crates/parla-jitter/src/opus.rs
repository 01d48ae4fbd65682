//! The Opus adapter: [`OpusAudioDecoder`] drives `parla_codec::opus::OpusDecoder` (libopus)
//! through the buffer's [`AudioDecoder`] trait (feature `opus`, on by default).
//!
//! It lives here rather than in `parla-codec` so that the codec crate does not depend on the
//! jitter buffer; the feature keeps `parla-jitter` usable without libopus
//! (`default-features = false`).
//!
//! The mapping (RFC 6716):
//! - `packet_samples`: the TOC byte and frame count (`opus_packet_get_nb_samples`);
//! - `is_dtx`: Opus DTX sends 1-2 byte packets (TOC only, or TOC and one byte) during silence;
//! - `has_fec`: the LBRR flag of the SILK layer. In a SILK or hybrid packet the first frame
//!   starts with one VAD flag per 20 ms SILK frame and then the LBRR flag, each coded with
//!   probability one half, so they are the leading bits of the frame's first byte (the test
//!   libopus 1.5's `opus_packet_has_lbrr` makes). Read for mono packets of code 0 and 1 (one
//!   frame, or two frames of equal size: what an encoder sends for 10-60 ms); for other
//!   layouts it answers by mode (SILK or hybrid), and `decode_fec` on a packet without LBRR
//!   data conceals, so a wrong guess costs nothing but the FEC statistic;
//! - `decode`, `decode_fec` (`opus_decode(next, fec = 1)`), `conceal` and `comfort_noise`
//!   (`opus_decode(NULL)`, which is comfort noise after a DTX packet).

use parla_codec::opus::{OpusDecoder, OpusError};

use crate::decoder::{AudioDecoder, DecodeError};

/// A mono Opus decoder behind [`AudioDecoder`].
#[derive(Debug)]
pub struct OpusAudioDecoder {
    dec: OpusDecoder,
}

impl OpusAudioDecoder {
    /// A mono decoder at `rate` (8, 12, 16, 24 or 48 kHz).
    ///
    /// # Errors
    /// The codec's configuration error for an unsupported rate.
    pub fn new(rate: u32) -> Result<Self, parla_core::error::ConfigError> {
        Ok(OpusAudioDecoder {
            dec: OpusDecoder::new(rate, 1)?,
        })
    }

    /// The wrapped decoder.
    pub fn inner(&self) -> &OpusDecoder {
        &self.dec
    }
}

fn map_err(e: OpusError) -> DecodeError {
    match e {
        OpusError::InvalidPacket => DecodeError::Malformed,
        OpusError::BufferTooSmall { needed, got } => DecodeError::BufferTooSmall { needed, got },
        OpusError::Backend { code } => DecodeError::Backend(code),
        // Wrong lengths and settings: the buffer's request did not fit the codec.
        _ => DecodeError::Backend(-1),
    }
}

/// Whether a mono Opus packet carries LBRR (FEC) data for the packet before it.
fn lbrr_flag(packet: &[u8]) -> bool {
    let Some(&toc) = packet.first() else {
        return false;
    };
    if packet.len() <= 2 {
        return false;
    }
    let config = toc >> 3;
    // Configurations 0-15 are SILK-only and hybrid; 16-31 CELT-only (no LBRR).
    if config >= 16 {
        return false;
    }
    let stereo = toc & 0x04 != 0;
    let code = toc & 0x03;
    if stereo || code >= 2 {
        return true;
    }
    // SILK frames of 20 ms per Opus frame: 10 and 20 ms frames have one, 40 ms two, 60 ms three.
    let silk_frames: u32 = if config < 12 {
        match config & 0x03 {
            2 => 2,
            3 => 3,
            _ => 1,
        }
    } else {
        1
    };
    (packet[1] >> (7 - silk_frames)) & 1 == 1
}

impl AudioDecoder for OpusAudioDecoder {
    fn sample_rate(&self) -> u32 {
        self.dec.rate()
    }

    fn packet_samples(&self, payload: &[u8]) -> Result<usize, DecodeError> {
        self.dec.packet_samples(payload).map_err(map_err)
    }

    fn is_dtx(&self, payload: &[u8]) -> bool {
        (1..=2).contains(&payload.len())
    }

    fn has_fec(&self, payload: &[u8]) -> bool {
        lbrr_flag(payload)
    }

    fn decode(&mut self, payload: &[u8], out: &mut [f32]) -> Result<usize, DecodeError> {
        // RT: one libopus call.
        self.dec.decode(payload, out).map_err(map_err)
    }

    fn decode_fec(&mut self, next_payload: &[u8], out: &mut [f32]) -> Result<usize, DecodeError> {
        // RT: one libopus call.
        self.dec.decode_fec(next_payload, out).map_err(map_err)
    }

    fn conceal(&mut self, out: &mut [f32]) -> Result<(), DecodeError> {
        // RT: one libopus call.
        self.dec.conceal(out).map(|_| ()).map_err(map_err)
    }

    fn comfort_noise(&mut self, out: &mut [f32]) -> Result<(), DecodeError> {
        // RT: one libopus call (libopus produces comfort noise after a DTX packet).
        self.dec.conceal(out).map(|_| ()).map_err(map_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lbrr_flag_reads_the_leading_bits() {
        // SILK-only wideband 20 ms (config 9), code 0: VAD bit then LBRR bit.
        let toc = 9 << 3;
        assert!(lbrr_flag(&[toc, 0b0100_0000, 0]));
        assert!(!lbrr_flag(&[toc, 0b1000_0000, 0]));
        // 60 ms (config 11): three VAD bits, then LBRR.
        let toc = 11 << 3;
        assert!(lbrr_flag(&[toc, 0b0001_0000, 0]));
        assert!(!lbrr_flag(&[toc, 0b1110_0000, 0]));
        // CELT-only and DTX packets never carry LBRR.
        assert!(!lbrr_flag(&[31 << 3, 0xff, 0xff]));
        assert!(!lbrr_flag(&[9 << 3, 0xff]));
        assert!(!lbrr_flag(&[]));
    }
}
