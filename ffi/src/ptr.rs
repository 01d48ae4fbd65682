//! The first layer of the C ABI (STYLE.md F2): raw pointers from C become references and
//! slices here, or a [`Failure`] with `PARLA_ERR_NULL_ARG` / `PARLA_ERR_INVALID_ARG`.

use std::ffi::{CStr, c_char};

use crate::Failure;

fn check_len<T>(len: usize) -> Result<(), Failure> {
    // `slice::from_raw_parts` needs the byte size to fit in an `isize`.
    if len
        .checked_mul(size_of::<T>().max(1))
        .is_none_or(|b| b > isize::MAX as usize)
    {
        return Err(Failure::too_long(len));
    }
    Ok(())
}

/// A borrowed slice of `len` values at `p`.
///
/// # Safety
/// `p` is NULL or valid for reads of `len` values of `T` for `'a`, with nothing writing them.
pub(crate) unsafe fn slice<'a, T>(p: *const T, len: usize) -> Result<&'a [T], Failure> {
    if p.is_null() {
        return Err(Failure::null("a buffer pointer"));
    }
    check_len::<T>(len)?;
    // SAFETY: not NULL, the size fits in an isize, and the caller guarantees validity.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// A borrowed mutable slice of `len` values at `p`.
///
/// # Safety
/// `p` is NULL or valid for reads and writes of `len` values of `T` for `'a`, not aliased.
pub(crate) unsafe fn slice_mut<'a, T>(p: *mut T, len: usize) -> Result<&'a mut [T], Failure> {
    if p.is_null() {
        return Err(Failure::null("a buffer pointer"));
    }
    check_len::<T>(len)?;
    // SAFETY: not NULL, the size fits in an isize, and the caller guarantees validity.
    Ok(unsafe { std::slice::from_raw_parts_mut(p, len) })
}

/// An optional NUL-terminated UTF-8 string (NULL gives `None`).
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string valid for `'a`.
pub(crate) unsafe fn opt_str<'a>(p: *const c_char) -> Result<Option<&'a str>, Failure> {
    if p.is_null() {
        return Ok(None);
    }
    // SAFETY: not NULL and NUL-terminated per the caller.
    let s = unsafe { CStr::from_ptr(p) };
    s.to_str()
        .map(Some)
        .map_err(|_| Failure::arg("a string argument is not UTF-8".into()))
}

/// Copy `text` into `out` as a NUL-terminated string, truncated to fit. `out` is not empty.
pub(crate) fn write_cstr(out: &mut [u8], text: &[u8]) {
    let n = text.len().min(out.len().saturating_sub(1));
    out[..n].copy_from_slice(&text[..n]);
    if let Some(end) = out.get_mut(n) {
        *end = 0;
    }
}
