//! Where log lines go: a buffer that a background thread writes out, so a request never
//! waits on a `write(2)` (one per access-log line was ~5% of a request's CPU) nor on a
//! slow reader of stderr (journald under pressure, a full pipe).
//!
//! Lines are appended whole under a short lock; the writer thread takes the whole buffer
//! at most [`FLUSH_INTERVAL`] after the first line arrives (sooner past
//! [`HIGH_WATER`]) and writes it in one call. If the destination stops reading, at most
//! [`MAX_PENDING`] bytes wait; later lines are dropped and counted, and the count is
//! written as a line of its own once the destination reads again. [`flush`] writes out
//! everything pending; `main` calls it on the way out, so nothing is lost at shutdown.

use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

/// How long a line may wait before it is written.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(50);
/// Past this many pending bytes the writer is woken at once.
pub const HIGH_WATER: usize = 256 * 1024;
/// Past this many pending bytes, lines are dropped (and counted) instead of queued.
pub const MAX_PENDING: usize = 8 * 1024 * 1024;

struct Shared {
    pending: Mutex<Vec<u8>>,
    wake: Condvar,
    dropped: AtomicU64,
    /// The destination; held by whoever is writing out (the thread, or [`flush`]).
    out: Mutex<Box<dyn Write + Send>>,
}

impl Shared {
    fn pending(&self) -> MutexGuard<'_, Vec<u8>> {
        // A panic while appending leaves at worst a partial line: keep logging.
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes out whatever is pending, then the count of dropped lines if any.
    fn write_out(&self, spare: &mut Vec<u8>) {
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        std::mem::swap(&mut *self.pending(), spare);
        // A destination that fails (closed stderr) loses these lines; nothing to report to.
        let _ = out.write_all(spare);
        spare.clear();
        let dropped = self.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            let _ = writeln!(
                out,
                r#"{{"level":"WARN","target":"llmgate::server","msg":"{dropped} log lines dropped: the log destination did not keep up"}}"#
            );
        }
        let _ = out.flush();
    }
}

static SINK: OnceLock<Arc<Shared>> = OnceLock::new();

/// The `Write` end handed to the logger. `write` only appends; `flush` does nothing
/// (the logger flushes after every line; the writer thread decides when to write).
pub struct SinkWriter(Arc<Shared>);

impl Shared {
    /// Queues a whole line (or drops and counts it past `MAX_PENDING`).
    fn append(&self, line: &[u8]) {
        let mut pending = self.pending();
        if pending.len() + line.len() > MAX_PENDING {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let was_empty = pending.is_empty();
        let before = pending.len();
        pending.extend_from_slice(line);
        let crossed_high_water = before < HIGH_WATER && pending.len() >= HIGH_WATER;
        drop(pending);
        if was_empty || crossed_high_water {
            self.wake.notify_one();
        }
    }
}

/// Queues a whole line written without the logger (see `json_line`); nothing happens
/// before the sink is started.
pub fn append(line: &[u8]) {
    if let Some(shared) = SINK.get() {
        shared.append(line);
    }
}

impl Write for SinkWriter {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        self.0.append(line);
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Starts the writer thread for `out` (once per process) and returns the logger's end.
pub fn start(out: Box<dyn Write + Send>) -> SinkWriter {
    let mut started = false;
    let shared = SINK.get_or_init(|| {
        started = true;
        Arc::new(Shared {
            pending: Mutex::new(Vec::with_capacity(64 * 1024)),
            wake: Condvar::new(),
            dropped: AtomicU64::new(0),
            out: Mutex::new(out),
        })
    });
    if started {
        let shared = Arc::clone(shared);
        let spawned = std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || writer_loop(&shared));
        if let Err(e) = spawned {
            eprintln!("llmgate: cannot start the log writer thread: {e}");
        }
    }
    SinkWriter(Arc::clone(shared))
}

fn writer_loop(shared: &Shared) {
    let mut spare = Vec::with_capacity(64 * 1024);
    loop {
        {
            let mut pending = shared.pending();
            while pending.is_empty() {
                pending = shared.wake.wait(pending).unwrap_or_else(|p| p.into_inner());
            }
            // Gather lines for a while, unless a burst fills the buffer first.
            if pending.len() < HIGH_WATER {
                pending = shared
                    .wake
                    .wait_timeout_while(pending, FLUSH_INTERVAL, |p| p.len() < HIGH_WATER)
                    .map_or_else(|p| p.into_inner().0, |(p, _)| p);
            }
            drop(pending);
        }
        shared.write_out(&mut spare);
    }
}

/// Writes out every pending line now (at exit, after a panic report).
pub fn flush() {
    if let Some(shared) = SINK.get() {
        shared.write_out(&mut Vec::new());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A destination the test can read back.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn shared(out: Captured) -> Arc<Shared> {
        Arc::new(Shared {
            pending: Mutex::new(Vec::new()),
            wake: Condvar::new(),
            dropped: AtomicU64::new(0),
            out: Mutex::new(Box::new(out)),
        })
    }

    #[test]
    fn lines_wait_in_memory_until_written_out_whole_and_in_order() {
        let out = Captured::default();
        let sink = shared(out.clone());
        let mut writer = SinkWriter(Arc::clone(&sink));
        writer.write_all(b"one\n").expect("write");
        writer.write_all(b"two\n").expect("write");
        writer.flush().expect("flush");
        assert!(
            out.0.lock().expect("lock").is_empty(),
            "nothing written yet"
        );
        sink.write_out(&mut Vec::new());
        assert_eq!(out.0.lock().expect("lock").as_slice(), b"one\ntwo\n");
    }

    #[test]
    fn a_destination_that_stops_reading_costs_bounded_memory_and_a_count() {
        let out = Captured::default();
        let sink = shared(out.clone());
        let mut writer = SinkWriter(Arc::clone(&sink));
        let line = vec![b'x'; 1024];
        for _ in 0..(MAX_PENDING / 1024 + 10) {
            writer.write_all(&line).expect("write");
        }
        assert!(sink.pending().len() <= MAX_PENDING);
        sink.write_out(&mut Vec::new());
        let written = String::from_utf8(out.0.lock().expect("lock").clone()).expect("utf8");
        assert!(
            written.ends_with(
                "\"msg\":\"10 log lines dropped: the log destination did not keep up\"}\n"
            ),
            "{}",
            &written[written.len() - 120..]
        );
    }

    #[test]
    fn the_writer_thread_writes_lines_out_without_a_flush() {
        let out = Captured::default();
        let sink = shared(out.clone());
        let thread_sink = Arc::clone(&sink);
        std::thread::spawn(move || writer_loop(&thread_sink));
        SinkWriter(Arc::clone(&sink))
            .write_all(b"hello\n")
            .expect("write");
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while out.0.lock().expect("lock").is_empty() {
            assert!(std::time::Instant::now() < deadline, "never written");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(out.0.lock().expect("lock").as_slice(), b"hello\n");
    }
}
