//! A task's `ar` call (spec §2, §3): the records carried out in order,
//! each opening, moving, closing or using a channel; the events of other
//! threads applied; the ready channels reported. What each command does
//! is in [`crate::commands`].

use crate::abi::{self, Fault, Res, cmd, fault};
use crate::channels::{Channels, State};
use crate::commands::log::LogNames;
use crate::commands::tasks::Spawning;
use crate::commands::{self, console, devices, storage, system, tasks, user};
use crate::event::Event;
use crate::family::{ParentLink, Spawner, StopSignal, TaskParts};
use crate::run_state::RunState;
use crate::storage::Batch;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::Instant;
use wasi_core::GuestMemory;
use wasi_core::runtime::Interrupter;

/// The state of one Daku task (the main program or a child): its
/// channels, logs and links to its parent and children. It is the data of
/// the task's instance, opaque outside this crate.
pub struct Task {
    run: Arc<RunState>,
    spawner: Arc<dyn Spawner>,
    number: u32,
    channels: Channels,
    events: Receiver<Event>,
    sender: Sender<Event>,
    parent: Option<ParentLink>,
    /// The key of the channel connected to the parent (18), if any.
    parent_channel: Option<u64>,
    stop: Arc<StopSignal>,
    logs: LogNames,
    exit: Option<u32>,
    stopped: bool,
    /// The task ended because the run's time was up (spec §1.6).
    timed_out: bool,
    /// The call's storage READs and WRITEs not yet run.
    batch: Batch,
}

impl Task {
    /// The task made of `parts`, no channel open.
    pub(crate) fn new(parts: TaskParts) -> Self {
        let TaskParts {
            run,
            spawner,
            number,
            parent,
            sender,
            events,
            stop,
        } = parts;
        // What the task's tables hold is charged to the run's host memory
        // (spec §1.7).
        let budget = run.budget();
        Task {
            channels: Channels::new(budget),
            logs: LogNames::new(budget),
            batch: Batch::new(budget, &run.options.fds),
            run,
            spawner,
            number,
            events,
            sender,
            parent,
            parent_channel: None,
            stop,
            exit: None,
            stopped: false,
            timed_out: false,
        }
    }

    /// The exit code, if the task exited through `ar`.
    pub(crate) fn exit_code(&self) -> Option<u32> {
        self.exit
    }

    /// Whether the task ended because its parent stopped it.
    pub(crate) fn stopped(&self) -> bool {
        self.stopped
    }

    /// Whether the task's parent stopped it (before it ran, or since).
    pub(crate) fn stop_requested(&self) -> bool {
        self.stop.is_stopped()
    }

    /// Whether the task ended because the run's time was up.
    pub(crate) fn timed_out(&self) -> bool {
        self.timed_out
    }

    /// Starts the run's clock (spec §1.6), if it has not started: the
    /// task is about to be instantiated.
    pub(crate) fn start_clock(&self) {
        self.run.start_clock();
    }

    /// Lets the parent's stop interrupt the task's own code through
    /// `interrupter` (spec §5, command 17), at once if it already came.
    pub(crate) fn attach_interrupter(&self, interrupter: Interrupter) {
        self.stop.attach(interrupter);
    }

