//! Reading a trace back, verifying the chain frame by frame.
//!
//! Records of a frame are handed out only after the frame's hash checks, so
//! a reader never yields a record that was edited. Every malformed input
//! gives a typed [`TraceError`], never a panic.

use super::chain::{
    preamble, Chain, FLAG_KEYED, FRAME_PREFIX_LEN, HASH_LEN, MAGIC, MAX_FRAME_LEN, PREAMBLE_LEN,
};
use super::codec;
use super::record::{Header, Kind, Record, FORMAT_VERSION, OLDEST_FORMAT_VERSION};
use crate::time::Instant;
use std::io::{self, Read};
use thiserror::Error;

/// The most nodes a trace may claim (scenarios allow far fewer).
pub const MAX_NODES: u32 = 1 << 20;

/// Why a trace could not be read.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum TraceError {
    #[error("cannot read: {0}")]
    Io(String),
    #[error("not a dsim trace (the file does not start with the trace magic bytes)")]
    NotATrace,
    #[error("trace format version {found} is not supported (this dsim reads versions {oldest} to {supported})")]
    UnsupportedVersion {
        found: u16,
        oldest: u16,
        supported: u16,
    },
    #[error("the trace is signed with a key (MAC); pass the key to verify it")]
    KeyRequired,
    #[error("the trace is not signed with a key, but a key was given")]
    KeyNotExpected,
    #[error("truncated after record {after_record}: the file ends {detail}, without the seal that ends a complete trace")]
    Truncated {
        after_record: u64,
        detail: &'static str,
    },
    #[error("integrity check failed at frame {frame} (records {first_record}..): the hash chain does not hold, so the trace was edited, reordered, spliced or damaged{mac}")]
    ChainBroken {
        frame: u64,
        first_record: u64,
        mac: &'static str,
    },
    #[error("record {record}: {detail}")]
    Malformed { record: u64, detail: String },
    #[error("the header does not decode: {0}")]
    BadHeader(String),
    #[error("data after the seal (record {after_record}): the trace was spliced or appended to")]
    TrailingData { after_record: u64 },
}

impl TraceError {
    /// The record index the error points at, if any.
    pub fn record(&self) -> Option<u64> {
        match self {
            TraceError::Truncated { after_record, .. }
            | TraceError::TrailingData { after_record } => Some(*after_record),
            TraceError::ChainBroken { first_record, .. } => Some(*first_record),
            TraceError::Malformed { record, .. } => Some(*record),
            _ => None,
        }
    }
}

/// Reads a trace record by record.
pub struct TraceReader<R: Read> {
    input: R,
    chain: Chain,
    header: Header,
    frame: Vec<u8>,
    // Offset of the next undecoded record in `frame`, and records left in it.
    pos: usize,
    left_in_frame: u32,
    // The time of the frame's last record (formats 5 and later store differences).
    previous_time: u64,
    frames: u64,
    next_record: u64,
    sealed: bool,
    failed: bool,
    keyed: bool,
    // Clock entries of the last delivery read by `next_ref`.
    vc: Vec<(u32, u32)>,
}

