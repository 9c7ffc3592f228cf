//! [`Tracer`]: a [`System`] decorator that logs every call, like `strace`.
//!
//! Wrapping a system in a `Tracer` writes one line per call to a
//! [`std::io::Write`], after the call returns, with the decoded arguments,
//! the result, and the data a read produced:
//!
//! ```text
//! fd_write(1, [13 bytes "hello world!\n"]) = 13
//! fd_read(3, [4096 bytes]) = 5 "hello"
//! path_open(3, SYMLINK_FOLLOW, "dir/file.txt", CREAT | TRUNC, FD_READ | FD_WRITE, 0, 0) = 4
//! path_open(3, 0, "missing", 0, FD_READ, 0, 0) = ENOENT
//! clock_time_get(monotonic, 1) = 1234567
//! fd_close(9) = EBADF
//! proc_exit(0)
//! ```
//!
//! # Format
//!
//! - Arguments appear in the order of the [`System`] method, separated by
//!   `, `. Integers print in decimal, enumerations and flag sets in their
//!   `Debug` form (`monotonic`, `CREAT | TRUNC`; an empty flag set is `0`).
//! - Paths and other strings are quoted, with bytes escaped as
//!   [`<[u8]>::escape_ascii`] does (so a line never contains a control
//!   character or a raw newline), and shown in full.
//! - A buffer the guest passes in is `N bytes "..."`, its contents cut after
//!   the first 32 bytes, with `...` after the closing quote when cut. A list
//!   of iovecs is a bracketed list: `[3 bytes "abc", 2 bytes "de"]`.
//! - A buffer the call fills is shown by size only, `[4096 bytes]`; on
//!   success the data actually placed follows the result in the same quoted
//!   form (`= 5 "hello"`), gathered across iovecs. `random_get` never shows
//!   the bytes, as they may be key material.
//! - The result follows ` = `: the value on success (`0` for calls that only
//!   succeed or fail), the errno name on failure (`ENOENT`). `proc_exit` has
//!   no result, and flushes the writer since the guest unwinds next.
//! - Records: an fdstat is
//!   `{filetype: regular_file, flags: 0, rights_base: FD_READ, rights_inheriting: 0}`,
//!   a filestat `{filetype: regular_file, size: 12, ...}` (device, inode,
//!   link count and timestamps left out), a prestat `{tag: dir, name_len: 4}`,
//!   and two sizes `(2, 10)`.
//! - `poll_oneoff` shows the subscriptions, then after the count the events
//!   it produced: `{userdata: 1, clock: monotonic, timeout: 1000, precision: 0,
//!   flags: 0}` and `{userdata: 2, fd_read: 3}` in, `{userdata: 1, clock}`,
//!   `{userdata: 2, fd_read, nbytes: 5, flags: 0}` or
//!   `{userdata: 2, fd_read, error: EBADF}` out.
//! - `path_readlink` shows the link target it placed in full, as a path.
//! - `fd_readdir(fd, cookie)` shows the number of bytes of entries the call
//!   placed, followed by ` (full)` when the buffer is full (so the guest
//!   should call again).
//!
//! Tracing is opt-in by wrapping, so an untraced system pays nothing. While
//! tracing, each line is formatted straight into the writer without
//! allocating; wrap an unbuffered writer such as `stderr` in a
//! [`BufWriter`](std::io::BufWriter) to save system calls. Errors of the
//! writer are ignored: they never change what the call returns.

use crate::system::{DirentWriter, Result, StringList, System};
use crate::types::*;
use core::fmt;
use std::io::{IoSlice, IoSliceMut, Write};
use std::net::SocketAddr;

/// How many bytes of a buffer's contents a line shows.
const SHOWN: usize = 32;

/// A [`System`] that forwards every call to an inner system and writes one
/// line per call to a writer, in the format described in the
/// [module documentation](self).
///
/// ```
/// # use wasi_core::{System, Tracer};
/// # fn demo(sys: impl System) {
/// let mut traced = Tracer::new(sys, std::io::stderr());
/// let _ = traced.fd_close(9); // logs e.g. `fd_close(9) = EBADF`
/// # }
/// ```
#[derive(Debug)]
pub struct Tracer<S, W> {
    inner: S,
    writer: W,
}

impl<S, W> Tracer<S, W> {
    /// Traces the calls made to `inner` into `writer`.
    pub fn new(inner: S, writer: W) -> Self {
        Self { inner, writer }
    }

    /// The traced system.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The traced system, mutably. Calls made on it directly are not traced.
    pub fn inner_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the traced system, dropping the writer.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// The writer the trace goes to.
    pub fn writer(&self) -> &W {
        &self.writer
    }

    /// The writer the trace goes to, mutably (to flush it, for instance).
    pub fn writer_mut(&mut self) -> &mut W {
        &mut self.writer
    }

    /// Unwraps the traced system and the writer.
    pub fn into_parts(self) -> (S, W) {
        (self.inner, self.writer)
    }
}

/// Descriptors an extension installs go to the traced system: installing
/// is the host's doing, not a call of the guest's, so it is not traced.
impl<S: crate::vfs::VirtualFds, W: Write> crate::vfs::VirtualFds for Tracer<S, W> {
    crate::forward_virtual_fds!(self => self.inner);
}

/// Writes one trace line, ignoring errors: tracing never changes a result.
macro_rules! trace {
    ($w:expr, $($arg:tt)*) => {{
        let _ = writeln!($w, $($arg)*);
    }};
}

