//! A task's channels and its `ar` call (spec §2, §3, §5).

use crate::abi::{self, Fault, Res, cmd, fault};
use crate::host::Host;
use crate::info;
use crate::media::{self, WavWriter};
use crate::storage::{self, Batch, status};
use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, PoisonError};
use wasi_core::GuestMemory;
use wasi_core::runtime::Interrupter;

/// The most bytes of buffers a call's storage batch holds: past it the
/// operations collected so far go to the kernel first (spec §5, 40).
const MAX_BATCH_BYTES: u64 = 64 << 20;

/// What arrives at a task from other threads.
pub(crate) enum Event {
    /// A child's message, for the parent's channel `key`.
    Message { key: u64, bytes: Vec<u8> },
    /// A child ended, for the parent's channel `key`.
    Ended { key: u64, status: u32 },
    /// The parent's reply, for the child.
    Reply { bytes: Vec<u8> },
    /// A line of the console (or `None` at its end), for channel `key`.
    Line { key: u64, line: Option<Vec<u8>> },
    /// The parent stopped this task.
    Stop,
}

/// How a child task reaches its parent.
pub(crate) struct ParentLink {
    to_parent: Sender<Event>,
    /// The parent's channel for this child.
    key: u64,
}

/// The state of a channel's command.
enum State {
    /// Completed commands that hold nothing.
    Plain,
    /// A spawned child (17).
    Child(Child),
    /// The connection to the parent (18).
    Parent {
        size: u32,
        data: u32,
        in_flight: bool,
    },
    /// The console (20): a read outstanding, or a line kept for a larger buffer.
    Console {
        reading: bool,
        kept: Option<Vec<u8>>,
        text: u32,
    },
    /// A storage file (40), if one is open.
    Storage(Option<Arc<File>>),
    /// An audio stream (33), once its first samples came.
    Audio { number: u32, wav: Option<WavWriter> },
    /// A framebuffer (35): its number and the next frame's.
    Frame { number: u32, next: u32 },
}

/// Hashes channel ids and keys: one folded multiply of the number with a
/// random seed (as `foldhash` does), where SipHash took a tenth of a
/// storage record's time in the host. The seed keeps a program from
/// choosing ids that collide.
#[derive(Clone, Copy)]
struct IdHash(u64);

impl IdHash {
    fn new() -> Self {
        IdHash(RandomState::new().hash_one(0x6461_6b75_u64))
    }
}

impl BuildHasher for IdHash {
    type Hasher = IdHasher;

    fn build_hasher(&self) -> IdHasher {
        IdHasher(self.0)
    }
}

