//! Page-cache pages made ready ahead of a file's sequential writer, by a
//! thread of their own.
//!
//! A write into a page the file does not have yet makes the kernel find,
//! clear and account a free page; on a virtual machine whose host takes
//! back the memory its guest left free, that is a fault on the host too.
//! Measured on the project's machine with `dd` (2 GB, 1 MiB writes): 4.2–4.8 s
//! of system time into a new file, 0.2–0.45 s over pages the file already
//! had. A build at 100 M items writes a 7 GB index at its end, on one
//! thread, while the other core idles.
//!
//! So while the writer writes, a helper extends the file with a hole ahead
//! of it and asks the kernel to read the hole (`POSIX_FADV_WILLNEED`), which
//! puts zeroed pages in the cache; the writer then writes over them. The
//! work is the same; it runs on the other core. Where the advice does
//! nothing (tmpfs), the writer writes as before. The temporary files a
//! build appends to while it reads are written without a helper: both cores
//! are parsing then, and one there measured slower (PERFORMANCE.md).

use std::fs::File;
use std::io;
use std::num::NonZeroU64;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// Pages readied per advice.
const CHUNK: u64 = 4 << 20;
/// How far ahead of the writer pages are readied: what a slow writer leaves
/// in the cache unwritten, at most.
const LEAD: u64 = 256 << 20;
/// The file's size is kept this far past the writer, in steps of it: a hole
/// for the helper to ready.
const EXTEND: u64 = 2 * LEAD;

struct Shared {
    /// Where the writer is.
    at: AtomicU64,
    stop: AtomicBool,
    /// The file's size, as the writer last set it.
    size: AtomicU64,
}

/// A helper readying pages ahead of the writer of one file. The writer
/// reports its position ([`Ahead::wrote`]) and ends with [`Ahead::finish`],
/// which gives the file its length.
pub struct Ahead {
    shared: Arc<Shared>,
    helper: Option<JoinHandle<()>>,
    /// The file's size as the writer last set it.
    size: u64,
    /// Whether to keep extending it: not without a helper, nor once
    /// extending failed (the writer then goes on without readied pages).
    extend: bool,
}

impl Ahead {
    /// Starts readying pages of `file` from `at`, its writer's position.
    /// Without a second handle or thread there is no helper, and writing
    /// goes on as it would without one.
    pub fn start(file: &File, at: u64) -> Ahead {
        let shared = Arc::new(Shared {
            at: AtomicU64::new(at),
            stop: AtomicBool::new(false),
            size: AtomicU64::new(at),
        });
        let helper = file.try_clone().ok().and_then(|file| {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("write-ahead".into())
                .spawn(move || ready(&file, &shared))
                .ok()
        });
        Ahead {
            shared,
            extend: helper.is_some(),
            helper,
            size: at,
        }
    }

    /// The writer is at `at` in `file`. Keeps the file's size past it, so
    /// that the helper has a hole to ready: only the writer changes the
    /// size, so a size never falls below what the writer wrote.
    pub fn wrote(&mut self, file: &File, at: u64) {
        self.shared.at.store(at, Ordering::Relaxed);
        if self.extend && at + LEAD > self.size {
            let size = at + EXTEND;
            self.extend = file.set_len(size).is_ok();
            if self.extend {
                self.size = size;
                self.shared.size.store(size, Ordering::Release);
            }
        }
    }

    /// Stops the helper and gives `file` its length `len`, dropping the
    /// hole past what was written.
    pub fn finish(mut self, file: &File, len: u64) -> io::Result<()> {
        self.stop();
        if self.size > len {
            file.set_len(len)?;
        }
        Ok(())
    }

    fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(helper) = self.helper.take() {
            helper.thread().unpark();
            let _ = helper.join();
        }
    }
}

impl Drop for Ahead {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The helper: readies the next chunk past the writer, up to [`LEAD`]
/// ahead of it and within the file's size; sleeps a millisecond when there
/// is nothing to ready. Advice is best effort: a failed one is skipped.
fn ready(file: &File, shared: &Shared) {
    let mut next = 0u64;
    while !shared.stop.load(Ordering::Relaxed) {
        let at = shared.at.load(Ordering::Relaxed);
        // Not the pages the writer is filling, nor those it wrote itself
        // after passing the helper.
        next = next.max(at + CHUNK);
        let end = (next + CHUNK).min(shared.size.load(Ordering::Acquire));
        if next >= at + LEAD || end <= next {
            std::thread::park_timeout(Duration::from_millis(1));
            continue;
        }
        let _ = rustix::fs::fadvise(
            file,
            next,
            NonZeroU64::new(end - next),
            rustix::fs::Advice::WillNeed,
        );
        next = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// A file written through an `Ahead` holds exactly what was written,
    /// whatever size the helper's hole reached: its pages ready or not, the
    /// bytes are the writer's.
    #[test]
    fn a_file_written_ahead_holds_what_was_written() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = File::create_new(dir.path().join("f")).unwrap();
        let head = [7u8; 256];
        file.write_all(&head).unwrap();
        let mut ahead = Ahead::start(&file, head.len() as u64);
        let mut want = head.to_vec();
        for i in 0..300u32 {
            let part: Vec<u8> = (0..(i * 977) % 70_000).map(|k| (k ^ i) as u8).collect();
            file.write_all(&part).unwrap();
            want.extend_from_slice(&part);
            ahead.wrote(&file, want.len() as u64);
            if i == 150 {
                // A hole was kept past the writer.
                assert!(file.metadata().unwrap().len() > want.len() as u64);
            }
        }
        ahead.finish(&file, want.len() as u64).unwrap();
        let mut got = Vec::new();
        File::open(dir.path().join("f"))
            .unwrap()
            .read_to_end(&mut got)
            .unwrap();
        assert_eq!(got.len(), want.len());
        assert!(got == want);
    }
}
