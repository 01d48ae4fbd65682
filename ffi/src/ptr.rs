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

/// A struct the caller sizes (STYLE.md F5, like Linux's `copy_struct_from_user`): its first
/// field is a `u32` the caller sets to `sizeof` the struct it was built with. Fields are only
/// ever appended, so an older app's struct is a prefix of ours and a newer app's struct has ours
/// as a prefix.
///
/// # Safety
/// The implementor is `#[repr(C)]`, `Copy`, starts with a `u32` size field, and every bit
/// pattern the C side can write into it is valid (plain integers and floats, `bool`s written as
/// 0 or 1 by C's `bool`).
pub(crate) unsafe trait SizedStruct {
    /// The sizes of the earlier layouts this library still accepts, oldest first (each at a
    /// field boundary); the current size (`size_of::<Self>()`) is always accepted.
    const OLDER_SIZES: &'static [usize];
    /// The struct's name, for error messages.
    const NAME: &'static str;
}

/// The largest size a sized struct may claim (a newer app's struct with many more fields).
const MAX_SIZED_STRUCT: usize = 4096;

/// The size the caller's struct at `p` says it has, checked against the layouts we know.
///
/// # Safety
/// `p` is not NULL and readable for at least 4 bytes.
unsafe fn caller_size<T: SizedStruct>(p: *const T) -> Result<usize, Failure> {
    // SAFETY: the first field is a u32 the caller set (and the pointer is aligned for T).
    let size = unsafe { p.cast::<u32>().read() } as usize;
    let ours = size_of::<T>();
    // A newer app's struct is larger, but not by pages: a size beyond this is an uninitialised
    // field, and trusting it would read or write far past the caller's struct.
    if (size >= ours && size <= MAX_SIZED_STRUCT) || T::OLDER_SIZES.contains(&size) {
        return Ok(size);
    }
    let name = T::NAME;
    Err(Failure::arg(if size == 0 {
        format!("{name}.size is 0: set it to sizeof({name}) before the call")
    } else if size > MAX_SIZED_STRUCT {
        format!(
            "{name}.size is {size}, more than any layout can be ({MAX_SIZED_STRUCT}): is it \
             set? Set it to sizeof({name})"
        )
    } else {
        format!(
            "{name}.size is {size}, not the size of any {name} layout (this library's is {ours}; \
             older: {:?}); set it to sizeof({name})",
            T::OLDER_SIZES
        )
    }))
}

/// Reads the caller's struct over `defaults`: the fields its layout has come from it, newer
/// ones keep their defaults. A newer app's fields beyond ours must be zero (their defaults): a
/// non-zero one asks for something this library cannot do, so it is refused.
///
/// # Safety
/// `p` is NULL or readable for the size its first field gives.
pub(crate) unsafe fn read_sized<T: SizedStruct + Copy>(
    p: *const T,
    defaults: T,
) -> Result<T, Failure> {
    if p.is_null() {
        return Err(Failure::null(T::NAME));
    }
    // SAFETY: not NULL; readable per the caller.
    let size = unsafe { caller_size(p) }?;
    let ours = size_of::<T>();
    if size > ours {
        // SAFETY: the caller's struct is `size` bytes long.
        let tail = unsafe { std::slice::from_raw_parts(p.cast::<u8>().add(ours), size - ours) };
        if let Some(i) = tail.iter().position(|&b| b != 0) {
            return Err(Failure::new(
                crate::PARLA_ERR_INVALID_CONFIG,
                format!(
                    "{} has a field this library does not know set (byte {} of {size}; this \
                     library knows {ours} bytes): use a newer library or leave it 0",
                    T::NAME,
                    ours + i
                ),
            ));
        }
    }
    let mut out = defaults;
    // SAFETY: `min(size, ours)` bytes are readable at `p` and writable in `out`; the prefix
    // ends at a field boundary (checked above) and every bit pattern is valid (trait contract).
    unsafe {
        std::ptr::copy_nonoverlapping(p.cast::<u8>(), (&raw mut out).cast::<u8>(), size.min(ours));
    }
    Ok(out)
}

/// Writes `value` into the caller's struct: as many bytes as its layout holds (its size field
/// kept), and zeros in a newer app's fields beyond ours.
///
/// # Safety
/// `p` is NULL or writable (and readable) for the size its first field gives.
pub(crate) unsafe fn write_sized<T: SizedStruct + Copy>(
    p: *mut T,
    value: T,
) -> Result<(), Failure> {
    if p.is_null() {
        return Err(Failure::null(T::NAME));
    }
    // SAFETY: not NULL; readable per the caller.
    let size = unsafe { caller_size(p) }?;
    let ours = size_of::<T>();
    let n = size.min(ours);
    // SAFETY: `n` bytes are readable from `value` and writable at `p` (the caller's struct is
    // `size` bytes); the first 4 bytes (the size field) are skipped, so the caller's size stays.
    unsafe {
        std::ptr::copy_nonoverlapping(
            (&raw const value).cast::<u8>().add(4),
            p.cast::<u8>().add(4),
            n - 4,
        );
        if size > ours {
            std::ptr::write_bytes(p.cast::<u8>().add(ours), 0, size - ours);
        }
    }
    Ok(())
}
