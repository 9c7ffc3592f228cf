//! The io_uring backend of `poll_oneoff`: descriptor registrations that
//! outlive the call, so that polling many descriptors again and again costs
//! the kernel work of the ones that changed, not of all of them.
//!
//! `poll(2)` visits every descriptor on every call: it looks each one up,
//! asks its driver for readiness and hooks the caller onto its wait queue,
//! then unhooks it all before returning. A guest's event loop polls the same
//! descriptors over and over, so here each (guest descriptor, read or write)
//! pair keeps an `IORING_OP_POLL_ADD` request armed in the kernel between
//! calls. A call only submits requests for pairs that are not armed yet and
//! drains the completions of the ones that fired; 1,000 idle sockets cost
//! nothing in the kernel once armed.
//!
//! Level-triggered semantics (a socket that stays readable is reported by
//! every call, as with `poll(2)`) come from one-shot requests: a request that
//! fired is done, and the next call that subscribes to the same pair arms a
//! new one, which the kernel completes at once, inside the submission, if
//! the descriptor is still ready. A completion drained at the start of a call
//! (the descriptor became ready between calls, and may have been read since)
//! is not trusted either: it is re-armed the same way. Only completions seen
//! during the call itself are reported, so every event is as fresh as a
//! `poll(2)` answer.
//!
//! A virtual file with a readiness descriptor (`VirtualFile::ready_fd`) is
//! registered the same way, under its guest descriptor, with a request on
//! that host descriptor.
//!
//! An armed request holds a reference to the open file, so a registration is
//! cancelled (`IORING_OP_POLL_REMOVE`) before its descriptor is closed or
//! replaced (`fd_close`, `fd_renumber`) and when it is shut down
//! (`sock_shutdown`); the cancellation is submitted at once, so that closing
//! a socket still sends its FIN then. Stale completions are recognised by a
//! generation number carried in each request's `user_data`.
//!
//! No request carries a buffer: nothing the guest owns is lent to the kernel,
//! and nothing is left in flight but these polls when a call returns. No
//! `SQPOLL` thread is started; every submission is an `io_uring_enter` from
//! the calling thread.

use std::io;

use io_uring::types::{SubmitArgs, Timespec as RingTimespec};
use io_uring::{IoUring, Probe, opcode, squeue, types};
use rustix::fd::RawFd;
use wasi_core::types::{Errno, Fd};

use crate::errno::from_host;
use crate::fdlimit::FdSlot;

/// Submission queue entries; more registrations than this are submitted in
/// several batches.
const SQ_ENTRIES: u32 = 256;
/// Completion queue entries. There is at most one completion pending per
/// registration; past this many the kernel keeps the overflow
/// (`IORING_FEAT_NODROP`) until the queue is drained.
const CQ_ENTRIES: u32 = 4096;
/// The `user_data` of `POLL_REMOVE` requests, whose completions mean nothing.
const REMOVE: u64 = u64::MAX;

/// Which readiness a registration waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Interest {
    /// `POLLIN`.
    Read = 0,
    /// `POLLOUT`.
    Write = 1,
}

impl Interest {
    fn poll_flags(self) -> u32 {
        match self {
            Self::Read => libc::POLLIN as u32,
            Self::Write => libc::POLLOUT as u32,
        }
    }
}

/// Where a registration stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum State {
    /// No request in the kernel.
    #[default]
    Idle,
    /// A `POLL_ADD` is in the kernel, not completed.
    Armed,
    /// The request completed with `result` (a `poll` event mask, or a
    /// negated errno) during the call numbered `epoch`.
    Fired { result: i32, epoch: u64 },
}

/// One (guest descriptor, interest) pair.
#[derive(Clone, Copy, Debug, Default)]
struct Registration {
    state: State,
    /// Bumped when the registration is cancelled, so that completions of
    /// earlier requests are recognised and dropped.
    generation: u32,
    /// The index of the subscription that asked for this pair in the call
    /// numbered `sub_epoch`.
    sub: u32,
    sub_epoch: u64,
}

/// A ready descriptor subscription: its index in the call's subscriptions
/// and the poll result (an event mask, or a negated errno).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ready {
    pub(crate) sub: u32,
    pub(crate) result: i32,
}

/// An io_uring instance and the poll registrations kept in it.
pub(crate) struct Ring {
    ring: IoUring,
    /// Indexed by guest descriptor, then by [`Interest`].
    regs: Vec<[Registration; 2]>,
    /// The number of the current (or last) `poll_oneoff` call; 0 is never
    /// a call's number.
    epoch: u64,
    /// Registrations that fired during the current call and were
    /// subscribed to by it, as (descriptor, interest). Reused across calls.
    hits: Vec<(Fd, Interest)>,
    /// Whether the current call subscribed to one pair twice.
    duplicates: bool,
    /// The ring's descriptor, counted with the guest's others.
    _slot: FdSlot,
}

impl std::fmt::Debug for Ring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ring")
            .field("registrations", &self.regs.len())
            .field("epoch", &self.epoch)
            .finish_non_exhaustive()
    }
}

