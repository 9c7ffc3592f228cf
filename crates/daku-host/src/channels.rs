//! A task's channels (spec §2): what each channel the program opened
//! carries, found by the id the program names it by or by the key events
//! name it by, and the queue of channels that are ready.

use crate::abi::{self, Res};
use crate::charge::{self, CHANNEL_BYTES, Charged};
use crate::family::Child;
use crate::media::WavWriter;
use crate::storage::StorageFile;
use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use wasi_core::GuestMemory;
use wasi_core::budget::{HostBudget, Reservation};

/// The state of a channel's command.
pub(crate) enum State {
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
    /// The console (20): a read outstanding, or a line kept for a larger
    /// buffer, with its charge.
    Console {
        reading: bool,
        kept: Option<Charged>,
        text: u32,
    },
    /// A storage file (40), if one is open.
    Storage(Option<Arc<StorageFile>>),
    /// An audio stream (33), once its first samples came.
    Audio { number: u32, wav: Option<WavWriter> },
    /// A framebuffer (35): its number and the next frame's.
    Frame { number: u32, next: u32 },
}

/// An open channel.
pub(crate) struct Channel {
    /// The key events for the channel carry: a new one when the channel's
    /// child is replaced, so that the old child's events are dropped.
    pub key: u64,
    /// The command the channel carries.
    pub which: u32,
    /// Whether the channel is in the ready queue.
    pub ready: bool,
    pub state: State,
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

/// The keys of the channels that became ready, in that order, not yet
/// reported.
pub(crate) struct ReadyQueue(VecDeque<u64>);

impl ReadyQueue {
    /// Queues `channel` unless it is queued already.
    pub fn mark(&mut self, channel: &mut Channel) {
        if !channel.ready {
            channel.ready = true;
            self.0.push_back(channel.key);
        }
    }
}

/// A task's open channels.
pub(crate) struct Channels {
    by_id: HashMap<u32, Channel, IdHash>,
    ids: HashMap<u64, u32, IdHash>,
    ready: ReadyQueue,
    next_key: u64,
    /// The most channels open at once so far, which the tables are sized
    /// for, charged [`CHANNEL_BYTES`] each (spec §1.7).
    most: u64,
    charge: Reservation,
}

impl Channels {
    /// No channel open; the tables charged to `budget`.
    pub fn new(budget: &HostBudget) -> Self {
        Channels {
            by_id: HashMap::with_hasher(IdHash::new()),
            ids: HashMap::with_hasher(IdHash::new()),
            ready: ReadyQueue(VecDeque::new()),
            next_key: 1,
            most: 0,
            charge: budget.reservation(),
        }
    }

    /// How many channels are open.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether channel `id` is open.
    pub fn contains(&self, id: u32) -> bool {
        self.by_id.contains_key(&id)
    }

    /// Opens channel `id` for command `which`, holding nothing yet; traps
    /// if the run's host memory cannot hold one channel more than the task
    /// ever had open.
    pub fn open(&mut self, id: u32, which: u32) -> Res<()> {
        let open = self.by_id.len() as u64 + 1;
        if open > self.most {
            charge::grow(
                &mut self.charge,
                open * CHANNEL_BYTES,
                format_args!("channel {id}"),
            )?;
            self.most = open;
        }
        let key = self.take_key();
        self.by_id.insert(
            id,
            Channel {
                key,
                which,
                ready: false,
                state: State::Plain,
            },
        );
        self.ids.insert(key, id);
        Ok(())
    }

    /// Closes channel `id`, returning what it held.
    pub fn close(&mut self, id: u32) -> Option<Channel> {
        let channel = self.by_id.remove(&id)?;
        self.ids.remove(&channel.key);
        Some(channel)
    }

    /// Channel `id`.
    pub fn get_mut(&mut self, id: u32) -> Option<&mut Channel> {
        self.by_id.get_mut(&id)
    }

    /// Channel `id` and the ready queue: for a command that completes with
    /// the one lookup of its channel.
    pub fn with_ready(&mut self, id: u32) -> Option<(&mut Channel, &mut ReadyQueue)> {
        Some((self.by_id.get_mut(&id)?, &mut self.ready))
    }

    /// The id of the channel with `key`, if it is still open.
    pub fn id_of(&self, key: u64) -> Option<u32> {
        self.ids.get(&key).copied()
    }

    /// The channel with `key`, and its id, if it is still open.
    pub fn by_key_mut(&mut self, key: u64) -> Option<(u32, &mut Channel)> {
        let id = self.id_of(key)?;
        Some((id, self.by_id.get_mut(&id)?))
    }

    /// Moves open channel `from` to the unused id `to`.
    pub fn rename(&mut self, from: u32, to: u32) {
        let moved = self.by_id.remove(&from).expect("an open channel");
        self.ids.insert(moved.key, to);
        self.by_id.insert(to, moved);
    }

    /// Gives open channel `id` a new key, which it returns with the channel.
    pub fn new_key(&mut self, id: u32) -> (u64, &mut Channel) {
        let key = self.take_key();
        let channel = self.by_id.get_mut(&id).expect("channel is open");
        self.ids.remove(&channel.key);
        channel.key = key;
        self.ids.insert(key, id);
        (key, channel)
    }

    fn take_key(&mut self) -> u64 {
        let key = self.next_key;
        self.next_key += 1;
        key
    }

    /// Queues channel `id` as ready, if it is open and not queued.
    pub fn mark_ready(&mut self, id: u32) {
        if let Some(channel) = self.by_id.get_mut(&id) {
            self.ready.mark(channel);
        }
    }

    /// The open channels.
    pub fn iter(&self) -> impl Iterator<Item = &Channel> {
        self.by_id.values()
    }

    /// The open channels, to change.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Channel> {
        self.by_id.values_mut()
    }

    /// Whether a channel has an operation that completes by itself.
    pub fn waiting(&self) -> bool {
        self.by_id.values().any(|c| match &c.state {
            State::Child(child) => child.running,
            State::Parent { in_flight, .. } => *in_flight,
            State::Console { reading, .. } => *reading,
            _ => false,
        })
    }

    /// Whether no channel is ready.
    pub fn none_ready(&self) -> bool {
        self.ready.0.is_empty()
    }

    /// Writes the ready channels to the done list at `done`, at most `cap`
    /// of them, and returns how many it wrote.
    pub fn report(&mut self, mem: &mut GuestMemory<'_>, done: u32, cap: u32) -> Res<u32> {
        // Channels closed since they became ready leave their keys behind.
        let ids = &self.ids;
        let ready = &mut self.ready.0;
        ready.retain(|key| ids.contains_key(key));
        let mut written = 0;
        while written < cap {
            let Some(key) = ready.pop_front() else {
                break;
            };
            let Some(&id) = ids.get(&key) else {
                continue;
            };
            let Some(channel) = self.by_id.get_mut(&id) else {
                continue;
            };
            channel.ready = false;
            abi::put_u32(mem, abi::at(done, written * 4)?, id)?;
            written += 1;
        }
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::Channel;
    use crate::charge::CHANNEL_BYTES;
    use std::mem::size_of;

    #[test]
    fn channel_bytes_cover_the_tables() {
        // A slot of each table, with its control byte, twice (a table's
        // capacity is at most about twice what it held), and a key in
        // the ready queue.
        let slots = size_of::<(u32, Channel)>() + size_of::<(u64, u32)>() + 2;
        let bytes = 2 * slots + size_of::<u64>();
        assert!(bytes as u64 <= CHANNEL_BYTES, "{bytes}");
    }
}
