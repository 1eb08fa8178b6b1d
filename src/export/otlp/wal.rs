//! The write-ahead log behind a persistent send queue.
//!
//! Queued requests are appended to segment files (`segment-<first seq>.wal`) as records:
//!
//! ```text
//! magic u32 | payload length u32 | seq u64 | signal u8 | items u32 | crc32 u32 | payload
//! ```
//!
//! all little-endian, the CRC covering seq, signal, items and payload. A `checkpoint` file
//! holds the sequence number of the oldest record not yet delivered; it is replaced by
//! rename, so it is always whole. Segments whose records are all delivered are deleted.
//!
//! Recovery reads every segment in order and keeps the records at or after the checkpoint.
//! A crash mid-append leaves a short or corrupt record at the end of the last segment: the
//! scan stops there and truncates the file to the last whole record, so the next append
//! starts clean. Delivery is at-least-once: a request delivered just before a crash, whose
//! checkpoint had not yet been written, is sent again.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::model::Signal;

const MAGIC: u32 = 0x4C57_5131; // "LWQ1"
/// Bytes before the payload.
pub(super) const HEADER: usize = 4 + 4 + 8 + 1 + 4 + 4;
/// A new segment is started once the current one reaches this size.
const SEGMENT_BYTES: u64 = 32 << 20;

/// Where a record's payload is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Location {
    /// The segment's first sequence number (its name).
    pub(super) segment: u64,
    /// Offset of the record's header in the segment.
    pub(super) offset: u64,
}

/// A record found on disk at startup.
#[derive(Debug)]
pub(super) struct Recovered {
    pub(super) seq: u64,
    pub(super) signal: Signal,
    pub(super) items: u32,
    pub(super) len: u32,
    pub(super) at: Location,
}

/// What recovery found.
#[derive(Debug, Default)]
pub(super) struct Recovery {
    /// Undelivered records, oldest first.
    pub(super) records: Vec<Recovered>,
    /// Bytes cut off the end of a segment because a write was torn.
    pub(super) truncated_bytes: u64,
    /// The next sequence number to use.
    pub(super) next_seq: u64,
}

/// An open log.
pub(super) struct Wal {
    dir: PathBuf,
    fsync: bool,
    /// Segments by first sequence number, oldest first, with the last sequence they hold.
    segments: VecDeque<(u64, u64)>,
    writer: Option<(u64, File, u64)>,
    /// Readers kept open per segment, so reading a record costs one seek.
    reader: Option<(u64, File)>,
    scratch: Vec<u8>,
}

fn segment_path(dir: &Path, first: u64) -> PathBuf {
    dir.join(format!("segment-{first:020}.wal"))
}

fn signal_byte(signal: Signal) -> u8 {
    match signal {
        Signal::Traces => 0,
        Signal::Logs => 1,
        Signal::Metrics => 2,
    }
}

fn signal_of(byte: u8) -> Option<Signal> {
    match byte {
        0 => Some(Signal::Traces),
        1 => Some(Signal::Logs),
        2 => Some(Signal::Metrics),
        _ => None,
    }
}

fn crc(seq: u64, signal: u8, items: u32, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&seq.to_le_bytes());
    h.update(&[signal]);
    h.update(&items.to_le_bytes());
    h.update(payload);
    h.finalize()
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