impl<R: Read> TraceReader<R> {
    /// Opens a trace; `key` must be given exactly when the trace is keyed.
    pub fn new(mut input: R, key: Option<&[u8]>) -> Result<TraceReader<R>, TraceError> {
        let mut pre = [0u8; PREAMBLE_LEN];
        match read_full(&mut input, &mut pre) {
            Ok(PREAMBLE_LEN) => {}
            Ok(n) if n < MAGIC.len() || pre[..n.min(8)] != MAGIC[..n.min(8)] => {
                return Err(TraceError::NotATrace)
            }
            Ok(_) => {
                return Err(TraceError::Truncated {
                    after_record: 0,
                    detail: "inside the preamble",
                })
            }
            Err(e) => return Err(TraceError::Io(e.to_string())),
        }
        if &pre[..8] != MAGIC {
            return Err(TraceError::NotATrace);
        }
        let version = u16::from_le_bytes([pre[8], pre[9]]);
        let flags = u16::from_le_bytes([pre[10], pre[11]]);
        if !(OLDEST_FORMAT_VERSION..=FORMAT_VERSION).contains(&version) {
            return Err(TraceError::UnsupportedVersion {
                found: version,
                oldest: OLDEST_FORMAT_VERSION,
                supported: FORMAT_VERSION,
            });
        }
        let keyed = flags & FLAG_KEYED != 0;
        match (keyed, key.is_some()) {
            (true, false) => return Err(TraceError::KeyRequired),
            (false, true) => return Err(TraceError::KeyNotExpected),
            _ => {}
        }
        debug_assert_eq!(pre, preamble(version, flags));
        let mut reader = TraceReader {
            input,
            chain: Chain::new(&pre, key),
            header: Header {
                format_version: version,
                protocol: String::new(),
                seed: 0,
                nodes: 0,
                scenario: String::new(),
                config: String::new(),
                drawn: Default::default(),
                fifo_default: false,
                fifo_exceptions: Vec::new(),
                vector_clocks: false,
                replay: String::new(),
            },
            frame: Vec::new(),
            pos: 0,
            left_in_frame: 0,
            previous_time: 0,
            frames: 0,
            next_record: 0,
            sealed: false,
            failed: false,
            keyed,
            vc: Vec::new(),
        };
        match reader.next_frame()? {
            Some(0) => {}
            Some(_) => {
                return Err(TraceError::BadHeader(
                    "the header frame holds records".into(),
                ))
            }
            None => {
                return Err(TraceError::Truncated {
                    after_record: 0,
                    detail: "before the header",
                })
            }
        }
        reader.header = postcard::from_bytes(&reader.frame)
            .map_err(|e| TraceError::BadHeader(e.to_string()))?;
        // A forged header must not make readers allocate per-node tables
        // of absurd size.
        if reader.header.nodes > MAX_NODES {
            return Err(TraceError::BadHeader(format!(
                "the header claims {} nodes; dsim handles at most {MAX_NODES}",
                reader.header.nodes
            )));
        }
        if reader.header.format_version != version {
            return Err(TraceError::BadHeader(
                "the header's version differs from the preamble's".into(),
            ));
        }
        reader.left_in_frame = 0;
        Ok(reader)
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The hash of the last frame verified so far; after the last record it
    /// identifies the whole trace (the same value the writer returned).
    pub fn head(&self) -> [u8; 32] {
        self.chain.head()
    }

    /// True once the seal has been read.
    pub fn is_sealed(&self) -> bool {
        self.sealed
    }

    /// Records handed out so far.
    pub fn records_read(&self) -> u64 {
        self.next_record
    }

    /// Reads and verifies the next frame; `Ok(None)` at a clean end of file.
    fn next_frame(&mut self) -> Result<Option<u32>, TraceError> {
        let mut prefix = [0u8; FRAME_PREFIX_LEN];
        let truncated = |detail| TraceError::Truncated {
            after_record: self.next_record,
            detail,
        };
        match read_full(&mut self.input, &mut prefix).map_err(|e| TraceError::Io(e.to_string()))? {
            0 => return Ok(None),
            FRAME_PREFIX_LEN => {}
            _ => return Err(truncated("inside a frame header")),
        }
        let len = u32::from_le_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
        let count = u32::from_le_bytes([prefix[4], prefix[5], prefix[6], prefix[7]]);
        let broken = TraceError::ChainBroken {
            frame: self.frames,
            first_record: self.next_record,
            mac: if self.keyed {
                " (or the key is wrong)"
            } else {
                ""
            },
        };
        // A length no writer produces means the prefix itself was damaged.
        if len > MAX_FRAME_LEN || u64::from(count) > u64::from(len) {
            return Err(broken);
        }
        self.frame.resize(len as usize, 0);
        if read_full(&mut self.input, &mut self.frame).map_err(|e| TraceError::Io(e.to_string()))?
            != len as usize
        {
            return Err(truncated("inside a frame"));
        }
        let mut hash = [0u8; HASH_LEN];
        if read_full(&mut self.input, &mut hash).map_err(|e| TraceError::Io(e.to_string()))?
            != HASH_LEN
        {
            return Err(truncated("inside a frame's hash"));
        }
        if self.chain.link(&prefix, &self.frame) != hash {
            return Err(broken);
        }
        self.frames += 1;
        self.pos = 0;
        self.left_in_frame = count;
        self.previous_time = 0;
        Ok(Some(count))
    }

    /// The next record, borrowing from the reader: no allocation per
    /// record. `None` after the seal; on the first error, yields it once
    /// and then stops, like the iterator, which hands out owned records.
    pub fn next_ref(&mut self) -> Option<Result<Record<'_>, TraceError>> {
        if self.failed {
            return None;
        }
        self.next_record().transpose()
    }

