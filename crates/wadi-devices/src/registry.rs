//! The registered scopes: which driver (or the host's control file)
//! serves each path (spec/wadi.md §1.2).

use crate::driver::DriverHandle;
use crate::driver_abi::Kind;
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
}

/// Every live scope.
#[derive(Debug, Default)]
pub struct Registry {
    scopes: Vec<Scope>,
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
        self.scopes.push(scope);
    }

    /// Removes the scopes of `driver`, returning their paths.
    pub fn remove_driver(&mut self, driver: &DriverHandle) -> Vec<String> {
        let mut removed = Vec::new();
        self.scopes.retain(|s| match &s.owner {
            Owner::Driver(d) if std::ptr::eq(&**d, driver) => {
                removed.push(s.path.clone());
                false
            }
            _ => true,
        });
        removed
    }
}
