//! Where access records go: a background thread fed by a bounded channel,
//! so logging never blocks a request (records that do not fit are counted
//! and dropped).

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};

use super::record::{AccessRecord, w3c_header};

/// Records waiting for the writer before new ones are dropped.
const QUEUE_RECORDS: usize = 16 * 1024;

/// Line format of a log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LogFormat {
    /// CloudFront's standard log format: W3C, tab-separated.
    CloudFront,
    /// One JSON object per line, with the same field names.
    Json,
}

type Callback = Arc<dyn Fn(&AccessRecord) + Send + Sync>;

enum Target {
    Stdout(LogFormat),
    File(PathBuf, LogFormat),
    Tracing,
    Callback(Callback),
}

struct Inner {
    tx: Mutex<Option<SyncSender<AccessRecord>>>,
    dropped: AtomicU64,
    written: Arc<AtomicU64>,
    reopen: Arc<AtomicBool>,
    /// The writer thread has written everything and stopped.
    finished: Arc<AtomicBool>,
    description: String,
}

/// An access log: where each request's [`AccessRecord`] goes. Cheap to
/// clone; records are written by a background thread.
///
/// ```no_run
/// use tower_cdn::{AccessLog, LogFormat};
///
/// let file = AccessLog::file("/var/log/cdn/access.log", LogFormat::CloudFront)?;
/// let shipped = AccessLog::callback(|rec| println!("{} {}", rec.sc_status, rec.cs_uri_stem));
/// # let _ = (file, shipped);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct AccessLog {
    inner: Arc<Inner>,
}

impl fmt::Debug for AccessLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessLog").field("target", &self.inner.description).field("dropped", &self.dropped()).finish()
    }
}

impl AccessLog {
    /// Lines on standard output.
    pub fn stdout(format: LogFormat) -> Self {
        Self::spawn(Target::Stdout(format), "stdout".into())
    }

    /// Lines appended to a file; [`reopen`](Self::reopen) it after log
    /// rotation (the dev proxy does on SIGHUP).
    pub fn file(path: impl AsRef<Path>, format: LogFormat) -> std::io::Result<Self> {
        let path = path.as_ref().to_path_buf();
        // Fail now (not in the background) if the file cannot be opened.
        drop(open_log(&path, format)?);
        Ok(Self::spawn(Target::File(path.clone(), format), path.display().to_string()))
    }

    /// `tracing` events at target `tower_cdn::access`, level INFO.
    pub fn tracing() -> Self {
        Self::spawn(Target::Tracing, "tracing".into())
    }

    /// Each record handed to `f` (on the log thread, never on a request).
    pub fn callback(f: impl Fn(&AccessRecord) + Send + Sync + 'static) -> Self {
        Self::spawn(Target::Callback(Arc::new(f)), "callback".into())
    }

    fn spawn(target: Target, description: String) -> Self {
        let (tx, rx) = sync_channel(QUEUE_RECORDS);
        let written = Arc::new(AtomicU64::new(0));
        let reopen = Arc::new(AtomicBool::new(false));
        let finished = Arc::new(AtomicBool::new(false));
        let (w, r, f) = (Arc::clone(&written), Arc::clone(&reopen), Arc::clone(&finished));
        let spawned = std::thread::Builder::new().name("tower-cdn-log".into()).spawn(move || {
            write_loop(rx, target, &w, &r);
            f.store(true, Ordering::Release);
        });
        if spawned.is_err() {
            finished.store(true, Ordering::Release);
        }
        let tx = spawned.ok().map(|_| tx);
        AccessLog {
            inner: Arc::new(Inner {
                tx: Mutex::new(tx),
                dropped: AtomicU64::new(0),
                written,
                reopen,
                finished,
                description,
            }),
        }
    }

    /// Reopens a log file (after it was moved by logrotate).
    pub fn reopen(&self) {
        self.inner.reopen.store(true, Ordering::Release);
    }

    /// Stops taking records (later ones count as dropped) and waits, up to
    /// `timeout`, until the queued ones are written; `true` if they were.
    /// For a clean shutdown (the dev proxy calls it before exiting).
    pub fn close(&self, timeout: std::time::Duration) -> bool {
        drop(self.inner.tx.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take());
        let deadline = std::time::Instant::now() + timeout;
        while !self.inner.finished.load(Ordering::Acquire) {
            if std::time::Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        true
    }

    /// Records dropped because the writer could not keep up.
    pub fn dropped(&self) -> u64 {
        self.inner.dropped.load(Ordering::Relaxed)
    }

    /// Records written so far.
    pub fn written(&self) -> u64 {
        self.inner.written.load(Ordering::Relaxed)
    }

    /// Queues a record; never blocks.
    pub(crate) fn send(&self, record: AccessRecord) {
        let guard = self.inner.tx.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let sent = match guard.as_ref() {
            Some(tx) => match tx.try_send(record) {
                Ok(()) => true,
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
            },
            None => false,
        };
        if !sent {
            self.inner.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn open_log(path: &Path, format: LogFormat) -> std::io::Result<BufWriter<File>> {
    let file = OpenOptions::new().create(true).append(true).open(path)?;
    let fresh = file.metadata().map(|m| m.len() == 0).unwrap_or(false);
    let mut w = BufWriter::new(file);
    if fresh && format == LogFormat::CloudFront {
        w.write_all(w3c_header().as_bytes())?;
    }
    Ok(w)
}

fn line(record: &AccessRecord, format: LogFormat) -> String {
    match format {
        LogFormat::CloudFront => record.to_w3c(),
        LogFormat::Json => record.to_json(),
    }
}

fn write_loop(rx: Receiver<AccessRecord>, target: Target, written: &AtomicU64, reopen: &AtomicBool) {
    let mut file: Option<BufWriter<File>> = None;
    let mut stdout_header_done = false;
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
            if batch.len() >= 1024 {
                break;
            }
        }
        match &target {
            Target::Callback(f) => batch.iter().for_each(|r| f(r)),
            Target::Tracing => {
                for r in &batch {
                    tracing::info!(target: "tower_cdn::access", "{}", r.to_json());
                }
            }
            Target::Stdout(format) => {
                let mut out = std::io::stdout().lock();
                if *format == LogFormat::CloudFront && !stdout_header_done {
                    let _ = out.write_all(w3c_header().as_bytes());
                    stdout_header_done = true;
                }
                for r in &batch {
                    let _ = writeln!(out, "{}", line(r, *format));
                }
                let _ = out.flush();
            }
            Target::File(path, format) => {
                if reopen.swap(false, Ordering::AcqRel)
                    && let Some(mut f) = file.take()
                {
                    let _ = f.flush();
                }
                if file.is_none() {
                    file = open_log(path, *format).ok();
                }
                if let Some(f) = file.as_mut() {
                    for r in &batch {
                        let _ = writeln!(f, "{}", line(r, *format));
                    }
                    let _ = f.flush();
                }
            }
        }
        written.fetch_add(batch.len() as u64, Ordering::Relaxed);
    }
}
