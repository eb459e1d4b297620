//! Bytes a build appends as it reads and an index holds in one piece: the
//! JSON blob after the archive, and the items' serials and stamps inside it
//! (`Payload::item_bytes`). At national scale each is gigabytes, so a build
//! spills them to an unnamed temporary file as they come, holding only the
//! last megabyte, and reads back only what a check needs; tests keep them in
//! memory. The archive takes its part straight from the file ([`AsVec`]).
//! A file is written by a thread of its own, a megabyte at a time, so that
//! appending costs the appending thread a copy in memory and no more.

use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;

use rkyv::Place;
use rkyv::rancor::{Fallible, Source};
use rkyv::ser::Writer;
use rkyv::vec::{ArchivedVec, VecResolver};
use rkyv::with::{ArchiveWith, SerializeWith};

/// How much is held in memory before it goes to the file: large writes, and
/// the most recent bytes (the likeliest to be read back) without a read.
const TAIL: usize = 1 << 20;

/// Appended bytes, in memory or spilled to a file.
///
/// Every append lies whole either in the file or in the tail held after it,
/// so a read of one append never spans the two.
pub struct Spill {
    /// `None`: all bytes are in `held`.
    file: Option<SpillFile>,
    /// The bytes after the first `flushed`, which are given to the file.
    held: Vec<u8>,
    flushed: u64,
}

/// Full tails on their way to the file: at most this many wait.
const QUEUED: usize = 2;

/// A spill's file, read here and written by a thread of its own, which
/// takes the full tails, so that the thread that appends (a build's
/// collecting thread, the one the others wait for) does not spend its time
/// in the kernel's copy into the page cache (at 100 M items about 6 s of
/// 2 GB of serials and stamps).
struct SpillFile {
    /// For reads; the writer has its own handle.
    file: File,
    /// `None` once the thread is told to stop.
    full: Option<SyncSender<Vec<u8>>>,
    /// Tails written, to be filled again: no allocation after the first few.
    empty: Receiver<Vec<u8>>,
    written: Arc<Written>,
    thread: Option<JoinHandle<()>>,
}

/// How far the file is written, or why it could not be.
#[derive(Default)]
struct Written {
    state: Mutex<(u64, Option<io::Error>)>,
    moved: Condvar,
}

impl Written {
    /// Waits until the first `end` bytes are in the file. The writer never
    /// stalls on its own: each tail it takes is written or fails.
    fn wait(&self, end: u64) -> io::Result<()> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(e) = &state.1 {
                return Err(failed(e));
            }
            if state.0 >= end {
                return Ok(());
            }
            state = self
                .moved
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// The error of a failed write, for every read and append after it.
fn failed(e: &io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("writing the spill file: {e}"))
}

impl SpillFile {
    fn start(file: File) -> io::Result<SpillFile> {
        let mut to_file = file.try_clone()?;
        let (full, to_write) = sync_channel::<Vec<u8>>(QUEUED);
        let (done, empty) = sync_channel(QUEUED + 2);
        let written = Arc::new(Written::default());
        let progress = written.clone();
        let thread = std::thread::Builder::new()
            .name("spill-write".into())
            .spawn(move || {
                for mut tail in to_write {
                    let result = to_file.write_all(&tail);
                    let mut state = progress
                        .state
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner);
                    match result {
                        Ok(()) => state.0 += tail.len() as u64,
                        Err(e) => state.1 = Some(e),
                    }
                    let failed = state.1.is_some();
                    drop(state);
                    progress.moved.notify_all();
                    if failed {
                        return;
                    }
                    tail.clear();
                    let _ = done.try_send(tail);
                }
            })?;
        Ok(SpillFile {
            file,
            full: Some(full),
            empty,
            written,
            thread: Some(thread),
        })
    }

    /// Hands `tail` to the thread; returns an empty buffer for the next.
    fn give(&mut self, tail: Vec<u8>) -> io::Result<Vec<u8>> {
        let sent = self.full.as_ref().map(|f| f.send(tail));
        if !matches!(sent, Some(Ok(()))) {
            // The thread stopped, which it does only when a write fails.
            let state = self
                .written
                .state
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            return Err(state.1.as_ref().map_or_else(
                || io::Error::other("the spill file's writer stopped"),
                failed,
            ));
        }
        match self.empty.try_recv() {
            Ok(tail) => Ok(tail),
            Err(TryRecvError::Empty | TryRecvError::Disconnected) => Ok(Vec::with_capacity(TAIL)),
        }
    }
}

