//! The registry of scopes and how a guest path maps onto it
//! (spec/wadi.md §3.1).

use crate::abi::Kind;
use crate::driver::DriverHandle;
use crate::path;
use std::sync::Arc;

/// Who serves a scope.
#[derive(Clone, Debug)]
pub enum Owner {
    /// The host's control file.
    Control,
    /// A driver.
    Driver(Arc<DriverHandle>),
}

impl Owner {
    fn name(&self) -> &str {
        match self {
            Owner::Control => "host",
            Owner::Driver(d) => d.name(),
        }
    }
}

/// A registered scope.
#[derive(Clone, Debug)]
pub struct Scope {
    /// Its normalized path.
    pub path: String,
    /// What it is.
    pub kind: Kind,
    /// Who serves it.
    pub owner: Owner,
    /// The directory it is reached through: a virtual preopen (the scope's
    /// first component) or a host preopen that is a prefix of it.
    pub mount: String,
    /// Whether `mount` is a virtual preopen.
    pub virtual_mount: bool,
}

/// Where a guest path leads.
#[derive(Clone, Debug)]
pub enum Node {
    /// The control file.
    Control,
    /// A one-file scope.
    Device {
        /// Its driver.
        driver: Arc<DriverHandle>,
        /// Its kind.
        kind: Kind,
    },
    /// A path in (or the root of) a hierarchy.
    Tree {
        /// Its driver.
        driver: Arc<DriverHandle>,
    },
    /// A synthesized directory: a strict ancestor of a scope.
    Synth,
    /// Nothing, in a part of the namespace WADI owns (under a virtual preopen).
    Missing,
    /// Not a WADI path.
    Outside,
}

/// Every live scope, and the virtual preopens.
#[derive(Debug, Default)]
pub struct Registry {
    scopes: Vec<Scope>,
    virtual_mounts: Vec<String>,
}

impl Registry {
    /// The scopes, in registration order.
    pub fn scopes(&self) -> &[Scope] {
        &self.scopes
    }

    /// `(scope, owner name)` of every scope, for overlap checks.
    pub fn taken(&self) -> Vec<(String, String)> {
        self.scopes
            .iter()
            .map(|s| (s.path.clone(), s.owner.name().to_string()))
            .collect()
    }

    /// Adds a scope (already checked for overlaps).
    pub fn add(&mut self, scope: Scope) {
        if scope.virtual_mount && !self.virtual_mounts.contains(&scope.mount) {
            self.virtual_mounts.push(scope.mount.clone());
        }
        self.scopes.push(scope);
    }

    /// Whether `mount` is a virtual preopen already.
    pub fn has_virtual_mount(&self, mount: &str) -> bool {
        self.virtual_mounts.iter().any(|m| m == mount)
    }

    /// Removes the scopes of `driver`.
    pub fn remove_driver(&mut self, driver: &DriverHandle) {
        self.scopes
            .retain(|s| !matches!(&s.owner, Owner::Driver(d) if std::ptr::eq(&**d, driver)));
    }

    /// Whether any scope is reached through a host preopen.
    pub fn has_host_mounts(&self) -> bool {
        self.scopes.iter().any(|s| !s.virtual_mount)
    }

    /// Where the normalized path `p` leads.
    pub fn lookup(&self, p: &str) -> Node {
        for scope in &self.scopes {
            if scope.kind == Kind::Dir && path::is_prefix(&scope.path, p) {
                if let Owner::Driver(driver) = &scope.owner {
                    return Node::Tree {
                        driver: driver.clone(),
                    };
                }
            } else if scope.path == p {
                return match &scope.owner {
                    Owner::Control => Node::Control,
                    Owner::Driver(driver) => Node::Device {
                        driver: driver.clone(),
                        kind: scope.kind,
                    },
                };
            }
        }
        if self.scopes.iter().any(|s| is_synth(s, p)) {
            return Node::Synth;
        }
        if self.virtual_mounts.iter().any(|m| path::is_prefix(m, p)) {
            return Node::Missing;
        }
        // A synthesized directory hides the host directory of the same path
        // (§3.1), so what lies below one and is no scope does not exist,
        // under a host preopen too.
        let mut ancestor = p;
        while let Some((parent, _)) = ancestor.rsplit_once('/') {
            ancestor = if parent.is_empty() { "/" } else { parent };
            if self.scopes.iter().any(|s| is_synth(s, ancestor)) {
                return Node::Missing;
            }
            if ancestor == "/" {
                break;
            }
        }
        Node::Outside
    }

