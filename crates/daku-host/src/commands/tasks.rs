//! Commands 17 and 18: a parent spawning children and exchanging its
//! shared region with them, a child connecting to its parent; and what
//! their events do to the channels that carry them. The copies of modules
//! and messages are charged to the run's host memory (spec §1.7).

use crate::abi::{self, Res, fault};
use crate::channels::{Channel, Channels, State};
use crate::charge::{self, Charged};
use crate::event::Event;
use crate::family::{Child, ParentLink, Spawner, StopSignal, TaskParts};
use crate::run_state::RunState;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Sender;
use wasi_core::GuestMemory;

/// Who a task is, for spawning its children.
pub(crate) struct Spawning<'t> {
    pub run: &'t Arc<RunState>,
    pub spawner: &'t Arc<dyn Spawner>,
    /// Where the task's own events go, which its children send to.
    pub events: &'t Sender<Event>,
}

/// Command 17: starts (or replaces) the child of channel `id`, with the
/// `Task` record at `data`.
pub(crate) fn spawn(
    mem: &GuestMemory<'_>,
    channels: &mut Channels,
    id: u32,
    data: u32,
    parent: Spawning<'_>,
) -> Res<()> {
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
    let run = parent.run;
    // Charged until the child's module is compiled; given back if the
    // spawn goes no further.
    let charge = charge::reserve(run.budget(), u64::from(len), "the module")?;
    // Count the child before it exists: the count bounds the threads
    // and compiled modules a run holds.
    let running = run.children.fetch_add(1, Ordering::AcqRel);
    if running >= abi::MAX_CHILDREN {
        run.children.fetch_sub(1, Ordering::AcqRel);
        return Err(fault(format!(
            "too many child tasks running (at most {} in a run)",
            abi::MAX_CHILDREN
        )));
    }
    let wasm = Charged::new(wasm.to_vec(), charge);
    // A new child replaces the old one, under a new key so that the old
    // one's events are dropped.
    let (key, channel) = channels.new_key(id);
    if let State::Child(old) = &channel.state {
        old.stop();
    }
    let (to_child, child_events) = std::sync::mpsc::channel();
    let stop = Arc::new(StopSignal::default());
    channel.state = State::Child(Child {
        to_child: to_child.clone(),
        stop: Arc::clone(&stop),
        running: true,
        record: data,
        region: (size, region),
        reply: None,
        deferred: VecDeque::new(),
    });
    let child = TaskParts {
        run: Arc::clone(run),
        spawner: Arc::clone(parent.spawner),
        number: run.task_number(),
        parent: Some(ParentLink {
            to_parent: parent.events.clone(),
            key,
        }),
        sender: to_child,
        events: child_events,
        stop,
    };
    let to_parent = parent.events.clone();
    let ended_run = Arc::clone(run);
    parent.spawner.spawn(
        wasm,
        child,
        Box::new(move |status| {
            ended_run.children.fetch_sub(1, Ordering::AcqRel);
            let _ = to_parent.send(Event::Ended { key, status });
        }),
    );
    Ok(())
}

/// Command 18 on `channel`: connects to the parent (`opening`), or sends
/// it a message, with the `Message` at `data`. `connected` is the key of
/// the task's channel to its parent, if it has one; `parent` its link;
/// `run` charges the message until its reply has landed. Returns whether
/// the operation completed.
pub(crate) fn parent(
    mem: &GuestMemory<'_>,
    channel: &mut Channel,
    connected: &mut Option<u64>,
    parent: Option<&ParentLink>,
    run: &RunState,
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
        if connected.is_some() {
            return Err(fault("already connected to the parent"));
        }
        let Some((size, data)) = region else {
            return Err(fault("a Message is required"));
        };
        *connected = Some(channel.key);
        channel.state = State::Parent {
            size,
            data,
            in_flight: false,
        };
        return Ok(true);
    }
    let State::Parent {
        size,
        data,
        in_flight,
    } = &mut channel.state
    else {
        unreachable!("a channel for 18 holds the parent connection");
    };
    if *in_flight {
        return Err(fault("a message to the parent is already in flight"));
    }
    if let Some((new_size, new_data)) = region {
        (*size, *data) = (new_size, new_data);
    }
    let region = abi::slice(mem, *data, *size)?;
    let charge = charge::reserve(run.budget(), u64::from(*size), "the message")?;
    let bytes = Charged::new(region.to_vec(), charge);
    *in_flight = true;
    let parent = parent.expect("refused without a parent");
    // A parent that is gone never replies; its stop reaches us instead.
    let _ = parent.to_parent.send(Event::Message {
        key: parent.key,
        bytes,
    });
    Ok(false)
}

/// The parent's reply came to the channel to the parent: it lands in the
/// message's region.
pub(crate) fn reply_arrived(
    mem: &mut GuestMemory<'_>,
    channel: &mut Channel,
    bytes: &[u8],
) -> Res<()> {
    if let State::Parent {
        size,
        data,
        in_flight,
    } = &mut channel.state
    {
        *in_flight = false;
        let n = (*size).min(bytes.len() as u32);
        abi::put(mem, *data, &bytes[..n as usize])?;
    }
    Ok(())
}

/// A child's message or end, `event`, came to its channel (neither ready
/// nor awaiting a reply): the message lands in the shared region (its
/// buffer kept for the reply), the status in the `Task` record.
pub(crate) fn child_event(mem: &mut GuestMemory<'_>, child: &mut Child, event: Event) -> Res<()> {
    match event {
        Event::Message { bytes, .. } => {
            let (size, data) = child.region;
            let n = size.min(bytes.bytes.len() as u32);
            abi::put(mem, data, &bytes.bytes[..n as usize])?;
            child.reply = Some(bytes);
        }
        Event::Ended { status, .. } => {
            child.running = false;
            abi::put_u32(mem, child.record, status)?;
            abi::put_u32(mem, abi::at(child.record, 4)?, 0)?;
        }
        _ => {}
    }
    Ok(())
}

/// Step 1 of spec §2: the regions of reported messages go back to their
/// children, and each child's event deferred behind a report or a reply
/// goes to `events`, the task's own queue, to apply now.
///
/// A reply travels in its message's buffer, charged already (spec §1.7):
/// the child takes the first `min` of the two regions' sizes of it, which
/// the buffer, of the child's size, holds without growing.
pub(crate) fn send_replies(
    mem: &GuestMemory<'_>,
    channels: &mut Channels,
    events: &Sender<Event>,
) -> Res<()> {
    for channel in channels.iter_mut() {
        if let State::Child(child) = &mut channel.state
            && !channel.ready
            && let Some(mut bytes) = child.reply.take()
        {
            let (size, data) = child.region;
            let region = abi::slice(mem, data, size)
                .map_err(|_| fault("daku.ar: shared region out of bounds"))?;
            let n = region.len().min(bytes.bytes.len());
            bytes.bytes.clear();
            bytes.bytes.extend_from_slice(&region[..n]);
            // A child that ended meanwhile has dropped its receiver.
            let _ = child.to_child.send(Event::Reply { bytes });
        }
    }
    for channel in channels.iter_mut() {
        if let State::Child(child) = &mut channel.state
            && !channel.ready
            && child.reply.is_none()
            && let Some(event) = child.deferred.pop_front()
        {
            let _ = events.send(event);
        }
    }
    Ok(())
}