impl Drop for SpillFile {
    fn drop(&mut self) {
        self.full = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The bytes last read from a spilled file, to serve the reads that follow
/// from memory: one per read (`random`), or a large run ahead of it for
/// reads in ascending order (`in_order`).
#[derive(Default)]
pub struct Window {
    start: u64,
    buf: Vec<u8>,
    ahead: usize,
}

impl Window {
    /// For reads anywhere: reads what is asked and no more.
    pub fn random() -> Window {
        Window::default()
    }

    /// For reads in ascending order: reads a megabyte at a time.
    pub fn in_order() -> Window {
        Window {
            ahead: TAIL,
            ..Window::default()
        }
    }
}

impl Default for Spill {
    fn default() -> Spill {
        Spill::in_memory()
    }
}

impl fmt::Debug for Spill {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Spill")
            .field("len", &self.len())
            .field("spilled", &self.file.is_some())
            .finish()
    }
}

impl Spill {
    /// Bytes held in memory.
    pub fn in_memory() -> Spill {
        Spill {
            file: None,
            held: Vec::new(),
            flushed: 0,
        }
    }

    /// Bytes spilled to an unnamed temporary file in `dir`, removed when it
    /// is dropped.
    pub fn in_dir(dir: &Path) -> io::Result<Spill> {
        Ok(Spill {
            file: Some(SpillFile::start(tempfile::tempfile_in(dir)?)?),
            held: Vec::with_capacity(TAIL),
            flushed: 0,
        })
    }

    pub fn len(&self) -> u64 {
        self.flushed + self.held.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends `bytes`; returns where they start.
    pub fn append(&mut self, bytes: &[u8]) -> io::Result<u64> {
        let at = self.len();
        if let Some(file) = &mut self.file
            && self.held.len() + bytes.len() > TAIL
            && !self.held.is_empty()
        {
            let given = self.held.len() as u64;
            self.held = file.give(std::mem::take(&mut self.held))?;
            self.flushed += given;
        }
        self.held.extend_from_slice(bytes);
        Ok(at)
    }

    /// The `len` bytes at `at`, which one append wrote, read through
    /// `window` when they are in the file.
    pub fn read<'a>(&'a self, at: u64, len: usize, window: &'a mut Window) -> io::Result<&'a [u8]> {
        let past = || {
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{len} bytes at {at}: past the {} spilled", self.len()),
            )
        };
        if at >= self.flushed {
            let from = (at - self.flushed) as usize;
            return self.held.get(from..from + len).ok_or_else(past);
        }
        let file = self.file.as_ref().ok_or_else(past)?;
        let end = at.checked_add(len as u64).filter(|&e| e <= self.flushed);
        let end = end.ok_or_else(past)?;
        if at < window.start || end > window.start + window.buf.len() as u64 {
            let n = (self.flushed - at).min(len.max(window.ahead) as u64) as usize;
            window.buf.resize(n, 0);
            file.written.wait(at + n as u64)?;
            file.file.read_exact_at(&mut window.buf, at)?;
            window.start = at;
        }
        let from = (at - window.start) as usize;
        Ok(&window.buf[from..from + len])
    }

    /// All the bytes from the start, in large reads: the last read of a
    /// build's spill, as it goes into the index. What it has read of the file
    /// is dropped from the page cache (the bytes stay in the file), so that
    /// the index written next takes pages just freed: on a virtual machine a
    /// page long free costs the host a fault as well (`index::ahead`).
    pub fn reader(&self) -> impl Read + '_ {
        let file = FileAt {
            file: self.file.as_ref(),
            at: 0,
            end: self.flushed,
        };
        BufReader::with_capacity(TAIL, file).chain(&self.held[..])
    }

    /// All the bytes in memory: free for bytes held there, a spilled file is
    /// read back whole.
    pub fn into_bytes(self) -> io::Result<Vec<u8>> {
        if self.file.is_none() {
            return Ok(self.held);
        }
        let mut bytes = Vec::new();
        self.reader().read_to_end(&mut bytes)?;
        Ok(bytes)
    }
}

/// A file read from `at` to `end` by positioned reads, which leave the
/// file's own offset, where appends go, alone.
struct FileAt<'a> {
    file: Option<&'a SpillFile>,
    at: u64,
    end: u64,
}

impl Read for FileAt<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = (self.end - self.at).min(buf.len() as u64) as usize;
        let Some(file) = self.file.filter(|_| n > 0) else {
            return Ok(0);
        };
        file.written.wait(self.at + n as u64)?;
        let n = file.file.read_at(&mut buf[..n], self.at)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the spill file ends at {} of {} bytes", self.at, self.end),
            ));
        }
        // Advice only: pages still dirty stay, and a later read reads the
        // file again.
        let _ = rustix::fs::fadvise(
            &file.file,
            self.at,
            std::num::NonZeroU64::new(n as u64),
            rustix::fs::Advice::DontNeed,
        );
        self.at += n as u64;
        Ok(n)
    }
}