/// Generates one method of the `System` impl of [`Tracer`]: the call, then
/// its line from the arguments and the result (`trace: auto`), or the
/// hand-written method of `TraceByHand` (`trace: hand`).
macro_rules! tracer_method {
    ([trace: auto] $(#[$meta:meta])* fn $name:ident(&mut self $(, $arg:ident: $ty:ty)*) -> $ret:ty) => {
        $(#[$meta])*
        fn $name(&mut self $(, $arg: $ty)*) -> $ret {
            let r = self.inner.$name($($arg),*);
            trace!(
                self.writer,
                "{}({}) = {}",
                stringify!($name),
                Args(&[$(&$arg as &dyn Arg),*]),
                Ret(&r)
            );
            r
        }
    };
    ([trace: hand] $(#[$meta:meta])* fn $name:ident(&mut self $(, $arg:ident: $ty:ty)*) -> $ret:ty) => {
        $(#[$meta])*
        fn $name(&mut self $(, $arg: $ty)*) -> $ret {
            by_hand::TraceByHand::$name(self $(, $arg)*)
        }
    };
}

/// Declares a `trace: hand` method in [`TraceByHand`]; nothing for the others.
macro_rules! hand_traced_method {
    ([trace: auto] $($rest:tt)*) => {};
    ([trace: hand] $(#[$meta:meta])* fn $name:ident(&mut self $(, $arg:ident: $ty:ty)*) -> $ret:ty) => {
        $(#[$meta])*
        fn $name(&mut self $(, $arg: $ty)*) -> $ret;
    };
}

macro_rules! impl_tracer {
    ($($(#[$meta:meta])* [trace: $trace:ident] fn $name:ident(&mut self $(, $arg:ident: $ty:ty)*) -> $ret:ty $(=> $default:block)?;)*) => {
        /// The calls whose trace line shows more than their arguments and
        /// result, written by hand (in a module of its own, so that its
        /// methods never shadow `System`'s).
        mod by_hand {
            use super::*;

            pub(super) trait TraceByHand {
                $(hand_traced_method! { [trace: $trace] $(#[$meta])* fn $name(&mut self $(, $arg: $ty)*) -> $ret })*
            }
        }

        impl<S: System, W: Write> System for Tracer<S, W> {
            $(tracer_method! { [trace: $trace] $(#[$meta])* fn $name(&mut self $(, $arg: $ty)*) -> $ret })*
        }
    };
}

crate::for_each_system_method!(impl_tracer);

impl<S: System, W: Write> by_hand::TraceByHand for Tracer<S, W> {
    fn fd_pread(&mut self, fd: Fd, iovs: &mut [IoSliceMut<'_>], offset: Filesize) -> Result<Size> {
        let r = self.inner.fd_pread(fd, iovs, offset);
        trace!(
            self.writer,
            "fd_pread({fd}, {}, {offset}) = {}",
            Capacities(iovs),
            ReadRet(&r, iovs)
        );
        r
    }

    fn fd_read(&mut self, fd: Fd, iovs: &mut [IoSliceMut<'_>]) -> Result<Size> {
        let r = self.inner.fd_read(fd, iovs);
        trace!(
            self.writer,
            "fd_read({fd}, {}) = {}",
            Capacities(iovs),
            ReadRet(&r, iovs)
        );
        r
    }

    fn fd_readdir(&mut self, fd: Fd, cookie: Dircookie, out: &mut DirentWriter<'_>) -> Result<()> {
        let before = out.len();
        let r = self.inner.fd_readdir(fd, cookie, out);
        let full = if out.is_full() { " (full)" } else { "" };
        match r {
            Ok(()) => trace!(
                self.writer,
                "fd_readdir({fd}, {cookie}) = {}{full}",
                out.len().saturating_sub(before)
            ),
            Err(e) => trace!(self.writer, "fd_readdir({fd}, {cookie}) = {e}"),
        }
        r
    }

    fn path_readlink(&mut self, fd: Fd, path: &str, buf: &mut [u8]) -> Result<Size> {
        let r = self.inner.path_readlink(fd, path, buf);
        let link = match r {
            Ok(n) => Some(Quoted::full(&buf[..(n as usize).min(buf.len())])),
            Err(_) => None,
        };
        trace!(
            self.writer,
            "path_readlink({fd}, {}, [{} bytes]) = {}{}",
            Str(path),
            buf.len(),
            Ret(&r),
            After(link)
        );
        r
    }

    fn poll_oneoff(
        &mut self,
        subscriptions: &[Subscription],
        events: &mut [Event],
    ) -> Result<Size> {
        let r = self.inner.poll_oneoff(subscriptions, events);
        trace!(
            self.writer,
            "poll_oneoff({}) = {}",
            Subscriptions(subscriptions),
            PollRet(&r, events)
        );
        r
    }

    fn proc_exit(&mut self, code: Exitcode) {
        self.inner.proc_exit(code);
        trace!(self.writer, "proc_exit({code})");
        // The guest unwinds next and the host may exit soon after: do not
        // leave the last lines in a buffer.
        let _ = self.writer.flush();
    }

    fn sock_recv(
        &mut self,
        fd: Fd,
        iovs: &mut [IoSliceMut<'_>],
        flags: Riflags,
    ) -> Result<(Size, Roflags)> {
        let r = self.inner.sock_recv(fd, iovs, flags);
        let data = match r {
            Ok((n, _)) => Some(ReadData(iovs, n)),
            Err(_) => None,
        };
        trace!(
            self.writer,
            "sock_recv({fd}, {}, {flags:?}) = {}{}",
            Capacities(iovs),
            Ret(&r),
            After(data)
        );
        r
    }

    fn sock_recv_from(
        &mut self,
        fd: Fd,
        iovs: &mut [IoSliceMut<'_>],
        flags: Riflags,
    ) -> Result<(Size, Roflags, Option<SocketAddr>)> {
        let r = self.inner.sock_recv_from(fd, iovs, flags);
        let data = match r {
            Ok((n, _, _)) => Some(ReadData(iovs, n)),
            Err(_) => None,
        };
        trace!(
            self.writer,
            "sock_recv_from({fd}, {}, {flags:?}) = {}{}",
            Capacities(iovs),
            Ret(&r),
            After(data)
        );
        r
    }
}

/// How an argument shows in a trace line.
trait Arg {
    fn show(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result;
}

/// Arguments shown in decimal (descriptors, sizes, offsets, times).
macro_rules! display_args {
    ($($ty:ty),*) => {$(
        impl Arg for $ty {
            fn show(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, f)
            }
        }
    )*};
}

display_args!(u32, u64, i32, i64, usize, SockOpt, SocketAddr);

/// Enumerations and flag sets, in their `Debug` form (`monotonic`,
/// `CREAT | TRUNC`; an empty flag set is `0`).
macro_rules! debug_args {
    ($($ty:ty),*) => {$(
        impl Arg for $ty {
            fn show(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(self, f)
            }
        }
    )*};
}

debug_args!(
    Clockid,
    Advice,
    Fdflags,
    Rights,
    Fstflags,
    Lookupflags,
    Oflags,
    Whence,
    Signal,
    Riflags,
    Siflags,
    Sdflags,
    AddressFamily,
    SockType
);

impl Arg for &str {
    fn show(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&Str(self), f)
    }
}

impl Arg for &[IoSlice<'_>] {
    fn show(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&Contents(self), f)
    }
}

/// A buffer the call fills without the trace showing it (`random_get`'s
/// bytes may be key material).
impl Arg for &mut [u8] {
    fn show(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{} bytes]", self.len())
    }
}

impl Arg for AddrinfoHints {
    fn show(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{{flags: {}, family: {:?}, socktype: {:?}, protocol: {}}}",
            self.flags, self.family, self.socktype, self.protocol
        )
    }
}

/// A call's arguments, separated by `, `.
struct Args<'a>(&'a [&'a dyn Arg]);

impl fmt::Display for Args<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, arg) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            arg.show(f)?;
        }
        Ok(())
    }
}

/// Bytes in quotes, escaped like [`<[u8]>::escape_ascii`], cut after `limit`
/// bytes with `...` after the closing quote.
struct Quoted<'a> {
    bytes: &'a [u8],
    limit: usize,
}

impl<'a> Quoted<'a> {
    /// The first [`SHOWN`] bytes of a buffer.
    fn short(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            limit: SHOWN,
        }
    }

    /// All of a string.
    fn full(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            limit: usize::MAX,
        }
    }
}

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = &self.bytes[..self.bytes.len().min(self.limit)];
        write!(f, "\"{}\"", shown.escape_ascii())?;
        if shown.len() < self.bytes.len() {
            f.write_str("...")?;
        }
        Ok(())
    }
}

/// A path or other string argument, in full.
struct Str<'a>(&'a str);

impl fmt::Display for Str<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&Quoted::full(self.0.as_bytes()), f)
    }
}

/// Buffers the guest passes in: `[3 bytes "abc", 2 bytes "de"]`.
struct Contents<'a, 'b>(&'a [IoSlice<'b>]);

impl fmt::Display for Contents<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, iov) in self.0.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            write!(f, "{sep}{} bytes {}", iov.len(), Quoted::short(iov))?;
        }
        f.write_str("]")
    }
}

