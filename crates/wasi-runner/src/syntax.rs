//! The syntax of options that name a directory, a variable or a size,
//! shared by `wasirun`'s options, WADI drivers' configuration and
//! `wasirun serve`'s manifests.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

/// Splits `HOST[::GUEST]`, the form of `wasirun --dir` and of a driver's
/// `dir=` configuration: the guest path is the host path when not given.
pub fn split_dir_spec(spec: &str) -> (&str, &str) {
    spec.split_once("::").unwrap_or((spec, spec))
}

/// Splits `KEY=VALUE` at its first `=`, the form of `wasirun --env`;
/// `None` without one.
pub fn split_env_pair(pair: &OsStr) -> Option<(&OsStr, &OsStr)> {
    let bytes = pair.as_bytes();
    let eq = bytes.iter().position(|&b| b == b'=')?;
    Some((
        OsStr::from_bytes(&bytes[..eq]),
        OsStr::from_bytes(&bytes[eq + 1..]),
    ))
}

/// Parses a byte count: digits, optionally followed by `K`, `M`, `G` or
/// `T` (powers of 1024, with an optional `i`, `B` or `iB`), the form of
/// `wasirun --max-memory` and a manifest's `max_memory`.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let digits = text.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &text[digits.len()..];
    let shift = match unit.trim_end_matches('B').trim_end_matches('i') {
        "" => 0,
        "K" | "k" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => return Err(format!("unknown unit `{unit}` (expected K, M, G or T)")),
    };
    let number: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a byte count"))?;
    number
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("`{text}` is too large"))
}