/// The hasher of [`IdHash`].
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(u64::from(byte));
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        let product = u128::from(self.0 ^ n) * u128::from(0x9E37_79B9_7F4A_7C15_u64);
        self.0 = (product as u64) ^ ((product >> 64) as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A spawned child, seen from its parent.
struct Child {
    to_child: Sender<Event>,
    stop: Arc<StopSignal>,
    running: bool,
    /// The `Task` record in the parent's memory.
    record: u32,
    region: (u32, u32),
    /// A message was reported; the region goes back at the next call.
    reply_due: bool,
    /// Events that came while the channel was ready and unreported.
    deferred: VecDeque<Event>,
}

struct Channel {
    key: u64,
    which: u32,
    ready: bool,
    state: State,
}

/// The state of one Daku task (the main program or a child): its
/// channels, logs and links to its parent and children. It is the data of
/// the task's instance, opaque outside this crate.
pub struct Task {
    host: Arc<Host>,
    number: u32,
    channels: HashMap<u32, Channel, IdHash>,
    ids: HashMap<u64, u32, IdHash>,
    ready: VecDeque<u64>,
    next_key: u64,
    events: Receiver<Event>,
    sender: Sender<Event>,
    parent: Option<ParentLink>,
    /// The key of the channel connected to the parent (18), if any.
    parent_channel: Option<u64>,
    stop: Arc<StopSignal>,
    logs: HashMap<u16, (String, u8)>,
    exit: Option<u32>,
    stopped: bool,
    /// The call's storage READs and WRITEs not yet run.
    batch: Batch,
}

impl Task {
    /// A task numbered `number`, the child of `parent` if it has one.
    pub(crate) fn new(host: Arc<Host>, number: u32, parent: Option<ParentLink>) -> Self {
        let (sender, events) = channel();
        Self::with_events(host, number, parent, sender, events, Arc::default())
    }

    fn with_events(
        host: Arc<Host>,
        number: u32,
        parent: Option<ParentLink>,
        sender: Sender<Event>,
        events: Receiver<Event>,
        stop: Arc<StopSignal>,
    ) -> Self {
        Task {
            host,
            number,
            channels: HashMap::with_hasher(IdHash::new()),
            ids: HashMap::with_hasher(IdHash::new()),
            ready: VecDeque::new(),
            next_key: 1,
            events,
            sender,
            parent,
            parent_channel: None,
            stop,
            logs: HashMap::new(),
            exit: None,
            stopped: false,
            batch: Batch::new(),
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
        self.send_replies(mem)?;
        if size > abi::MAX_RECORDS {
            return Err(fault("daku.ar: too many records"));
        }
        mem.slice(data, size * abi::COMMAND_SIZE)
            .map_err(|_| fault("daku.ar: command list out of bounds"))?;
        for index in 0..size {
            let at = data + index * abi::COMMAND_SIZE;
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
        while self.ready.is_empty() && self.waiting() {
            let Ok(event) = self.events.recv() else { break };
            self.event(mem, event)?;
        }
        self.report(mem, done, cap)
    }

    fn check_stop(&mut self) -> Res<()> {
        if self.stop.is_stopped() {
            self.stopped = true;
            return Err(fault("daku.ar: the task was stopped by its parent"));
        }
        Ok(())
    }

    /// Whether a channel has an operation that completes by itself.
    fn waiting(&self) -> bool {
        self.channels.values().any(|c| match &c.state {
            State::Child(child) => child.running,
            State::Parent { in_flight, .. } => *in_flight,
            State::Console { reading, .. } => *reading,
            _ => false,
        })
    }

    /// Writes the ready channels to the done list.
    fn report(&mut self, mem: &mut GuestMemory<'_>, done: u32, cap: u32) -> Res<u32> {
        // Channels closed since they became ready leave their keys behind.
        let ids = &self.ids;
        self.ready.retain(|key| ids.contains_key(key));
        let mut written = 0;
        while written < cap {
            let Some(key) = self.ready.pop_front() else {
                break;
            };
            let Some(&id) = self.ids.get(&key) else {
                continue;
            };
            let Some(channel) = self.channels.get_mut(&id) else {
                continue;
            };
            channel.ready = false;
            abi::put_u32(mem, done + written * 4, id)?;
            written += 1;
        }
        Ok(written)
    }

    fn mark_ready(&mut self, id: u32) {
        if let Some(channel) = self.channels.get_mut(&id)
            && !channel.ready
        {
            channel.ready = true;
            self.ready.push_back(channel.key);
        }
    }

    /// Applies an event from another thread.
    fn event(&mut self, mem: &mut GuestMemory<'_>, event: Event) -> Res<()> {
        match event {
            Event::Stop => {
                self.stopped = true;
                Err(fault("daku.ar: the task was stopped by its parent"))
            }
            Event::Reply { bytes } => {
                let Some(&id) = self.parent_channel.and_then(|key| self.ids.get(&key)) else {
                    return Ok(());
                };
                if let Some(Channel {
                    state:
                        State::Parent {
                            size,
                            data,
                            in_flight,
                        },
                    ..
                }) = self.channels.get_mut(&id)
                {
                    *in_flight = false;
                    let n = (*size).min(bytes.len() as u32);
                    abi::put(mem, *data, &bytes[..n as usize])?;
                }
                self.mark_ready(id);
                Ok(())
            }
            Event::Line { key, line } => {
                let Some(&id) = self.ids.get(&key) else {
                    return Ok(());
                };
                if let Some(Channel {
                    state:
                        State::Console {
                            reading,
                            kept,
                            text,
                        },
                    ..
                }) = self.channels.get_mut(&id)
                {
                    *reading = false;
                    let text = *text;
                    match line {
                        Some(line) => {
                            *kept = Some(line);
                            deliver_line(mem, text, kept)?;
                        }
                        None => {
                            abi::put_u32(mem, text, 0)?;
                            abi::put_u32(mem, text + 4, 0)?;
                        }
                    }
                }
                self.mark_ready(id);
                Ok(())
            }
            Event::Message { key, .. } | Event::Ended { key, .. } => {
                let Some(&id) = self.ids.get(&key) else {
                    return Ok(());
                };
                let Some(channel) = self.channels.get_mut(&id) else {
                    return Ok(());
                };
                let State::Child(child) = &mut channel.state else {
                    return Ok(());
                };
                if channel.ready || child.reply_due {
                    child.deferred.push_back(event);
                    return Ok(());
                }
                match event {
                    Event::Message { bytes, .. } => {
                        let (size, data) = child.region;
                        let n = size.min(bytes.len() as u32);
                        abi::put(mem, data, &bytes[..n as usize])?;
                        child.reply_due = true;
                    }
                    Event::Ended { status, .. } => {
                        child.running = false;
                        abi::put_u32(mem, child.record, status)?;
                        abi::put_u32(mem, child.record + 4, 0)?;
                    }
                    _ => {}
                }
                self.mark_ready(id);
                Ok(())
            }
        }
    }

    /// Step 1 of spec §2: the regions of reported messages go back.
    fn send_replies(&mut self, mem: &GuestMemory<'_>) -> Res<()> {
        for channel in self.channels.values_mut() {
            if let State::Child(child) = &mut channel.state
                && child.reply_due
                && !channel.ready
            {
                child.reply_due = false;
                let (size, data) = child.region;
                let bytes = abi::slice(mem, data, size)
                    .map_err(|_| fault("daku.ar: shared region out of bounds"))?
                    .to_vec();
                // A child that ended meanwhile has dropped its receiver.
                let _ = child.to_child.send(Event::Reply { bytes });
            }
        }
        // Events deferred behind a report or a reply apply now.
        let keys: Vec<u64> = self
            .channels
            .values()
            .filter(|c| !c.ready)
            .filter(|c| {
                matches!(&c.state, State::Child(ch) if !ch.reply_due && !ch.deferred.is_empty())
            })
            .map(|c| c.key)
            .collect();
        for key in keys {
            let id = self.ids[&key];
            if let Some(Channel {
                state: State::Child(child),
                ..
            }) = self.channels.get_mut(&id)
                && let Some(event) = child.deferred.pop_front()
            {
                let _ = self.sender.send(event);
            }
        }
        Ok(())
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
                if self.channels.contains_key(&new) {
                    return Err(fault(format!("channel {new} is already open")));
                }
                if self.channels.len() >= abi::MAX_OPEN_CHANNELS {
                    return Err(fault("too many open channels"));
                }
                if let Some(refusal) = self.refusal(which) {
                    self.flush_batch(mem)?;
                    return abi::put_u32(mem, at + 8, refusal);
                }
                let key = self.next_key;
                self.next_key += 1;
                self.channels.insert(
                    new,
                    Channel {
                        key,
                        which,
                        ready: false,
                        state: State::Plain,
                    },
                );
                self.ids.insert(key, new);
                let started = self.start(mem, new, which, true, data);
                if started.is_err() {
                    self.close(new);
                }
                started
            }
            (channel, new) => {
                let Some(open) = self.channels.get_mut(&channel) else {
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
                    && let record = StorageRecord::read(mem, data)?
                    && matches!(record.op, 1 | 2)
                {
                    let write = record.op == 2;
                    let len = record.size.min(storage::MAX_IO);
                    abi::slice(mem, record.buf, len)?;
                    if !self
                        .batch
                        .must_run_before(write, record.buf, len, MAX_BATCH_BYTES)
                    {
                        self.batch
                            .push(file, write, record.offset, record.buf, len, data);
                        if !open.ready {
                            open.ready = true;
                            self.ready.push_back(open.key);
                        }
                        return Ok(());
                    }
                }
                if new != channel {
                    if self.channels.contains_key(&new) {
                        return Err(fault(format!("channel {new} is already open")));
                    }
                    let moved = self.channels.remove(&channel).expect("checked above");
                    self.ids.insert(moved.key, new);
                    self.channels.insert(new, moved);
                }
                self.start(mem, new, which, false, data)
            }
        }
    }

    /// Why opening a channel for `which` is refused, if it is.
    fn refusal(&self, which: u32) -> Option<u32> {
        let options = &self.host.options;
        let grants = options.grants;
        match which {
            0..=10 | cmd::LOG | cmd::DEBUG => None,
            cmd::USERNAME..=cmd::SET_LANGUAGES => (!grants.user).then_some(abi::DENIED),
            cmd::SPAWN => (!grants.spawn).then_some(abi::DENIED),
            cmd::PARENT => self.parent.is_none().then_some(abi::UNSUPPORTED),
            cmd::PLAY_AUDIO | cmd::FRAMEBUFFER => {
                options.output.is_none().then_some(abi::UNSUPPORTED)
            }
            cmd::STORAGE | cmd::SHARE => {
                let present = options.storage.is_some()
                    && (which == cmd::STORAGE || options.output.is_some());
                if !present {
                    Some(abi::UNSUPPORTED)
                } else if !grants.storage {
                    Some(abi::DENIED)
                } else {
                    None
                }
            }
            _ => Some(abi::UNSUPPORTED),
        }
    }

    /// Closes channel `id`, releasing what it holds.
    fn close(&mut self, id: u32) {
        let Some(channel) = self.channels.remove(&id) else {
            return;
        };
        self.ids.remove(&channel.key);
        match channel.state {
            State::Child(child) => stop_child(&child),
            State::Parent { .. } => self.parent_channel = None,
            _ => {}
        }
    }

    /// Starts the next operation of channel `id` with payload `data`.
    fn start(
        &mut self,
        mem: &mut GuestMemory<'_>,
        id: u32,
        which: u32,
        opening: bool,
        data: u32,
    ) -> Res<()> {
        let engine = self.host.engine;
        // Only storage READs and WRITEs join the batch: any other command
        // may write memory at once, so the batch runs first (spec §5, 40).
        if which != cmd::STORAGE {
            self.flush_batch(mem)?;
        }
        let completes = match which {
            cmd::ARCH => abi::put_u32(mem, data, 0).map(|()| true)?,
            cmd::REF_SIZE => abi::put_u32(mem, data, 1).map(|()| true)?,
            cmd::CPU_EXTENSIONS => {
                abi::receive_text(mem, data, info::cpu_extensions(engine)).map(|()| true)?
            }
            cmd::GET_OVERCLOCK => abi::put_u32(mem, data, 0).map(|()| true)?,
            cmd::SET_OVERCLOCK => {
                if abi::u32_at(mem, data)? != 0 {
                    return Err(fault("Overclock must be 0 (Off)"));
                }
                true
            }
            cmd::DATE_TIME => abi::put(mem, data, &info::now_utc()).map(|()| true)?,
            cmd::TIME_ZONE => {
                self.time_zone(mem, data)?;
                true
            }
            cmd::KERNEL => abi::put_u32(mem, data, info::kernel()).map(|()| true)?,
            cmd::OS_NAME => abi::receive_text(mem, data, &info::os_name()).map(|()| true)?,
            cmd::ENVIRONMENT => {
                let desktop = std::env::var("XDG_CURRENT_DESKTOP").ok();
                abi::put_u32(mem, data, info::environment(desktop.as_deref())).map(|()| true)?
            }
            cmd::RUNTIME => abi::put_u32(mem, data, info::runtime(engine)).map(|()| true)?,
            cmd::USERNAME..=cmd::SET_LANGUAGES => {
                self.user(mem, which, data)?;
                true
            }
            cmd::SPAWN => {
                self.spawn(mem, id, data)?;
                false
            }
            cmd::PARENT => self.parent_channel(mem, id, opening, data)?,
            cmd::LOG => {
                self.log(mem, data)?;
                true
            }
            cmd::DEBUG => self.console(mem, id, data)?,
            cmd::PLAY_AUDIO => {
                self.audio(mem, id, opening, data)?;
                true
            }
            cmd::FRAMEBUFFER => {
                self.frame(mem, id, opening, data)?;
                true
            }
            cmd::STORAGE => {
                self.storage(mem, id, data)?;
                true
            }
            cmd::SHARE => {
                self.share(mem, data)?;
                true
            }
            _ => unreachable!("refused when the channel was opened"),
        };
        if completes {
            self.mark_ready(id);
        }
        Ok(())
    }

    fn time_zone(&mut self, mem: &mut GuestMemory<'_>, data: u32) -> Res<()> {
        mem.slice(data, 32)
            .map_err(|_| fault("payload out of bounds"))?;
        let leaps = std::fs::read_to_string("/usr/share/zoneinfo/leapseconds").ok();
        let zone = info::zone(&info::host_zone(), jiff::Timestamp::now(), leaps.as_deref());
        abi::put_u32(mem, data, zone.designation)?;
        let deltas: Vec<u8> = zone.deltas.concat();
        abi::receive(mem, data + 4, &deltas, zone.deltas.len() as u32)?;
        abi::put(mem, data + 12, &zone.offset)?;
        let leap_list: Vec<u8> = zone.leap_seconds.concat();
        abi::receive(mem, data + 20, &leap_list, zone.leap_seconds.len() as u32)?;
        abi::put(mem, data + 28, &zone.leap.to_le_bytes())?;
        abi::put(mem, data + 30, &[u8::from(zone.is_dst), 0])
    }

    /// Commands 11–16.
    fn user(&mut self, mem: &mut GuestMemory<'_>, which: u32, data: u32) -> Res<()> {
        let host = Arc::clone(&self.host);
        let mut profile = host.profile.lock().unwrap_or_else(PoisonError::into_inner);
        let text = |mem: &GuestMemory<'_>| -> Res<String> {
            let text = abi::text_at(mem, data, 4096)?;
            if abi::has_controls(&text) {
                return Err(fault("text has control characters"));
            }
            Ok(text)
        };
        match which {
            cmd::USERNAME => {
                let name = profile
                    .username
                    .clone()
                    .unwrap_or_else(info::system_username);
                return abi::receive_text(mem, data, &name);
            }
            cmd::FULL_NAME => {
                let name = profile
                    .full_name
                    .clone()
                    .unwrap_or_else(info::system_full_name);
                return abi::receive_text(mem, data, &name);
            }
            cmd::LANGUAGES => {
                let codes = profile.languages.clone().unwrap_or_else(|| {
                    let language = std::env::var("LANGUAGE").ok();
                    let lang = std::env::var("LANG").ok();
                    info::system_languages(language.as_deref(), lang.as_deref())
                });
                return abi::receive(mem, data, &codes.concat(), codes.len() as u32);
            }
            cmd::SET_USERNAME => profile.username = Some(text(mem)?),
            cmd::SET_FULL_NAME => profile.full_name = Some(text(mem)?),
            _ => {
                let (count, list) = abi::list_at(mem, data)?;
                if count > 256 {
                    return Err(fault("more than 256 languages"));
                }
                let raw = abi::slice(mem, list, count * 4)?;
                let codes: Vec<[u8; 4]> = raw
                    .chunks_exact(4)
                    .map(|c| [c[0], c[1], c[2], c[3]])
                    .collect();
                if !codes.iter().all(|&c| info::is_language(c)) {
                    return Err(fault("a Language is two letters a-z then two A-Z"));
                }
                profile.languages = Some(codes);
            }
        }
        if let Err(error) = profile.save() {
            drop(profile);
            self.host.log_line(&format!(
                "daku[{}] host WARNING: profile not saved: {error}",
                self.number
            ));
        }
        Ok(())
    }

    /// Command 17: start (or replace) the child of channel `id`.
    fn spawn(&mut self, mem: &mut GuestMemory<'_>, id: u32, data: u32) -> Res<()> {
        if data == 0 {
            return Err(fault("a Task is required"));
        }
        let raw = abi::bytes::<16>(mem, data)?;
        let field = |i: usize| u32::from_le_bytes([raw[i], raw[i + 1], raw[i + 2], raw[i + 3]]);
        let (len, wasm, size, region) = (field(0), field(4), field(8), field(12));
        if len > abi::MAX_SPAWN_BYTES || size > abi::MAX_SPAWN_BYTES {
            return Err(fault(
                "the module or the shared region is larger than 64 MiB",
            ));
        }
        abi::slice(mem, region, size)?;
        let wasm = abi::slice(mem, wasm, len)?;
        // Count the child before it exists: the count bounds the threads
        // and compiled modules a run holds.
        let running = self.host.children.fetch_add(1, Ordering::AcqRel);
        if running >= abi::MAX_CHILDREN {
            self.host.children.fetch_sub(1, Ordering::AcqRel);
            return Err(fault(format!(
                "too many child tasks running (at most {} in a run)",
                abi::MAX_CHILDREN
            )));
        }
        let wasm = wasm.to_vec();
        // A new child replaces the old one, under a new key so that the old
        // one's events are dropped.
        let key = self.next_key;
        self.next_key += 1;
        let channel = self.channels.get_mut(&id).expect("channel is open");
        if let State::Child(old) = &channel.state {
            stop_child(old);
        }
        self.ids.remove(&channel.key);
        channel.key = key;
        self.ids.insert(key, id);
        let (to_child, child_events) = std::sync::mpsc::channel();
        let stop = Arc::new(StopSignal::default());
        channel.state = State::Child(Child {
            to_child: to_child.clone(),
            stop: Arc::clone(&stop),
            running: true,
            record: data,
            region: (size, region),
            reply_due: false,
            deferred: VecDeque::new(),
        });
        let parent = ParentLink {
            to_parent: self.sender.clone(),
            key,
        };
        let number = self.host.task_number();
        let child = Task::with_events(
            Arc::clone(&self.host),
            number,
            Some(parent),
            to_child,
            child_events,
            stop,
        );
        let to_parent = self.sender.clone();
        let host = Arc::clone(&self.host);
        self.host.spawn(
            wasm,
            child,
            Box::new(move |status| {
                host.children.fetch_sub(1, Ordering::AcqRel);
                let _ = to_parent.send(Event::Ended { key, status });
            }),
        );
        Ok(())
    }

    /// Command 18: connect to the parent, or send it a message. Returns
    /// whether the operation completed.
    fn parent_channel(
        &mut self,
        mem: &mut GuestMemory<'_>,
        id: u32,
        opening: bool,
        data: u32,
    ) -> Res<bool> {
        let region = if data == 0 {
            None
        } else {
            let (size, ptr) = abi::list_at(mem, data)?;
            if size > abi::MAX_SPAWN_BYTES {
                return Err(fault("the shared region is larger than 64 MiB"));
            }
            abi::slice(mem, ptr, size)?;
            Some((size, ptr))
        };
        if opening {
            if self.parent_channel.is_some() {
                return Err(fault("already connected to the parent"));
            }
            let Some((size, data)) = region else {
                return Err(fault("a Message is required"));
            };
            let channel = self.channels.get_mut(&id).expect("open");
            self.parent_channel = Some(channel.key);
            channel.state = State::Parent {
                size,
                data,
                in_flight: false,
            };
            return Ok(true);
        }
        let Some(Channel {
            state:
                State::Parent {
                    size,
                    data,
                    in_flight,
                },
            ..
        }) = self.channels.get_mut(&id)
        else {
            unreachable!("a channel for 18 holds the parent connection");
        };
        if *in_flight {
            return Err(fault("a message to the parent is already in flight"));
        }
        if let Some((new_size, new_data)) = region {
            (*size, *data) = (new_size, new_data);
        }
        let bytes = abi::slice(mem, *data, *size)?.to_vec();
        *in_flight = true;
        let parent = self.parent.as_ref().expect("refused without a parent");
        // A parent that is gone never replies; its stop reaches us instead.
        let _ = parent.to_parent.send(Event::Message {
            key: parent.key,
            bytes,
        });
        Ok(false)
    }

    /// Command 19.
    fn log(&mut self, mem: &mut GuestMemory<'_>, data: u32) -> Res<()> {
        let raw = abi::bytes::<4>(mem, data)?;
        let which = u16::from_le_bytes([raw[0], raw[1]]);
        let (level, set_name) = (raw[2], raw[3]);
        let text = abi::text_at(mem, data + 4, u32::MAX)?;
        match set_name {
            1 => {
                if level & 0x0F != 0 {
                    return Err(fault("levels to print (bits 0-3) given with set_name"));
                }
                if text.len() > 64 || abi::has_controls(&text) {
                    return Err(fault(
                        "a log name is at most 64 bytes, without control characters",
                    ));
                }
                self.logs.insert(which, (text, level >> 4));
            }
            0 => {
                if level & 0xF0 != 0 {
                    return Err(fault("enabled levels (bits 4-7) given without set_name"));
                }
                let (name, enabled) = self
                    .logs
                    .get(&which)
                    .cloned()
                    .unwrap_or_else(|| (format!("log{which}"), 0x0F));
                let escaped = escape(&text);
                for (bit, label) in ["DEBUG", "INFO", "WARNING", "ERROR"].iter().enumerate() {
                    if level & enabled & (1 << bit) != 0 {
                        self.host
                            .log_line(&format!("daku[{}] {name} {label}: {escaped}", self.number));
                    }
                }
            }
            _ => return Err(fault("set_name must be 0 or 1")),
        }
        Ok(())
    }

    /// Command 20. Returns whether the operation completed.
    fn console(&mut self, mem: &mut GuestMemory<'_>, id: u32, data: u32) -> Res<bool> {
        abi::list_at(mem, data)?;
        let channel = self.channels.get_mut(&id).expect("open");
        let key = channel.key;
        if let State::Console { reading: true, .. } = channel.state {
            return Err(fault("a line is already being read on this channel"));
        }
        let kept = match std::mem::replace(&mut channel.state, State::Plain) {
            State::Console { kept, .. } => kept,
            _ => None,
        };
        if kept.is_some() {
            let mut kept = kept;
            deliver_line(mem, data, &mut kept)?;
            channel.state = State::Console {
                reading: false,
                kept,
                text: data,
            };
            return Ok(true);
        }
        channel.state = State::Console {
            reading: true,
            kept: None,
            text: data,
        };
        self.host.read_line(key, self.sender.clone());
        Ok(false)
    }

    /// Command 33.
    fn audio(&mut self, mem: &mut GuestMemory<'_>, id: u32, opening: bool, data: u32) -> Res<()> {
        let raw = abi::bytes::<16>(mem, data)?;
        let field = |i: usize| u32::from_le_bytes([raw[i], raw[i + 1], raw[i + 2], raw[i + 3]]);
        let (rate, channels, count, samples) = (field(0), field(4), field(8), field(12));
        if !(1..=384_000).contains(&rate) || !(1..=8).contains(&channels) {
            return Err(fault("rate must be 1-384000 and channels 1-8"));
        }
        if count % channels != 0 || count > 1 << 24 {
            return Err(fault("samples must be whole frames, at most 2^24"));
        }
        let bytes = abi::slice(mem, samples, count * 2)?;
        if opening {
            let number = self.host.next_audio.fetch_add(1, Ordering::Relaxed);
            self.channels.get_mut(&id).expect("open").state = State::Audio { number, wav: None };
        }
        let task = self.number;
        let output = self
            .host
            .options
            .output
            .clone()
            .expect("refused without output");
        let Some(Channel {
            state: State::Audio { number, wav },
            ..
        }) = self.channels.get_mut(&id)
        else {
            unreachable!("an audio channel holds its stream")
        };
        if wav.is_none() {
            let path = output.join(format!("audio-{task}-{number}.wav"));
            *wav = Some(
                WavWriter::create(&path, rate, channels as u16)
                    .map_err(|e| fault(format!("cannot write {}: {e}", path.display())))?,
            );
        }
        let wav = wav.as_mut().expect("created above");
        if wav.rate != rate || u32::from(wav.channels) != channels {
            return Err(fault("rate and channels must stay the same on a channel"));
        }
        wav.append(bytes)
            .map_err(|e| fault(format!("cannot write audio: {e}")))
    }

    /// Command 35.
    fn frame(&mut self, mem: &mut GuestMemory<'_>, id: u32, opening: bool, data: u32) -> Res<()> {
        let raw = abi::bytes::<16>(mem, data)?;
        let width = u16::from_le_bytes([raw[0], raw[1]]);
        let height = u16::from_le_bytes([raw[2], raw[3]]);
        let field = |i: usize| u32::from_le_bytes([raw[i], raw[i + 1], raw[i + 2], raw[i + 3]]);
        let (format, size, pixels) = (field(4), field(8), field(12));
        if format != 0 {
            return Err(fault("format must be 0 (RGBA8)"));
        }
        let expected = u64::from(width) * u64::from(height) * 4;
        if width == 0 || height == 0 || u64::from(size) != expected {
            return Err(fault(
                "pixels.size must be width * height * 4, both non-zero",
            ));
        }
        let rgba = abi::slice(mem, pixels, size)?;
        if opening {
            let number = self.host.next_frame.fetch_add(1, Ordering::Relaxed);
            self.channels.get_mut(&id).expect("open").state = State::Frame { number, next: 0 };
        }
        let Some(Channel {
            state: State::Frame { number, next },
            ..
        }) = self.channels.get_mut(&id)
        else {
            unreachable!("a framebuffer channel holds its numbers")
        };
        let output = self
            .host
            .options
            .output
            .as_ref()
            .expect("refused without output");
        let path = output.join(format!("frame-{}-{number}-{next:06}.png", self.number));
        *next += 1;
        std::fs::write(&path, media::png(width, height, rgba))
            .map_err(|e| fault(format!("cannot write {}: {e}", path.display())))
    }

    /// Command 40.
    fn storage(&mut self, mem: &mut GuestMemory<'_>, id: u32, data: u32) -> Res<()> {
        let StorageRecord {
            op,
            flags,
            offset,
            size,
            buf,
        } = StorageRecord::read(mem, data)?;
        let channel = self.channels.get_mut(&id).expect("open");
        let file = match &channel.state {
            State::Storage(file) => file.clone(),
            _ => {
                channel.state = State::Storage(None);
                None
            }
        };
        let status_at = data + 24;
        if op == 0 {
            self.flush_batch(mem)?;
            let name = std::str::from_utf8(abi::slice(mem, buf, size.min(256))?)
                .ok()
                .filter(|_| size <= 255)
                .map(str::to_owned);
            let dir = self
                .host
                .options
                .storage
                .clone()
                .expect("refused without storage");
            let opened = match name {
                Some(name) if storage::valid_name(&name) => storage::open(&dir, &name, flags),
                _ => Err(status::BAD_NAME),
            };
            let (file, code) = match opened {
                Ok(file) => (Some(Arc::new(file)), status::OK),
                Err(code) => (None, code),
            };
            self.channels.get_mut(&id).expect("open").state = State::Storage(file);
            return abi::put_u32(mem, status_at, code);
        }
        let Some(file) = file else {
            self.flush_batch(mem)?;
            return abi::put_u32(mem, status_at, status::NOT_OPEN);
        };
        match op {
            1 | 2 => {
                let write = op == 2;
                let len = size.min(storage::MAX_IO);
                abi::slice(mem, buf, len)?;
                if self.batch.must_run_before(write, buf, len, MAX_BATCH_BYTES) {
                    self.flush_batch(mem)?;
                }
                self.batch.push(&file, write, offset, buf, len, data);
                Ok(())
            }
            _ => {
                self.flush_batch(mem)?;
                let result = if op == 3 {
                    file.metadata().map(|m| Some(m.len()))
                } else {
                    file.set_len(offset).map(|()| None)
                };
                match result {
                    Ok(Some(len)) => {
                        abi::put(mem, data + 8, &len.to_le_bytes())?;
                        abi::put_u32(mem, status_at, status::OK)
                    }
                    Ok(None) => abi::put_u32(mem, status_at, status::OK),
                    Err(_) => abi::put_u32(mem, status_at, status::IO),
                }
            }
        }
    }

    /// Runs the call's pending storage reads and writes and writes their
    /// results back.
    fn flush_batch(&mut self, mem: &mut GuestMemory<'_>) -> Res<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let memory = mem
            .slice_mut(0, self.batch.memory_end())
            .map_err(|_| fault("payload out of bounds"))?;
        self.batch.run(memory, self.host.options.io);
        let written = self.batch.results().try_for_each(|(record, result)| {
            let (size, code) = match result {
                Ok(n) => (n, status::OK),
                Err(errno) => (0, storage::status_of(errno)),
            };
            abi::put_u32(mem, record + 16, size)?;
            abi::put_u32(mem, record + 24, code)
        });
        self.batch.clear();
        written
    }

    /// Command 41.
    fn share(&mut self, mem: &mut GuestMemory<'_>, data: u32) -> Res<()> {
        self.flush_batch(mem)?;
        let (size, ptr) = abi::list_at(mem, data)?;
        let name = std::str::from_utf8(abi::slice(mem, ptr, size.min(256))?)
            .ok()
            .filter(|n| size <= 255 && storage::valid_name(n))
            .map(str::to_owned);
        let options = &self.host.options;
        let code = match name {
            None => status::BAD_NAME,
            Some(name) => {
                let dir = options.storage.as_ref().expect("refused without storage");
                let output = options.output.as_ref().expect("refused without output");
                match storage::open(dir, &name, 0) {
                    Err(code) => code,
                    Ok(mut from) => match File::create(output.join(&name))
                        .and_then(|mut to| std::io::copy(&mut from, &mut to))
                    {
                        Ok(_) => status::OK,
                        Err(_) => status::IO,
                    },
                }
            }
        };
        abi::put_u32(mem, data + 8, code)
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        for channel in self.channels.values() {
            if let State::Child(child) = &channel.state {
                stop_child(child);
            }
        }
    }
}

fn stop_child(child: &Child) {
    child.stop.stop();
    let _ = child.to_child.send(Event::Stop);
}

/// How a parent stops its child: a flag the child's `ar` checks, and the
/// child instance's interrupter once it has one, which stops the child's
/// own code (spec §5, command 17).
#[derive(Default)]
pub(crate) struct StopSignal {
    stopped: AtomicBool,
    interrupter: Mutex<Option<Interrupter>>,
}

impl StopSignal {
    /// Stops the task: its next `ar` traps, and its code is interrupted if
    /// its instance is attached.
    fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        let interrupter = self
            .interrupter
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(interrupter) = interrupter.as_ref() {
            interrupter.interrupt();
        }
    }

    /// Attaches the task's instance, interrupting it if the stop already
    /// came. Storing under the lock, then looking at the flag, means a stop
    /// racing with this is never missed.
    fn attach(&self, interrupter: Interrupter) {
        let mut slot = self
            .interrupter
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if self.stopped.load(Ordering::SeqCst) {
            interrupter.interrupt();
        }
        *slot = Some(interrupter);
    }

    fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Relaxed)
    }
}