/// Buffers the call fills, by size: `[4096 bytes, 10 bytes]`.
struct Capacities<'a, 'b>(&'a [IoSliceMut<'b>]);

impl fmt::Display for Capacities<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, iov) in self.0.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            write!(f, "{sep}{} bytes", iov.len())?;
        }
        f.write_str("]")
    }
}

/// The first `n` bytes of a list of buffers, gathered and quoted like
/// [`Quoted::short`].
struct ReadData<'a, 'b>(&'a [IoSliceMut<'b>], Size);

impl fmt::Display for ReadData<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total: usize = self.0.iter().map(|iov| iov.len()).sum();
        let n = (self.1 as usize).min(total);
        let mut left = n.min(SHOWN);
        f.write_str("\"")?;
        for iov in self.0 {
            if left == 0 {
                break;
            }
            let take = left.min(iov.len());
            fmt::Display::fmt(&iov[..take].escape_ascii(), f)?;
            left -= take;
        }
        f.write_str("\"")?;
        if n > SHOWN {
            f.write_str("...")?;
        }
        Ok(())
    }
}

/// ` ` then the value, when there is one.
struct After<T>(Option<T>);

impl<T: fmt::Display> fmt::Display for After<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(value) => write!(f, " {value}"),
            None => Ok(()),
        }
    }
}

/// The result of a read: the count, then the data read.
struct ReadRet<'a, 'b, 'c>(&'a Result<Size>, &'b [IoSliceMut<'c>]);

impl fmt::Display for ReadRet<'_, '_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self.0 {
            Ok(n) => write!(f, "{n} {}", ReadData(self.1, n)),
            Err(e) => fmt::Display::fmt(&e, f),
        }
    }
}

/// How a successful result shows after ` = `.
trait Show {
    fn show(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result;
}

impl<T: Show + ?Sized> Show for &T {
    fn show(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).show(f)
    }
}

impl Show for () {
    fn show(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("0")
    }
}

impl Show for u32 {
    fn show(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Show for u64 {
    fn show(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Show for (Size, Size) {
    fn show(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({}, {})", self.0, self.1)
    }
}

impl Show for i32 {
    fn show(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Show for SocketAddr {
    fn show(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Show for (Size, Roflags, Option<SocketAddr>) {
    fn show(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({}, {:?}, ", self.0, self.1)?;
        match &self.2 {
            Some(addr) => write!(f, "{addr})"),
            None => f.write_str("none)"),
        }
    }
}

impl Show for Vec<Addrinfo> {
    fn show(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, info) in self.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            write!(f, "{sep}{}", info.addr)?;
        }
        f.write_str("]")
    }
}

impl Show for (Size, Roflags) {
    fn show(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({}, {:?})", self.0, self.1)
    }
}

impl Show for str {
    fn show(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&Str(self), f)
    }
}

impl Show for StringList {
    fn show(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, item) in self.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            write!(f, "{sep}{}", Quoted::full(item))?;
        }
        f.write_str("]")
    }
}

impl Show for Fdstat {
    fn show(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{{filetype: {:?}, flags: {:?}, rights_base: {:?}, rights_inheriting: {:?}}}",
            self.fs_filetype, self.fs_flags, self.fs_rights_base, self.fs_rights_inheriting
        )
    }
}

impl Show for Filestat {
    fn show(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{{filetype: {:?}, size: {}, ...}}",
            self.filetype, self.size
        )
    }
}

impl Show for Prestat {
    fn show(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{tag: {:?}, name_len: {}}}", self.tag, self.pr_name_len)
    }
}

/// A call's result: the value, or the errno name.
struct Ret<'a, T>(&'a Result<T>);

impl<T: Show> fmt::Display for Ret<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Ok(value) => value.show(f),
            Err(e) => fmt::Display::fmt(e, f),
        }
    }
}

/// The subscriptions of `poll_oneoff`.
struct Subscriptions<'a>(&'a [Subscription]);

impl fmt::Display for Subscriptions<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, sub) in self.0.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            write!(f, "{sep}{{userdata: {}, ", sub.userdata)?;
            match sub.kind() {
                Some(SubscriptionKind::Clock(clock)) => write!(
                    f,
                    "clock: {:?}, timeout: {}, precision: {}, flags: {:?}",
                    clock.id, clock.timeout, clock.precision, clock.flags
                )?,
                Some(SubscriptionKind::FdRead(fd)) => write!(f, "fd_read: {fd}")?,
                Some(SubscriptionKind::FdWrite(fd)) => write!(f, "fd_write: {fd}")?,
                None => write!(f, "type: {:?}", sub.tag)?,
            }
            f.write_str("}")?;
        }
        f.write_str("]")
    }
}

/// The result of `poll_oneoff`: the count, then the events produced.
struct PollRet<'a, 'b>(&'a Result<Size>, &'b [Event]);

