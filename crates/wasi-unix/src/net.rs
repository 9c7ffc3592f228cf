//! Sockets beyond preview 1: the WasmEdge extension, `tcp+listen://` and
//! `tcp+dial://` paths, and the policy that says which addresses a guest may
//! bind, connect to or resolve. The rules are in `spec/sockets.md`.

use std::fmt;
use std::io::{IoSlice, IoSliceMut};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::str::FromStr;

use rustix::event::PollFlags;
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::net::sockopt;
use rustix::net::{
    AddressFamily as HostFamily, RecvAncillaryBuffer, RecvFlags, RecvMsg, ReturnFlags,
    SendAncillaryBuffer, SendFlags, SocketFlags, SocketType,
};
use wasi_core::fdtable::FdEntry;
use wasi_core::system::Result;
use wasi_core::types::*;

use crate::denial::Denial;
use crate::entry::{Entry, Host, HostFd, Io};
use crate::errno::from_host;
use crate::fdlimit::FdSlot;
use crate::{Canceller, UnixSystem};

/// Which addresses a guest may bind to, connect (or send datagrams) to, and
/// whether it may resolve names with the host's resolver. The default
/// allows nothing: calls that need a permission give `ENOTCAPABLE`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetPolicy {
    bind: Vec<AddrRule>,
    connect: Vec<AddrRule>,
    resolve: bool,
}

impl NetPolicy {
    /// Allows binding (`sock_bind`, `tcp+listen://`) to addresses matching `rule`.
    pub fn allow_bind(&mut self, rule: AddrRule) -> &mut Self {
        self.bind.push(rule);
        self
    }

    /// Allows connecting and sending (`sock_connect`, `sock_send_to`,
    /// `tcp+dial://`) to addresses matching `rule`.
    pub fn allow_connect(&mut self, rule: AddrRule) -> &mut Self {
        self.connect.push(rule);
        self
    }

    /// Allows `sock_getaddrinfo` to use the host's resolver.
    pub fn allow_resolve(&mut self, allow: bool) -> &mut Self {
        self.resolve = allow;
        self
    }

    fn allows(rules: &[AddrRule], addr: &SocketAddr) -> bool {
        rules.iter().any(|rule| rule.matches(addr))
    }
}

/// An address pattern of a [`NetPolicy`]: `*`, `IP:*`, `*:PORT` or
/// `IP:PORT` (IPv6 in brackets, `[::1]:80`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddrRule {
    ip: Option<IpAddr>,
    port: Option<u16>,
}

impl AddrRule {
    /// Any address and port.
    pub const ANY: Self = Self {
        ip: None,
        port: None,
    };

    /// Whether `addr` matches.
    pub fn matches(&self, addr: &SocketAddr) -> bool {
        self.ip.is_none_or(|ip| ip == addr.ip()) && self.port.is_none_or(|p| p == addr.port())
    }
}

/// A malformed [`AddrRule`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddrRuleError(String);

impl fmt::Display for AddrRuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "bad address rule {:?} (expected *, IP:*, *:PORT or IP:PORT)",
            self.0
        )
    }
}

impl std::error::Error for AddrRuleError {}

impl FromStr for AddrRule {
    type Err = AddrRuleError;

    fn from_str(text: &str) -> core::result::Result<Self, Self::Err> {
        let bad = || AddrRuleError(text.into());
        if text == "*" {
            return Ok(Self::ANY);
        }
        let (host, port) = text.rsplit_once(':').ok_or_else(bad)?;
        let port = match port {
            "*" => None,
            port => Some(port.parse().map_err(|_| bad())?),
        };
        let ip = match host {
            "*" => None,
            // An IPv6 address must be in brackets: `::1:80` is ambiguous.
            host if host.contains(':') && !host.starts_with('[') => return Err(bad()),
            host => {
                let host = host
                    .strip_prefix('[')
                    .and_then(|h| h.strip_suffix(']'))
                    .map_or(Ok(host), |v6| {
                        v6.parse::<Ipv6Addr>().map(|_| v6).map_err(|_| bad())
                    })?;
                Some(host.parse().map_err(|_| bad())?)
            }
        };
        Ok(Self { ip, port })
    }
}