/// The `user_data` of a registration's `POLL_ADD`: descriptor, generation
/// (31 bits) and interest.
fn user_data(fd: Fd, generation: u32, interest: Interest) -> u64 {
    (u64::from(fd) << 32) | (u64::from(generation & 0x7fff_ffff) << 1) | interest as u64
}

/// The WASI errno of an `io_uring_enter` failure.
fn host_errno(err: &io::Error) -> Errno {
    from_host(rustix::io::Errno::from_raw_os_error(
        err.raw_os_error().unwrap_or(libc::EIO),
    ))
}

impl Ring {
    /// Sets up a ring, checking that the kernel has what this backend needs:
    /// `io_uring_setup` itself (which seccomp or the sysctl
    /// `kernel.io_uring_disabled` may refuse), `IORING_FEAT_NODROP` (5.5),
    /// `IORING_FEAT_EXT_ARG` for waits with a timeout (5.11) and the
    /// `POLL_ADD` and `POLL_REMOVE` operations.
    /// When it cannot, the error says why. Its descriptor counts in `slot`.
    pub(crate) fn new(slot: FdSlot) -> Result<Self, String> {
        let ring = IoUring::builder()
            .setup_cqsize(CQ_ENTRIES)
            .build(SQ_ENTRIES)
            .map_err(|err| format!("io_uring_setup: {err}"))?;
        let params = ring.params();
        if !params.is_feature_nodrop() || !params.is_feature_ext_arg() {
            return Err(
                "the kernel lacks IORING_FEAT_NODROP or IORING_FEAT_EXT_ARG \
                 (Linux 5.11 or later is needed)"
                    .into(),
            );
        }
        let mut probe = Probe::new();
        ring.submitter()
            .register_probe(&mut probe)
            .map_err(|err| format!("IORING_REGISTER_PROBE: {err}"))?;
        if !probe.is_supported(opcode::PollAdd::CODE)
            || !probe.is_supported(opcode::PollRemove::CODE)
        {
            return Err("the kernel lacks IORING_OP_POLL_ADD".into());
        }
        Ok(Self {
            ring,
            regs: Vec::new(),
            epoch: 0,
            hits: Vec::new(),
            duplicates: false,
            _slot: slot,
        })
    }

    /// Starts a `poll_oneoff` call: takes in the completions that arrived
    /// since the last one (they are stale and will be re-armed when
    /// subscribed to) and numbers the call.
    pub(crate) fn begin(&mut self) {
        self.drain();
        self.epoch += 1;
        self.hits.clear();
        self.duplicates = false;
    }

    /// Subscribes the call's subscription number `sub` to `interest` on the
    /// guest descriptor `fd`, whose host descriptor is `raw`. Arms a
    /// `POLL_ADD` unless one is armed already or the pair fired during this
    /// call.
    pub(crate) fn subscribe(
        &mut self,
        sub: u32,
        fd: Fd,
        raw: RawFd,
        interest: Interest,
    ) -> Result<(), Errno> {
        let index = fd as usize;
        if index >= self.regs.len() {
            // Grows with the largest descriptor polled, not per call.
            self.regs.resize(index + 1, Default::default());
        }
        let epoch = self.epoch;
        let reg = &mut self.regs[index][interest as usize];
        if reg.sub_epoch == epoch {
            // Asked twice in one call: the events are gathered by a pass
            // over all the subscriptions (see `Ring::ready`).
            self.duplicates = true;
            return Ok(());
        }
        reg.sub = sub;
        reg.sub_epoch = epoch;
        match reg.state {
            State::Armed => Ok(()),
            State::Fired { epoch: fired, .. } if fired == epoch => {
                // Fired during this call before it was subscribed to (while
                // an earlier batch was submitted): fresh.
                self.hits.push((fd, interest));
                Ok(())
            }
            State::Idle | State::Fired { .. } => {
                reg.state = State::Armed;
                let entry = opcode::PollAdd::new(types::Fd(raw), interest.poll_flags())
                    .build()
                    .user_data(user_data(fd, reg.generation, interest));
                self.push(&entry)
            }
        }
    }

    /// Forgets the registrations of `fd`, cancelling their requests, and
    /// submits the cancellations so that the kernel lets go of the file
    /// before the caller closes or replaces it.
    pub(crate) fn forget(&mut self, fd: Fd) -> Result<(), Errno> {
        let Some(regs) = self.regs.get_mut(fd as usize) else {
            return Ok(());
        };
        let mut cancel: [Option<u64>; 2] = [None, None];
        for (slot, (reg, interest)) in regs
            .iter_mut()
            .zip([Interest::Read, Interest::Write])
            .enumerate()
        {
            if reg.state == State::Armed {
                cancel[slot] = Some(user_data(fd, reg.generation, interest));
            }
            reg.state = State::Idle;
            reg.sub_epoch = 0;
            reg.generation = reg.generation.wrapping_add(1);
        }
        if cancel == [None, None] {
            return Ok(());
        }
        for target in cancel.into_iter().flatten() {
            let entry = opcode::PollRemove::new(target).build().user_data(REMOVE);
            self.push(&entry)?;
        }
        match self.submit(0, None) {
            Ok(_) => Ok(()),
            Err(err) => Err(host_errno(&err)),
        }
    }

