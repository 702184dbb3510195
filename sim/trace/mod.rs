//! The trace: a versioned header and a hash-chained stream of records.
//!
//! Written as the run produces it ([`TraceWriter`]), read back and verified
//! without the protocol's code ([`TraceReader`]).
//!
//! ```
//! use dsim::trace::{Header, Kind, Record, TraceReader, TraceWriter, EndReason, FORMAT_VERSION};
//! use dsim::{Instant, NodeId};
//!
//! let header = Header {
//!     format_version: FORMAT_VERSION, protocol: "demo".into(), seed: 1, nodes: 1,
//!     scenario: "doc".into(), config: String::new(), drawn: Default::default(),
//!     fifo_default: true, fifo_exceptions: vec![], vector_clocks: true, replay: String::new(),
//! };
//! let mut w = TraceWriter::new(Vec::new(), &header, None).unwrap();
//! w.append(&Record { time: Instant(0), kind: Kind::Start { node: NodeId(0), lamport: 1 } }).unwrap();
//! let (bytes, _hash) = w.finish(EndReason::Quiescent, Instant(0)).unwrap();
//!
//! let reader = TraceReader::new(&bytes[..], None).unwrap();
//! assert_eq!(reader.header().protocol, "demo");
//! let records: Vec<_> = reader.collect::<Result<_, _>>().unwrap();
//! assert_eq!(records.len(), 2); // the start and the seal
//! ```

mod chain;
mod codec;
mod reader;
mod record;
mod stats;
mod writer;

pub use chain::{hex, MAGIC};
pub use reader::{TraceError, TraceReader};
pub use record::{
    DeliveryClock, EndReason, Header, Kind, Record, CLOCK_DIGEST_VERSION, FATE_DRAW_VERSION,
    FORMAT_VERSION, OLDEST_FORMAT_VERSION,
};
pub use stats::Stats;
pub use writer::TraceWriter;

use std::io::{self, Write};

/// Where a running simulation puts its records.
pub trait Sink {
    /// Takes one record; returns its index.
    fn record(&mut self, record: &Record<'_>) -> io::Result<u64>;
    /// Makes every record so far durable (before a risky step).
    fn flush(&mut self) -> io::Result<()>;
}

/// A sink that keeps nothing: a run with the trace off.
#[derive(Clone, Default)]
pub struct NullSink {
    records: u64,
}

impl Sink for NullSink {
    fn record(&mut self, _record: &Record<'_>) -> io::Result<u64> {
        self.records += 1;
        Ok(self.records - 1)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A sink that folds every record into a 64-bit digest and passes it on:
/// a fingerprint of a run at a fraction of a trace's cost (a sweep keeps
/// one per seed instead of tracing every seed). Delivery clocks are
/// left out, so a run with the trace off, which keeps no vector clocks,
/// and the same run traced have the same digest. The hash is FxHash over
/// the records' fields: fast, not cryptographic (the trace's chain is for
/// tamper-evidence; this is for telling runs apart).
pub struct Digest<S> {
    inner: S,
    hasher: rustc_hash::FxHasher,
}

impl<S> Digest<S> {
    pub fn new(inner: S) -> Digest<S> {
        Digest {
            inner,
            hasher: rustc_hash::FxHasher::default(),
        }
    }

    /// The digest of the records so far.
    pub fn digest(&self) -> u64 {
        use std::hash::Hasher;
        self.hasher.finish()
    }

    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Sink> Sink for Digest<S> {
    fn record(&mut self, record: &Record<'_>) -> io::Result<u64> {
        use std::hash::Hash;
        match &record.kind {
            Kind::Deliver {
                node,
                lamport,
                msg,
                copy,
                from,
                vc: _,
            } => (record.time, "deliver", node, lamport, msg, copy, from).hash(&mut self.hasher),
            _ => record.hash(&mut self.hasher),
        }
        self.inner.record(record)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<S: Sink + ?Sized> Sink for &mut S {
    fn record(&mut self, record: &Record<'_>) -> io::Result<u64> {
        (**self).record(record)
    }
    fn flush(&mut self) -> io::Result<()> {
        (**self).flush()
    }
}

impl<W: Write> Sink for TraceWriter<W> {
    fn record(&mut self, record: &Record<'_>) -> io::Result<u64> {
        self.append(record)
    }
    fn flush(&mut self) -> io::Result<()> {
        TraceWriter::flush(self)
    }
}

/// The first failed check a trace records: its index, check and message.
pub fn first_failure<'r>(records: &'r [Record<'_>]) -> Option<(usize, &'r str, &'r str)> {
    records.iter().enumerate().find_map(|(i, r)| match &r.kind {
        Kind::CheckFailed { check, message } => Some((i, check.as_ref(), message.as_ref())),
        _ => None,
    })
}

/// Reads a whole trace into memory: header, records (the seal included)
/// and the chain's final hash.
pub fn read_all(
    bytes: &[u8],
    key: Option<&[u8]>,
) -> Result<(Header, Vec<Record<'static>>, [u8; 32]), TraceError> {
    let mut reader = TraceReader::new(bytes, key)?;
    let mut records = Vec::new();
    for r in reader.by_ref() {
        records.push(r?);
    }
    Ok((reader.header().clone(), records, reader.head()))
}
