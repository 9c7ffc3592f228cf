//! How the tasks of a run are related (spec §5, commands 17 and 18): a
//! parent's view of its child, a child's link to its parent, the signal
//! that stops a child, and what a new task is made of and started by.

use crate::charge::Charged;
use crate::event::Event;
use crate::run_state::RunState;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, PoisonError};
use wasi_core::runtime::Interrupter;

/// How a child task reaches its parent.
pub(crate) struct ParentLink {
    pub to_parent: Sender<Event>,
    /// The parent's channel for this child.
    pub key: u64,
}

/// A spawned child, seen from its parent.
pub(crate) struct Child {
    pub to_child: Sender<Event>,
    pub stop: Arc<StopSignal>,
    pub running: bool,
    /// The `Task` record in the parent's memory.
    pub record: u32,
    pub region: (u32, u32),
    /// A message was reported: its buffer, in which the region goes back
    /// at the next call.
    pub reply: Option<Charged>,
    /// Events that came while the channel was ready and unreported.
    pub deferred: VecDeque<Event>,
}

impl Child {
    /// Stops the child: through its flag and interrupter, and by an event
    /// should it be waiting in `ar`.
    pub fn stop(&self) {
        self.stop.stop();
        let _ = self.to_child.send(Event::Stop);
    }
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
    pub fn stop(&self) {
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
    pub fn attach(&self, interrupter: Interrupter) {
        let mut slot = self
            .interrupter
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if self.stopped.load(Ordering::SeqCst) {
            interrupter.interrupt();
        }
        *slot = Some(interrupter);
    }

    /// Whether the task was stopped.
    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Relaxed)
    }
}

/// What a task is made of before it runs: the run it belongs to, its
/// number, its parent, its queue of events and its stop signal.
pub(crate) struct TaskParts {
    pub run: Arc<RunState>,
    /// Starts the task's children (shared by the tasks of a run).
    pub spawner: Arc<dyn Spawner>,
    pub number: u32,
    pub parent: Option<ParentLink>,
    /// Where the task's events are sent (its children hold clones).
    pub sender: Sender<Event>,
    pub events: Receiver<Event>,
    pub stop: Arc<StopSignal>,
}

impl TaskParts {
    /// The makings of a run's main task: number 0, without a parent.
    pub fn main(run: Arc<RunState>, spawner: Arc<dyn Spawner>) -> Self {
        let (sender, events) = channel();
        TaskParts {
            run,
            spawner,
            number: 0,
            parent: None,
            sender,
            events,
            stop: Arc::default(),
        }
    }
}

/// Starts child tasks on the run's engine.
pub(crate) trait Spawner: Send + Sync {
    /// Runs `wasm` as the task made of `child` on a thread of its own,
    /// dropping `wasm` (and its charge, spec §1.7) once it is compiled;
    /// `ended` receives its status (spec §5, command 17) when it stops.
    fn spawn(&self, wasm: Charged, child: TaskParts, ended: Box<dyn FnOnce(u32) + Send>);
}
