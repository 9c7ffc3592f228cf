//! `poll_oneoff`: clocks and descriptors in one wait.

use rustix::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use rustix::time::{ClockId, Timespec};
use wasi_core::fdtable::FdTable;
use wasi_core::system::Result;
use wasi_core::types::Rights;
use wasi_core::types::{
    Clockid, Errno, Event, Eventrwflags, Fd, Size, Subclockflags, Subscription, SubscriptionClock,
    SubscriptionKind, Timestamp,
};

use crate::Canceller;
use crate::clock;
use crate::entry::{Entry, Host};
use crate::errno::from_host;
use crate::uring::{Interest, Ready, Ring};
/// The clocks a subscription can wait on, read once when the call starts so
/// that relative timeouts have a fixed origin.
struct Start {
    realtime: Timestamp,
    monotonic: Timestamp,
}

impl Start {
    fn now() -> Result<Self> {
        Ok(Self {
            realtime: clock::now(ClockId::Realtime)?,
            monotonic: clock::now(ClockId::Monotonic)?,
        })
    }

    /// The clock of a subscription and its absolute deadline on that clock.
    /// CPU-time clocks cannot be waited on here (`ENOTSUP`).
    fn deadline(&self, sub: &SubscriptionClock) -> Result<(ClockId, Timestamp)> {
        let (id, start) = match sub.id {
            Clockid::REALTIME => (ClockId::Realtime, self.realtime),
            Clockid::MONOTONIC => (ClockId::Monotonic, self.monotonic),
            Clockid::PROCESS_CPUTIME_ID | Clockid::THREAD_CPUTIME_ID => {
                return Err(Errno::NOTSUP);
            }
            _ => return Err(Errno::INVAL),
        };
        if sub
            .flags
            .contains(Subclockflags::SUBSCRIPTION_CLOCK_ABSTIME)
        {
            Ok((id, sub.timeout))
        } else {
            Ok((id, start.saturating_add(sub.timeout)))
        }
    }
}

/// Appends an event, as long as `events` has room (the ABI guarantees one
/// slot per subscription and each subscription yields at most one event).
fn push(events: &mut [Event], n: &mut usize, event: Event) {
    events[*n] = event;
    *n += 1;
}

/// Buffers kept between calls so that a call allocates nothing once they
/// have grown to the number of subscriptions (and the largest descriptor)
/// seen.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    /// The `pollfd` array handed to the kernel (`ppoll` backend): one per
    /// descriptor, asking for what all its subscriptions want. `ppoll`
    /// refuses more than `RLIMIT_NOFILE` entries, which a call with as many
    /// subscriptions would otherwise need.
    fds: Vec<libc::pollfd>,
    /// The subscriptions on host descriptors (`ppoll` backend), in order.
    polled: Vec<Polled>,
    /// Indexed by guest descriptor: the index in `fds` of its `pollfd`,
    /// if `fds` has one at that index for its host descriptor (stale
    /// values from earlier calls fail that check, so the table is never
    /// cleared).
    slots: Vec<u32>,
    /// The indices of the valid clock subscriptions, with their clock and
    /// absolute deadline.
    clocks: Vec<(u32, ClockId, Timestamp)>,
}

/// A subscription on a host descriptor, for the `ppoll` backend.
#[derive(Clone, Copy, Debug)]
struct Polled {
    /// Its index in the call's subscriptions.
    sub: u32,
    /// The index in [`Scratch::fds`] of its descriptor's `pollfd`.
    pollfd: u32,
    /// What it waits for: `POLLIN` or `POLLOUT`.
    events: libc::c_short,
}

impl Scratch {
    /// Adds `events` to what the `pollfd` of guest descriptor `fd` (host
    /// descriptor `raw`) asks for, adding the `pollfd` if this call has none
    /// yet, and returns its index in `fds`.
    fn pollfd(&mut self, fd: Fd, raw: RawFd, events: libc::c_short) -> u32 {
        let fd = fd as usize;
        if fd >= self.slots.len() {
            // Grows with the largest descriptor polled, not per call.
            self.slots.resize(fd + 1, 0);
        }
        let slot = self.slots[fd];
        let index = match self.fds.get(slot as usize) {
            Some(pollfd) if pollfd.fd == raw => slot,
            _ => {
                self.fds.push(libc::pollfd {
                    fd: raw,
                    events: 0,
                    revents: 0,
                });
                // At most one per subscription: `poll_oneoff`'s count fits.
                let index = (self.fds.len() - 1) as u32;
                self.slots[fd] = index;
                index
            }
        };
        self.fds[index as usize].events |= events;
        index
    }
}