/// Which way a `path_open` socket goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scheme {
    Listen,
    Dial,
}

/// A parsed `tcp+listen://` or `tcp+dial://` path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SocketUri {
    scheme: Scheme,
    addr: SocketAddr,
    backlog: Option<u32>,
    reuseaddr: Option<bool>,
    reuseport: Option<bool>,
    nodelay: Option<bool>,
    keepalive: Option<bool>,
    nonblock: Option<bool>,
}

/// Parses a `path_open` socket path: `None` when `path` is not one, else the
/// URI or `EINVAL`.
fn parse_uri(path: &str) -> Option<Result<SocketUri>> {
    let (scheme, rest) = if let Some(rest) = path.strip_prefix("tcp+listen://") {
        (Scheme::Listen, rest)
    } else if let Some(rest) = path.strip_prefix("tcp+dial://") {
        (Scheme::Dial, rest)
    } else {
        return None;
    };
    Some(parse_rest(scheme, rest))
}

fn parse_rest(scheme: Scheme, rest: &str) -> Result<SocketUri> {
    let (addr, query) = rest.split_once('?').unwrap_or((rest, ""));
    let addr: SocketAddr = addr.parse().map_err(|_| Errno::INVAL)?;
    let mut uri = SocketUri {
        scheme,
        addr,
        backlog: None,
        reuseaddr: None,
        reuseport: None,
        nodelay: None,
        keepalive: None,
        nonblock: None,
    };
    for option in query.split('&').filter(|o| !o.is_empty()) {
        let (name, value) = option.split_once('=').unwrap_or((option, "true"));
        let flag = || match value {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err(Errno::INVAL),
        };
        let set = |slot: &mut Option<bool>| match slot.replace(flag()?) {
            None => Ok(()),
            Some(_) => Err(Errno::INVAL),
        };
        match (name, scheme) {
            ("backlog", Scheme::Listen) => {
                let backlog = value.parse::<u16>().map_err(|_| Errno::INVAL)?;
                if uri.backlog.replace(u32::from(backlog)).is_some() {
                    return Err(Errno::INVAL);
                }
            }
            ("reuseaddr", _) => set(&mut uri.reuseaddr)?,
            ("reuseport", Scheme::Listen) => set(&mut uri.reuseport)?,
            ("nodelay", _) => set(&mut uri.nodelay)?,
            ("keepalive", Scheme::Dial) => set(&mut uri.keepalive)?,
            ("nonblock", _) => set(&mut uri.nonblock)?,
            _ => return Err(Errno::INVAL),
        }
    }
    Ok(uri)
}

/// The host family of an address.
fn host_family(addr: &SocketAddr) -> HostFamily {
    match addr {
        SocketAddr::V4(_) => HostFamily::INET,
        SocketAddr::V6(_) => HostFamily::INET6,
    }
}

/// A host socket address as a WASI one (`EAFNOSUPPORT` for other families).
fn inet(addr: rustix::net::SocketAddrAny) -> Result<SocketAddr> {
    SocketAddr::try_from(addr).map_err(|_| Errno::AFNOSUPPORT)
}

/// The flags of a send: `MSG_NOSIGNAL` always (a closed peer gives `EPIPE`,
/// never a `SIGPIPE` in the host), and `MSG_DONTWAIT` on a standard stream
/// the guest made non-blocking.
pub(crate) fn send_flags(io: Io) -> SendFlags {
    if io.nonblock() {
        SendFlags::NOSIGNAL | SendFlags::DONTWAIT
    } else {
        SendFlags::NOSIGNAL
    }
}

