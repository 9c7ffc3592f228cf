//! Scope paths as drivers register them (spec/wadi.md §1.2). Guest paths
//! in general are the mount layer's (`wasi_core::mount::path`).

use wasi_core::Errno;
use wasi_core::mount::path::{components, is_normalized};

/// The longest scope path a driver may register.
pub const MAX_SCOPE_LEN: usize = 1024;

/// Checks a scope a driver registers (spec/wadi.md §1.2): returns the scope
/// with a `/*` suffix removed, or `EINVAL`.
pub fn check_scope(path: &str) -> Result<&str, Errno> {
    let path = path.strip_suffix("/*").unwrap_or(path);
    if path.len() > MAX_SCOPE_LEN || !is_normalized(path) || components(path).count() < 2 {
        return Err(Errno::INVAL);
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes() {
        assert_eq!(check_scope("/dev/usb/*"), Ok("/dev/usb"));
        assert_eq!(check_scope("/dev/cowbell"), Ok("/dev/cowbell"));
        assert_eq!(check_scope("/dev"), Err(Errno::INVAL));
        assert_eq!(check_scope("dev/x"), Err(Errno::INVAL));
        assert_eq!(check_scope("/dev/x/"), Err(Errno::INVAL));
        assert_eq!(
            check_scope(&format!("/dev/{}", "x".repeat(1100))),
            Err(Errno::INVAL)
        );
    }
}