impl Wal {
    /// Opens (creating) the log in `dir` and recovers what it holds.
    pub(super) fn open(dir: &Path, fsync: bool) -> io::Result<(Wal, Recovery)> {
        fs::create_dir_all(dir)?;
        let checkpoint = read_checkpoint(dir)?;
        let mut firsts: Vec<u64> = fs::read_dir(dir)?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name();
                let name = name.to_str()?;
                name.strip_prefix("segment-")?
                    .strip_suffix(".wal")?
                    .parse()
                    .ok()
            })
            .collect();
        firsts.sort_unstable();
        let mut recovery = Recovery {
            next_seq: checkpoint,
            ..Recovery::default()
        };
        let mut segments = VecDeque::new();
        for first in firsts {
            let path = segment_path(dir, first);
            let (records, whole) = scan(&path, first)?;
            let size = fs::metadata(&path)?.len();
            if whole < size {
                recovery.truncated_bytes += size - whole;
                OpenOptions::new().write(true).open(&path)?.set_len(whole)?;
            }
            let last = records.last().map_or(first, |r| r.seq);
            let live: Vec<_> = records
                .into_iter()
                .filter(|r| r.seq >= checkpoint)
                .collect();
            if live.is_empty() {
                fs::remove_file(&path)?;
                recovery.next_seq = recovery.next_seq.max(last + 1);
                continue;
            }
            recovery.next_seq = recovery.next_seq.max(last + 1);
            segments.push_back((first, last));
            recovery.records.extend(live);
        }
        let wal = Wal {
            dir: dir.to_owned(),
            fsync,
            segments,
            writer: None,
            reader: None,
            scratch: Vec::new(),
        };
        Ok((wal, recovery))
    }

    /// Appends one record, returning where it is and how many bytes it took.
    pub(super) fn append(
        &mut self,
        seq: u64,
        signal: Signal,
        items: u32,
        payload: &[u8],
    ) -> io::Result<(Location, u64)> {
        let needs_new = match &self.writer {
            Some((_, _, len)) => *len >= SEGMENT_BYTES,
            None => true,
        };
        if needs_new {
            let path = segment_path(&self.dir, seq);
            let file = OpenOptions::new().create(true).append(true).open(&path)?;
            let len = file.metadata()?.len();
            self.writer = Some((seq, file, len));
            self.segments.push_back((seq, seq));
        }
        let Some((first, file, len)) = self.writer.as_mut() else {
            return Err(io::Error::other("no open segment"));
        };
        let payload_len = u32::try_from(payload.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "record over 4 GiB"))?;
        let sb = signal_byte(signal);
        self.scratch.clear();
        self.scratch.extend_from_slice(&MAGIC.to_le_bytes());
        self.scratch.extend_from_slice(&payload_len.to_le_bytes());
        self.scratch.extend_from_slice(&seq.to_le_bytes());
        self.scratch.push(sb);
        self.scratch.extend_from_slice(&items.to_le_bytes());
        self.scratch
            .extend_from_slice(&crc(seq, sb, items, payload).to_le_bytes());
        self.scratch.extend_from_slice(payload);
        let at = Location {
            segment: *first,
            offset: *len,
        };
        if let Err(e) = file.write_all(&self.scratch) {
            // Leave no partial record behind for the next append to follow.
            let _ = file.set_len(*len);
            return Err(e);
        }
        if self.fsync
            && let Err(e) = file.sync_data()
        {
            // Not durable, so not acknowledged: take it back out, as for a failed write.
            let _ = file.set_len(*len);
            return Err(e);
        }
        let size = self.scratch.len() as u64;
        *len += size;
        if let Some(back) = self.segments.back_mut() {
            back.1 = seq;
        }
        Ok((at, size))
    }

    /// Reads back the payload of the record at `at`, of `len` bytes.
    pub(super) fn read(&mut self, at: Location, len: u32) -> io::Result<Vec<u8>> {
        if self.reader.as_ref().is_none_or(|(s, _)| *s != at.segment) {
            let file = File::open(segment_path(&self.dir, at.segment))?;
            self.reader = Some((at.segment, file));
        }
        let Some((_, file)) = self.reader.as_mut() else {
            return Err(io::Error::other("no reader"));
        };
        file.seek(SeekFrom::Start(at.offset + HEADER as u64))?;
        let mut payload = vec![0; len as usize];
        file.read_exact(&mut payload)?;
        Ok(payload)
    }

    /// Records that every record before `next` is delivered or dropped: writes the
    /// checkpoint and deletes the segments that hold nothing newer.
    pub(super) fn checkpoint(&mut self, next: u64) -> io::Result<()> {
        let tmp = self.dir.join("checkpoint.tmp");
        {
            let mut f = File::create(&tmp)?;
            f.write_all(&next.to_le_bytes())?;
            f.write_all(&crc32fast::hash(&next.to_le_bytes()).to_le_bytes())?;
            if self.fsync {
                f.sync_data()?;
            }
        }
        fs::rename(&tmp, self.dir.join("checkpoint"))?;
        while let Some(&(first, last)) = self.segments.front() {
            let is_writer = self.writer.as_ref().is_some_and(|(w, _, _)| *w == first);
            if last >= next || is_writer {
                break;
            }
            self.segments.pop_front();
            if self.reader.as_ref().is_some_and(|(s, _)| *s == first) {
                self.reader = None;
            }
            fs::remove_file(segment_path(&self.dir, first))?;
        }
        // An idle writer whose records are all delivered starts a fresh segment next time,
        // so its file can go.
        if let Some((first, _, _)) = &self.writer
            && self.segments.len() == 1
            && self.segments.front().is_some_and(|&(_, last)| last < next)
        {
            let first = *first;
            self.writer = None;
            self.reader = None;
            self.segments.clear();
            fs::remove_file(segment_path(&self.dir, first))?;
        }
        Ok(())
    }
}

fn read_checkpoint(dir: &Path) -> io::Result<u64> {
    match fs::read(dir.join("checkpoint")) {
        Ok(b) if b.len() == 12 && crc32fast::hash(&b[..8]) == u32_at(&b, 8) => Ok(u64_at(&b, 0)),
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{} is corrupt; delete it to resend everything queued",
                dir.join("checkpoint").display()
            ),
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(e),
    }
}