/// Receives on the guest's host `socket`, made as `io` says, with `flags`
/// (`MSG_DONTWAIT` added for a standard stream the guest made
/// non-blocking; datagrams no connect rule allows are dropped on an
/// [`Io::Filtered`] socket, see [`recv_granted`]). With a `canceller`, a
/// receive that would wait waits beside it ([`Canceller::socket_call`]);
/// a `MSG_WAITALL` one that received part of what it asked for goes on
/// until its buffers are full or the stream ends, fails or is cancelled,
/// and returns what came.
pub(crate) fn recv(
    canceller: Option<&Canceller>,
    socket: BorrowedFd<'_>,
    (io, net): (Io, &NetPolicy),
    mut iovs: &mut [IoSliceMut<'_>],
    mut flags: RecvFlags,
) -> Result<RecvMsg> {
    if io.nonblock() {
        flags |= RecvFlags::DONTWAIT;
    }
    let recv = |iovs: &mut [IoSliceMut<'_>], flags| match io {
        Io::Filtered => recv_granted(socket, net, iovs, flags),
        _ => rustix::net::recvmsg(socket, iovs, &mut RecvAncillaryBuffer::default(), flags)
            .map_err(from_host),
    };
    let Some(canceller) = canceller.filter(|_| !flags.contains(RecvFlags::DONTWAIT)) else {
        return recv(iovs, flags);
    };
    let call = |iovs: &mut [IoSliceMut<'_>]| {
        canceller.socket_call(socket, PollFlags::IN, || {
            recv(iovs, flags | RecvFlags::DONTWAIT)
        })
    };
    let mut msg = call(iovs)?;
    if !flags.contains(RecvFlags::WAITALL) || msg.bytes == 0 {
        return Ok(msg);
    }
    let wanted: usize = iovs.iter().map(|buf| buf.len()).sum();
    IoSliceMut::advance_slices(&mut iovs, msg.bytes);
    while msg.bytes < wanted {
        match call(iovs) {
            Ok(more) if more.bytes > 0 => {
                msg.bytes += more.bytes;
                IoSliceMut::advance_slices(&mut iovs, more.bytes);
            }
            _ => break,
        }
    }
    Ok(msg)
}

/// Sends `iovs` on the guest's host `socket`, made as `io` says, through
/// `send` given the flags ([`send_flags`]). With a `canceller`, a send
/// that would wait waits beside it ([`Canceller::socket_call`]), and one
/// that sent part of its data goes on with the rest, as a blocking stream
/// send does, until all is sent or the socket fails or is cancelled: it
/// then returns the count sent.
pub(crate) fn send(
    canceller: Option<&Canceller>,
    socket: BorrowedFd<'_>,
    io: Io,
    iovs: &[IoSlice<'_>],
    mut send: impl FnMut(&[IoSlice<'_>], SendFlags) -> rustix::io::Result<usize>,
) -> Result<usize> {
    let flags = send_flags(io);
    let Some(canceller) = canceller.filter(|_| !flags.contains(SendFlags::DONTWAIT)) else {
        return send(iovs, flags).map_err(from_host);
    };
    let flags = flags | SendFlags::DONTWAIT;
    let mut call = |iovs: &[IoSlice<'_>]| {
        canceller.socket_call(socket, PollFlags::OUT, || {
            send(iovs, flags).map_err(from_host)
        })
    };
    let mut sent = call(iovs)?;
    let total: usize = iovs.iter().map(|buf| buf.len()).sum();
    if sent == 0 || sent >= total {
        return Ok(sent);
    }
    // Only a stream socket sends part of a message; the guest's buffers
    // are at most the ABI's `IOV_MAX`.
    let mut rest = iovs.to_vec();
    let mut rest = &mut rest[..];
    IoSlice::advance_slices(&mut rest, sent);
    while sent < total {
        match call(rest) {
            Ok(n) if n > 0 => {
                sent += n;
                IoSlice::advance_slices(&mut rest, n);
            }
            _ => break,
        }
    }
    Ok(sent)
}

/// `recvmsg` on a datagram socket the guest opened ([`Io::Filtered`]), past
/// the datagrams whose source no connect rule of `net` allows: each one at
/// the head of the queue is peeked at without its data, then dropped
/// (received into no buffer), so that none of its bytes reach the guest.
/// A blocking socket keeps waiting past them; a non-blocking one (or
/// `MSG_DONTWAIT`) gives `EAGAIN`; with `MSG_PEEK` the granted datagram
/// stays queued. Drops are not reported as denials: the guest asked for
/// nothing, and a sender could flood the handler.
pub(crate) fn recv_granted(
    socket: BorrowedFd<'_>,
    net: &NetPolicy,
    iovs: &mut [IoSliceMut<'_>],
    flags: RecvFlags,
) -> Result<RecvMsg> {
    let recv = |iovs: &mut [IoSliceMut<'_>], flags| {
        rustix::net::recvmsg(socket, iovs, &mut RecvAncillaryBuffer::default(), flags)
            .map_err(from_host)
    };
    loop {
        let head = recv(&mut [], RecvFlags::PEEK | (flags & RecvFlags::DONTWAIT))?;
        let source = head.address.and_then(|a| SocketAddr::try_from(a).ok());
        if source.is_some_and(|source| NetPolicy::allows(&net.connect, &source)) {
            return recv(iovs, flags);
        }
        // The datagram just peeked at: nothing but the guest receives from
        // a socket it opened.
        recv(&mut [], RecvFlags::DONTWAIT)?;
    }
}

/// Binds an unbound datagram socket before its first datagram to `dest`
/// leaves, instead of letting the kernel bind it to the wildcard address,
/// which every host could reach: to port 0 of the loopback address when
/// `dest` is on loopback, of the unspecified address otherwise. A bound
/// socket, or one of another family than `dest` (whose send fails), is left
/// alone.
fn bind_before_sending(socket: BorrowedFd<'_>, dest: &SocketAddr) -> Result<()> {
    let local = inet(rustix::net::getsockname(socket).map_err(from_host)?)?;
    if local.port() != 0 || local.is_ipv4() != dest.is_ipv4() {
        return Ok(());
    }
    let ip = match dest.ip() {
        IpAddr::V4(ip) if ip.is_loopback() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(ip) if ip.is_loopback() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()) => {
            IpAddr::V6(Ipv4Addr::LOCALHOST.to_ipv6_mapped())
        }
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    rustix::net::bind(socket, &SocketAddr::new(ip, 0)).map_err(from_host)
}

/// `connect` on a socket of a system that can be cancelled: on a blocking
/// socket, the connection is started without waiting (the description made
/// non-blocking for that one call, and restored: the socket is the guest's
/// alone) and waited for beside the canceller; `ECANCELED` leaves it
/// connecting, as a signal would.
fn connect_cancellable(
    canceller: &Canceller,
    socket: BorrowedFd<'_>,
    addr: &SocketAddr,
) -> Result<()> {
    let flags = rustix::fs::fcntl_getfl(socket).map_err(from_host)?;
    if flags.contains(rustix::fs::OFlags::NONBLOCK) {
        return rustix::net::connect(socket, addr).map_err(from_host);
    }
    rustix::fs::fcntl_setfl(socket, flags | rustix::fs::OFlags::NONBLOCK).map_err(from_host)?;
    let started = rustix::net::connect(socket, addr);
    rustix::fs::fcntl_setfl(socket, flags).map_err(from_host)?;
    match started {
        Err(rustix::io::Errno::INPROGRESS) => {
            canceller.socket_call(socket, PollFlags::OUT, || {
                crate::stream::ready(socket, PollFlags::OUT).map_err(from_host)
            })?;
            sockopt::socket_error(socket)
                .map_err(from_host)?
                .map_err(from_host)
        }
        result => result.map_err(from_host),
    }
}

/// The WASI errno value (as `SO_ERROR` reports it) of a socket's pending error.
fn pending_error(socket: BorrowedFd<'_>) -> Result<i32> {
    Ok(match sockopt::socket_error(socket).map_err(from_host)? {
        Ok(()) => 0,
        Err(err) => i32::from(from_host(err).0),
    })
}

impl UnixSystem {
    /// `ENOTCAPABLE`, reported, unless a bind rule allows `addr`.
    fn check_bind(&mut self, addr: SocketAddr) -> Result<()> {
        if NetPolicy::allows(&self.net.bind, &addr) {
            return Ok(());
        }
        self.denials.report(Denial::Bind(addr));
        Err(Errno::NOTCAPABLE)
    }

    /// `ENOTCAPABLE`, reported, unless a connect rule allows `addr`.
    fn check_connect(&mut self, addr: SocketAddr) -> Result<()> {
        if NetPolicy::allows(&self.net.connect, &addr) {
            return Ok(());
        }
        self.denials.report(Denial::Connect(addr));
        Err(Errno::NOTCAPABLE)
    }

    /// Inserts a host socket with `rights`, whose I/O is made as `io` says.
    fn insert_socket(
        &mut self,
        socket: OwnedFd,
        slot: FdSlot,
        filetype: Filetype,
        rights: Rights,
        io: Io,
    ) -> Result<Fd> {
        let mut host = Host::new(HostFd::Owned(socket, slot), filetype);
        host.io = io;
        self.table
            .insert(FdEntry::new(Entry::Host(host), rights, Rights::empty()))
    }

    /// The host socket at `fd` and how its I/O is made, if `fd` holds
    /// `rights`: `ENOTSOCK` for anything that is not a socket, before rights
    /// are checked (as [`UnixSystem::socket`]).
    pub(crate) fn socket_io(&self, fd: Fd, rights: Rights) -> Result<(BorrowedFd<'_>, Io)> {
        let entry = self.table.entry(fd)?;
        match &entry.file {
            Entry::Host(host) if host.is_socket() => {
                entry.require(rights)?;
                Ok((host.fd.as_fd(), host.io))
            }
            _ => Err(Errno::NOTSOCK),
        }
    }

    /// `path_open` on a `tcp+listen://` or `tcp+dial://` path: `None` when
    /// `path` is not one.
    pub(crate) fn path_open_socket(
        &mut self,
        fd: Fd,
        path: &str,
        fdflags: Fdflags,
    ) -> Option<Result<Fd>> {
        let uri = parse_uri(path)?;
        Some(uri.and_then(|uri| self.open_uri(fd, &uri, fdflags)))
    }

    fn open_uri(&mut self, fd: Fd, uri: &SocketUri, fdflags: Fdflags) -> Result<Fd> {
        self.dir(fd, Rights::PATH_OPEN)?;
        match uri.scheme {
            Scheme::Listen => self.check_bind(uri.addr)?,
            Scheme::Dial => self.check_connect(uri.addr)?,
        }
        let nonblock = uri.nonblock.unwrap_or(fdflags.contains(Fdflags::NONBLOCK));
        let mut flags = SocketFlags::CLOEXEC;
        if nonblock {
            flags |= SocketFlags::NONBLOCK;
        }
        let slot = self.host_slot()?;
        let socket =
            rustix::net::socket_with(host_family(&uri.addr), SocketType::STREAM, flags, None)
                .map_err(from_host)?;
        if let Some(nodelay) = uri.nodelay {
            sockopt::set_tcp_nodelay(&socket, nodelay).map_err(from_host)?;
        }
        let rights = match uri.scheme {
            Scheme::Listen => {
                let reuseaddr = uri.reuseaddr.unwrap_or(true);
                sockopt::set_socket_reuseaddr(&socket, reuseaddr).map_err(from_host)?;
                if let Some(reuseport) = uri.reuseport {
                    sockopt::set_socket_reuseport(&socket, reuseport).map_err(from_host)?;
                }
                rustix::net::bind(&socket, &uri.addr).map_err(from_host)?;
                let backlog = uri.backlog.unwrap_or(128) as i32;
                rustix::net::listen(&socket, backlog).map_err(from_host)?;
                Rights::LISTENER
            }
            Scheme::Dial => {
                if let Some(reuseaddr) = uri.reuseaddr {
                    sockopt::set_socket_reuseaddr(&socket, reuseaddr).map_err(from_host)?;
                }
                if let Some(keepalive) = uri.keepalive {
                    sockopt::set_socket_keepalive(&socket, keepalive).map_err(from_host)?;
                }
                match rustix::net::connect(&socket, &uri.addr) {
                    Ok(()) => {}
                    Err(rustix::io::Errno::INPROGRESS) if nonblock => {}
                    Err(err) => return Err(from_host(err)),
                }
                Rights::SOCKET
            }
        };
        self.insert_socket(socket, slot, Filetype::SOCKET_STREAM, rights, Io::Plain)
    }

    pub(crate) fn net_open(&mut self, family: AddressFamily, socktype: SockType) -> Result<Fd> {
        let family = match family {
            AddressFamily::INET4 => HostFamily::INET,
            AddressFamily::INET6 => HostFamily::INET6,
            AddressFamily::UNIX => return Err(Errno::AFNOSUPPORT),
            _ => return Err(Errno::INVAL),
        };
        let (host_type, filetype) = match socktype {
            SockType::STREAM => (SocketType::STREAM, Filetype::SOCKET_STREAM),
            SockType::DGRAM => (SocketType::DGRAM, Filetype::SOCKET_DGRAM),
            _ => return Err(Errno::INVAL),
        };
        // WasmEdge's `sock_open` needs no grant: the descriptor caps bound it.
        let slot = self.host_slot()?;
        let socket = rustix::net::socket_with(family, host_type, SocketFlags::CLOEXEC, None)
            .map_err(from_host)?;
        // Until the guest binds it under a bind rule, a datagram socket
        // receives only from addresses a connect rule allows.
        let io = match filetype {
            Filetype::SOCKET_DGRAM => Io::Filtered,
            _ => Io::Plain,
        };
        self.insert_socket(socket, slot, filetype, Rights::LISTENER, io)
    }

    pub(crate) fn net_bind(&mut self, fd: Fd, addr: SocketAddr) -> Result<()> {
        self.socket(fd, Rights::empty())?;
        self.check_bind(addr)?;
        let (socket, _) = self.socket(fd, Rights::empty())?;
        rustix::net::bind(socket, &addr).map_err(from_host)?;
        // A server the user granted: it receives from anyone.
        if let Entry::Host(host) = &mut self.table.get_mut(fd, Rights::empty())?.file
            && host.io == Io::Filtered
        {
            host.io = Io::Plain;
        }
        Ok(())
    }

    pub(crate) fn net_listen(&mut self, fd: Fd, backlog: u32) -> Result<()> {
        let (socket, filetype) = self.socket(fd, Rights::empty())?;
        // Linux binds an unbound socket to a port of every interface on
        // `listen`, and a socket may also be bound by a `connect`: only
        // listening on an address a bind rule grants is allowed.
        if filetype == Filetype::SOCKET_STREAM {
            let local = inet(rustix::net::getsockname(socket).map_err(from_host)?)?;
            if local.port() == 0 {
                return Err(Errno::NOTCAPABLE);
            }
            self.check_bind(local)?;
        }
        let (socket, _) = self.socket(fd, Rights::empty())?;
        let backlog = i32::try_from(backlog).unwrap_or(i32::MAX);
        rustix::net::listen(socket, backlog).map_err(from_host)
    }

    pub(crate) fn net_connect(&mut self, fd: Fd, addr: SocketAddr) -> Result<()> {
        self.socket(fd, Rights::empty())?;
        self.check_connect(addr)?;
        let (socket, _) = self.socket(fd, Rights::empty())?;
        match &self.canceller {
            Some(canceller) => connect_cancellable(canceller, socket, &addr),
            None => rustix::net::connect(socket, &addr).map_err(from_host),
        }
    }

    pub(crate) fn net_recv_from(
        &mut self,
        fd: Fd,
        iovs: &mut [IoSliceMut<'_>],
        flags: Riflags,
    ) -> Result<(Size, Roflags, Option<SocketAddr>)> {
        let (socket, io) = self.socket_io(fd, Rights::FD_READ)?;
        let mut recv_flags = RecvFlags::empty();
        if flags.contains(Riflags::RECV_PEEK) {
            recv_flags |= RecvFlags::PEEK;
        }
        if flags.contains(Riflags::RECV_WAITALL) {
            recv_flags |= RecvFlags::WAITALL;
        }
        let msg = recv(
            self.canceller.as_ref(),
            socket,
            (io, &self.net),
            iovs,
            recv_flags,
        )?;
        let mut roflags = Roflags::empty();
        if msg.flags.contains(ReturnFlags::TRUNC) {
            roflags |= Roflags::RECV_DATA_TRUNCATED;
        }
        let source = msg.address.and_then(|a| SocketAddr::try_from(a).ok());
        // The kernel transfers at most 0x7ffff000 bytes per call.
        Ok((msg.bytes as Size, roflags, source))
    }

    pub(crate) fn net_send_to(
        &mut self,
        fd: Fd,
        iovs: &[IoSlice<'_>],
        addr: SocketAddr,
    ) -> Result<Size> {
        self.socket(fd, Rights::FD_WRITE)?;
        self.check_connect(addr)?;
        let (socket, io) = self.socket_io(fd, Rights::FD_WRITE)?;
        if io == Io::Filtered {
            bind_before_sending(socket, &addr)?;
        }
        send(self.canceller.as_ref(), socket, io, iovs, |iovs, flags| {
            rustix::net::sendmsg_addr(
                socket,
                &addr,
                iovs,
                &mut SendAncillaryBuffer::default(),
                flags,
            )
        })
        .map(|n| n as Size)
    }

    pub(crate) fn net_getsockopt(&mut self, fd: Fd, opt: SockOpt) -> Result<i32> {
        let (socket, filetype) = self.socket(fd, Rights::empty())?;
        let int = |b: bool| i32::from(b);
        let size = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
        let value = match opt {
            SockOpt::ReuseAddr => sockopt::socket_reuseaddr(socket).map(int),
            SockOpt::Type => {
                return Ok(match filetype {
                    Filetype::SOCKET_DGRAM => i32::from(SockType::DGRAM.0),
                    _ => i32::from(SockType::STREAM.0),
                });
            }
            SockOpt::Error => return pending_error(socket),
            SockOpt::Broadcast => sockopt::socket_broadcast(socket).map(int),
            SockOpt::SndBuf => sockopt::socket_send_buffer_size(socket).map(size),
            SockOpt::RcvBuf => sockopt::socket_recv_buffer_size(socket).map(size),
            SockOpt::KeepAlive => sockopt::socket_keepalive(socket).map(int),
            SockOpt::OobInline => sockopt::socket_oobinline(socket).map(int),
            SockOpt::AcceptConn => sockopt::socket_acceptconn(socket).map(int),
            SockOpt::TcpNoDelay => sockopt::tcp_nodelay(socket).map(int),
        };
        value.map_err(from_host)
    }

    pub(crate) fn net_setsockopt(&mut self, fd: Fd, opt: SockOpt, value: i32) -> Result<()> {
        let (socket, _) = self.socket(fd, Rights::empty())?;
        let on = value != 0;
        let size = || usize::try_from(value).map_err(|_| Errno::INVAL);
        match opt {
            SockOpt::ReuseAddr => sockopt::set_socket_reuseaddr(socket, on),
            SockOpt::Broadcast => sockopt::set_socket_broadcast(socket, on),
            SockOpt::SndBuf => sockopt::set_socket_send_buffer_size(socket, size()?),
            SockOpt::RcvBuf => sockopt::set_socket_recv_buffer_size(socket, size()?),
            SockOpt::KeepAlive => sockopt::set_socket_keepalive(socket, on),
            SockOpt::OobInline => sockopt::set_socket_oobinline(socket, on),
            SockOpt::TcpNoDelay => sockopt::set_tcp_nodelay(socket, on),
            SockOpt::Type | SockOpt::Error | SockOpt::AcceptConn => {
                return Err(Errno::NOPROTOOPT);
            }
        }
        .map_err(from_host)
    }

    pub(crate) fn net_local_addr(&mut self, fd: Fd) -> Result<SocketAddr> {
        let (socket, _) = self.socket(fd, Rights::empty())?;
        inet(rustix::net::getsockname(socket).map_err(from_host)?)
    }

    pub(crate) fn net_peer_addr(&mut self, fd: Fd) -> Result<SocketAddr> {
        let (socket, _) = self.socket(fd, Rights::empty())?;
        match rustix::net::getpeername(socket).map_err(from_host)? {
            Some(addr) => inet(addr),
            None => Err(Errno::NOTCONN),
        }
    }

    pub(crate) fn net_getaddrinfo(
        &mut self,
        node: &str,
        service: &str,
        hints: AddrinfoHints,
        max: usize,
    ) -> Result<Vec<Addrinfo>> {
        if !self.net.resolve {
            self.denials.report(Denial::Resolve(node.into()));
            return Err(Errno::NOTCAPABLE);
        }
        if node.is_empty() && service.is_empty() {
            return Err(Errno::INVAL);
        }
        let port = match service {
            "" => 0,
            service => service.parse::<u16>().map_err(|_| Errno::INVAL)?,
        };
        let addrs: Vec<SocketAddr> = if node.is_empty() {
            let (v4, v6) = if hints.flags & AddrinfoHints::AI_PASSIVE != 0 {
                (Ipv4Addr::UNSPECIFIED, Ipv6Addr::UNSPECIFIED)
            } else {
                (Ipv4Addr::LOCALHOST, Ipv6Addr::LOCALHOST)
            };
            vec![
                SocketAddr::new(IpAddr::V4(v4), port),
                SocketAddr::new(IpAddr::V6(v6), port),
            ]
        } else {
            (node, port)
                .to_socket_addrs()
                .map_err(|_| Errno::NOENT)?
                .collect()
        };
        let socktype = match hints.socktype {
            SockType::DGRAM => SockType::DGRAM,
            _ => SockType::STREAM,
        };
        let protocol = match socktype {
            SockType::DGRAM => protocol::UDP,
            _ => protocol::TCP,
        };
        Ok(addrs
            .into_iter()
            .filter(|addr| {
                hints.family == AddressFamily::UNSPEC || hints.family == AddressFamily::of(addr)
            })
            .take(max)
            .map(|addr| Addrinfo {
                addr,
                socktype,
                protocol,
            })
            .collect())
    }
}

/// A listening TCP socket on `addr` (backlog 128, `SO_REUSEADDR`), for a
/// preopen.
pub(crate) fn listen(addr: SocketAddr) -> std::io::Result<OwnedFd> {
    Ok(std::net::TcpListener::bind(addr)?.into())
}

/// A TCP connection to `addr`, for a preopen.
pub(crate) fn dial(addr: SocketAddr) -> std::io::Result<OwnedFd> {
    Ok(std::net::TcpStream::connect(addr)?.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_and_match() {
        let any: AddrRule = "*".parse().unwrap();
        let host: AddrRule = "127.0.0.1:*".parse().unwrap();
        let port: AddrRule = "*:80".parse().unwrap();
        let v6: AddrRule = "[::1]:443".parse().unwrap();
        let a: SocketAddr = "127.0.0.1:80".parse().unwrap();
        let b: SocketAddr = "[::1]:443".parse().unwrap();
        assert!(any.matches(&a) && host.matches(&a) && port.matches(&a));
        assert!(!host.matches(&b) && !port.matches(&b) && v6.matches(&b));
        for bad in ["", "127.0.0.1", "1.2.3.4:x", "::1:80", "[zz]:1", "host:80"] {
            assert!(bad.parse::<AddrRule>().is_err(), "{bad}");
        }
    }

    #[test]
    fn uris_parse() {
        let uri = parse_uri("tcp+listen://127.0.0.1:8080?backlog=16&reuseport&nodelay=false")
            .unwrap()
            .unwrap();
        assert_eq!(uri.scheme, Scheme::Listen);
        assert_eq!(uri.addr, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(
            (uri.backlog, uri.reuseport, uri.nodelay),
            (Some(16), Some(true), Some(false))
        );
        let uri = parse_uri("tcp+dial://[::1]:6379?nodelay=true&nonblock=1")
            .unwrap()
            .unwrap();
        assert_eq!(uri.scheme, Scheme::Dial);
        assert_eq!((uri.nodelay, uri.nonblock), (Some(true), Some(true)));
        assert_eq!(parse_uri("file.txt"), None);
        for bad in [
            "tcp+listen://127.0.0.1",
            "tcp+listen://localhost:80",
            "tcp+listen://127.0.0.1:80/",
            "tcp+listen://127.0.0.1:99999",
            "tcp+listen://127.0.0.1:80?backlog=x",
            "tcp+listen://127.0.0.1:80?backlog=1&backlog=2",
            "tcp+listen://127.0.0.1:80?keepalive",
            "tcp+dial://127.0.0.1:80?backlog=1",
            "tcp+dial://127.0.0.1:80?nodelay=maybe",
            "tcp+dial://127.0.0.1:80?bogus",
        ] {
            assert_eq!(parse_uri(bad), Some(Err(Errno::INVAL)), "{bad}");
        }
    }
}
