//! Where `parla rtp send` and `parla rtp recv` get the end-to-end encryption base key: a file
//! (`--e2ee-key-file PATH`) or the environment (`PARLA_E2EE_KEY`), never the command line,
//! whose arguments other local users can read in the process list (`ps`) and which stays in
//! shell history.

use std::io::Read as _;
use std::path::Path;

use anyhow::{Context, bail};
use zeroize::Zeroizing;

use crate::cmd::UsageError;

/// Environment variable that can hold the base key as hexadecimal (instead of a key file).
pub(crate) const KEY_ENV: &str = "PARLA_E2EE_KEY";
/// Shortest accepted SFrame base key in bytes (what `parla-rtp` requires).
const MIN_KEY_BYTES: usize = 16;
/// Longest accepted base key in bytes.
const MAX_KEY_BYTES: usize = 64;
/// Largest key file read: a key is at most 128 hex digits, so anything much larger is the
/// wrong file.
const MAX_KEY_FILE_BYTES: u64 = 4096;

/// The error for the removed `--e2ee-key HEX` flag (a usage error: exit status 2). The value
/// given is not repeated.
pub(crate) fn removed_key_flag() -> anyhow::Error {
    UsageError(format!(
        "--e2ee-key was removed: a key on the command line is visible to other users in the \
         process list (ps) and stays in shell history; put the hex key in a file and pass \
         --e2ee-key-file PATH, or set {KEY_ENV}"
    ))
    .into()
}

/// The base key from `--e2ee-key-file` (`file`) or from `PARLA_E2EE_KEY`, or `None` if neither
/// is given (no encryption).
///
/// # Errors
/// Both sources given (even an empty variable counts as given), an unreadable file, or a key
/// that is not 16-64 bytes of hexadecimal: one line saying which source and what is wrong,
/// never the key itself.
pub(crate) fn load_key(file: Option<&Path>) -> anyhow::Result<Option<Zeroizing<Vec<u8>>>> {
    let env = std::env::var_os(KEY_ENV);
    match (file, env) {
        (Some(_), Some(_)) => bail!(
            "the key is given twice (--e2ee-key-file and {KEY_ENV}): unset {KEY_ENV} or drop \
             --e2ee-key-file"
        ),
        (Some(path), None) => {
            let source = format!("key file '{}'", path.display());
            let text = read_key_file(path).with_context(|| source.clone())?;
            parse_key(&text, &source).map(Some)
        }
        (None, Some(value)) => {
            let Some(text) = value.to_str() else {
                bail!("{KEY_ENV} must be hexadecimal (0-9, a-f)");
            };
            parse_key(text, KEY_ENV).map(Some)
        }
        (None, None) => Ok(None),
    }
}

/// Reads a key file (at most [`MAX_KEY_FILE_BYTES`]) as text.
fn read_key_file(path: &Path) -> anyhow::Result<Zeroizing<String>> {
    let file = std::fs::File::open(path).context("cannot open it")?;
    let mut bytes = Zeroizing::new(Vec::with_capacity(256));
    file.take(MAX_KEY_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .context("cannot read it")?;
    if bytes.len() as u64 > MAX_KEY_FILE_BYTES {
        bail!(
            "larger than {MAX_KEY_FILE_BYTES} bytes: not a key file (the key is 32-128 hex digits)"
        );
    }
    match std::str::from_utf8(&bytes) {
        Ok(s) => Ok(Zeroizing::new(s.to_owned())),
        Err(_) => bail!("must hold the key as hexadecimal text (0-9, a-f)"),
    }
}

/// Parses a base key given as hexadecimal (16 to 64 bytes, surrounding whitespace ignored);
/// `source` names where it came from in errors.
///
/// # Errors
/// Not hexadecimal, an odd number of digits, or a length outside 16-64 bytes.
pub(crate) fn parse_key(hex: &str, source: &str) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    let hex = hex.trim();
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    if !hex.bytes().all(|c| digit(c).is_some()) {
        bail!("{source} must be hexadecimal (0-9, a-f)");
    }
    if !hex.len().is_multiple_of(2) {
        bail!("{source} must be hexadecimal with an even number of digits");
    }
    let n = hex.len() / 2;
    if !(MIN_KEY_BYTES..=MAX_KEY_BYTES).contains(&n) {
        bail!(
            "{source} must hold a key of {MIN_KEY_BYTES} to {MAX_KEY_BYTES} bytes ({} to {} hex \
             digits), got {n} bytes",
            2 * MIN_KEY_BYTES,
            2 * MAX_KEY_BYTES
        );
    }
    // Filled in place, so no copy of the key is left in a freed buffer.
    let mut key = Zeroizing::new(Vec::with_capacity(n));
    for pair in hex.as_bytes().chunks_exact(2) {
        if let (Some(h), Some(l)) = (digit(pair[0]), digit(pair[1])) {
            key.push(h << 4 | l);
        }
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn keys_parse_from_hex_and_bad_ones_are_refused() {
        assert_eq!(
            *parse_key(" 000102030405060708090a0B0c0D0e0F\n", "k").unwrap(),
            (0u8..16).collect::<Vec<_>>()
        );
        for bad in [
            "",
            "0001",
            "000102030405060708090a0b0c0d0e0",
            "000102030405060708090a0b0c0d0e0g",
            "00010203 0405060708090a0b0c0d0e0f",
            "é0000102030405060708090a0b0c0d0e0f",
        ] {
            let e = parse_key(bad, "key file 'k'").unwrap_err().to_string();
            assert!(e.starts_with("key file 'k' must "), "{e}");
        }
        assert!(parse_key(&"ab".repeat(65), "k").is_err());
        assert_eq!(parse_key(&"ab".repeat(64), "k").unwrap().len(), 64);
    }

    #[test]
    fn key_files_are_trimmed_and_bounded() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let ok = dir.join("ok.hex");
        std::fs::write(&ok, format!("  {}\n\n", "11".repeat(16))).unwrap();
        assert_eq!(
            *read_key_file(&ok).unwrap(),
            format!("  {}\n\n", "11".repeat(16))
        );
        let big = dir.join("big.hex");
        std::fs::write(&big, "1".repeat(5000)).unwrap();
        assert!(read_key_file(&big).is_err());
        let bin = dir.join("bin.hex");
        std::fs::write(&bin, [0xff, 0xfe, 0x00]).unwrap();
        assert!(read_key_file(&bin).is_err());
        assert!(read_key_file(&dir.join("missing")).is_err());
    }
}
