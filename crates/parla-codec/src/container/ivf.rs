//! IVF files: the container libvpx's tools and FFmpeg use for raw VP8 streams.
//!
//! Layout (all little-endian): a 32-byte file header (`DKIF`, version 0, header size 32, fourcc,
//! width, height, time-base denominator, numerator, frame count, unused), then per frame a 12-byte
//! header (payload size u32, timestamp u64) and the payload. Timestamps here are microseconds
//! (time base 1/1000000), as [`MediaTime`].

use std::io::{Read, Seek, SeekFrom, Write};

use parla_core::MediaTime;

use super::ContainerError;

/// Largest frame payload a reader accepts (16 MiB: far above any VP8 frame at 8K).
pub const MAX_FRAME_BYTES: u32 = 16 << 20;

const FORMAT: &str = "IVF";

/// Writes an IVF file frame by frame; [`IvfWriter::finish`] patches the frame count.
#[derive(Debug)]
pub struct IvfWriter<W: Write + Seek> {
    out: W,
    frames: u32,
}

impl<W: Write + Seek> IvfWriter<W> {
    /// Start a file for `fourcc` (`*b"VP80"`) at `width`x`height`.
    ///
    /// # Errors
    /// [`ContainerError::Io`] if writing fails; [`ContainerError::Limit`] for sizes over 65535.
    pub fn new(
        mut out: W,
        fourcc: [u8; 4],
        width: u32,
        height: u32,
    ) -> Result<Self, ContainerError> {
        let w = u16::try_from(width).map_err(|_| limit("width", width))?;
        let h = u16::try_from(height).map_err(|_| limit("height", height))?;
        let mut hdr = [0u8; 32];
        hdr[0..4].copy_from_slice(b"DKIF");
        hdr[4..6].copy_from_slice(&0u16.to_le_bytes());
        hdr[6..8].copy_from_slice(&32u16.to_le_bytes());
        hdr[8..12].copy_from_slice(&fourcc);
        hdr[12..14].copy_from_slice(&w.to_le_bytes());
        hdr[14..16].copy_from_slice(&h.to_le_bytes());
        hdr[16..20].copy_from_slice(&1_000_000u32.to_le_bytes());
        hdr[20..24].copy_from_slice(&1u32.to_le_bytes());
        out.write_all(&hdr)?;
        Ok(IvfWriter { out, frames: 0 })
    }

    /// Append one frame.
    ///
    /// # Errors
    /// [`ContainerError::Io`] if writing fails; [`ContainerError::Limit`] for a frame over
    /// [`MAX_FRAME_BYTES`].
    pub fn write_frame(&mut self, data: &[u8], timestamp: MediaTime) -> Result<(), ContainerError> {
        let len = u32::try_from(data.len())
            .ok()
            .filter(|&l| l <= MAX_FRAME_BYTES)
            .ok_or(ContainerError::Limit {
                what: "IVF frame size",
                value: data.len() as u64,
                max: u64::from(MAX_FRAME_BYTES),
            })?;
        self.out.write_all(&len.to_le_bytes())?;
        self.out.write_all(&timestamp.as_micros().to_le_bytes())?;
        self.out.write_all(data)?;
        self.frames += 1;
        Ok(())
    }

    /// Write the frame count into the header and return the writer.
    ///
    /// # Errors
    /// [`ContainerError::Io`] if seeking or writing fails.
    pub fn finish(mut self) -> Result<W, ContainerError> {
        let end = self.out.stream_position()?;
        self.out.seek(SeekFrom::Start(24))?;
        self.out.write_all(&self.frames.to_le_bytes())?;
        self.out.seek(SeekFrom::Start(end))?;
        self.out.flush()?;
        Ok(self.out)
    }
}

fn limit(what: &'static str, value: u32) -> ContainerError {
    ContainerError::Limit {
        what,
        value: u64::from(value),
        max: u64::from(u16::MAX),
    }
}

/// The header of an IVF file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IvfHeader {
    /// Codec fourcc (`VP80` for VP8).
    pub fourcc: [u8; 4],
    /// Width in pixels.
    pub width: u16,
    /// Height in pixels.
    pub height: u16,
    /// Time base numerator.
    pub timebase_num: u32,
    /// Time base denominator.
    pub timebase_den: u32,
    /// Frame count (as written; may be 0 in streamed files).
    pub frames: u32,
}

/// Reads an IVF file frame by frame.
#[derive(Debug)]
pub struct IvfReader<R: Read> {
    input: R,
    header: IvfHeader,
}

fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([b[i], b[i + 1]])
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

impl<R: Read> IvfReader<R> {
    /// Read and check the file header.
    ///
    /// # Errors
    /// [`ContainerError::Format`] if it is not an IVF header; [`ContainerError::Io`].
    pub fn new(mut input: R) -> Result<Self, ContainerError> {
        let mut hdr = [0u8; 32];
        input.read_exact(&mut hdr)?;
        if &hdr[0..4] != b"DKIF" {
            return Err(ContainerError::Format {
                format: FORMAT,
                what: "missing DKIF signature",
            });
        }
        let hlen = u16_at(&hdr, 6);
        if hlen < 32 {
            return Err(ContainerError::Format {
                format: FORMAT,
                what: "header shorter than 32 bytes",
            });
        }
        // Skip any header extension.
        let extra = u64::from(hlen - 32);
        std::io::copy(&mut (&mut input).take(extra), &mut std::io::sink())?;
        let header = IvfHeader {
            fourcc: [hdr[8], hdr[9], hdr[10], hdr[11]],
            width: u16_at(&hdr, 12),
            height: u16_at(&hdr, 14),
            timebase_den: u32_at(&hdr, 16),
            timebase_num: u32_at(&hdr, 20),
            frames: u32_at(&hdr, 24),
        };
        Ok(IvfReader { input, header })
    }

    /// The file header.
    pub fn header(&self) -> &IvfHeader {
        &self.header
    }

    /// The next frame and its timestamp converted to media time, or `None` at the end.
    ///
    /// # Errors
    /// [`ContainerError::Limit`] for a frame over [`MAX_FRAME_BYTES`]; [`ContainerError::Io`]
    /// for a truncated file.
    pub fn next_frame(&mut self) -> Result<Option<(Vec<u8>, MediaTime)>, ContainerError> {
        let mut fh = [0u8; 12];
        let mut got = 0;
        while got < fh.len() {
            let n = self.input.read(&mut fh[got..])?;
            if n == 0 {
                break;
            }
            got += n;
        }
        if got == 0 {
            return Ok(None);
        }
        if got < fh.len() {
            return Err(ContainerError::Format {
                format: FORMAT,
                what: "truncated frame header",
            });
        }
        let len = u32_at(&fh, 0);
        if len > MAX_FRAME_BYTES {
            return Err(ContainerError::Limit {
                what: "IVF frame size",
                value: u64::from(len),
                max: u64::from(MAX_FRAME_BYTES),
            });
        }
        let ts = u64::from_le_bytes([fh[4], fh[5], fh[6], fh[7], fh[8], fh[9], fh[10], fh[11]]);
        let mut data = vec![0; len as usize];
        self.input.read_exact(&mut data)?;
        let num = u128::from(self.header.timebase_num.max(1));
        let den = u128::from(self.header.timebase_den.max(1));
        let us = (u128::from(ts) * num * 1_000_000 / den).min(u128::from(u64::MAX)) as u64;
        Ok(Some((data, MediaTime::from_micros(us))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn round_trip() {
        let mut w = IvfWriter::new(Cursor::new(Vec::new()), *b"VP80", 320, 240).unwrap();
        w.write_frame(&[1, 2, 3], MediaTime::from_millis(0))
            .unwrap();
        w.write_frame(&[4; 100], MediaTime::from_millis(33))
            .unwrap();
        let bytes = w.finish().unwrap().into_inner();
        let mut r = IvfReader::new(Cursor::new(&bytes)).unwrap();
        assert_eq!(r.header().frames, 2);
        assert_eq!((r.header().width, r.header().height), (320, 240));
        assert_eq!(r.next_frame().unwrap().unwrap().0, vec![1, 2, 3]);
        let (d, t) = r.next_frame().unwrap().unwrap();
        assert_eq!((d.len(), t), (100, MediaTime::from_millis(33)));
        assert!(r.next_frame().unwrap().is_none());
        // Truncation and absurd sizes are errors, not panics or huge allocations.
        let mut r = IvfReader::new(Cursor::new(&bytes[..bytes.len() - 1])).unwrap();
        r.next_frame().unwrap();
        assert!(r.next_frame().is_err());
        let mut bad = bytes.clone();
        bad[32..36].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            IvfReader::new(Cursor::new(&bad)).unwrap().next_frame(),
            Err(ContainerError::Limit { .. })
        ));
        assert!(IvfReader::new(Cursor::new(b"RIFF....")).is_err());
    }
}