/// Archives a [`Spill`] as the `Vec<u8>` of its bytes, copied from the file
/// a megabyte at a time: a build never holds them whole.
pub struct AsVec;

impl ArchiveWith<Spill> for AsVec {
    type Archived = ArchivedVec<u8>;
    type Resolver = VecResolver;

    fn resolve_with(field: &Spill, resolver: VecResolver, out: Place<ArchivedVec<u8>>) {
        ArchivedVec::<u8>::resolve_from_len(field.len() as usize, resolver, out);
    }
}

impl<S: Fallible + Writer + ?Sized> SerializeWith<Spill, S> for AsVec
where
    S::Error: Source,
{
    fn serialize_with(field: &Spill, serializer: &mut S) -> Result<VecResolver, S::Error> {
        let pos = serializer.pos();
        let mut reader = field.reader();
        let mut buf = vec![0u8; TAIL];
        loop {
            let n = reader.read(&mut buf).map_err(S::Error::new)?;
            if n == 0 {
                break;
            }
            serializer.write(&buf[..n])?;
        }
        Ok(VecResolver::from_pos(pos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Appends of every size around the tail's, so that some are flushed,
    /// some held, and one is larger than the tail.
    fn appends() -> Vec<Vec<u8>> {
        (0..400u32)
            .map(|i| {
                let len = match i {
                    7 => TAIL + 3,
                    _ => (i as usize * 7919) % 9000,
                };
                (0..len).map(|k| (k as u32 ^ i) as u8).collect()
            })
            .collect()
    }

    #[test]
    fn spilled_bytes_read_back_as_held_ones() {
        let dir = tempfile::tempdir().unwrap();
        let mut spilled = Spill::in_dir(dir.path()).unwrap();
        let mut held = Spill::in_memory();
        let mut at = Vec::new();
        for a in appends() {
            let s = spilled.append(&a).unwrap();
            assert_eq!(held.append(&a).unwrap(), s);
            at.push((s, a));
        }
        assert!(spilled.flushed > 0 && !spilled.held.is_empty());
        // Read back out of order, and in order through a large window.
        let (mut random, mut in_order) = (Window::random(), Window::in_order());
        for (s, a) in at.iter().rev() {
            assert_eq!(spilled.read(*s, a.len(), &mut random).unwrap(), &a[..]);
        }
        for (s, a) in &at {
            assert_eq!(spilled.read(*s, a.len(), &mut in_order).unwrap(), &a[..]);
            assert_eq!(held.read(*s, a.len(), &mut random).unwrap(), &a[..]);
        }
        let err = spilled.read(spilled.len() - 1, 2, &mut random).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        let all: Vec<u8> = at.iter().flat_map(|(_, a)| a.clone()).collect();
        assert_eq!(spilled.into_bytes().unwrap(), all);
        assert_eq!(held.into_bytes().unwrap(), all);
    }

    #[test]
    fn a_failed_write_fails_the_appends_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("read-only");
        File::create(&path).unwrap();
        // A file opened for reading only: every write to it fails.
        let file = File::open(&path).unwrap();
        let mut spill = Spill {
            file: Some(SpillFile::start(file).unwrap()),
            held: Vec::new(),
            flushed: 0,
        };
        let tail = vec![7u8; TAIL];
        let err = (0..QUEUED + 8)
            .find_map(|_| spill.append(&tail).err())
            .expect("an append fails once the writer has failed");
        assert!(
            err.to_string().starts_with("writing the spill file: "),
            "{err}"
        );
        let err = spill.read(0, 1, &mut Window::random()).unwrap_err();
        assert!(
            err.to_string().starts_with("writing the spill file: "),
            "{err}"
        );
    }

    #[test]
    fn a_spill_archives_as_the_vec_of_its_bytes() {
        #[derive(rkyv::Archive, rkyv::Serialize)]
        struct Both {
            #[rkyv(with = AsVec)]
            spilled: Spill,
            plain: Vec<u8>,
        }
        let dir = tempfile::tempdir().unwrap();
        let mut spilled = Spill::in_dir(dir.path()).unwrap();
        let mut plain = Vec::new();
        for a in appends() {
            spilled.append(&a).unwrap();
            plain.extend_from_slice(&a);
        }
        let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(&Both { spilled, plain }).unwrap();
        let both = rkyv::access::<ArchivedBoth, rkyv::rancor::Error>(&bytes).unwrap();
        assert_eq!(both.spilled.as_slice(), both.plain.as_slice());
    }
}
