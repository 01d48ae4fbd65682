//! YUV4MPEG2 (Y4M) raw video, 4:2:0 only: a text header line (`YUV4MPEG2 W.. H.. F..:.. C420..`)
//! then per frame a `FRAME` line and the I420 planes.

use std::io::{BufRead, Write};

use parla_core::MediaTime;
use parla_core::video::{PixelFormat, VideoFrame, check_size};

use super::ContainerError;

const FORMAT: &str = "Y4M";
const MAX_LINE: usize = 1024;

/// The stream parameters of a Y4M file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Y4mHeader {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Frame rate numerator.
    pub fps_num: u32,
    /// Frame rate denominator.
    pub fps_den: u32,
}

impl Y4mHeader {
    /// Media time of frame `index`.
    pub fn frame_time(&self, index: u64) -> MediaTime {
        let us = u128::from(index) * 1_000_000 * u128::from(self.fps_den.max(1))
            / u128::from(self.fps_num.max(1));
        MediaTime::from_micros(us.min(u128::from(u64::MAX)) as u64)
    }
}

/// Writes I420 frames as Y4M.
#[derive(Debug)]
pub struct Y4mWriter<W: Write> {
    out: W,
    header: Y4mHeader,
}

impl<W: Write> Y4mWriter<W> {
    /// Write the header.
    ///
    /// # Errors
    /// [`ContainerError::Io`] if writing fails.
    pub fn new(mut out: W, header: Y4mHeader) -> Result<Self, ContainerError> {
        writeln!(
            out,
            "YUV4MPEG2 W{} H{} F{}:{} Ip A1:1 C420jpeg",
            header.width, header.height, header.fps_num, header.fps_den
        )?;
        Ok(Y4mWriter { out, header })
    }

    /// Append a frame, which must be I420 at the header's size.
    ///
    /// # Errors
    /// [`ContainerError::Format`] for another format or size; [`ContainerError::Io`].
    pub fn write_frame(&mut self, frame: &VideoFrame) -> Result<(), ContainerError> {
        if frame.format() != PixelFormat::I420
            || frame.width() != self.header.width
            || frame.height() != self.header.height
        {
            return Err(ContainerError::Format {
                format: FORMAT,
                what: "frame is not I420 at the stream's size",
            });
        }
        self.out.write_all(b"FRAME\n")?;
        self.out.write_all(frame.data())?;
        Ok(())
    }

    /// Flush and return the writer.
    ///
    /// # Errors
    /// [`ContainerError::Io`] if flushing fails.
    pub fn finish(mut self) -> Result<W, ContainerError> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Reads Y4M 4:2:0 files.
#[derive(Debug)]
pub struct Y4mReader<R: BufRead> {
    input: R,
    header: Y4mHeader,
    index: u64,
}

fn read_line<R: BufRead>(input: &mut R) -> Result<Option<Vec<u8>>, ContainerError> {
    let mut line = Vec::new();
    let mut limited = std::io::Read::take(&mut *input, MAX_LINE as u64);
    let n = limited.read_until(b'\n', &mut line)?;
    if n == 0 {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') {
        return Err(ContainerError::Format {
            format: FORMAT,
            what: "header line too long or truncated",
        });
    }
    line.pop();
    Ok(Some(line))
}

fn bad(what: &'static str) -> ContainerError {
    ContainerError::Format {
        format: FORMAT,
        what,
    }
}

impl<R: BufRead> Y4mReader<R> {
    /// Read and check the header.
    ///
    /// # Errors
    /// [`ContainerError::Format`] for a malformed header or a colour space other than 4:2:0;
    /// [`ContainerError::Limit`] for sizes over [`parla_core::video::MAX_DIMENSION`].
    pub fn new(mut input: R) -> Result<Self, ContainerError> {
        let line = read_line(&mut input)?.ok_or(bad("empty file"))?;
        let text = std::str::from_utf8(&line).map_err(|_| bad("header is not text"))?;
        let mut fields = text.split(' ');
        if fields.next() != Some("YUV4MPEG2") {
            return Err(bad("missing YUV4MPEG2 signature"));
        }
        let (mut w, mut h, mut num, mut den) = (0u32, 0u32, 30u32, 1u32);
        for f in fields {
            let (tag, val) = f.split_at(f.len().min(1));
            match tag {
                "W" => w = val.parse().map_err(|_| bad("bad width"))?,
                "H" => h = val.parse().map_err(|_| bad("bad height"))?,
                "F" => {
                    let (n, d) = val.split_once(':').ok_or(bad("bad frame rate"))?;
                    num = n.parse().map_err(|_| bad("bad frame rate"))?;
                    den = d.parse().map_err(|_| bad("bad frame rate"))?;
                }
                "C" => {
                    if !val.starts_with("420") {
                        return Err(bad("only 4:2:0 colour spaces are supported"));
                    }
                    if val.contains("p10") || val.contains("p12") || val.contains("p16") {
                        return Err(bad("only 8-bit samples are supported"));
                    }
                }
                "I" if val != "p" && val != "?" => {
                    return Err(bad("only progressive video is supported"));
                }
                _ => {}
            }
        }
        check_size(w, h).map_err(|_| ContainerError::Limit {
            what: "Y4M frame size",
            value: u64::from(w.max(h)),
            max: u64::from(parla_core::video::MAX_DIMENSION),
        })?;
        if num == 0 || den == 0 {
            return Err(bad("zero frame rate"));
        }
        Ok(Y4mReader {
            input,
            header: Y4mHeader {
                width: w,
                height: h,
                fps_num: num,
                fps_den: den,
            },
            index: 0,
        })
    }

