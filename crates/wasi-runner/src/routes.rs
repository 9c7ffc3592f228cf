//! Routes of a server hosting several modules (`wasirun serve --manifest`,
//! `spec/wasi-cloud.md`, "Several modules", 2): WAGI's exact and `/...`
//! routes, and the router that dispatches each request to its module.

use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;
use wasi_http_server::{Completion, Dispatch, Exchange, Slot};

/// A route: a path, or a prefix and everything under it (`/api/...`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// The path, or the prefix without its `/...` (empty for `/...`).
    path: String,
    /// Whether it ends in `/...`.
    wildcard: bool,
}

impl FromStr for Route {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        if !text.starts_with('/') {
            return Err(format!("route `{text}` must start with /"));
        }
        Ok(match text.strip_suffix("/...") {
            Some(prefix) => Self {
                path: prefix.to_owned(),
                wildcard: true,
            },
            None => Self {
                path: text.to_owned(),
                wildcard: false,
            },
        })
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path)?;
        if self.wildcard {
            f.write_str("/...")?;
        }
        Ok(())
    }
}

impl Route {
    /// Whether the route serves `path` (a request's, without its query).
    pub fn matches(&self, path: &str) -> bool {
        if !self.wildcard {
            return path == self.path;
        }
        match path.strip_prefix(&self.path) {
            Some(rest) => rest.is_empty() || rest.starts_with('/'),
            None => false,
        }
    }

    /// The route's path, without its `/...`: a WAGI module's
    /// `SCRIPT_NAME`.
    pub fn script_name(&self) -> &str {
        &self.path
    }

    /// How specific the route is: an exact route beats any `/...` one, a
    /// longer prefix a shorter one.
    fn specificity(&self) -> (bool, usize) {
        (!self.wildcard, self.path.len())
    }
}

/// Dispatches each request to the module whose route matches its path
/// best; 404 when none does.
pub(crate) struct Router {
    routes: Vec<(Route, Arc<dyn Dispatch>)>,
}

impl Router {
    /// A router over `routes` (no two equal).
    pub(crate) fn new(routes: Vec<(Route, Arc<dyn Dispatch>)>) -> Self {
        Self { routes }
    }
}

impl Dispatch for Router {
    fn dispatch(&self, exchange: Arc<Exchange>, slot: Slot) {
        let path = exchange.request().path().to_owned();
        let best = self
            .routes
            .iter()
            .filter(|(route, _)| route.matches(&path))
            .max_by_key(|(route, _)| route.specificity());
        match best {
            Some((_, dispatch)) => dispatch.dispatch(exchange, slot),
            None => {
                drop(slot);
                exchange.not_found();
            }
        }
    }
}

/// A module's limit of instances running at once: a run waits for a place
/// (on its blocking thread) until one is free or its exchange is done
/// (past its deadline).
pub(crate) struct Gate {
    running: Mutex<usize>,
    freed: Condvar,
    max: usize,
}

impl Gate {
    /// A gate letting `max` runs through at once.
    pub(crate) fn new(max: usize) -> Self {
        Self {
            running: Mutex::new(0),
            freed: Condvar::new(),
            max: max.max(1),
        }
    }

    /// Runs `run` once fewer than the limit run, unless `exchange` is done
    /// first (then its completion is the deadline's).
    pub(crate) fn run(&self, exchange: &Exchange, run: impl FnOnce() -> Completion) -> Completion {
        {
            let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
            while *running >= self.max {
                if exchange.is_done() {
                    return Completion::TimedOut;
                }
                // The deadline ends the exchange without telling the gate:
                // it is looked at every few milliseconds.
                running = self
                    .freed
                    .wait_timeout(running, Duration::from_millis(10))
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            *running += 1;
        }
        let completion = run();
        *self.running.lock().unwrap_or_else(PoisonError::into_inner) -= 1;
        self.freed.notify_one();
        completion
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_as_wagi_matches_them() {
        let exact: Route = "/a/b".parse().unwrap();
        let prefix: Route = "/a/...".parse().unwrap();
        let all: Route = "/...".parse().unwrap();
        assert!(exact.matches("/a/b") && !exact.matches("/a/b/c") && !exact.matches("/a"));
        for path in ["/a", "/a/", "/a/b/c"] {
            assert!(prefix.matches(path), "{path}");
        }
        assert!(!prefix.matches("/ab") && !prefix.matches("/"));
        assert!(all.matches("/") && all.matches("/x/y"));
        assert!(exact.specificity() > prefix.specificity());
        assert!(prefix.specificity() > all.specificity());
        assert_eq!(prefix.to_string(), "/a/...");
        assert!("a".parse::<Route>().is_err());
    }
}
