//! `poll_oneoff`: clocks and descriptors in one wait.

use rustix::event::{PollFd, PollFlags};
use rustix::fd::AsFd;
use rustix::time::{ClockId, Timespec};
use wasi_core::fdtable::FdTable;
use wasi_core::system::Result;
use wasi_core::types::Rights;
use wasi_core::types::{
    Clockid, Errno, Event, Eventrwflags, Size, Subclockflags, Subscription, SubscriptionClock,
    SubscriptionKind, Timestamp,
};

use crate::clock;
use crate::entry::Entry;
use crate::errno::from_host;

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

/// `poll_oneoff` over the descriptors of `table`.
///
/// - A clock subscription fires when its clock reaches the deadline
///   (relative timeouts count from the start of the call). Realtime and
///   monotonic clocks are supported; CPU-time clocks give an event with
///   `ENOTSUP`, unknown clocks `EINVAL`.
/// - A descriptor subscription that cannot be served (`EBADF`, missing
///   `POLL_FD_READWRITE` right: `ENOTCAPABLE`) gives an event carrying the
///   error at once rather than failing the call.
/// - Host descriptors are waited on with one `ppoll`; the kernel reports
///   regular files and directories as always ready. Readable events carry
///   the `FIONREAD` count in `nbytes` (0 where the object does not have
///   one); `POLLHUP` sets `fd_readwrite_hangup`.
/// - Virtual files are always ready.
/// - If any event is ready without waiting, the call does not block.
///   Signals interrupting the wait (`EINTR`) restart it.
pub(crate) fn poll_oneoff(
    table: &FdTable<Entry>,
    subscriptions: &[Subscription],
    events: &mut [Event],
) -> Result<Size> {
    let mut n = 0;
    let mut has_clock = false;
    // Only allocated when there is a descriptor to poll.
    let mut fds: Vec<PollFd<'_>> = Vec::new();
    let mut polled: Vec<&Subscription> = Vec::new();

    for sub in subscriptions {
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
            Some(SubscriptionKind::FdRead(fd)) => (fd, PollFlags::IN),
            Some(SubscriptionKind::FdWrite(fd)) => (fd, PollFlags::OUT),
        };
        match table.get(fd, Rights::POLL_FD_READWRITE) {
            Err(errno) => push(events, &mut n, error_event(sub, errno)),
            Ok(entry) => match &entry.file {
                Entry::Virtual(_) => {
                    push(
                        events,
                        &mut n,
                        Event::new(sub, Errno::SUCCESS, 0, Eventrwflags::empty()),
                    );
                }
                Entry::Host(host) => {
                    fds.push(PollFd::from_borrowed_fd(host.fd.as_fd(), interest));
                    polled.push(sub);
                }
            },
        }
    }

    let start = if has_clock { Some(Start::now()?) } else { None };
    // Invalid clock subscriptions are reported at once.
    if let Some(start) = &start {
        for sub in subscriptions {
            if let Some(SubscriptionKind::Clock(clock)) = sub.kind()
                && let Err(errno) = start.deadline(&clock)
            {
                push(events, &mut n, error_event(sub, errno));
            }
        }
    }

    loop {
        // The earliest valid deadline, as (clock, deadline, time left).
        let mut earliest: Option<(ClockId, Timestamp, Timestamp)> = None;
        if let Some(start) = &start {
            for sub in subscriptions {
                let Some(SubscriptionKind::Clock(clock)) = sub.kind() else {
                    continue;
                };
                let Ok((id, deadline)) = start.deadline(&clock) else {
                    continue;
                };
                let left = deadline.saturating_sub(clock::now(id)?);
                if earliest.is_none_or(|(_, _, min)| left < min) {
                    earliest = Some((id, deadline, left));
                }
            }
        }

        if fds.is_empty() {
            match earliest {
                // Nothing to wait for: every subscription already has its event.
                None => return Ok(n as Size),
                Some((id, deadline, left)) if n == 0 && left > 0 => {
                    match rustix::thread::clock_nanosleep_absolute(id, &timespec(deadline)) {
                        Ok(()) | Err(rustix::io::Errno::INTR) => {}
                        Err(err) => return Err(from_host(err)),
                    }
                }
                Some(_) => {}
            }
        } else {
            let timeout = match earliest {
                _ if n > 0 => Some(Timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                }),
                Some((_, _, left)) => Some(timespec(left)),
                None => None,
            };
            match rustix::event::poll(&mut fds, timeout.as_ref()) {
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => continue,
                Err(err) => return Err(from_host(err)),
            }
            for (pollfd, sub) in fds.iter().zip(&polled) {
                let revents = pollfd.revents();
                if revents.is_empty() {
                    continue;
                }
                push(events, &mut n, fd_event(sub, pollfd, revents));
            }
        }

        if let Some(start) = &start {
            for sub in subscriptions {
                let Some(SubscriptionKind::Clock(clock)) = sub.kind() else {
                    continue;
                };
                let Ok((id, deadline)) = start.deadline(&clock) else {
                    continue;
                };
                if clock::now(id)? >= deadline {
                    push(
                        events,
                        &mut n,
                        Event::new(sub, Errno::SUCCESS, 0, Eventrwflags::empty()),
                    );
                }
            }
        }
        if n > 0 {
            return Ok(n as Size);
        }
    }
}

/// An event reporting that a subscription failed.
fn error_event(sub: &Subscription, errno: Errno) -> Event {
    Event::new(sub, errno, 0, Eventrwflags::empty())
}

/// The event of a polled descriptor.
fn fd_event(sub: &Subscription, pollfd: &PollFd<'_>, revents: PollFlags) -> Event {
    if revents.contains(PollFlags::NVAL) {
        return error_event(sub, Errno::BADF);
    }
    let mut flags = Eventrwflags::empty();
    if revents.contains(PollFlags::HUP) {
        flags |= Eventrwflags::FD_READWRITE_HANGUP;
    }
    let nbytes = if revents.contains(PollFlags::IN) {
        rustix::io::ioctl_fionread(pollfd).unwrap_or(0)
    } else {
        0
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
