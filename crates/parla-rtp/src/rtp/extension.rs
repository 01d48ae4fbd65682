//! RTP header extensions: the RFC 3550 block and its RFC 8285 one-byte and two-byte element forms.

use crate::error::{ParseError, WriteError, room};

/// The "defined by profile" value of the one-byte form.
const ONE_BYTE_PROFILE: u16 = 0xBEDE;
/// The two-byte form: 0x100 in the top 12 bits, 4 application bits below.
const TWO_BYTE_PROFILE: u16 = 0x1000;

/// Which RFC 8285 form an extension block uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtensionForm {
    /// One-byte headers (profile 0xBEDE): ids 1..=14, 1..=16 bytes of data each.
    OneByte,
    /// Two-byte headers (profile 0x100X): ids 1..=255, 0..=255 bytes of data each.
    TwoByte,
    /// Any other profile: the block is opaque to RFC 8285.
    Other,
}

/// One extension element: a local identifier and its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtensionElement<'a> {
    /// Local identifier negotiated in signalling (`a=extmap`).
    pub id: u8,
    /// The element's bytes.
    pub data: &'a [u8],
}

/// A validated header extension block, borrowing the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderExtension<'a> {
    /// The 16-bit "defined by profile" field.
    pub profile: u16,
    /// The extension data (a whole number of 32-bit words).
    pub data: &'a [u8],
}

impl<'a> HeaderExtension<'a> {
    /// Validates an extension block. RFC 8285 blocks must parse to the end; other profiles are
    /// accepted as opaque data.
    ///
    /// # Errors
    /// [`ParseError::Truncated`] if an element runs past the block.
    pub fn parse(profile: u16, data: &'a [u8]) -> Result<Self, ParseError> {
        let ext = HeaderExtension { profile, data };
        let mut it = ElementIter::new(ext.form(), data);
        while let Some(e) = it.next_checked() {
            e?;
        }
        Ok(ext)
    }

    /// The RFC 8285 form of this block.
    pub fn form(&self) -> ExtensionForm {
        if self.profile == ONE_BYTE_PROFILE {
            ExtensionForm::OneByte
        } else if self.profile & 0xfff0 == TWO_BYTE_PROFILE {
            ExtensionForm::TwoByte
        } else {
            ExtensionForm::Other
        }
    }

    /// The elements of an RFC 8285 block (none for other profiles). Padding is skipped.
    pub fn elements(&self) -> impl Iterator<Item = ExtensionElement<'a>> + 'a {
        let mut it = ElementIter::new(self.form(), self.data);
        // The block was validated in `parse`, so errors cannot occur here; stop on one anyway.
        std::iter::from_fn(move || it.next_checked().and_then(Result::ok))
    }