    /// Leaves `failed` set unless it returns `Ok`.
    fn next_record(&mut self) -> Result<Option<Record<'_>>, TraceError> {
        self.failed = true;
        while self.left_in_frame == 0 {
            if self.pos != self.frame.len() && self.frames > 1 {
                return Err(TraceError::Malformed {
                    record: self.next_record,
                    detail: "bytes left over after the frame's last record".into(),
                });
            }
            // After the seal, any byte at all is data that does not
            // belong, whether or not it looks like a frame.
            let frame = match self.next_frame() {
                Err(_) if self.sealed => {
                    return Err(TraceError::TrailingData {
                        after_record: self.next_record,
                    })
                }
                other => other?,
            };
            match frame {
                None if self.sealed => {
                    self.failed = false;
                    return Ok(None);
                }
                None => {
                    return Err(TraceError::Truncated {
                        after_record: self.next_record,
                        detail: "at a frame boundary",
                    })
                }
                Some(_) if self.sealed => {
                    return Err(TraceError::TrailingData {
                        after_record: self.next_record,
                    })
                }
                Some(_) => {}
            }
        }
        if self.sealed {
            return Err(TraceError::TrailingData {
                after_record: self.next_record,
            });
        }
        let index = self.next_record;
        let bytes = &self.frame[self.pos..];
        let legacy = codec::Legacy::of(self.header.format_version);
        let (mut record, used) = match codec::decode(bytes, &mut self.vc, legacy) {
            Some(decoded) => decoded,
            // Postcard knows only today's shape of these.
            None if (legacy.timer && kind_is(bytes, 3)) || (legacy.clock && kind_is(bytes, 2)) => {
                return Err(TraceError::Malformed {
                    record: index,
                    detail: format!(
                        "a version {} {} record does not decode",
                        self.header.format_version,
                        if kind_is(bytes, 3) {
                            "timer"
                        } else {
                            "delivery"
                        }
                    ),
                })
            }
            None => {
                crate::history::take_refusal();
                let (record, rest) =
                    postcard::take_from_bytes::<Record<'_>>(bytes).map_err(|e| {
                        let why = crate::history::take_refusal().unwrap_or_else(|| e.to_string());
                        TraceError::Malformed {
                            record: index,
                            detail: format!("does not decode: {why}"),
                        }
                    })?;
                (record, bytes.len() - rest.len())
            }
        };
        if !legacy.absolute_time {
            record.time = Instant(codec::unzigzag(record.time.0, self.previous_time));
        }
        self.previous_time = record.time.0;
        self.pos += used;
        self.left_in_frame -= 1;
        self.next_record += 1;
        if let Kind::End { records, .. } = record.kind {
            if records != index {
                return Err(TraceError::Malformed {
                    record: index,
                    detail: format!("the seal counts {records} records but {index} precede it"),
                });
            }
            if self.left_in_frame != 0 || self.pos != self.frame.len() {
                return Err(TraceError::TrailingData {
                    after_record: index,
                });
            }
            self.sealed = true;
        }
        self.failed = false;
        Ok(Some(record))
    }
}

impl<R: Read> Iterator for TraceReader<R> {
    type Item = Result<Record<'static>, TraceError>;

    /// Yields each record, then `None` after the seal; on the first error,
    /// yields it once and then stops.
    fn next(&mut self) -> Option<Self::Item> {
        self.next_ref().map(|r| r.map(Record::into_owned))
    }
}

/// True when the record at the start of `bytes` is of kind `variant` (a
/// delivery 2, a timer 3): its time, then the variant index.
fn kind_is(bytes: &[u8], variant: u8) -> bool {
    let after_time = bytes.iter().position(|b| b & 0x80 == 0).map(|i| i + 1);
    after_time.and_then(|i| bytes.get(i)) == Some(&variant)
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}
