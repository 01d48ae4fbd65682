//! Ogg Opus files (RFC 7845).
//!
//! The writer puts the `OpusHead` identification header and the `OpusTags` comment header on
//! pages of their own, then the audio packets with granule positions counted in 48 kHz samples
//! decoded from the start of the stream, the pre-skip samples (the encoder's lookahead, which a
//! player drops) included. The last page carries the end-of-stream flag and a granule position trimmed to the
//! real input length, so the file's duration is exact. The Ogg page layer is the `ogg` crate.

use std::io::{Read, Seek, Write};

use ogg::writing::{PacketWriteEndInfo, PacketWriter};

use super::ContainerError;

const FORMAT: &str = "Ogg Opus";

/// Largest Ogg packet the reader accepts (an Opus packet is at most a few KiB; headers with
/// cover art can be larger).
pub const MAX_PACKET_BYTES: usize = 1 << 20;

/// Packets per Ogg page (50 x 20 ms = 1 s, a common choice that bounds seeking granularity).
const PACKETS_PER_PAGE: u32 = 50;

/// The fields of an `OpusHead` header (channel mapping family 0: mono or stereo).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpusHead {
    /// 1 or 2.
    pub channels: u8,
    /// Samples at 48 kHz to drop from the start of the decoded stream.
    pub pre_skip: u16,
    /// The original input's sample rate (informational).
    pub input_rate: u32,
    /// Output gain in Q7.8 dB.
    pub output_gain: i16,
}

impl OpusHead {
    fn to_bytes(self) -> Vec<u8> {
        let mut b = Vec::with_capacity(19);
        b.extend_from_slice(b"OpusHead");
        b.push(1);
        b.push(self.channels);
        b.extend_from_slice(&self.pre_skip.to_le_bytes());
        b.extend_from_slice(&self.input_rate.to_le_bytes());
        b.extend_from_slice(&self.output_gain.to_le_bytes());
        b.push(0);
        b
    }

    fn parse(b: &[u8]) -> Result<Self, ContainerError> {
        let bad = |what| ContainerError::Format {
            format: FORMAT,
            what,
        };
        if b.len() < 19 || &b[0..8] != b"OpusHead" {
            return Err(bad("first packet is not OpusHead"));
        }
        if b[8] >> 4 != 0 {
            return Err(bad("unsupported OpusHead version"));
        }
        if b[18] != 0 || !(1..=2).contains(&b[9]) {
            return Err(bad(
                "only channel mapping family 0 (mono/stereo) is supported",
            ));
        }
        Ok(OpusHead {
            channels: b[9],
            pre_skip: u16::from_le_bytes([b[10], b[11]]),
            input_rate: u32::from_le_bytes([b[12], b[13], b[14], b[15]]),
            output_gain: i16::from_le_bytes([b[16], b[17]]),
        })
    }
}

/// Writes an Ogg Opus file packet by packet.
pub struct OggOpusWriter<W: Write> {
    pw: PacketWriter<'static, W>,
    serial: u32,
    pre_skip: u64,
    granule: u64,
    held: Option<(Vec<u8>, u64)>,
    in_page: u32,
}

impl<W: Write> std::fmt::Debug for OggOpusWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OggOpusWriter")
            .field("serial", &self.serial)
            .field("granule", &self.granule)
            .finish()
    }
}

impl<W: Write> OggOpusWriter<W> {
    /// Start a stream: write the two header pages. `head.pre_skip` should be the encoder's
    /// lookahead converted to 48 kHz samples.
    ///
    /// # Errors
    /// [`ContainerError::Io`] if writing fails.
    pub fn new(out: W, head: OpusHead, serial: u32, vendor: &str) -> Result<Self, ContainerError> {
        let mut pw = PacketWriter::new(out);
        pw.write_packet(head.to_bytes(), serial, PacketWriteEndInfo::EndPage, 0)?;
        let mut tags = Vec::new();
        tags.extend_from_slice(b"OpusTags");
        tags.extend_from_slice(&(vendor.len() as u32).to_le_bytes());
        tags.extend_from_slice(vendor.as_bytes());
        tags.extend_from_slice(&0u32.to_le_bytes());
        pw.write_packet(tags, serial, PacketWriteEndInfo::EndPage, 0)?;
        Ok(OggOpusWriter {
            pw,
            serial,
            pre_skip: u64::from(head.pre_skip),
            // RFC 7845 section 4: a page's granule position counts every sample decoded up
            // to its end, pre-skip samples included; the stream starts at 0.
            granule: 0,
            held: None,
            in_page: 0,
        })
    }

    /// Append one Opus packet that decodes to `samples_48k` samples per channel at 48 kHz.
    ///
    /// # Errors
    /// [`ContainerError::Io`] if writing fails.
    pub fn write_packet(&mut self, packet: &[u8], samples_48k: u64) -> Result<(), ContainerError> {
        self.granule += samples_48k;
        if let Some((data, gp)) = self.held.take() {
            self.in_page += 1;
            let end = if self.in_page >= PACKETS_PER_PAGE {
                self.in_page = 0;
                PacketWriteEndInfo::EndPage
            } else {
                PacketWriteEndInfo::NormalPacket
            };
            self.pw.write_packet(data, self.serial, end, gp)?;
        }
        self.held = Some((packet.to_vec(), self.granule));
        Ok(())
    }

