//! The SFrame header (RFC 9605 section 4.3): parsed and written without allocating.

/// The largest SFrame header (config byte, 8-byte key id, 8-byte counter).
pub const MAX_HEADER_LEN: usize = 17;

/// The fields of an SFrame header (RFC 9605 section 4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SframeHeaderInfo {
    /// Key id (KID).
    pub key_id: u64,
    /// Frame counter (CTR).
    pub counter: u64,
    /// Header length in bytes.
    pub len: usize,
}

/// Parses the SFrame header at the start of `data` without allocating. Returns `None` if `data`
/// ends inside the header.
///
/// Layout: a config byte `X KKK Y CCC`; with X clear, KKK is the key id, with X set the key id
/// follows in KKK+1 big-endian bytes; then the same for the counter with Y and CCC.
pub fn parse_sframe_header(data: &[u8]) -> Option<SframeHeaderInfo> {
    let &cfg = data.first()?;
    let mut pos = 1;
    let mut field = |extended: bool, v: u8| -> Option<u64> {
        if !extended {
            return Some(u64::from(v));
        }
        let len = usize::from(v) + 1;
        let bytes = data.get(pos..pos + len)?;
        pos += len;
        Some(bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    };
    let key_id = field(cfg & 0x80 != 0, (cfg >> 4) & 0x07)?;
    let counter = field(cfg & 0x08 != 0, cfg & 0x07)?;
    Some(SframeHeaderInfo {
        key_id,
        counter,
        len: pos,
    })
}

/// Bytes an extended field needs for `v` (0 when it fits the config byte's 3 bits).
fn extended_len(v: u64) -> usize {
    if v < 8 {
        0
    } else {
        8 - (v.leading_zeros() / 8) as usize
    }
}

/// The length of the header [`write_sframe_header`] writes for `key_id` and `counter`.
pub fn sframe_header_len(key_id: u64, counter: u64) -> usize {
    1 + extended_len(key_id) + extended_len(counter)
}

/// Writes the shortest SFrame header for `key_id` and `counter` at the start of `out` and
/// returns its length (at most [`MAX_HEADER_LEN`]), or `None` if `out` is too short.
pub fn write_sframe_header(key_id: u64, counter: u64, out: &mut [u8]) -> Option<usize> {
    let len = sframe_header_len(key_id, counter);
    let out = out.get_mut(..len)?;
    let mut pos = 1;
    let mut field = |v: u64| -> u8 {
        let n = extended_len(v);
        if n == 0 {
            return v as u8; // < 8
        }
        out[pos..pos + n].copy_from_slice(&v.to_be_bytes()[8 - n..]);
        pos += n;
        0x08 | (n - 1) as u8
    };
    let k = field(key_id);
    let c = field(counter);
    out[0] = (k << 4) | c;
    Some(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_then_parse_edges() {
        let values = [
            0,
            1,
            7,
            8,
            255,
            256,
            0xffff,
            0x1_0000,
            u64::MAX >> 8,
            u64::MAX,
        ];
        for &k in &values {
            for &c in &values {
                let mut buf = [0u8; MAX_HEADER_LEN];
                let n = write_sframe_header(k, c, &mut buf).unwrap();
                assert_eq!(n, sframe_header_len(k, c));
                let h = parse_sframe_header(&buf[..n]).unwrap();
                assert_eq!((h.key_id, h.counter, h.len), (k, c, n));
                assert!(parse_sframe_header(&buf[..n - 1]).is_none() || n == 1);
                assert_eq!(write_sframe_header(k, c, &mut buf[..n - 1]), None);
            }
        }
        assert_eq!(sframe_header_len(u64::MAX, u64::MAX), MAX_HEADER_LEN);
    }
}
