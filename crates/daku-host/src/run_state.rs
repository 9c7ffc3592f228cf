//! What the tasks of one run share: its options (its budget of host
//! memory among them), log and profile, the numbers it hands out, its
//! count of running children, and the one reader of the console.

use crate::event::Event;
use crate::info::Profile;
use crate::options::DakuOptions;
use std::io::{self, BufRead, BufWriter, Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::time::{Duration, Instant};
use wasi_core::budget::{HostBudget, Reservation};

/// A request for a console line: the channel's key, where its task hears
/// of the line, and the read's charge to the run's host memory.
type LineRequest = (u64, mpsc::Sender<Event>, Reservation);

/// The longest console line read at once (spec §5, 20).
const MAX_LINE: u64 = 65_536;

/// What the tasks of one run share.
pub(crate) struct RunState {
    pub options: DakuOptions,
    /// The engine's name (`Runtime::engine_name`), for commands 2 and 10.
    pub engine: &'static str,
    log: Mutex<Box<dyn Write + Send>>,
    pub profile: Mutex<Profile>,
    next_task: AtomicU32,
    pub next_audio: AtomicU32,
    pub next_frame: AtomicU32,
    /// The console reader's queue of requests, once it is started.
    console: Mutex<Option<mpsc::Sender<LineRequest>>>,
    /// Child tasks running in the run.
    pub children: AtomicUsize,
    /// The run's time limit (spec §1.6).
    timeout: Option<Duration>,
    /// When the run's time is up: set as the main program's instantiation
    /// begins (`None` without a limit).
    deadline: OnceLock<Option<Instant>>,
}

impl RunState {
    /// What the tasks of a run of `module` on the engine named `engine`
    /// share, logging to `log`; the run ends `timeout` after its main
    /// program's instantiation begins, if given (spec §1.6).
    pub fn new(
        engine: &'static str,
        timeout: Option<Duration>,
        module: &Path,
        options: DakuOptions,
        log: Box<dyn Write + Send>,
    ) -> Arc<Self> {
        let profile_path = options
            .profile
            .clone()
            .or_else(|| Profile::default_path(module));
        Arc::new(RunState {
            profile: Mutex::new(Profile::load(profile_path)),
            options,
            engine,
            log: Mutex::new(log),
            next_task: AtomicU32::new(1),
            next_audio: AtomicU32::new(0),
            next_frame: AtomicU32::new(0),
            console: Mutex::new(None),
            children: AtomicUsize::new(0),
            timeout,
            deadline: OnceLock::new(),
        })
    }

    /// Starts the run's clock, if it has not started: the main program's
    /// instantiation begins (spec §1.6).
    pub fn start_clock(&self) {
        self.deadline
            .get_or_init(|| self.timeout.map(|timeout| Instant::now() + timeout));
    }

    /// When the run's time is up, if it has a limit and its clock started.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline.get().copied().flatten()
    }

    /// The run's budget of host memory (spec §1.7).
    pub fn budget(&self) -> &HostBudget {
        &self.options.budget
    }

    /// A number for a new child task.
    pub fn task_number(&self) -> u32 {
        self.next_task.fetch_add(1, Ordering::Relaxed)
    }

    /// Reads a line of the console for channel `key` of the task reached
    /// by `events`: one thread reads for the whole run, in request order.
    /// `charge` (at least [`CONSOLE_READ_BYTES`](crate::charge::CONSOLE_READ_BYTES))
    /// comes back with the line, shrunk to it.
    pub fn read_line(&self, key: u64, events: mpsc::Sender<Event>, charge: Reservation) {
        let mut console = self.console.lock().unwrap_or_else(|e| e.into_inner());
        let queue = console.get_or_insert_with(|| {
            let (queue, requests) = mpsc::channel::<LineRequest>();
            std::thread::spawn(move || {
                for (key, events, mut charge) in requests {
                    let line = read_console_line();
                    let held = line.as_ref().map_or(0, |line| line.capacity() as u64);
                    if held < charge.bytes() {
                        // Shrinking never fails.
                        let _ = charge.try_resize(held);
                    }
                    // A task that ended meanwhile drops the line.
                    let _ = events.send(Event::Line { key, line, charge });
                }
            });
            queue
        });
        // The reader lives as long as the queue's sender, which we hold.
        let _ = queue.send((key, events, charge));
    }

    /// Writes one log line.
    pub fn log_line(&self, line: &str) {
        self.log_with(|log| writeln!(log, "{line}"));
    }

    /// Writes one log line, `prefix` then `text` with its control
    /// characters as `\xHH` (spec §5, 19): escaped as it is written,
    /// through a buffer of fixed size, so that a text of any length costs
    /// no host memory (spec §1.7).
    pub fn log_escaped(&self, prefix: &str, text: &str) {
        self.log_with(|log| {
            let mut out = BufWriter::with_capacity(8192, log);
            out.write_all(prefix.as_bytes())?;
            let mut plain = 0;
            for (at, c) in text.char_indices() {
                if c.is_control() {
                    out.write_all(&text.as_bytes()[plain..at])?;
                    write!(out, "\\x{:02X}", c as u32)?;
                    plain = at + c.len_utf8();
                }
            }
            out.write_all(&text.as_bytes()[plain..])?;
            out.write_all(b"\n")?;
            out.flush()
        });
    }

    /// Writes to the log with `write`, under its lock.
    fn log_with(&self, write: impl FnOnce(&mut dyn Write) -> io::Result<()>) {
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        // Logging is best effort: a full disk must not trap the program.
        let _ = write(&mut **log);
        let _ = log.flush();
    }
}

/// One line of standard input, without its line ending, at most
/// [`MAX_LINE`] bytes, bytes that are not UTF-8 replaced, its buffer no
/// larger than it; `None` at the end of input.
fn read_console_line() -> Option<Vec<u8>> {
    let mut line = Vec::new();
    let read = io::stdin()
        .lock()
        .take(MAX_LINE)
        .read_until(b'\n', &mut line);
    match read {
        Ok(0) | Err(_) => None,
        Ok(_) => {
            if line.last() == Some(&b'\n') {
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
            }
            let mut line = match String::from_utf8(line) {
                Ok(text) => text.into_bytes(),
                Err(error) => String::from_utf8_lossy(error.as_bytes())
                    .into_owned()
                    .into_bytes(),
            };
            line.shrink_to_fit();
            Some(line)
        }
    }
}