    /// Submits what is queued and waits until a completion arrives or
    /// `timeout` (relative, in nanoseconds) passes; `Some(0)` only submits
    /// and `None` waits without a limit. Then takes in the completions.
    /// Returns `EINTR` when a signal interrupted the wait.
    pub(crate) fn wait(&mut self, timeout: Option<u64>) -> Result<(), Errno> {
        let want = usize::from(timeout != Some(0));
        let result = self.submit(want, timeout.filter(|&t| t > 0));
        self.drain();
        match result {
            Ok(_) => Ok(()),
            Err(err) => match err.raw_os_error() {
                // The timeout passed, or the completion queue overflowed
                // and has just been drained.
                Some(libc::ETIME | libc::EBUSY) => Ok(()),
                _ => Err(host_errno(&err)),
            },
        }
    }

    /// The subscriptions that became ready during the current call: a
    /// subscription index and poll result each. `subs` lists every
    /// (subscription, descriptor, interest) of the call; it is only walked
    /// when the call subscribed to one pair twice, otherwise the cost is
    /// that of the ready ones.
    pub(crate) fn ready(
        &mut self,
        subs: impl Iterator<Item = (u32, Fd, Interest)>,
        mut emit: impl FnMut(Ready),
    ) {
        let epoch = self.epoch;
        let fresh = |reg: &Registration| match reg.state {
            State::Fired { result, epoch: e } if e == epoch => Some(result),
            _ => None,
        };
        if self.duplicates {
            for (sub, fd, interest) in subs {
                if let Some(result) = fresh(&self.regs[fd as usize][interest as usize]) {
                    emit(Ready { sub, result });
                }
            }
        } else {
            for &(fd, interest) in &self.hits {
                let reg = &self.regs[fd as usize][interest as usize];
                if let Some(result) = fresh(reg) {
                    emit(Ready {
                        sub: reg.sub,
                        result,
                    });
                }
            }
        }
        self.hits.clear();
    }

    /// Queues an entry, submitting the queue first when it is full.
    fn push(&mut self, entry: &squeue::Entry) -> Result<(), Errno> {
        loop {
            // SAFETY: the entries built here are `POLL_ADD` on a descriptor
            // that stays open while the request is armed (it is cancelled by
            // `forget` before the descriptor is closed, and the ring is
            // dropped with the system) and `POLL_REMOVE`; neither refers to
            // any memory, so nothing can dangle while they are in flight.
            if unsafe { self.ring.submission().push(entry) }.is_ok() {
                return Ok(());
            }
            match self.submit(0, None) {
                Ok(_) => self.drain(),
                Err(err) => match err.raw_os_error() {
                    Some(libc::EBUSY) => self.drain(),
                    Some(libc::EINTR | libc::EAGAIN) => {}
                    _ => return Err(host_errno(&err)),
                },
            }
        }
    }

    /// `io_uring_enter`: submits the queue and waits for `want` completions
    /// for at most `timeout` nanoseconds.
    fn submit(&mut self, want: usize, timeout: Option<u64>) -> io::Result<usize> {
        let submitter = self.ring.submitter();
        match timeout {
            None => submitter.submit_and_wait(want),
            Some(nanos) => {
                let ts = RingTimespec::new()
                    .sec(nanos / 1_000_000_000)
                    .nsec((nanos % 1_000_000_000) as u32);
                submitter.submit_with_args(want, &SubmitArgs::new().timespec(&ts))
            }
        }
    }

    /// Takes in every completion, including those the kernel kept aside
    /// when the queue overflowed.
    fn drain(&mut self) {
        loop {
            let epoch = self.epoch;
            let mut cq = self.ring.completion();
            for cqe in &mut cq {
                let data = cqe.user_data();
                if data == REMOVE {
                    continue;
                }
                let fd = (data >> 32) as Fd;
                let generation = ((data >> 1) & 0x7fff_ffff) as u32;
                let interest = if data & 1 == 0 {
                    Interest::Read
                } else {
                    Interest::Write
                };
                let Some(reg) = self
                    .regs
                    .get_mut(fd as usize)
                    .map(|regs| &mut regs[interest as usize])
                else {
                    continue;
                };
                if reg.generation & 0x7fff_ffff != generation || reg.state != State::Armed {
                    // A cancelled request's last word.
                    continue;
                }
                reg.state = State::Fired {
                    result: cqe.result(),
                    epoch,
                };
                if reg.sub_epoch == epoch {
                    self.hits.push((fd, interest));
                }
            }
            drop(cq);
            if !self.ring.submission().cq_overflow() {
                return;
            }
            // Flush the kernel's overflow list into the queue.
            let _ = self.ring.submitter().submit_and_wait(0);
        }
    }
}