/// How descriptors are waited on.
pub(crate) enum Backend<'a> {
    /// One `ppoll` over all of them.
    Sync,
    /// Registrations kept armed in an io_uring between calls.
    Uring(&'a mut Ring),
}

/// The descriptor and interest of a subscription, if it is on a descriptor.
fn fd_interest(sub: &Subscription) -> Option<(Fd, Interest)> {
    match sub.kind()? {
        SubscriptionKind::FdRead(fd) => Some((fd, Interest::Read)),
        SubscriptionKind::FdWrite(fd) => Some((fd, Interest::Write)),
        SubscriptionKind::Clock(_) => None,
    }
}

/// The host descriptor `fd` stands for, if it is one and may be polled.
fn host(table: &FdTable<Entry>, fd: Fd) -> Option<&Host> {
    match &table.get(fd, Rights::POLL_FD_READWRITE).ok()?.file {
        Entry::Host(host) => Some(host),
        Entry::Virtual(_) => None,
    }
}

/// The host descriptor a subscription on `entry` waits on: a host
/// descriptor itself, or the one a virtual file's readiness stands for
/// ([`VirtualFile::ready_fd`](wasi_core::vfs::VirtualFile::ready_fd));
/// `None` for a virtual file that is always ready.
fn waited_fd(entry: &Entry) -> Option<BorrowedFd<'_>> {
    match entry {
        Entry::Host(host) => Some(host.fd.as_fd()),
        Entry::Virtual(file) => file.ready_fd(),
    }
}