    /// The stream parameters.
    pub fn header(&self) -> &Y4mHeader {
        &self.header
    }

    /// Read the next frame into `frame` (reshaped to I420 at the stream's size, reusing its
    /// buffer) with its timestamp from the frame rate. Returns `false` at the end.
    ///
    /// # Errors
    /// [`ContainerError::Format`] for a missing `FRAME` line; [`ContainerError::Io`] for a
    /// truncated frame.
    pub fn read_frame(&mut self, frame: &mut VideoFrame) -> Result<bool, ContainerError> {
        let Some(line) = read_line(&mut self.input)? else {
            return Ok(false);
        };
        if !line.starts_with(b"FRAME") {
            return Err(bad("missing FRAME marker"));
        }
        frame
            .reshape(PixelFormat::I420, self.header.width, self.header.height)
            .map_err(|_| bad("bad frame size"))?;
        self.input.read_exact(frame.data_mut())?;
        frame.timestamp = self.header.frame_time(self.index);
        frame.keyframe = false;
        self.index += 1;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn round_trip_and_rejects() {
        let header = Y4mHeader {
            width: 6,
            height: 4,
            fps_num: 30000,
            fps_den: 1001,
        };
        let mut w = Y4mWriter::new(Vec::new(), header).unwrap();
        let mut f = VideoFrame::new(PixelFormat::I420, 6, 4).unwrap();
        f.data_mut()[0] = 99;
        w.write_frame(&f).unwrap();
        w.write_frame(&f).unwrap();
        let bytes = w.finish().unwrap();
        let mut r = Y4mReader::new(Cursor::new(&bytes)).unwrap();
        assert_eq!(*r.header(), header);
        let mut g = VideoFrame::new(PixelFormat::Rgba, 1, 1).unwrap();
        assert!(r.read_frame(&mut g).unwrap());
        assert_eq!(g.data(), f.data());
        assert!(r.read_frame(&mut g).unwrap());
        assert_eq!(g.timestamp, MediaTime::from_micros(33_366));
        assert!(!r.read_frame(&mut g).unwrap());
        assert!(Y4mReader::new(Cursor::new(b"YUV4MPEG2 W6 H4 C444\n")).is_err());
        assert!(Y4mReader::new(Cursor::new(b"YUV4MPEG2 W0 H4\n")).is_err());
        assert!(Y4mReader::new(Cursor::new(b"YUV4MPEG2 W99999 H4\n")).is_err());
        let mut r = Y4mReader::new(Cursor::new(&bytes[..bytes.len() - 3])).unwrap();
        assert!(r.read_frame(&mut g).unwrap());
        assert!(r.read_frame(&mut g).is_err());
    }
}
