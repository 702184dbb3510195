//! Streaming a trace to any `Write` as the run produces it.

use super::chain::{preamble, Chain, FLAG_KEYED, FRAME_PREFIX_LEN, HASH_LEN};
use super::record::{EndReason, Header, Kind, Record, FORMAT_VERSION};
use std::io::{self, Write};

/// Frames close when their payload reaches this size: big enough that the
/// hash costs little per record, small enough that a killed run loses
/// little.
const FRAME_TARGET_LEN: usize = 64 << 10;

/// Room past the target for the record that crosses it.
const FRAME_SLACK: usize = 4 << 10;

/// Writes records as frames of a hash chain.
///
/// Each closed frame is written to the underlying writer in one call and
/// flushed at once, so a run that is killed keeps every closed frame; the
/// open frame is written when the writer is dropped, so a run that panics
/// keeps every record. Writes come in whole frames, so a `File` needs no
/// `BufWriter` around it.
pub struct TraceWriter<W: Write> {
    out: Option<W>,
    chain: Chain,
    // The open frame as it will be written: its prefix, then its payload
    // `buf[FRAME_PREFIX_LEN..][..used]`, then room that records are encoded
    // into in place and that the hash goes into when the frame closes.
    buf: Vec<u8>,
    used: usize,
    frame_records: u32,
    records: u64,
    sealed: bool,
    // How the header's format version writes what has changed since.
    legacy: super::codec::Legacy,
    // The time of the frame's last record (times are stored as differences).
    previous_time: u64,
}

impl<W: Write> TraceWriter<W> {
    /// Starts a trace: writes the preamble and the header frame.
    pub fn new(mut out: W, header: &Header, key: Option<&[u8]>) -> io::Result<TraceWriter<W>> {
        let flags = if key.is_some() { FLAG_KEYED } else { 0 };
        if !(super::record::OLDEST_FORMAT_VERSION..=FORMAT_VERSION).contains(&header.format_version)
        {
            return Err(io::Error::other(format!(
                "cannot write trace format version {}",
                header.format_version
            )));
        }
        let pre = preamble(header.format_version, flags);
        out.write_all(&pre)?;
        let mut head = Vec::new();
        crate::wire::encode_into(header, &mut head).map_err(io::Error::other)?;
        let room = (FRAME_TARGET_LEN + FRAME_SLACK).max(head.len() + HASH_LEN);
        let mut w = TraceWriter {
            out: Some(out),
            chain: Chain::new(&pre, key),
            buf: vec![0; FRAME_PREFIX_LEN + room],
            used: head.len(),
            frame_records: 0,
            legacy: super::codec::Legacy::of(header.format_version),
            previous_time: 0,
            records: 0,
            sealed: false,
        };
        w.buf[FRAME_PREFIX_LEN..][..head.len()].copy_from_slice(&head);
        w.close_frame()?;
        Ok(w)
    }

    /// Appends one record; returns its index (from 0).
    pub fn append(&mut self, record: &Record<'_>) -> io::Result<u64> {
        if self.sealed {
            return Err(io::Error::other("trace already sealed"));
        }
        if let Kind::Deliver {
            vc: super::record::DeliveryClock::Digest(_),
            ..
        } = &record.kind
        {
            if self.legacy.clock {
                return Err(io::Error::other(
                    "a trace of a format before 5 cannot hold a vector-clock digest",
                ));
            }
        }
        loop {
            let room = &mut self.buf[FRAME_PREFIX_LEN + self.used..];
            let time = if self.legacy.absolute_time {
                record.time.0
            } else {
                super::codec::zigzag(record.time.0, self.previous_time)
            };
            match super::codec::encode(record, time, room, self.legacy) {
                Ok(Some(len)) => {
                    self.used += len;
                    break;
                }
                // A record bigger than the room left: grow the buffer (frames
                // close by size only, so the trace's bytes do not depend on
                // the buffer's).
                Ok(None) => self.buf.resize(2 * self.buf.len().max(FRAME_SLACK), 0),
                Err(e) => return Err(io::Error::other(e)),
            }
        }
        self.previous_time = record.time.0;
        self.frame_records += 1;
        let index = self.records;
        self.records += 1;
        if self.used >= FRAME_TARGET_LEN {
            self.close_frame()?;
        }
        Ok(index)
    }

    /// Records written so far (the header not counted).
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Writes the open frame and flushes the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        if self.frame_records > 0 {
            self.close_frame()?;
        }
        Ok(())
    }

    fn close_frame(&mut self) -> io::Result<()> {
        let Some(out) = self.out.as_mut() else {
            return Err(io::Error::other("trace writer is closed"));
        };
        let len =
            u32::try_from(self.used).map_err(|_| io::Error::other("trace frame over 4 GiB"))?;
        let mut prefix = [0u8; FRAME_PREFIX_LEN];
        prefix[..4].copy_from_slice(&len.to_le_bytes());
        prefix[4..].copy_from_slice(&self.frame_records.to_le_bytes());
        let end = FRAME_PREFIX_LEN + self.used;
        let hash = self.chain.link(&prefix, &self.buf[FRAME_PREFIX_LEN..end]);
        if self.buf.len() < end + HASH_LEN {
            self.buf.resize(end + HASH_LEN, 0);
        }
        self.buf[..FRAME_PREFIX_LEN].copy_from_slice(&prefix);
        self.buf[end..end + HASH_LEN].copy_from_slice(&hash);
        out.write_all(&self.buf[..end + HASH_LEN])?;
        out.flush()?;
        self.used = 0;
        self.frame_records = 0;
        self.previous_time = 0;
        Ok(())
    }

    /// Seals the trace with its `End` record; returns the writer and the
    /// chain's final hash, which identifies the trace.
    pub fn finish(
        mut self,
        reason: EndReason,
        time: crate::time::Instant,
    ) -> io::Result<(W, [u8; 32])> {
        let end = Record {
            time,
            kind: Kind::End {
                reason,
                records: self.records,
            },
        };
        self.append(&end)?;
        self.sealed = true;
        self.close_frame()?;
        let out = self
            .out
            .take()
            .ok_or_else(|| io::Error::other("trace writer is closed"))?;
        Ok((out, self.chain.head()))
    }
}

impl<W: Write> Drop for TraceWriter<W> {
    fn drop(&mut self) {
        // An unsealed writer being dropped means the run stopped early (a
        // panic, an I/O error upstream): keep what was recorded. The reader
        // will report the trace as truncated after its last record.
        if self.out.is_some() && self.frame_records > 0 {
            let _ = self.close_frame();
        }
    }
}