    fn choose_form(elements: &[ExtensionElement<'_>]) -> Result<ExtensionForm, WriteError> {
        let mut one_byte = true;
        for e in elements {
            if e.id == 0 {
                return Err(WriteError::OutOfRange("extension id"));
            }
            if e.data.len() > 255 {
                return Err(WriteError::OutOfRange("extension element length"));
            }
            if e.id > 14 || e.data.is_empty() || e.data.len() > 16 {
                one_byte = false;
            }
        }
        Ok(if one_byte {
            ExtensionForm::OneByte
        } else {
            ExtensionForm::TwoByte
        })
    }

    /// Bytes the extension block for `elements` takes in a packet (0 if there are none).
    ///
    /// # Errors
    /// [`WriteError::OutOfRange`] for an id of 0, an element over 255 bytes or a block over
    /// 65535 words.
    pub fn encoded_len(elements: &[ExtensionElement<'_>]) -> Result<usize, WriteError> {
        if elements.is_empty() {
            return Ok(0);
        }
        let per = match Self::choose_form(elements)? {
            ExtensionForm::OneByte => 1,
            _ => 2,
        };
        let body: usize = elements.iter().map(|e| per + e.data.len()).sum();
        let padded = body.div_ceil(4) * 4;
        if padded / 4 > usize::from(u16::MAX) {
            return Err(WriteError::OutOfRange("extension block length"));
        }
        Ok(4 + padded)
    }

    /// Writes the extension block for `elements` at the start of `out`; returns its length.
    pub(crate) fn write(
        elements: &[ExtensionElement<'_>],
        out: &mut [u8],
    ) -> Result<usize, WriteError> {
        let total = Self::encoded_len(elements)?;
        if total == 0 {
            return Ok(0);
        }
        room(out, total)?;
        let form = Self::choose_form(elements)?;
        let profile = match form {
            ExtensionForm::OneByte => ONE_BYTE_PROFILE,
            _ => TWO_BYTE_PROFILE,
        };
        out[0..2].copy_from_slice(&profile.to_be_bytes());
        out[2..4].copy_from_slice(&(((total - 4) / 4) as u16).to_be_bytes());
        let mut pos = 4;
        for e in elements {
            if form == ExtensionForm::OneByte {
                out[pos] = (e.id << 4) | (e.data.len() as u8 - 1);
                pos += 1;
            } else {
                out[pos] = e.id;
                out[pos + 1] = e.data.len() as u8;
                pos += 2;
            }
            out[pos..pos + e.data.len()].copy_from_slice(e.data);
            pos += e.data.len();
        }
        out[pos..total].fill(0);
        Ok(total)
    }
}

struct ElementIter<'a> {
    form: ExtensionForm,
    data: &'a [u8],
    pos: usize,
}

impl<'a> ElementIter<'a> {
    fn new(form: ExtensionForm, data: &'a [u8]) -> Self {
        ElementIter { form, data, pos: 0 }
    }

    fn next_checked(&mut self) -> Option<Result<ExtensionElement<'a>, ParseError>> {
        loop {
            let b = *self.data.get(self.pos)?;
            match self.form {
                ExtensionForm::Other => return None,
                ExtensionForm::OneByte => {
                    let id = b >> 4;
                    if id == 0 {
                        // Padding byte.
                        self.pos += 1;
                        continue;
                    }
                    if id == 15 {
                        // Reserved: stop processing the block (RFC 8285 section 4.2).
                        self.pos = self.data.len();
                        return None;
                    }
                    let len = usize::from(b & 0x0f) + 1;
                    return Some(self.take(id, 1, len));
                }
                ExtensionForm::TwoByte => {
                    if b == 0 {
                        self.pos += 1;
                        continue;
                    }
                    let Some(&len) = self.data.get(self.pos + 1) else {
                        let needed = self.pos + 2;
                        self.pos = self.data.len();
                        return Some(Err(ParseError::Truncated {
                            needed,
                            got: self.data.len(),
                        }));
                    };
                    return Some(self.take(b, 2, usize::from(len)));
                }
            }
        }
    }

    fn take(
        &mut self,
        id: u8,
        header: usize,
        len: usize,
    ) -> Result<ExtensionElement<'a>, ParseError> {
        let start = self.pos + header;
        let end = start + len;
        if end > self.data.len() {
            self.pos = self.data.len();
            return Err(ParseError::Truncated {
                needed: end,
                got: self.data.len(),
            });
        }
        self.pos = end;
        Ok(ExtensionElement {
            id,
            data: &self.data[start..end],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_byte_form_when_needed() {
        let big = [9u8; 40];
        let els = [
            ExtensionElement { id: 200, data: &[] },
            ExtensionElement { id: 3, data: &big },
        ];
        let mut buf = [0u8; 64];
        let n = HeaderExtension::write(&els, &mut buf).unwrap();
        assert_eq!(n, 4 + 44);
        let ext = HeaderExtension::parse(u16::from_be_bytes([buf[0], buf[1]]), &buf[4..n]).unwrap();
        assert_eq!(ext.form(), ExtensionForm::TwoByte);
        let got: Vec<_> = ext.elements().collect();
        assert_eq!(got, els.to_vec());
    }

    #[test]
    fn one_byte_padding_and_stop() {
        // id 1 len 1, padding, id 15 (stop), then garbage that must be ignored.
        let data = [0x10, 0xab, 0x00, 0xf0, 0xff, 0xff, 0xff, 0xff];
        let ext = HeaderExtension::parse(ONE_BYTE_PROFILE, &data).unwrap();
        let got: Vec<_> = ext.elements().collect();
        assert_eq!(
            got,
            vec![ExtensionElement {
                id: 1,
                data: &[0xab]
            }]
        );
        // An element running past the block is an error.
        assert!(HeaderExtension::parse(ONE_BYTE_PROFILE, &[0x13, 1, 2, 3]).is_err());
        assert!(HeaderExtension::parse(0x1000, &[5, 9, 1, 2]).is_err());
        // An unknown profile is opaque.
        let other = HeaderExtension::parse(0x1234, &[1, 2, 3, 4]).unwrap();
        assert_eq!(other.elements().count(), 0);
    }
}