    /// `daku.ar(size, data, done)`.
    pub(crate) fn ar(
        &mut self,
        mem: &mut GuestMemory<'_>,
        size: u32,
        data: u32,
        done: u32,
    ) -> Res<u32> {
        self.check_stop()?;
        let deadline = self.run.deadline();
        self.check_deadline(deadline)?;
        tasks::send_replies(mem, &mut self.channels, &self.sender)?;
        if size > abi::MAX_RECORDS {
            return Err(fault("daku.ar: too many records"));
        }
        mem.slice(data, size * abi::COMMAND_SIZE)
            .map_err(|_| fault("daku.ar: command list out of bounds"))?;
        for index in 0..size {
            let at = abi::at(data, index * abi::COMMAND_SIZE)?;
            if let Err(Fault(msg)) = self.record(mem, at) {
                self.flush_batch(mem).ok();
                if self.exit.is_some() {
                    return Err(Fault(msg));
                }
                return Err(Fault(format!("daku.ar: record {index}: {msg}")));
            }
        }
        self.flush_batch(mem)
            .map_err(|Fault(msg)| Fault(format!("daku.ar: {msg}")))?;
        let cap = self.channels.len().min(abi::MAX_DONE) as u32;
        mem.slice(done, cap * 4)
            .map_err(|_| fault("daku.ar: done list out of bounds"))?;
        while let Ok(event) = self.events.try_recv() {
            self.event(mem, event)?;
        }
        while self.channels.none_ready() && self.channels.waiting() {
            // The task holds a sender of its own queue: it never
            // disconnects, so waiting ends with an event or the deadline.
            let event = match deadline {
                None => self.events.recv().ok(),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    match self.events.recv_timeout(left) {
                        Ok(event) => Some(event),
                        Err(RecvTimeoutError::Timeout) => return Err(self.time_up()),
                        Err(RecvTimeoutError::Disconnected) => None,
                    }
                }
            };
            let Some(event) = event else { break };
            self.event(mem, event)?;
        }
        // An event that came as the time ran out (a child ended by its own
        // limit, on a machine too busy to wake this task first) does not
        // carry the task past the run's deadline.
        self.check_deadline(deadline)?;
        self.channels.report(mem, done, cap)
    }

    /// Ends the task if the run's time is up (spec §1.6).
    fn check_deadline(&mut self, deadline: Option<Instant>) -> Res<()> {
        match deadline {
            Some(deadline) if Instant::now() >= deadline => Err(self.time_up()),
            _ => Ok(()),
        }
    }

    /// The run's time is up: the task ends.
    fn time_up(&mut self) -> Fault {
        self.timed_out = true;
        fault("daku.ar: the run's time limit passed")
    }

    fn check_stop(&mut self) -> Res<()> {
        if self.stop.is_stopped() {
            self.stopped = true;
            return Err(fault("daku.ar: the task was stopped by its parent"));
        }
        Ok(())
    }

    /// Applies an event from another thread.
    fn event(&mut self, mem: &mut GuestMemory<'_>, event: Event) -> Res<()> {
        match event {
            Event::Stop => {
                self.stopped = true;
                Err(fault("daku.ar: the task was stopped by its parent"))
            }
            Event::Reply { bytes } => {
                let Some(id) = self.parent_channel.and_then(|key| self.channels.id_of(key)) else {
                    return Ok(());
                };
                if let Some(channel) = self.channels.get_mut(id) {
                    tasks::reply_arrived(mem, channel, &bytes.bytes)?;
                }
                self.channels.mark_ready(id);
                Ok(())
            }
            Event::Line { key, line, charge } => {
                let Some(id) = self.channels.id_of(key) else {
                    return Ok(());
                };
                if let Some(channel) = self.channels.get_mut(id) {
                    console::line_arrived(mem, channel, line, charge)?;
                }
                self.channels.mark_ready(id);
                Ok(())
            }
            Event::Message { key, .. } | Event::Ended { key, .. } => {
                let Some((id, channel)) = self.channels.by_key_mut(key) else {
                    return Ok(());
                };
                let State::Child(child) = &mut channel.state else {
                    return Ok(());
                };
                if channel.ready || child.reply.is_some() {
                    child.deferred.push_back(event);
                    return Ok(());
                }
                tasks::child_event(mem, child, event)?;
                self.channels.mark_ready(id);
                Ok(())
            }
        }
    }

    /// Carries out the record at `at`.
    fn record(&mut self, mem: &mut GuestMemory<'_>, at: u32) -> Res<()> {
        let raw = abi::bytes::<16>(mem, at)?;
        let field = |i: usize| u32::from_le_bytes([raw[i], raw[i + 1], raw[i + 2], raw[i + 3]]);
        let (channel, new, which, data) = (field(0), field(4), field(8), field(12));
        match (channel, new) {
            (0, 0) => {
                if which != 0 {
                    return Err(fault("exit record with which != 0"));
                }
                if data >= abi::STATUS_UNLOADABLE {
                    return Err(fault("exit codes 0xFFFFFFFE and 0xFFFFFFFF are reserved"));
                }
                self.exit = Some(data);
                Err(fault(format!("exited with code {data}")))
            }
            (0, new) => {
                if self.channels.contains(new) {
                    return Err(fault(format!("channel {new} is already open")));
                }
                if self.channels.len() >= abi::MAX_OPEN_CHANNELS {
                    return Err(fault("too many open channels"));
                }
                let has_parent = self.parent.is_some();
                if let Some(refusal) = commands::refusal(&self.run.options, has_parent, which) {
                    self.flush_batch(mem)?;
                    return abi::put_u32(mem, abi::at(at, 8)?, refusal);
                }
                self.channels.open(new, which)?;
                let started = self.start(mem, new, which, true, data);
                if started.is_err() {
                    self.close(new);
                }
                started
            }
            (channel, new) => {
                let Some((open, ready)) = self.channels.with_ready(channel) else {
                    return Err(fault(format!("channel {channel} is not open")));
                };
                if new == 0 {
                    self.flush_batch(mem)?;
                    self.close(channel);
                    return Ok(());
                }
                if open.which != which {
                    return Err(fault(format!(
                        "channel {channel} carries command {}, not {which}",
                        open.which
                    )));
                }
                // A READ or WRITE joining the batch: done with the one
                // lookup of its channel (the rest go through `start`).
                if new == channel
                    && let State::Storage(Some(file)) = &open.state
                    && storage::join_batch(mem, file, &mut self.batch, data)?
                {
                    ready.mark(open);
                    return Ok(());
                }
                if new != channel {
                    if self.channels.contains(new) {
                        return Err(fault(format!("channel {new} is already open")));
                    }
                    self.channels.rename(channel, new);
                }
                self.start(mem, new, which, false, data)
            }
        }
    }

    /// Closes channel `id`, releasing what it holds.
    fn close(&mut self, id: u32) {
        let Some(channel) = self.channels.close(id) else {
            return;
        };
        match channel.state {
            State::Child(child) => child.stop(),
            State::Parent { .. } => self.parent_channel = None,
            _ => {}
        }
    }

    /// Starts the next operation of channel `id`, for command `which`,
    /// with payload `data`.
    fn start(
        &mut self,
        mem: &mut GuestMemory<'_>,
        id: u32,
        which: u32,
        opening: bool,
        data: u32,
    ) -> Res<()> {
        // Only storage READs and WRITEs join the batch: any other command
        // may write memory at once, so the batch runs first (spec §5, 40).
        if which != cmd::STORAGE {
            self.flush_batch(mem)?;
        }
        let run = &*self.run;
        let task = self.number;
        let completes = match which {
            cmd::ARCH..=cmd::RUNTIME => {
                system::answer(mem, which, data, run.engine)?;
                true
            }
            cmd::USERNAME..=cmd::SET_LANGUAGES => {
                user::serve(mem, which, data, run, task)?;
                true
            }
            cmd::SPAWN => {
                let parent = Spawning {
                    run: &self.run,
                    spawner: &self.spawner,
                    events: &self.sender,
                };
                tasks::spawn(mem, &mut self.channels, id, data, parent)?;
                false
            }
            cmd::PARENT => {
                let channel = self.channels.get_mut(id).expect("open");
                let parent = self.parent.as_ref();
                tasks::parent(
                    mem,
                    channel,
                    &mut self.parent_channel,
                    parent,
                    run,
                    opening,
                    data,
                )?
            }
            cmd::LOG => {
                commands::log::print(mem, data, &mut self.logs, run, task)?;
                true
            }
            cmd::DEBUG => {
                let channel = self.channels.get_mut(id).expect("open");
                console::read_line(mem, channel, data, run, &self.sender)?
            }
            cmd::PLAY_AUDIO => {
                let channel = self.channels.get_mut(id).expect("open");
                devices::play_audio(mem, channel, opening, data, run, task)?;
                true
            }
            cmd::FRAMEBUFFER => {
                let channel = self.channels.get_mut(id).expect("open");
                devices::show_frame(mem, channel, opening, data, run, task)?;
                true
            }
            cmd::STORAGE => {
                let channel = self.channels.get_mut(id).expect("open");
                storage::serve(mem, channel, data, &mut self.batch, &run.options)?;
                true
            }
            cmd::SHARE => {
                storage::share(mem, data, &mut self.batch, &run.options)?;
                true
            }
            _ => unreachable!("refused when the channel was opened"),
        };
        if completes {
            self.channels.mark_ready(id);
        }
        Ok(())
    }

    /// Runs the call's pending storage reads and writes and writes their
    /// results back.
    fn flush_batch(&mut self, mem: &mut GuestMemory<'_>) -> Res<()> {
        storage::flush_batch(mem, &mut self.batch, self.run.options.io)
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        for channel in self.channels.iter() {
            if let State::Child(child) = &channel.state {
                child.stop();
            }
        }
    }
}
