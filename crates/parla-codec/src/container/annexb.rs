//! H.264 Annex-B byte streams (ITU-T H.264 Annex B): NAL units separated by start codes.
//!
//! Writing a stream is concatenating access units (our encoder already emits Annex-B). Reading
//! one back into the access units a decoder wants, one picture each, follows H.264 section
//! 7.4.1.2.3: a new access unit starts at an access unit delimiter, SPS, PPS or SEI that follows
//! a picture's slices, or at a slice whose `first_mb_in_slice` is 0 (the first bit of its
//! header is 1, since `ue(v)` codes 0 as a single 1 bit).

/// NAL units of `stream` (without their start codes), in order. Bytes before the first start
/// code are skipped.
pub fn nal_units(stream: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= stream.len() {
        if stream[i] == 0 && stream[i + 1] == 0 && stream[i + 2] == 1 {
            starts.push((i, i + 3));
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut out = Vec::with_capacity(starts.len());
    for (k, &(_, payload)) in starts.iter().enumerate() {
        let mut end = starts.get(k + 1).map_or(stream.len(), |&(s, _)| s);
        // A 4-byte start code's leading zero (and trailing_zero_8bits) belong to no NAL unit.
        while end > payload && stream[end - 1] == 0 {
            end -= 1;
        }
        if end > payload {
            out.push(&stream[payload..end]);
        }
    }
    out
}

/// The `nal_unit_type` of a NAL unit (its first byte's low 5 bits).
pub fn nal_type(nal: &[u8]) -> u8 {
    nal.first().map_or(0, |b| b & 0x1f)
}

/// Split an Annex-B stream into access units, each returned as an Annex-B byte string (4-byte
/// start codes) that a decoder takes as one packet.
pub fn access_units(stream: &[u8]) -> Vec<Vec<u8>> {
    let mut units: Vec<Vec<u8>> = Vec::new();
    let mut current: Vec<u8> = Vec::new();
    let mut has_slice = false;
    for nal in nal_units(stream) {
        let t = nal_type(nal);
        let is_slice = t == 1 || t == 5;
        let first_mb_zero = is_slice && nal.get(1).is_some_and(|b| b & 0x80 != 0);
        let starts_new = has_slice && (matches!(t, 6..=9 | 14 | 15) || first_mb_zero);
        if starts_new {
            units.push(std::mem::take(&mut current));
            has_slice = false;
        }
        current.extend_from_slice(&[0, 0, 0, 1]);
        current.extend_from_slice(nal);
        has_slice |= is_slice;
    }
    if !current.is_empty() {
        units.push(current);
    }
    units
}

/// Whether an access unit holds an IDR slice (NAL type 5): a keyframe.
pub fn is_idr(access_unit: &[u8]) -> bool {
    nal_units(access_unit).iter().any(|n| nal_type(n) == 5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_nals_and_access_units() {
        // SPS, PPS, IDR slice (first_mb 0), slice (first_mb 0: new picture), slice (first_mb
        // != 0: same picture), AUD, slice.
        let stream = [
            0, 0, 0, 1, 0x67, 1, 2, //
            0, 0, 1, 0x68, 3, //
            0, 0, 1, 0x65, 0x88, 4, //
            0, 0, 0, 1, 0x41, 0x9a, 5, //
            0, 0, 1, 0x41, 0x40, 6, 0, //
            0, 0, 1, 0x09, 0x10, //
            0, 0, 1, 0x41, 0x9a, 7,
        ];
        let nals = nal_units(&stream);
        assert_eq!(nals.len(), 7);
        assert_eq!(nals[0], &[0x67, 1, 2]);
        assert_eq!(nals[4], &[0x41, 0x40, 6]);
        let aus = access_units(&stream);
        assert_eq!(aus.len(), 3);
        assert!(is_idr(&aus[0]));
        assert!(!is_idr(&aus[1]));
        assert_eq!(nal_units(&aus[0]).len(), 3);
        assert_eq!(nal_units(&aus[1]).len(), 2);
        assert_eq!(nal_units(&aus[2]).len(), 2);
        assert!(access_units(&[1, 2, 3]).is_empty());
        assert!(nal_units(&[0, 0, 1]).is_empty());
    }
}