/// `poll_oneoff` over the descriptors of `table`.
///
/// - A clock subscription fires when its clock reaches the deadline
///   (relative timeouts count from the start of the call). Realtime and
///   monotonic clocks are supported; CPU-time clocks give an event with
///   `ENOTSUP`, unknown clocks `EINVAL`.
/// - A descriptor subscription that cannot be served (`EBADF`, missing
///   `POLL_FD_READWRITE` right: `ENOTCAPABLE`) gives an event carrying the
///   error at once rather than failing the call.
/// - Host descriptors are waited on by `backend`: one `ppoll`, or the
///   registrations of an io_uring (see `uring.rs`), with the same events;
///   the kernel reports regular files and directories as always ready.
///   Readable events carry the `FIONREAD` count in `nbytes` (0 where the
///   object does not have one); `POLLHUP` sets `fd_readwrite_hangup`.
/// - A virtual file with a readiness descriptor (`VirtualFile::ready_fd`)
///   is waited on through that descriptor, in the same `ppoll` or ring, and
///   its events have `nbytes` 0; other virtual files are always ready.
/// - If any event is ready without waiting, the call does not block.
///   Signals interrupting the wait (`EINTR`) restart it.
/// - With clocks only, the call sleeps with `clock_nanosleep`, whatever the
///   backend.
/// - With a [`Canceller`] (which makes the backend `ppoll`), every wait
///   also ends when it is cancelled, and the call then fails with
///   `ECANCELED` unless an event was ready; a clocks-only sleep is a
///   `ppoll` on its descriptor. A wait that may block runs through the
///   canceller's [`wait_through`](Canceller::wait_through).
pub(crate) fn poll_oneoff(
    table: &FdTable<Entry>,
    subscriptions: &[Subscription],
    events: &mut [Event],
    scratch: &mut Scratch,
    mut backend: Backend<'_>,
    canceller: Option<&Canceller>,
) -> Result<Size> {
    let cancel = canceller.map(Canceller::fd).transpose()?;
    // Runs a wait that may block, as the canceller says.
    let around = |wait: &mut dyn FnMut() -> rustix::io::Result<()>| match canceller {
        Some(canceller) => canceller.around(wait),
        None => wait(),
    };
    let mut n = 0;
    let mut has_clock = false;
    // Whether some subscription waits on a host descriptor.
    let mut has_fd = false;
    scratch.fds.clear();
    scratch.polled.clear();
    scratch.clocks.clear();
    if let Backend::Uring(ring) = &mut backend {
        ring.begin();
    }

    for (index, sub) in subscriptions.iter().enumerate() {
        let (fd, interest) = match sub.kind() {
            // The ABI layer rejects unknown event types; a caller of the
            // `System` that does not gets an error event.
            None => {
                push(events, &mut n, error_event(sub, Errno::INVAL));
                continue;
            }
            Some(SubscriptionKind::Clock(_)) => {
                has_clock = true;
                continue;
            }
            Some(SubscriptionKind::FdRead(fd)) => (fd, Interest::Read),
            Some(SubscriptionKind::FdWrite(fd)) => (fd, Interest::Write),
        };
        match table.get(fd, Rights::POLL_FD_READWRITE) {
            Err(errno) => push(events, &mut n, error_event(sub, errno)),
            Ok(entry) => match waited_fd(&entry.file) {
                None => {
                    push(
                        events,
                        &mut n,
                        Event::new(sub, Errno::SUCCESS, 0, Eventrwflags::empty()),
                    );
                }
                Some(waited) => {
                    has_fd = true;
                    let raw = waited.as_raw_fd();
                    match &mut backend {
                        Backend::Sync => {
                            let events = match interest {
                                Interest::Read => libc::POLLIN,
                                Interest::Write => libc::POLLOUT,
                            };
                            let pollfd = scratch.pollfd(fd, raw, events);
                            scratch.polled.push(Polled {
                                sub: index as u32,
                                pollfd,
                                events,
                            });
                        }
                        Backend::Uring(ring) => ring.subscribe(index as u32, fd, raw, interest)?,
                    }
                }
            },
        }
    }

    if has_clock {
        let start = Start::now()?;
        for (index, sub) in subscriptions.iter().enumerate() {
            if let Some(SubscriptionKind::Clock(clock)) = sub.kind() {
                match start.deadline(&clock) {
                    Ok((id, deadline)) => scratch.clocks.push((index as u32, id, deadline)),
                    // Invalid clock subscriptions are reported at once.
                    Err(errno) => push(events, &mut n, error_event(sub, errno)),
                }
            }
        }
    }

    loop {
        // The earliest valid deadline, as (clock, deadline, time left).
        let mut earliest: Option<(ClockId, Timestamp, Timestamp)> = None;
        for &(_, id, deadline) in &scratch.clocks {
            let left = deadline.saturating_sub(clock::now(id)?);
            if earliest.is_none_or(|(_, _, min)| left < min) {
                earliest = Some((id, deadline, left));
            }
        }

        if !has_fd {
            match earliest {
                // Nothing to wait for: every subscription already has its event.
                None => return Ok(n as Size),
                Some((_, _, left)) if n == 0 && left > 0 && cancel.is_some() => {
                    let mut fds = [cancel_pollfd(cancel)];
                    match around(&mut || ppoll(&mut fds, Some(left))) {
                        Ok(()) | Err(rustix::io::Errno::INTR) => {}
                        Err(err) => return Err(from_host(err)),
                    }
                    if fds[0].revents != 0 {
                        return Err(Errno::CANCELED);
                    }
                }
                Some((id, deadline, left)) if n == 0 && left > 0 => {
                    match rustix::thread::clock_nanosleep_absolute(id, &timespec(deadline)) {
                        Ok(()) | Err(rustix::io::Errno::INTR) => {}
                        Err(err) => return Err(from_host(err)),
                    }
                }
                Some(_) => {}
            }
        } else {
            // Time left to wait, in nanoseconds; `None` waits for ever.
            let timeout = match earliest {
                _ if n > 0 => Some(0),
                Some((_, _, left)) => Some(left),
                None => None,
            };
            match &mut backend {
                Backend::Sync => {
                    // The canceller's `pollfd` goes last, for this wait only.
                    if cancel.is_some() {
                        scratch.fds.push(cancel_pollfd(cancel));
                    }
                    let waited = if timeout == Some(0) {
                        ppoll(&mut scratch.fds, timeout)
                    } else {
                        around(&mut || ppoll(&mut scratch.fds, timeout))
                    };
                    let cancelled = cancel.is_some()
                        && scratch.fds.pop().is_some_and(|pollfd| pollfd.revents != 0);
                    match waited {
                        Ok(()) => {}
                        Err(rustix::io::Errno::INTR) => continue,
                        Err(err) => return Err(from_host(err)),
                    }
                    // Each subscription gets what its `pollfd` reported of
                    // what it waits for, as if it had its own.
                    let always = libc::POLLERR | libc::POLLHUP | libc::POLLNVAL;
                    for polled in &scratch.polled {
                        let revents =
                            scratch.fds[polled.pollfd as usize].revents & (polled.events | always);
                        if revents == 0 {
                            continue;
                        }
                        let sub = &subscriptions[polled.sub as usize];
                        push(events, &mut n, fd_event(table, sub, i32::from(revents)));
                    }
                    if cancelled && n == 0 {
                        return Err(Errno::CANCELED);
                    }
                }
                Backend::Uring(ring) => {
                    match ring.wait(timeout) {
                        Ok(()) => {}
                        Err(Errno::INTR) => continue,
                        Err(errno) => return Err(errno),
                    }
                    // Walked only when one pair was subscribed to twice.
                    let all = subscriptions.iter().enumerate().filter_map(|(index, sub)| {
                        let (fd, interest) = fd_interest(sub)?;
                        waited_fd(&table.get(fd, Rights::POLL_FD_READWRITE).ok()?.file)?;
                        Some((index as u32, fd, interest))
                    });
                    ring.ready(all, |Ready { sub, result }| {
                        let sub = &subscriptions[sub as usize];
                        push(events, &mut n, fd_event(table, sub, result));
                    });
                }
            }
        }

        for &(index, id, deadline) in &scratch.clocks {
            if clock::now(id)? >= deadline {
                let sub = &subscriptions[index as usize];
                push(
                    events,
                    &mut n,
                    Event::new(sub, Errno::SUCCESS, 0, Eventrwflags::empty()),
                );
            }
        }
        if n > 0 {
            return Ok(n as Size);
        }
    }
}

