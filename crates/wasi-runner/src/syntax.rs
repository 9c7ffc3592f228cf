//! The syntax of options that name a directory or a variable, shared by
//! `wasirun`'s options and WADI drivers' configuration.

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
