//! Guest paths as the mount layer sees them: absolute, normalized, compared
//! by whole components (`spec/preview1.md`, "Mounts").

/// Whether `path` is absolute and normalized: `/a/b`, no empty, `.` or
/// `..` component, no trailing slash. `/` alone is normalized.
pub fn is_normalized(path: &str) -> bool {
    if path == "/" {
        return true;
    }
    let Some(rest) = path.strip_prefix('/') else {
        return false;
    };
    rest.split('/')
        .all(|c| !c.is_empty() && c != "." && c != "..")
}

/// The components of a normalized path (none for `/`).
pub fn components(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|c| !c.is_empty())
}

/// Whether `prefix` is `path` or one of its ancestors, by whole components.
/// Both are normalized.
pub fn is_prefix(prefix: &str, path: &str) -> bool {
    if prefix == "/" {
        return true;
    }
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

/// What follows `prefix` in `path` (without the separating slash), when
/// `prefix` is a strict ancestor of `path`.
pub fn strip_ancestor<'a>(prefix: &str, path: &'a str) -> Option<&'a str> {
    if prefix == "/" {
        return path.strip_prefix('/').filter(|r| !r.is_empty());
    }
    path.strip_prefix(prefix)?.strip_prefix('/')
}

/// Whether two normalized paths overlap: equal, or one is an ancestor of
/// the other.
pub fn overlaps(a: &str, b: &str) -> bool {
    is_prefix(a, b) || is_prefix(b, a)
}

/// The first component of a normalized path other than `/`, as a path
/// (`/dev` for `/dev/ram/x`).
pub fn first_component(path: &str) -> &str {
    match path[1..].find('/') {
        Some(i) => &path[..i + 1],
        None => path,
    }
}

/// The longest path that is a component prefix of both normalized paths
/// (`/dev` for `/dev/usb0` and `/dev/usb`), as a slice of `a`.
pub fn common_ancestor<'a>(a: &'a str, b: &str) -> &'a str {
    if is_prefix(a, b) {
        return a;
    }
    if is_prefix(b, a) {
        return &a[..b.len()];
    }
    // Neither is a prefix: the common part ends at the last `/` before
    // they differ.
    let mut end = 0;
    for (i, (x, y)) in a.bytes().zip(b.bytes()).enumerate() {
        if x != y {
            break;
        }
        if x == b'/' {
            end = i;
        }
    }
    if end == 0 { "/" } else { &a[..end] }
}

/// The parent of a normalized path (`/` for `/` itself).
pub fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// The guest path under which a preopen named `name` is seen, normalized:
/// wasi-libc treats a relative preopen name as relative to `/`.
pub fn normalize_preopen(name: &str) -> String {
    let mut out = String::new();
    for c in name.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if let Some(i) = out.rfind('/') {
                    out.truncate(i);
                }
            }
            c => {
                out.push('/');
                out.push_str(c);
            }
        }
    }
    if out.is_empty() { "/".into() } else { out }
}

/// A path resolved against a directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Joined {
    /// The normalized absolute path.
    pub path: String,
    /// Whether the relative path ended with `/`, `/.` or `/..`: the target
    /// must be a directory.
    pub trailing_slash: bool,
}

/// Joins the relative `path` to the normalized directory `base`, applying
/// `.` and `..`. Fails (`None`) when `..` climbs above `base`, as a path
/// resolved beneath a directory descriptor may not, or when `path` is
/// absolute.
pub fn join(base: &str, path: &str) -> Option<Joined> {
    if path.starts_with('/') {
        return None;
    }
    let floor = if base == "/" { 0 } else { base.len() };
    let mut out = String::with_capacity(floor + 1 + path.len());
    out.push_str(&base[..floor]);
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                let i = out.rfind('/')?;
                if i < floor {
                    return None;
                }
                out.truncate(i);
            }
            c => {
                out.push('/');
                out.push_str(c);
            }
        }
    }
    let trailing_slash = path.ends_with('/') || path.ends_with("/.") || path.ends_with("/..");
    if out.is_empty() {
        out.push('/');
    }
    Some(Joined {
        path: out,
        trailing_slash,
    })
}