/// Reads every whole record of a segment; returns them and the length they span.
fn scan(path: &Path, first: u64) -> io::Result<(Vec<Recovered>, u64)> {
    let bytes = fs::read(path)?;
    let mut records = Vec::new();
    let mut at = 0usize;
    while bytes.len() - at >= HEADER {
        let h = &bytes[at..at + HEADER];
        let len = u32_at(h, 4);
        let seq = u64_at(h, 8);
        let sb = h[16];
        let items = u32_at(h, 17);
        let sum = u32_at(h, 21);
        let end = at + HEADER + len as usize;
        let ok = u32_at(h, 0) == MAGIC
            && end <= bytes.len()
            && signal_of(sb).is_some()
            && crc(seq, sb, items, &bytes[at + HEADER..end]) == sum;
        let Some(signal) = signal_of(sb).filter(|_| ok) else {
            break;
        };
        records.push(Recovered {
            seq,
            signal,
            items,
            len,
            at: Location {
                segment: first,
                offset: at as u64,
            },
        });
        at = end;
    }
    Ok((records, at as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("llmwatch-wal-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn records_survive_a_reopen_until_checkpointed() {
        let d = dir("reopen");
        {
            let (mut wal, rec) = Wal::open(&d, false).expect("opens");
            assert!(rec.records.is_empty());
            for seq in 0..5 {
                wal.append(seq, Signal::Logs, 3, format!("payload-{seq}").as_bytes())
                    .expect("appends");
            }
            wal.checkpoint(2).expect("checkpoints");
        }
        let (mut wal, rec) = Wal::open(&d, false).expect("reopens");
        assert_eq!(
            rec.records.iter().map(|r| r.seq).collect::<Vec<_>>(),
            vec![2, 3, 4]
        );
        assert_eq!(rec.next_seq, 5);
        let r = &rec.records[0];
        assert_eq!(wal.read(r.at, r.len).expect("reads"), b"payload-2");
        assert_eq!((r.signal, r.items), (Signal::Logs, 3));
        wal.checkpoint(5).expect("checkpoints");
        drop(wal);
        let (_, rec) = Wal::open(&d, false).expect("reopens");
        assert!(rec.records.is_empty());
        assert_eq!(rec.next_seq, 5, "sequence numbers are never reused");
        let segments = fs::read_dir(&d)
            .expect("lists")
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".wal"))
            })
            .count();
        assert_eq!(segments, 0, "delivered segments are deleted");
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn a_torn_last_record_is_cut_off_and_appending_continues_cleanly() {
        let d = dir("torn");
        let path;
        {
            let (mut wal, _) = Wal::open(&d, false).expect("opens");
            for seq in 0..3 {
                wal.append(seq, Signal::Traces, 1, &[seq as u8; 100])
                    .expect("appends");
            }
            path = segment_path(&d, 0);
        }
        // Every way a crash can cut the last record short, or garble it.
        let whole = fs::read(&path).expect("reads");
        let record = HEADER + 100;
        for cut in [1, HEADER - 1, HEADER, record - 1] {
            let _ = fs::remove_dir_all(&d);
            fs::create_dir_all(&d).expect("mkdir");
            fs::write(&path, &whole[..2 * record + cut]).expect("writes");
            let (mut wal, rec) = Wal::open(&d, false).expect("recovers");
            assert_eq!(rec.records.len(), 2, "cut at {cut}");
            assert_eq!(rec.truncated_bytes, cut as u64);
            assert_eq!(fs::metadata(&path).expect("stat").len(), 2 * record as u64);
            wal.append(rec.next_seq, Signal::Traces, 1, b"after")
                .expect("appends");
            drop(wal);
            let (_, rec) = Wal::open(&d, false).expect("reopens");
            assert_eq!(rec.records.len(), 3, "the new record follows the cut");
            assert_eq!(rec.truncated_bytes, 0);
        }
        let mut garbled = whole;
        garbled[2 * record + HEADER + 5] ^= 0xff;
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).expect("mkdir");
        fs::write(&path, &garbled).expect("writes");
        let (_, rec) = Wal::open(&d, false).expect("recovers");
        assert_eq!(rec.records.len(), 2, "a CRC mismatch ends the log");
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn a_corrupt_checkpoint_is_an_error_not_a_silent_resend() {
        let d = dir("checkpoint");
        fs::create_dir_all(&d).expect("mkdir");
        fs::write(d.join("checkpoint"), b"garbage").expect("writes");
        let err = Wal::open(&d, false).err().expect("refuses");
        assert!(err.to_string().contains("corrupt"), "{err}");
        let _ = fs::remove_dir_all(&d);
    }
}