/// The `pollfd` of a canceller's descriptor (`-1`, which `ppoll` skips,
/// without one).
fn cancel_pollfd(cancel: Option<BorrowedFd<'_>>) -> libc::pollfd {
    libc::pollfd {
        fd: cancel.map_or(-1, |fd| fd.as_raw_fd()),
        events: libc::POLLIN,
        revents: 0,
    }
}

/// `ppoll` over `fds`, waiting at most `timeout` nanoseconds (for ever if
/// `None`).
fn ppoll(fds: &mut [libc::pollfd], timeout: Option<Timestamp>) -> rustix::io::Result<()> {
    let ts = timeout.map(|nanos| libc::timespec {
        // At most 1.9e10 seconds: no overflow.
        tv_sec: (nanos / 1_000_000_000) as libc::time_t,
        tv_nsec: (nanos % 1_000_000_000) as libc::c_long,
    });
    let ts_ptr = ts
        .as_ref()
        .map_or(std::ptr::null(), |ts| ts as *const libc::timespec);
    // SAFETY: `fds` is a valid, exclusively borrowed array of `fds.len()`
    // `pollfd`s, whose descriptors the fd table keeps open for the call;
    // `ts_ptr` is null or points to `ts`, which outlives the call; a null
    // signal mask leaves the mask alone.
    let ret = unsafe {
        libc::ppoll(
            fds.as_mut_ptr(),
            fds.len() as libc::nfds_t,
            ts_ptr,
            std::ptr::null(),
        )
    };
    if ret < 0 {
        Err(rustix::io::Errno::from_raw_os_error(
            std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EIO),
        ))
    } else {
        Ok(())
    }
}

/// An event reporting that a subscription failed.
fn error_event(sub: &Subscription, errno: Errno) -> Event {
    Event::new(sub, errno, 0, Eventrwflags::empty())
}

/// The event of a polled descriptor, from its poll result: the `revents`
/// mask, or a negated errno (io_uring).
fn fd_event(table: &FdTable<Entry>, sub: &Subscription, result: i32) -> Event {
    if result < 0 {
        return error_event(
            sub,
            from_host(rustix::io::Errno::from_raw_os_error(-result)),
        );
    }
    let revents = result as libc::c_short;
    if revents & libc::POLLNVAL != 0 {
        return error_event(sub, Errno::BADF);
    }
    let mut flags = Eventrwflags::empty();
    if revents & libc::POLLHUP != 0 {
        flags |= Eventrwflags::FD_READWRITE_HANGUP;
    }
    let nbytes = match fd_interest(sub) {
        Some((fd, _)) if revents & libc::POLLIN != 0 => host(table, fd)
            .and_then(|host| rustix::io::ioctl_fionread(&host.fd).ok())
            .unwrap_or(0),
        _ => 0,
    };
    Event::new(sub, Errno::SUCCESS, nbytes, flags)
}

/// A duration or absolute time in nanoseconds as a `timespec`.
fn timespec(nanos: Timestamp) -> Timespec {
    Timespec {
        // At most 1.9e10 seconds: no overflow.
        tv_sec: (nanos / 1_000_000_000) as i64,
        tv_nsec: (nanos % 1_000_000_000) as _,
    }
}
