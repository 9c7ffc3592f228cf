//! What the running kernel offers this crate, probed once per process.
//!
//! Two kernel features change how a [`UnixSystem`](crate::UnixSystem)
//! works, never what the guest sees:
//!
//! - `openat2` with `RESOLVE_BENEATH` (Linux 5.6), with which the kernel
//!   resolves guest paths; without it (an older kernel, or a seccomp profile
//!   refusing the call, as older Docker and Podman releases do) paths are
//!   resolved one component at a time ([`PathResolution::Walk`]);
//! - io_uring as [`IoBackend::Uring`](crate::IoBackend) needs it (Linux
//!   5.11), which seccomp or the sysctl `kernel.io_uring_disabled` may
//!   refuse; without it `IoBackend::Auto` uses plain system calls.
//!
//! Each can be turned off for the whole process with an environment
//! variable, read at the first probe, so that tests (and users who want to
//! compare) run the fallback on a kernel that has the feature:
//! `WASIRUN_NO_OPENAT2=1` and `WASIRUN_NO_IO_URING=1` (any value but empty
//! and `0`).

use std::fmt;
use std::sync::OnceLock;

use rustix::fs::{Mode, OFlags, ResolveFlags};

/// The environment variable that turns `openat2` off.
pub const NO_OPENAT2_VAR: &str = "WASIRUN_NO_OPENAT2";

/// The environment variable that turns io_uring off.
pub const NO_IO_URING_VAR: &str = "WASIRUN_NO_IO_URING";

/// Whether a kernel feature is used, and if not why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Feature {
    /// The kernel has it and it is used.
    Available,
    /// The kernel refused it: the call and its error.
    Unavailable(String),
    /// The kernel may have it, but this environment variable turned it off.
    Disabled(&'static str),
}

impl Feature {
    /// Whether the feature is used.
    pub fn is_available(&self) -> bool {
        matches!(self, Self::Available)
    }

    /// `Ok` if the feature is used, else an `Unsupported` error saying
    /// why `name` is not.
    pub fn require(&self, name: &str) -> std::io::Result<()> {
        match self {
            Self::Available => Ok(()),
            _ => Err(self.unsupported(name)),
        }
    }

    /// The `Unsupported` error saying why `name` is not used.
    pub(crate) fn unsupported(&self, name: &str) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::Unsupported, format!("{name} is {self}"))
    }

    /// `Disabled(var)` if `var` is set to anything but empty or `0`, else
    /// what `probe` finds.
    fn probe(var: &'static str, probe: impl FnOnce() -> Result<(), String>) -> Self {
        match std::env::var_os(var) {
            Some(value) if !value.is_empty() && value != "0" => Self::Disabled(var),
            _ => match probe() {
                Ok(()) => Self::Available,
                Err(why) => Self::Unavailable(why),
            },
        }
    }
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Available => f.write_str("available"),
            Self::Unavailable(why) => write!(f, "not available ({why})"),
            Self::Disabled(var) => write!(f, "turned off by {var}"),
        }
    }
}

/// How guest paths are resolved beneath their directory; the guest sees
/// the same results and errors either way (`spec/preview1.md`, "Path
/// resolution without openat2").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PathResolution {
    /// `Openat2` where [`openat2`] is available, else `Walk`.
    #[default]
    Auto,
    /// The kernel resolves each path in one `openat2` call with
    /// `RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS`.
    Openat2,
    /// One `openat(O_NOFOLLOW)` per component, symlinks expanded and `..`
    /// tracked in user space: for kernels without `openat2`.
    Walk,
}

impl PathResolution {
    /// `Auto` made concrete on this machine.
    pub fn resolved(self) -> Self {
        match self {
            Self::Auto if openat2().is_available() => Self::Openat2,
            Self::Auto => Self::Walk,
            other => other,
        }
    }

    /// The name used in messages: `auto`, `openat2` or `walk`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Openat2 => "openat2",
            Self::Walk => "walk",
        }
    }
}

/// Whether `openat2` with `RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS |
/// RESOLVE_NO_XDEV` works here (probed once: two system calls).
pub fn openat2() -> &'static Feature {
    static OPENAT2: OnceLock<Feature> = OnceLock::new();
    OPENAT2.get_or_init(|| {
        Feature::probe(NO_OPENAT2_VAR, || {
            let root = rustix::fs::open("/", OFlags::PATH | OFlags::CLOEXEC, Mode::empty())
                .map_err(|err| format!("open /: {err}"))?;
            let flags = ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS | ResolveFlags::NO_XDEV;
            rustix::fs::openat2(
                &root,
                ".",
                OFlags::PATH | OFlags::CLOEXEC,
                Mode::empty(),
                flags,
            )
            .map(drop)
            .map_err(|err| format!("openat2: {err}"))
        })
    })
}

/// Whether io_uring works here as [`IoBackend::Uring`](crate::IoBackend)
/// needs it (probed once, by setting up a ring and dropping it).
pub fn io_uring() -> &'static Feature {
    static IO_URING: OnceLock<Feature> = OnceLock::new();
    IO_URING.get_or_init(|| {
        Feature::probe(NO_IO_URING_VAR, || {
            // The probe's ring is nobody's: counted in a pool of its own.
            let slot = crate::FdPool::with_share(1)
                .take()
                .map_err(|errno| format!("{errno:?}"))?;
            crate::uring::Ring::new(slot).map(drop)
        })
    })
}

/// The kernel this process runs on: its name, release and machine, as
/// `uname -srm` prints them.
pub fn kernel() -> String {
    let uname = rustix::system::uname();
    format!(
        "{} {} {}",
        uname.sysname().to_string_lossy(),
        uname.release().to_string_lossy(),
        uname.machine().to_string_lossy()
    )
}