    /// The entries of the synthesized directory `p`: each name with its
    /// kind (a directory when it leads further down).
    pub fn children(&self, p: &str) -> Vec<(String, Kind)> {
        let mut out: Vec<(String, Kind)> = Vec::new();
        for scope in self.scopes.iter().filter(|s| is_synth(s, p)) {
            let Some(rest) = path::strip_ancestor(p, &scope.path) else {
                continue;
            };
            let (name, kind) = match rest.split_once('/') {
                Some((name, _)) => (name, Kind::Dir),
                None => (rest, scope.kind),
            };
            if !out.iter().any(|(n, _)| n == name) {
                out.push((name.to_string(), kind));
            }
        }
        out
    }
}

/// Whether `p` is a synthesized directory because of `scope`: a strict
/// ancestor of it, at or below a virtual mount, strictly below a host one.
fn is_synth(scope: &Scope, p: &str) -> bool {
    if path::strip_ancestor(p, &scope.path).is_none() {
        return false;
    }
    if scope.virtual_mount {
        path::is_prefix(&scope.mount, p)
    } else {
        path::strip_ancestor(&scope.mount, p).is_some()
    }
}

/// The mount of a new scope: the longest host preopen that is a prefix of
/// it, else a virtual preopen for its first component.
pub fn mount_for(scope: &str, host_preopens: &[String]) -> (String, bool) {
    match host_preopens
        .iter()
        .filter(|p| path::is_prefix(p, scope))
        .max_by_key(|p| p.len())
    {
        Some(p) => (p.clone(), false),
        None => (path::first_component(scope).to_string(), true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(path: &str, kind: Kind, mount: &str, virtual_mount: bool) -> Scope {
        Scope {
            path: path.into(),
            kind,
            owner: Owner::Control,
            mount: mount.into(),
            virtual_mount,
        }
    }

    #[test]
    fn lookup_under_a_virtual_mount() {
        let mut r = Registry::default();
        r.add(scope("/dev/wadi/driver", Kind::Char, "/dev", true));
        r.add(scope("/dev/usb/0", Kind::Char, "/dev", true));
        assert!(matches!(r.lookup("/dev/wadi/driver"), Node::Control));
        assert!(matches!(r.lookup("/dev"), Node::Synth));
        assert!(matches!(r.lookup("/dev/wadi"), Node::Synth));
        assert!(matches!(r.lookup("/dev/nope"), Node::Missing));
        assert!(matches!(r.lookup("/dev/wadi/driver/x"), Node::Missing));
        assert!(matches!(r.lookup("/"), Node::Outside));
        assert!(matches!(r.lookup("/tmp"), Node::Outside));
        assert_eq!(
            r.children("/dev"),
            [
                ("wadi".to_string(), Kind::Dir),
                ("usb".to_string(), Kind::Dir)
            ]
        );
        assert_eq!(r.children("/dev/usb"), [("0".to_string(), Kind::Char)]);
    }

    #[test]
    fn lookup_under_a_host_mount() {
        let mut r = Registry::default();
        r.add(scope("/dev/wadi/driver", Kind::Char, "/", false));
        assert!(r.has_host_mounts());
        assert!(matches!(r.lookup("/dev"), Node::Synth));
        assert!(matches!(r.lookup("/"), Node::Outside));
        assert!(matches!(r.lookup("/etc/passwd"), Node::Outside));
        // The synthesized `/dev` hides the host's: what is no scope below
        // it does not exist.
        assert!(matches!(r.lookup("/dev/null"), Node::Missing));
        assert!(matches!(r.lookup("/dev/wadi/other/x"), Node::Missing));
    }

    #[test]
    fn mounts() {
        let preopens = ["/".to_string(), "/dev".to_string(), "/tmp".to_string()];
        assert_eq!(mount_for("/dev/x", &preopens), ("/dev".to_string(), false));
        assert_eq!(
            mount_for("/dev/x", &preopens[2..]),
            ("/dev".to_string(), true)
        );
        assert_eq!(mount_for("/a/b/c", &preopens), ("/".to_string(), false));
    }
}
