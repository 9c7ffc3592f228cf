//! The trace of a server's guests: one log for all of them, each line
//! marked with the guest that made the call.

use crate::{RunError, Trace};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use wasi_core::sync::lock;

/// Where a server's guests trace to: stderr or one file, opened once,
/// shared by every guest. Each guest gets a writer ([`guest`](Self::guest))
/// that prefixes its lines with `[N] `, N counting guests from 1, and
/// writes each line whole, so that the lines of guests running at once
/// never mix.
pub(crate) struct SharedTrace {
    sink: Arc<Mutex<Box<dyn Write + Send>>>,
    guests: AtomicU64,
}

impl SharedTrace {
    /// The shared log `trace` names, if any; a file is created (or
    /// truncated) once, here.
    pub(crate) fn open(trace: &Trace) -> Result<Option<Self>, RunError> {
        let sink: Box<dyn Write + Send> = match trace {
            Trace::Off => return Ok(None),
            Trace::Stderr => Box::new(io::stderr()),
            Trace::File(path) => {
                Box::new(BufWriter::new(File::create(path).map_err(|source| {
                    RunError::TraceFile {
                        path: path.clone(),
                        source,
                    }
                })?))
            }
        };
        Ok(Some(Self {
            sink: Arc::new(Mutex::new(sink)),
            guests: AtomicU64::new(0),
        }))
    }

    /// The writer of the next guest.
    pub(crate) fn guest(&self) -> Box<dyn Write + Send> {
        let n = self.guests.fetch_add(1, Ordering::Relaxed) + 1;
        let line = format!("[{n}] ").into_bytes();
        Box::new(Prefixed {
            sink: Arc::clone(&self.sink),
            prefix: line.len(),
            line,
        })
    }
}

/// One guest's writer: collects a line after the prefix, and writes it to
/// the sink when it ends.
struct Prefixed {
    sink: Arc<Mutex<Box<dyn Write + Send>>>,
    /// The prefix, then the line so far.
    line: Vec<u8>,
    /// The length of the prefix.
    prefix: usize,
}

impl Prefixed {
    /// Writes the line collected so far, if any, and starts the next.
    fn emit(&mut self) -> io::Result<()> {
        if self.line.len() == self.prefix {
            return Ok(());
        }
        let result = lock(&self.sink).write_all(&self.line);
        self.line.truncate(self.prefix);
        result
    }
}

impl Write for Prefixed {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut rest = buf;
        while let Some(end) = rest.iter().position(|&b| b == b'\n') {
            self.line.extend_from_slice(&rest[..=end]);
            self.emit()?;
            rest = &rest[end + 1..];
        }
        self.line.extend_from_slice(rest);
        Ok(buf.len())
    }

    /// Flushes the sink; a partial line waits for its end.
    fn flush(&mut self) -> io::Result<()> {
        lock(&self.sink).flush()
    }
}

impl Drop for Prefixed {
    /// The guest is gone: a partial line is ended and written.
    fn drop(&mut self) {
        if self.line.len() > self.prefix {
            self.line.push(b'\n');
            let _ = self.emit();
        }
        let _ = self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink the test reads back.
    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl Write for Buf {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            lock(&self.0).extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_are_whole_and_marked_with_their_guest() {
        let buf = Buf::default();
        let trace = SharedTrace {
            sink: Arc::new(Mutex::new(Box::new(buf.clone()))),
            guests: AtomicU64::new(0),
        };
        let (mut one, mut two) = (trace.guest(), trace.guest());
        one.write_all(b"fd_write(1, ").unwrap();
        two.write_all(b"clock_time_get(0) = 5\nproc_").unwrap();
        one.write_all(b"3) = 3\n").unwrap();
        drop(two);
        drop(one);
        assert_eq!(
            String::from_utf8(lock(&buf.0).clone()).unwrap(),
            "[2] clock_time_get(0) = 5\n[1] fd_write(1, 3) = 3\n[2] proc_\n"
        );
    }
}