/// A `Storage` record (spec §5, command 40), its rules checked.
struct StorageRecord {
    op: u32,
    flags: u32,
    offset: u64,
    size: u32,
    buf: u32,
}

impl StorageRecord {
    /// The record at `data`.
    fn read(mem: &GuestMemory<'_>, data: u32) -> Res<Self> {
        let raw = abi::bytes::<32>(mem, data)?;
        let field = |i: usize| u32::from_le_bytes([raw[i], raw[i + 1], raw[i + 2], raw[i + 3]]);
        let (op, flags, size, buf, reserved) =
            (field(0), field(4), field(16), field(20), field(28));
        let offset = u64::from_le_bytes(raw[8..16].try_into().expect("8 bytes"));
        if reserved != 0 {
            return Err(fault("reserved must be 0"));
        }
        if op > 4 {
            return Err(fault(format!("unknown storage operation {op}")));
        }
        if op != 0 && flags != 0
            || flags & !(storage::CREATE | storage::TRUNCATE | storage::EXCLUSIVE) != 0
        {
            return Err(fault("invalid storage flags"));
        }
        Ok(StorageRecord {
            op,
            flags,
            offset,
            size,
            buf,
        })
    }
}

/// Delivers the kept console line into the `Text` at `text` if it fits
/// (then it is no longer kept), else reports the size needed.
fn deliver_line(mem: &mut GuestMemory<'_>, text: u32, kept: &mut Option<Vec<u8>>) -> Res<()> {
    let line = kept.as_ref().expect("a line is kept");
    let (capacity, _) = abi::list_at(mem, text)?;
    let len = line.len() as u32;
    abi::receive(mem, text, line, len)?;
    if len <= capacity {
        *kept = None;
    }
    Ok(())
}

/// Control characters as `\xHH`.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() && (c as u32) < 0x100 {
            out += &format!("\\x{:02X}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}