    /// End the stream. `input_samples_48k`, if known, is the real input length (at 48 kHz): the
    /// last granule position is trimmed to it so players drop the padding of the last packet.
    ///
    /// # Errors
    /// [`ContainerError::Io`] if writing fails.
    pub fn finish(mut self, input_samples_48k: Option<u64>) -> Result<W, ContainerError> {
        let (data, gp) = self.held.take().unwrap_or((Vec::new(), self.granule));
        let gp = match input_samples_48k {
            Some(n) => (self.pre_skip + n).min(gp),
            None => gp,
        };
        self.pw
            .write_packet(data, self.serial, PacketWriteEndInfo::EndStream, gp)?;
        let mut out = self.pw.into_inner();
        out.flush()?;
        Ok(out)
    }
}

/// Reads the Opus packets of an Ogg Opus file (the first logical stream).
pub struct OggOpusReader<R: Read + Seek> {
    pr: ogg::reading::PacketReader<R>,
    head: OpusHead,
    serial: u32,
    last_granule: Option<u64>,
}

impl<R: Read + Seek> std::fmt::Debug for OggOpusReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OggOpusReader")
            .field("head", &self.head)
            .finish()
    }
}

fn ogg_err(_: ogg::OggReadError) -> ContainerError {
    ContainerError::Format {
        format: FORMAT,
        what: "corrupt Ogg page",
    }
}

impl<R: Read + Seek> OggOpusReader<R> {
    /// Read the two headers.
    ///
    /// # Errors
    /// [`ContainerError::Format`] if the file is not Ogg Opus (mapping family 0).
    pub fn new(input: R) -> Result<Self, ContainerError> {
        let mut pr = ogg::reading::PacketReader::new(input);
        let first = pr
            .read_packet()
            .map_err(ogg_err)?
            .ok_or(ContainerError::Format {
                format: FORMAT,
                what: "empty file",
            })?;
        let head = OpusHead::parse(&first.data)?;
        let serial = first.stream_serial();
        loop {
            let p = pr
                .read_packet()
                .map_err(ogg_err)?
                .ok_or(ContainerError::Format {
                    format: FORMAT,
                    what: "missing OpusTags",
                })?;
            if p.stream_serial() != serial {
                continue;
            }
            if p.data.len() < 8 || &p.data[0..8] != b"OpusTags" {
                return Err(ContainerError::Format {
                    format: FORMAT,
                    what: "second packet is not OpusTags",
                });
            }
            break;
        }
        Ok(OggOpusReader {
            pr,
            head,
            serial,
            last_granule: None,
        })
    }

    /// The identification header.
    pub fn head(&self) -> &OpusHead {
        &self.head
    }

    /// The granule position of the last page read so far (after the last packet: the stream's
    /// length at 48 kHz including pre-skip).
    pub fn last_granule(&self) -> Option<u64> {
        self.last_granule
    }

    /// The next Opus packet, or `None` at the end of the stream.
    ///
    /// # Errors
    /// [`ContainerError::Format`] for a corrupt page; [`ContainerError::Limit`] for a packet
    /// over [`MAX_PACKET_BYTES`].
    pub fn next_packet(&mut self) -> Result<Option<Vec<u8>>, ContainerError> {
        loop {
            let Some(p) = self.pr.read_packet().map_err(ogg_err)? else {
                return Ok(None);
            };
            if p.stream_serial() != self.serial {
                continue;
            }
            if p.data.len() > MAX_PACKET_BYTES {
                return Err(ContainerError::Limit {
                    what: "Ogg packet size",
                    value: p.data.len() as u64,
                    max: MAX_PACKET_BYTES as u64,
                });
            }
            if p.last_in_page() {
                self.last_granule = Some(p.absgp_page());
            }
            if p.data.is_empty() && p.last_in_stream() {
                return Ok(None);
            }
            return Ok(Some(p.data));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn round_trip_headers_packets_and_granule() {
        let head = OpusHead {
            channels: 1,
            pre_skip: 312,
            input_rate: 16_000,
            output_gain: 0,
        };
        let mut w = OggOpusWriter::new(Cursor::new(Vec::new()), head, 7, "parla").unwrap();
        for i in 0..120u8 {
            w.write_packet(&[0x08, i], 960).unwrap();
        }
        let bytes = w.finish(Some(120 * 960 - 500)).unwrap().into_inner();
        let mut r = OggOpusReader::new(Cursor::new(bytes)).unwrap();
        assert_eq!(*r.head(), head);
        let mut n = 0u8;
        while let Some(p) = r.next_packet().unwrap() {
            assert_eq!(p, vec![0x08, n]);
            n += 1;
        }
        assert_eq!(n, 120);
        assert_eq!(r.last_granule(), Some(312 + 120 * 960 - 500));
        // Pages end every 50 packets, with the samples decoded so far as granule position.
        let mut w = OggOpusWriter::new(Cursor::new(Vec::new()), head, 7, "parla").unwrap();
        for _ in 0..60 {
            w.write_packet(&[0x08], 960).unwrap();
        }
        let bytes = w.finish(None).unwrap().into_inner();
        let mut pr = ogg::reading::PacketReader::new(Cursor::new(bytes));
        let mut granules = Vec::new();
        while let Some(p) = pr.read_packet().unwrap() {
            if p.last_in_page() {
                granules.push(p.absgp_page());
            }
        }
        assert_eq!(granules, vec![0, 0, 50 * 960, 60 * 960]);
        assert!(OggOpusReader::new(Cursor::new(b"OggS garbage".to_vec())).is_err());
    }
}
