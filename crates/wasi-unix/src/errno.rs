//! Host errno to WASI errno.

use rustix::io::Errno as Host;
use wasi_core::Errno;

/// Maps a Linux errno to its WASI counterpart.
///
/// WASI's errno list is POSIX's, so most values map one to one. Linux-only
/// values map to the closest POSIX meaning, and anything without one becomes
/// `EIO`. `EXDEV` stays `EXDEV` here (a rename or link across mounts); the
/// path resolver maps the `EXDEV` that `RESOLVE_BENEATH` reports for an
/// escape to `ENOTCAPABLE` itself, see [`resolve`].
pub(crate) fn from_host(err: Host) -> Errno {
    match err {
        Host::TOOBIG => Errno::TOOBIG,
        Host::ACCESS => Errno::ACCES,
        Host::ADDRINUSE => Errno::ADDRINUSE,
        Host::ADDRNOTAVAIL => Errno::ADDRNOTAVAIL,
        Host::AFNOSUPPORT | Host::PFNOSUPPORT => Errno::AFNOSUPPORT,
        Host::AGAIN => Errno::AGAIN,
        Host::ALREADY => Errno::ALREADY,
        Host::BADF | Host::BADFD => Errno::BADF,
        Host::BADMSG => Errno::BADMSG,
        Host::BUSY => Errno::BUSY,
        Host::CANCELED => Errno::CANCELED,
        Host::CHILD => Errno::CHILD,
        Host::CONNABORTED => Errno::CONNABORTED,
        Host::CONNREFUSED => Errno::CONNREFUSED,
        Host::CONNRESET => Errno::CONNRESET,
        Host::DEADLK => Errno::DEADLK,
        Host::DESTADDRREQ => Errno::DESTADDRREQ,
        Host::DOM => Errno::DOM,
        Host::DQUOT => Errno::DQUOT,
        Host::EXIST => Errno::EXIST,
        Host::FAULT => Errno::FAULT,
        Host::FBIG => Errno::FBIG,
        Host::HOSTUNREACH | Host::HOSTDOWN => Errno::HOSTUNREACH,
        Host::IDRM => Errno::IDRM,
        Host::ILSEQ => Errno::ILSEQ,
        Host::INPROGRESS => Errno::INPROGRESS,
        Host::INTR => Errno::INTR,
        Host::INVAL => Errno::INVAL,
        Host::IO => Errno::IO,
        Host::ISCONN => Errno::ISCONN,
        Host::ISDIR => Errno::ISDIR,
        Host::LOOP => Errno::LOOP,
        Host::MFILE => Errno::MFILE,
        Host::MLINK => Errno::MLINK,
        Host::MSGSIZE => Errno::MSGSIZE,
        Host::MULTIHOP => Errno::MULTIHOP,
        Host::NAMETOOLONG => Errno::NAMETOOLONG,
        Host::NETDOWN => Errno::NETDOWN,
        Host::NETRESET => Errno::NETRESET,
        Host::NETUNREACH => Errno::NETUNREACH,
        Host::NFILE => Errno::NFILE,
        Host::NOBUFS => Errno::NOBUFS,
        Host::NODEV => Errno::NODEV,
        // `ENODATA` is a missing extended attribute: the closest is "no such entry".
        Host::NOENT | Host::NODATA => Errno::NOENT,
        Host::NOEXEC => Errno::NOEXEC,
        Host::NOLCK => Errno::NOLCK,
        Host::NOLINK => Errno::NOLINK,
        Host::NOMEM => Errno::NOMEM,
        Host::NOMSG => Errno::NOMSG,
        Host::NOPROTOOPT => Errno::NOPROTOOPT,
        Host::NOSPC => Errno::NOSPC,
        Host::NOSYS => Errno::NOSYS,
        Host::NOTCONN => Errno::NOTCONN,
        Host::NOTDIR => Errno::NOTDIR,
        Host::NOTEMPTY => Errno::NOTEMPTY,
        Host::NOTRECOVERABLE => Errno::NOTRECOVERABLE,
        Host::NOTSOCK => Errno::NOTSOCK,
        // `EOPNOTSUPP` is the same number as `ENOTSUP` on Linux.
        Host::NOTSUP | Host::SOCKTNOSUPPORT => Errno::NOTSUP,
        Host::NOTTY => Errno::NOTTY,
        Host::NXIO => Errno::NXIO,
        Host::OVERFLOW => Errno::OVERFLOW,
        Host::OWNERDEAD => Errno::OWNERDEAD,
        Host::PERM => Errno::PERM,
        // Sending on a socket shut down for writing.
        Host::PIPE | Host::SHUTDOWN => Errno::PIPE,
        Host::PROTO => Errno::PROTO,
        Host::PROTONOSUPPORT => Errno::PROTONOSUPPORT,
        Host::PROTOTYPE => Errno::PROTOTYPE,
        Host::RANGE => Errno::RANGE,
        Host::ROFS => Errno::ROFS,
        Host::SPIPE => Errno::SPIPE,
        Host::SRCH => Errno::SRCH,
        Host::STALE => Errno::STALE,
        Host::TIMEDOUT | Host::TIME => Errno::TIMEDOUT,
        Host::TXTBSY => Errno::TXTBSY,
        Host::XDEV => Errno::XDEV,
        Host::NOMEDIUM => Errno::NODEV,
        _ => Errno::IO,
    }
}

/// Maps an error of a path resolution (`openat2` with `RESOLVE_BENEATH`):
/// `EXDEV` there means the path tried to leave the directory, which is
/// `ENOTCAPABLE` in WASI.
pub(crate) fn resolve(err: Host) -> Errno {
    match err {
        Host::XDEV => Errno::NOTCAPABLE,
        err => from_host(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_values_map_one_to_one() {
        assert_eq!(from_host(Host::NOENT), Errno::NOENT);
        assert_eq!(from_host(Host::ACCESS), Errno::ACCES);
        assert_eq!(from_host(Host::OPNOTSUPP), Errno::NOTSUP);
        assert_eq!(from_host(Host::WOULDBLOCK), Errno::AGAIN);
        assert_eq!(from_host(Host::XDEV), Errno::XDEV);
        assert_eq!(from_host(Host::KEYEXPIRED), Errno::IO);
    }

    #[test]
    fn escapes_are_not_capable() {
        assert_eq!(resolve(Host::XDEV), Errno::NOTCAPABLE);
        assert_eq!(resolve(Host::LOOP), Errno::LOOP);
    }
}