/// A hash of a path, never 0: inode numbers for what the host synthesizes.
pub fn hash(text: &str) -> u64 {
    // FNV-1a, 64-bit.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalized_paths() {
        assert!(is_normalized("/"));
        assert!(is_normalized("/dev/ram"));
        for bad in [
            "",
            "dev",
            "/dev/",
            "//dev",
            "/dev/./x",
            "/dev/../x",
            "/a//b",
        ] {
            assert!(!is_normalized(bad), "{bad}");
        }
        assert_eq!(components("/dev/ram").collect::<Vec<_>>(), ["dev", "ram"]);
        assert_eq!(components("/").count(), 0);
    }

    #[test]
    fn prefixes_are_by_component() {
        assert!(is_prefix("/dev/usb", "/dev/usb"));
        assert!(is_prefix("/dev/usb", "/dev/usb/0"));
        assert!(!is_prefix("/dev/usb", "/dev/usb0"));
        assert!(is_prefix("/", "/dev"));
        assert!(overlaps("/dev/usb/0", "/dev/usb"));
        assert!(!overlaps("/dev/usb0", "/dev/usb"));
        assert_eq!(strip_ancestor("/dev", "/dev/ram/x"), Some("ram/x"));
        assert_eq!(strip_ancestor("/", "/dev"), Some("dev"));
        assert_eq!(strip_ancestor("/dev", "/dev"), None);
        assert_eq!(strip_ancestor("/dev", "/device"), None);
        assert_eq!(first_component("/dev/ram/x"), "/dev");
        assert_eq!(first_component("/dev"), "/dev");
        assert_eq!(parent("/dev/ram"), "/dev");
        assert_eq!(parent("/dev"), "/");
        assert_eq!(parent("/"), "/");
        assert_eq!(common_ancestor("/dev/usb0", "/dev/usb"), "/dev");
        assert_eq!(common_ancestor("/dev/usb/0", "/dev/usb"), "/dev/usb");
        assert_eq!(common_ancestor("/dev", "/dev/usb"), "/dev");
        assert_eq!(common_ancestor("/x", "/y"), "/");
        assert_eq!(common_ancestor("/", "/y"), "/");
        assert_eq!(common_ancestor("/ab/c", "/ab/d/e"), "/ab");
    }

    #[test]
    fn preopen_names() {
        assert_eq!(normalize_preopen("/"), "/");
        assert_eq!(normalize_preopen("."), "/");
        assert_eq!(normalize_preopen("fs-tests.dir"), "/fs-tests.dir");
        assert_eq!(normalize_preopen("/tmp/"), "/tmp");
        assert_eq!(normalize_preopen("./a/../b"), "/b");
    }

    #[test]
    fn joining() {
        let j = |base, path| join(base, path).map(|j| (j.path, j.trailing_slash));
        assert_eq!(j("/dev", "cowbell"), Some(("/dev/cowbell".into(), false)));
        assert_eq!(j("/dev", "ram/./a/"), Some(("/dev/ram/a".into(), true)));
        assert_eq!(j("/dev", "ram/../zero"), Some(("/dev/zero".into(), false)));
        assert_eq!(j("/dev", "ram/.."), Some(("/dev".into(), true)));
        assert_eq!(j("/dev", "."), Some(("/dev".into(), false)));
        assert_eq!(j("/dev", ".."), None);
        assert_eq!(j("/dev/ram", "../x"), None);
        assert_eq!(j("/dev", "../dev/x"), None);
        assert_eq!(j("/", "dev/zero"), Some(("/dev/zero".into(), false)));
        assert_eq!(j("/", "a/../.."), None);
        assert_eq!(j("/", "."), Some(("/".into(), false)));
        assert_eq!(j("/dev", "/etc"), None);
        assert_ne!(hash(""), 0);
    }
}