impl fmt::Display for PollRet<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = match *self.0 {
            Ok(n) => n,
            Err(e) => return fmt::Display::fmt(&e, f),
        };
        write!(f, "{n} [")?;
        for (i, event) in self.1.iter().take(n as usize).enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            write!(f, "{sep}{{userdata: {}, {:?}", event.userdata, event.r#type)?;
            if event.error != Errno::SUCCESS {
                write!(f, ", error: {}", event.error)?;
            } else if event.r#type != Eventtype::CLOCK {
                write!(f, ", nbytes: {}, flags: {:?}", event.nbytes, event.flags)?;
            }
            f.write_str("}")?;
        }
        f.write_str("]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::system::{Decorator, Unsupported};
    use std::io;

    /// A system with canned answers; fd 9 is never open.
    struct Fake {
        /// What the fake does not serve.
        base: Unsupported,
        args: StringList,
        env: StringList,
        /// What reads produce.
        data: &'static [u8],
    }

    impl Fake {
        fn new() -> Self {
            Self {
                base: Unsupported::default(),
                args: StringList::new(["prog", "a b"]).unwrap(),
                env: StringList::new(["HOME=/", "TAB=\t"]).unwrap(),
                data: b"hello",
            }
        }

        fn check(fd: Fd) -> Result<()> {
            if fd == 9 { Err(Errno::BADF) } else { Ok(()) }
        }

        fn fill(&self, iovs: &mut [IoSliceMut<'_>]) -> Size {
            crate::vfs::copy_to_iovs(self.data, iovs) as Size
        }
    }

    impl Decorator for Fake {
        type Inner = Unsupported;

        fn inner(&mut self) -> &mut Unsupported {
            &mut self.base
        }

        fn args_get(&mut self) -> Result<&StringList> {
            Ok(&self.args)
        }
        fn environ_get(&mut self) -> Result<&StringList> {
            Ok(&self.env)
        }
        fn environ_sizes_get(&mut self) -> Result<(Size, Size)> {
            // Overridden so that the test can tell the tracer forwards it.
            Ok((7, 77))
        }
        fn clock_res_get(&mut self, _: Clockid) -> Result<Timestamp> {
            Ok(1)
        }
        fn clock_time_get(&mut self, id: Clockid, _: Timestamp) -> Result<Timestamp> {
            if id.is_valid() {
                Ok(1234567)
            } else {
                Err(Errno::INVAL)
            }
        }
        fn fd_advise(&mut self, fd: Fd, _: Filesize, _: Filesize, _: Advice) -> Result<()> {
            Self::check(fd)
        }
        fn fd_allocate(&mut self, fd: Fd, _: Filesize, _: Filesize) -> Result<()> {
            Self::check(fd)
        }
        fn fd_close(&mut self, fd: Fd) -> Result<()> {
            Self::check(fd)
        }
        fn fd_datasync(&mut self, fd: Fd) -> Result<()> {
            Self::check(fd)
        }
        fn fd_fdstat_get(&mut self, fd: Fd) -> Result<Fdstat> {
            Self::check(fd)?;
            Ok(Fdstat::new(
                Filetype::REGULAR_FILE,
                Fdflags::APPEND,
                Rights::FD_READ | Rights::FD_WRITE,
                Rights::empty(),
            ))
        }
        fn fd_fdstat_set_flags(&mut self, fd: Fd, _: Fdflags) -> Result<()> {
            Self::check(fd)
        }
        fn fd_fdstat_set_rights(&mut self, fd: Fd, _: Rights, _: Rights) -> Result<()> {
            Self::check(fd)
        }
        fn fd_filestat_get(&mut self, fd: Fd) -> Result<Filestat> {
            Self::check(fd)?;
            Ok(Filestat {
                dev: 1,
                ino: 2,
                filetype: Filetype::REGULAR_FILE,
                nlink: 1,
                size: 12,
                ..Default::default()
            })
        }
        fn fd_filestat_set_size(&mut self, fd: Fd, _: Filesize) -> Result<()> {
            Self::check(fd)
        }
        fn fd_filestat_set_times(
            &mut self,
            fd: Fd,
            _: Timestamp,
            _: Timestamp,
            _: Fstflags,
        ) -> Result<()> {
            Self::check(fd)
        }
        fn fd_pread(&mut self, fd: Fd, iovs: &mut [IoSliceMut<'_>], _: Filesize) -> Result<Size> {
            Self::check(fd)?;
            Ok(self.fill(iovs))
        }
        fn fd_prestat_get(&mut self, fd: Fd) -> Result<Prestat> {
            if fd == 3 {
                Ok(Prestat::dir(4))
            } else {
                Err(Errno::BADF)
            }
        }
        fn fd_prestat_dir_name(&mut self, fd: Fd) -> Result<&str> {
            if fd == 3 {
                Ok("/tmp")
            } else {
                Err(Errno::BADF)
            }
        }
        fn fd_pwrite(&mut self, fd: Fd, iovs: &[IoSlice<'_>], _: Filesize) -> Result<Size> {
            System::fd_write(self, fd, iovs)
        }
        fn fd_read(&mut self, fd: Fd, iovs: &mut [IoSliceMut<'_>]) -> Result<Size> {
            Self::check(fd)?;
            Ok(self.fill(iovs))
        }
        fn fd_readdir(&mut self, fd: Fd, _: Dircookie, out: &mut DirentWriter<'_>) -> Result<()> {
            Self::check(fd)?;
            for (i, name) in [&b"a"[..], b"bc"].into_iter().enumerate() {
                if !out.push(i as u64 + 1, 7, Filetype::REGULAR_FILE, name) {
                    break;
                }
            }
            Ok(())
        }
        fn fd_renumber(&mut self, from: Fd, to: Fd) -> Result<()> {
            Self::check(from)?;
            Self::check(to)
        }
        fn fd_seek(&mut self, fd: Fd, offset: Filedelta, _: Whence) -> Result<Filesize> {
            Self::check(fd)?;
            Filesize::try_from(12 + offset).map_err(|_| Errno::INVAL)
        }
        fn fd_sync(&mut self, fd: Fd) -> Result<()> {
            Self::check(fd)
        }
        fn fd_tell(&mut self, fd: Fd) -> Result<Filesize> {
            Self::check(fd)?;
            Ok(12)
        }
        fn fd_write(&mut self, fd: Fd, iovs: &[IoSlice<'_>]) -> Result<Size> {
            Self::check(fd)?;
            Ok(iovs.iter().map(|iov| iov.len() as Size).sum())
        }
        fn path_create_directory(&mut self, _: Fd, path: &str) -> Result<()> {
            if path == "exists" {
                Err(Errno::EXIST)
            } else {
                Ok(())
            }
        }
        fn path_filestat_get(&mut self, fd: Fd, _: Lookupflags, _: &str) -> Result<Filestat> {
            Ok(Filestat {
                filetype: Filetype::DIRECTORY,
                size: 4096,
                ..System::fd_filestat_get(self, fd)?
            })
        }
        fn path_filestat_set_times(
            &mut self,
            fd: Fd,
            _: Lookupflags,
            _: &str,
            _: Timestamp,
            _: Timestamp,
            _: Fstflags,
        ) -> Result<()> {
            Self::check(fd)
        }
        fn path_link(&mut self, fd: Fd, _: Lookupflags, _: &str, _: Fd, _: &str) -> Result<()> {
            Self::check(fd)
        }
        fn path_open(
            &mut self,
            fd: Fd,
            _: Lookupflags,
            path: &str,
            _: Oflags,
            _: Rights,
            _: Rights,
            _: Fdflags,
        ) -> Result<Fd> {
            Self::check(fd)?;
            if path == "missing" {
                Err(Errno::NOENT)
            } else {
                Ok(4)
            }
        }
        fn path_readlink(&mut self, _: Fd, _: &str, buf: &mut [u8]) -> Result<Size> {
            let target = b"../target";
            let n = target.len().min(buf.len());
            buf[..n].copy_from_slice(&target[..n]);
            Ok(n as Size)
        }
        fn path_remove_directory(&mut self, _: Fd, _: &str) -> Result<()> {
            Err(Errno::NOTEMPTY)
        }
        fn path_rename(&mut self, fd: Fd, _: &str, _: Fd, _: &str) -> Result<()> {
            Self::check(fd)
        }
        fn path_symlink(&mut self, _: &str, fd: Fd, _: &str) -> Result<()> {
            Self::check(fd)
        }
        fn path_unlink_file(&mut self, fd: Fd, _: &str) -> Result<()> {
            Self::check(fd)
        }
        fn poll_oneoff(&mut self, subs: &[Subscription], events: &mut [Event]) -> Result<Size> {
            let mut n = 0;
            for sub in subs {
                let event = match sub.kind() {
                    Some(SubscriptionKind::FdRead(9) | SubscriptionKind::FdWrite(9)) => {
                        Event::new(sub, Errno::BADF, 0, Eventrwflags::empty())
                    }
                    Some(SubscriptionKind::FdRead(_)) => {
                        Event::new(sub, Errno::SUCCESS, 5, Eventrwflags::empty())
                    }
                    Some(SubscriptionKind::FdWrite(_)) => {
                        Event::new(sub, Errno::SUCCESS, 0, Eventrwflags::FD_READWRITE_HANGUP)
                    }
                    _ => Event::new(sub, Errno::SUCCESS, 0, Eventrwflags::empty()),
                };
                events[n] = event;
                n += 1;
            }
            Ok(n as Size)
        }
        fn proc_raise(&mut self, _: Signal) -> Result<()> {
            Err(Errno::NOSYS)
        }
        fn random_get(&mut self, buf: &mut [u8]) -> Result<()> {
            buf.fill(0x42);
            Ok(())
        }
        fn sched_yield(&mut self) -> Result<()> {
            Ok(())
        }
        fn sock_accept(&mut self, fd: Fd, _: Fdflags) -> Result<Fd> {
            Self::check(fd)?;
            Ok(5)
        }
        fn sock_recv(
            &mut self,
            fd: Fd,
            iovs: &mut [IoSliceMut<'_>],
            _: Riflags,
        ) -> Result<(Size, Roflags)> {
            Self::check(fd)?;
            Ok((self.fill(iovs), Roflags::RECV_DATA_TRUNCATED))
        }
    }

    fn tracer() -> Tracer<Fake, Vec<u8>> {
        Tracer::new(Fake::new(), Vec::new())
    }

    /// The trace written so far, cleared.
    fn take(t: &mut Tracer<Fake, Vec<u8>>) -> String {
        String::from_utf8(std::mem::take(t.writer_mut())).unwrap()
    }

    #[test]
    fn the_documented_examples() {
        let mut t = tracer();
        assert_eq!(t.fd_write(1, &[IoSlice::new(b"hello world!\n")]), Ok(13));
        let mut buf = [0u8; 4096];
        assert_eq!(t.fd_read(3, &mut [IoSliceMut::new(&mut buf)]), Ok(5));
        let rw = Rights::FD_READ | Rights::FD_WRITE;
        let (follow, no_follow) = (Lookupflags::SYMLINK_FOLLOW, Lookupflags::empty());
        let creat = Oflags::CREAT | Oflags::TRUNC;
        let no_fdflags = Fdflags::empty();
        let none = Rights::empty();
        assert_eq!(
            t.path_open(3, follow, "dir/file.txt", creat, rw, none, no_fdflags),
            Ok(4)
        );
        let (read, no_oflags) = (Rights::FD_READ, Oflags::empty());
        assert_eq!(
            t.path_open(3, no_follow, "missing", no_oflags, read, none, no_fdflags),
            Err(Errno::NOENT)
        );
        assert_eq!(t.clock_time_get(Clockid::MONOTONIC, 1), Ok(1234567));
        assert_eq!(t.fd_close(9), Err(Errno::BADF));
        t.proc_exit(0);
        assert_eq!(
            take(&mut t),
            "fd_write(1, [13 bytes \"hello world!\\n\"]) = 13\n\
             fd_read(3, [4096 bytes]) = 5 \"hello\"\n\
             path_open(3, SYMLINK_FOLLOW, \"dir/file.txt\", CREAT | TRUNC, FD_READ | FD_WRITE, 0, 0) = 4\n\
             path_open(3, 0, \"missing\", 0, FD_READ, 0, 0) = ENOENT\n\
             clock_time_get(monotonic, 1) = 1234567\n\
             fd_close(9) = EBADF\n\
             proc_exit(0)\n"
        );
    }

    #[test]
    fn buffers_are_escaped_and_cut_after_32_bytes() {
        let mut t = tracer();
        let long = b"0123456789abcdefghijklmnopqrstuvwxyz";
        t.fd_write(1, &[IoSlice::new(long)]).unwrap();
        t.fd_write(
            1,
            &[IoSlice::new(b"abc"), IoSlice::new(b"de"), IoSlice::new(b"")],
        )
        .unwrap();
        t.fd_write(1, &[IoSlice::new(b"\0\"'\\\t\x7f\xff")])
            .unwrap();
        t.fd_write(1, &[]).unwrap();
        t.fd_pwrite(1, &[IoSlice::new(&long[..32])], 7).unwrap();
        t.fd_write(9, &[IoSlice::new(b"x")]).unwrap_err();
        assert_eq!(
            take(&mut t),
            "fd_write(1, [36 bytes \"0123456789abcdefghijklmnopqrstuv\"...]) = 36\n\
             fd_write(1, [3 bytes \"abc\", 2 bytes \"de\", 0 bytes \"\"]) = 5\n\
             fd_write(1, [7 bytes \"\\x00\\\"\\'\\\\\\t\\x7f\\xff\"]) = 7\n\
             fd_write(1, []) = 0\n\
             fd_pwrite(1, [32 bytes \"0123456789abcdefghijklmnopqrstuv\"], 7) = 32\n\
             fd_write(9, [1 bytes \"x\"]) = EBADF\n"
        );
    }

    #[test]
    fn reads_show_the_data_read_across_iovecs() {
        let mut t = tracer();
        t.inner_mut().data = b"0123456789abcdefghijklmnopqrstuvwxyz\n";
        let (mut a, mut b) = ([0u8; 30], [0u8; 100]);
        let mut iovs = [IoSliceMut::new(&mut a), IoSliceMut::new(&mut b)];
        assert_eq!(t.fd_read(3, &mut iovs), Ok(37));
        assert_eq!(t.fd_pread(3, &mut iovs[..1], 5), Ok(30));
        t.inner_mut().data = b"a\nb";
        assert_eq!(t.fd_pread(3, &mut iovs[..1], 0), Ok(3));
        t.inner_mut().data = b"";
        assert_eq!(t.fd_read(3, &mut iovs), Ok(0));
        assert_eq!(t.fd_read(9, &mut iovs), Err(Errno::BADF));
        assert_eq!(t.fd_read(3, &mut []), Ok(0));
        assert_eq!(
            take(&mut t),
            "fd_read(3, [30 bytes, 100 bytes]) = 37 \"0123456789abcdefghijklmnopqrstuv\"...\n\
             fd_pread(3, [30 bytes], 5) = 30 \"0123456789abcdefghijklmnopqrst\"\n\
             fd_pread(3, [30 bytes], 0) = 3 \"a\\nb\"\n\
             fd_read(3, [30 bytes, 100 bytes]) = 0 \"\"\n\
             fd_read(9, [30 bytes, 100 bytes]) = EBADF\n\
             fd_read(3, []) = 0 \"\"\n"
        );
    }

    #[test]
    fn records_and_lists() {
        let mut t = tracer();
        t.args_get().unwrap();
        t.args_sizes_get().unwrap();
        t.environ_get().unwrap();
        assert_eq!(
            t.environ_sizes_get(),
            Ok((7, 77)),
            "overrides are forwarded"
        );
        t.fd_fdstat_get(1).unwrap();
        t.fd_fdstat_get(9).unwrap_err();
        t.fd_filestat_get(3).unwrap();
        t.path_filestat_get(3, Lookupflags::SYMLINK_FOLLOW, "d")
            .unwrap();
        t.fd_prestat_get(3).unwrap();
        assert_eq!(t.fd_prestat_dir_name(3), Ok("/tmp"));
        t.fd_prestat_get(4).unwrap_err();
        t.fd_prestat_dir_name(4).unwrap_err();
        assert_eq!(
            take(&mut t),
            "args_get() = [\"prog\", \"a b\"]\n\
             args_sizes_get() = (2, 9)\n\
             environ_get() = [\"HOME=/\", \"TAB=\\t\"]\n\
             environ_sizes_get() = (7, 77)\n\
             fd_fdstat_get(1) = {filetype: regular_file, flags: APPEND, \
             rights_base: FD_READ | FD_WRITE, rights_inheriting: 0}\n\
             fd_fdstat_get(9) = EBADF\n\
             fd_filestat_get(3) = {filetype: regular_file, size: 12, ...}\n\
             path_filestat_get(3, SYMLINK_FOLLOW, \"d\") = {filetype: directory, size: 4096, ...}\n\
             fd_prestat_get(3) = {tag: dir, name_len: 4}\n\
             fd_prestat_dir_name(3) = \"/tmp\"\n\
             fd_prestat_get(4) = EBADF\n\
             fd_prestat_dir_name(4) = EBADF\n"
        );
    }

    #[test]
    fn descriptor_and_path_calls() {
        let mut t = tracer();
        let follow = Lookupflags::SYMLINK_FOLLOW;
        let _ = t.clock_res_get(Clockid::REALTIME);
        let _ = t.clock_time_get(Clockid(7), 0);
        let _ = t.fd_advise(3, 0, 100, Advice::SEQUENTIAL);
        let _ = t.fd_allocate(3, 10, 20);
        let _ = t.fd_datasync(3);
        let _ = t.fd_fdstat_set_flags(3, Fdflags::APPEND | Fdflags::NONBLOCK);
        let _ = t.fd_fdstat_set_rights(3, Rights::FD_READ, Rights::empty());
        let _ = t.fd_filestat_set_size(3, 0);
        let _ = t.fd_filestat_set_times(3, 1, 2, Fstflags::ATIM | Fstflags::MTIM_NOW);
        let _ = t.fd_renumber(3, 9);
        let _ = t.fd_seek(3, -5, Whence::END);
        let _ = t.fd_seek(3, -20, Whence::CUR);
        let _ = t.fd_sync(3);
        let _ = t.fd_tell(3);
        let _ = t.path_create_directory(3, "new dir");
        let _ = t.path_create_directory(3, "exists");
        let _ = t.path_filestat_set_times(3, follow, "f", 1, 2, Fstflags::empty());
        let _ = t.path_link(3, Lookupflags::empty(), "old", 4, "new");
        let _ = t.path_readlink(3, "link", &mut [0; 256]);
        let _ = t.path_readlink(3, "link", &mut [0; 3]);
        let _ = t.path_remove_directory(3, "full");
        let _ = t.path_rename(3, "a", 4, "b\n");
        let _ = t.path_symlink("../target", 3, "link");
        let _ = t.path_unlink_file(9, "f");
        let _ = t.proc_raise(Signal::TERM);
        let _ = t.random_get(&mut [0; 16]);
        let _ = t.sched_yield();
        assert_eq!(
            take(&mut t),
            "clock_res_get(realtime) = 1\n\
             clock_time_get(Clockid(7), 0) = EINVAL\n\
             fd_advise(3, 0, 100, sequential) = 0\n\
             fd_allocate(3, 10, 20) = 0\n\
             fd_datasync(3) = 0\n\
             fd_fdstat_set_flags(3, APPEND | NONBLOCK) = 0\n\
             fd_fdstat_set_rights(3, FD_READ, 0) = 0\n\
             fd_filestat_set_size(3, 0) = 0\n\
             fd_filestat_set_times(3, 1, 2, ATIM | MTIM_NOW) = 0\n\
             fd_renumber(3, 9) = EBADF\n\
             fd_seek(3, -5, end) = 7\n\
             fd_seek(3, -20, cur) = EINVAL\n\
             fd_sync(3) = 0\n\
             fd_tell(3) = 12\n\
             path_create_directory(3, \"new dir\") = 0\n\
             path_create_directory(3, \"exists\") = EEXIST\n\
             path_filestat_set_times(3, SYMLINK_FOLLOW, \"f\", 1, 2, 0) = 0\n\
             path_link(3, 0, \"old\", 4, \"new\") = 0\n\
             path_readlink(3, \"link\", [256 bytes]) = 9 \"../target\"\n\
             path_readlink(3, \"link\", [3 bytes]) = 3 \"../\"\n\
             path_remove_directory(3, \"full\") = ENOTEMPTY\n\
             path_rename(3, \"a\", 4, \"b\\n\") = 0\n\
             path_symlink(\"../target\", 3, \"link\") = 0\n\
             path_unlink_file(9, \"f\") = EBADF\n\
             proc_raise(term) = ENOSYS\n\
             random_get([16 bytes]) = 0\n\
             sched_yield() = 0\n"
        );
    }

    #[test]
    fn readdir_shows_the_bytes_placed() {
        let mut t = tracer();
        let mut big = [0u8; 128];
        let mut out = DirentWriter::new(&mut big);
        assert_eq!(t.fd_readdir(3, 0, &mut out), Ok(()));
        assert_eq!(out.len(), 51);
        let mut small = [0u8; 30];
        let mut out = DirentWriter::new(&mut small);
        assert_eq!(t.fd_readdir(3, 0, &mut out), Ok(()));
        assert_eq!(t.fd_readdir(9, 2, &mut out), Err(Errno::BADF));
        assert_eq!(
            take(&mut t),
            "fd_readdir(3, 0) = 51\n\
             fd_readdir(3, 0) = 30 (full)\n\
             fd_readdir(9, 2) = EBADF\n"
        );
    }

    #[test]
    fn poll_shows_subscriptions_and_events() {
        let mut t = tracer();
        let clock = SubscriptionClock {
            id: Clockid::MONOTONIC,
            timeout: 1000,
            precision: 0,
            ..Default::default()
        };
        let abstime = SubscriptionClock {
            flags: Subclockflags::SUBSCRIPTION_CLOCK_ABSTIME,
            ..clock
        };
        let subs = [
            Subscription::new(1, SubscriptionKind::Clock(clock)),
            Subscription::new(2, SubscriptionKind::FdRead(3)),
            Subscription::new(3, SubscriptionKind::FdWrite(9)),
            Subscription::new(4, SubscriptionKind::FdWrite(1)),
            Subscription::new(5, SubscriptionKind::Clock(abstime)),
        ];
        let mut events = [Event::default(); 5];
        assert_eq!(t.poll_oneoff(&subs, &mut events), Ok(5));
        assert_eq!(
            take(&mut t),
            "poll_oneoff([\
             {userdata: 1, clock: monotonic, timeout: 1000, precision: 0, flags: 0}, \
             {userdata: 2, fd_read: 3}, \
             {userdata: 3, fd_write: 9}, \
             {userdata: 4, fd_write: 1}, \
             {userdata: 5, clock: monotonic, timeout: 1000, precision: 0, \
             flags: SUBSCRIPTION_CLOCK_ABSTIME}]) = 5 [\
             {userdata: 1, clock}, \
             {userdata: 2, fd_read, nbytes: 5, flags: 0}, \
             {userdata: 3, fd_write, error: EBADF}, \
             {userdata: 4, fd_write, nbytes: 0, flags: FD_READWRITE_HANGUP}, \
             {userdata: 5, clock}]\n"
        );

        let mut minimal = Tracer::new(Unsupported::default(), Vec::new());
        let bad = Subscription {
            userdata: 6,
            tag: Eventtype(7),
            ..Default::default()
        };
        assert_eq!(minimal.poll_oneoff(&[bad], &mut events), Err(Errno::NOSYS));
        assert_eq!(
            minimal.writer(),
            b"poll_oneoff([{userdata: 6, type: Eventtype(7)}]) = ENOSYS\n"
        );
    }

    #[test]
    fn wasmedge_socket_calls() {
        let mut t = tracer();
        let addr: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let v6: SocketAddr = "[::1]:53".parse().unwrap();
        let _ = t.sock_open(AddressFamily::INET4, SockType::STREAM);
        let _ = t.sock_bind(3, addr);
        let _ = t.sock_listen(3, 16);
        let _ = t.sock_connect(4, v6);
        let _ = t.sock_setsockopt(3, SockOpt::ReuseAddr, 1);
        let _ = t.sock_getsockopt(3, SockOpt::Type);
        let _ = t.sock_getlocaladdr(3);
        let _ = t.sock_getpeeraddr(9);
        let _ = t.sock_send_to(4, &[IoSlice::new(b"hi")], Siflags::empty(), v6);
        let mut buf = [0u8; 100];
        let _ = t.sock_recv_from(4, &mut [IoSliceMut::new(&mut buf)], Riflags::empty());
        let hints = AddrinfoHints {
            socktype: SockType::STREAM,
            ..Default::default()
        };
        let _ = t.sock_getaddrinfo("localhost", "80", hints, 4);
        assert_eq!(
            take(&mut t),
            "sock_open(inet4, stream) = ENOSYS\n\
             sock_bind(3, 127.0.0.1:8080) = ENOSYS\n\
             sock_listen(3, 16) = ENOSYS\n\
             sock_connect(4, [::1]:53) = ENOSYS\n\
             sock_setsockopt(3, SO_REUSEADDR, 1) = ENOSYS\n\
             sock_getsockopt(3, SO_TYPE) = ENOSYS\n\
             sock_getlocaladdr(3) = ENOSYS\n\
             sock_getpeeraddr(9) = ENOSYS\n\
             sock_send_to(4, [2 bytes \"hi\"], 0, [::1]:53) = ENOSYS\n\
             sock_recv_from(4, [100 bytes], 0) = ENOSYS\n\
             sock_getaddrinfo(\"localhost\", \"80\", {flags: 0, family: unspec, socktype: stream, protocol: 0}, 4) = ENOSYS\n"
        );
    }

    #[test]
    fn socket_results_show_addresses() {
        let addr: SocketAddr = "127.0.0.1:53".parse().unwrap();
        let got: Result<(Size, Roflags, Option<SocketAddr>)> =
            Ok((5, Roflags::empty(), Some(addr)));
        assert_eq!(Ret(&got).to_string(), "(5, 0, 127.0.0.1:53)");
        let none: Result<(Size, Roflags, Option<SocketAddr>)> = Ok((0, Roflags::empty(), None));
        assert_eq!(Ret(&none).to_string(), "(0, 0, none)");
        let infos: Result<Vec<Addrinfo>> = Ok(vec![Addrinfo {
            addr,
            socktype: SockType::STREAM,
            protocol: protocol::TCP,
        }]);
        assert_eq!(Ret(&infos).to_string(), "[127.0.0.1:53]");
        assert_eq!(Ret(&Ok(addr)).to_string(), "127.0.0.1:53");
    }

    #[test]
    fn sockets_are_forwarded() {
        let mut t = tracer();
        assert_eq!(t.sock_accept(3, Fdflags::NONBLOCK), Ok(5));
        let mut buf = [0u8; 100];
        assert_eq!(
            t.sock_recv(3, &mut [IoSliceMut::new(&mut buf)], Riflags::RECV_PEEK),
            Ok((5, Roflags::RECV_DATA_TRUNCATED))
        );
        assert_eq!(
            t.sock_recv(9, &mut [IoSliceMut::new(&mut buf)], Riflags::empty()),
            Err(Errno::BADF)
        );
        assert_eq!(
            t.sock_send(3, &[IoSlice::new(b"hi")], Siflags::empty()),
            Err(Errno::NOSYS),
            "the fake keeps the default"
        );
        assert_eq!(
            t.sock_shutdown(3, Sdflags::RD | Sdflags::WR),
            Err(Errno::NOSYS)
        );
        assert_eq!(
            take(&mut t),
            "sock_accept(3, NONBLOCK) = 5\n\
             sock_recv(3, [100 bytes], RECV_PEEK) = (5, RECV_DATA_TRUNCATED) \"hello\"\n\
             sock_recv(9, [100 bytes], 0) = EBADF\n\
             sock_send(3, [2 bytes \"hi\"], 0) = ENOSYS\n\
             sock_shutdown(3, RD | WR) = ENOSYS\n"
        );

        let mut minimal = Tracer::new(Unsupported::default(), Vec::new());
        assert_eq!(minimal.sock_accept(3, Fdflags::empty()), Err(Errno::NOSYS));
        assert_eq!(minimal.args_sizes_get(), Ok((0, 0)));
        minimal.proc_exit(1);
        assert_eq!(
            minimal.writer(),
            b"sock_accept(3, 0) = ENOSYS\nargs_sizes_get() = (0, 0)\nproc_exit(1)\n"
        );
    }

    /// Counts the allocations of each thread, so that a test can check that
    /// tracing does not allocate.
    mod counting {
        use std::alloc::{GlobalAlloc, Layout, System as Heap};
        use std::cell::Cell;

        thread_local! {
            static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
        }

        struct Counting;

        // SAFETY: every call is forwarded to the system allocator unchanged.
        unsafe impl GlobalAlloc for Counting {
            unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
                let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
                // SAFETY: the caller upholds `alloc`'s contract.
                unsafe { Heap.alloc(layout) }
            }

            unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
                // SAFETY: the caller upholds `dealloc`'s contract.
                unsafe { Heap.dealloc(ptr, layout) }
            }
        }

        #[global_allocator]
        static COUNTING: Counting = Counting;

        /// Allocations made by this thread so far.
        pub fn allocations() -> usize {
            ALLOCATIONS.with(Cell::get)
        }
    }

    #[test]
    fn tracing_does_not_allocate() {
        let mut line = [0u8; 4096];
        let mut t = Tracer::new(Fake::new(), io::Cursor::new(&mut line[..]));
        let mut buf = [0u8; 64];
        let sub = Subscription::new(1, SubscriptionKind::FdRead(3));
        let mut events = [Event::default()];
        let before = counting::allocations();
        let _ = t.fd_write(1, &[IoSlice::new(b"hello"), IoSlice::new(&[b'x'; 40])]);
        let _ = t.fd_read(3, &mut [IoSliceMut::new(&mut buf)]);
        let _ = t.path_open(
            3,
            Lookupflags::SYMLINK_FOLLOW,
            "dir/file.txt",
            Oflags::CREAT,
            Rights::FD_READ,
            Rights::empty(),
            Fdflags::empty(),
        );
        let _ = t.fd_fdstat_get(1);
        let _ = t.args_get();
        let _ = t.poll_oneoff(&[sub], &mut events);
        let _ = t.fd_close(9);
        assert_eq!(counting::allocations(), before);
        drop(std::hint::black_box(Vec::<u8>::with_capacity(1)));
        assert_eq!(counting::allocations(), before + 1, "the counter counts");
        let written = t.writer().position();
        assert!(written > 300, "{written} bytes traced");
    }

    /// A writer that fails every call.
    struct Broken;

    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::other("broken"))
        }
        fn flush(&mut self) -> io::Result<()> {
            Err(io::Error::other("broken"))
        }
    }

    #[test]
    fn a_failing_writer_does_not_change_results() {
        let mut t = Tracer::new(Fake::new(), Broken);
        assert_eq!(t.fd_write(1, &[IoSlice::new(b"abc")]), Ok(3));
        assert_eq!(t.fd_close(9), Err(Errno::BADF));
        let mut buf = [0u8; 8];
        assert_eq!(t.fd_read(3, &mut [IoSliceMut::new(&mut buf)]), Ok(5));
        assert_eq!(&buf[..5], b"hello");
        assert_eq!(t.args_get().map(|list| list.sizes()), Ok((2, 9)));
        t.proc_exit(0);
    }

    #[test]
    fn accessors() {
        let mut t = tracer();
        t.inner_mut().data = b"x";
        assert_eq!(t.inner().data, b"x");
        let _ = t.sched_yield();
        assert_eq!(t.writer(), b"sched_yield() = 0\n");
        let (fake, out) = t.into_parts();
        assert_eq!(
            (fake.data, &out[..]),
            (&b"x"[..], &b"sched_yield() = 0\n"[..])
        );
        assert_eq!(Tracer::new(Fake::new(), ()).into_inner().data, b"hello");
    }
}
