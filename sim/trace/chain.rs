//! The hash chain over a trace's frames.
//!
//! A trace is a sequence of frames, each `[len: u32 LE][records: u32 LE]
//! [payload: len bytes][hash: 32 bytes]`, where
//! `hash = H(previous hash ‖ len ‖ records ‖ payload)` and H is BLAKE3, or
//! keyed BLAKE3 (a MAC) when the trace was written with a key. The first
//! "previous hash" binds the file's magic, version and flags. Editing,
//! reordering, splicing or cutting frames or the records inside them breaks
//! the chain; only someone with the key can forge a keyed chain.

/// The first eight bytes of every trace file.
pub const MAGIC: &[u8; 8] = b"DSIMTRC\0";
/// Flag bit: the chain is keyed (a MAC).
pub const FLAG_KEYED: u16 = 1;
/// Bytes before the first frame: magic, version, flags.
pub const PREAMBLE_LEN: usize = 12;
/// Bytes of a frame's length-and-count prefix.
pub const FRAME_PREFIX_LEN: usize = 8;
/// Bytes of a frame's hash.
pub const HASH_LEN: usize = 32;
/// The largest frame a reader accepts. Writers close a frame at 64 KiB and
/// the kernel bounds messages well below this.
pub const MAX_FRAME_LEN: u32 = 64 << 20;

/// Running state of a chain.
#[derive(Clone)]
pub struct Chain {
    key: Option<[u8; 32]>,
    last: [u8; 32],
}

impl Chain {
    /// A chain starting from the preamble; `key` makes it a MAC.
    pub fn new(preamble: &[u8], key: Option<&[u8]>) -> Chain {
        let key = key.map(|k| blake3::derive_key("dsim trace MAC key v1", k));
        let mut chain = Chain { key, last: [0; 32] };
        let mut h = chain.hasher();
        h.update(b"dsim trace chain v1");
        h.update(preamble);
        chain.last = *h.finalize().as_bytes();
        chain
    }

    fn hasher(&self) -> blake3::Hasher {
        match &self.key {
            Some(k) => blake3::Hasher::new_keyed(k),
            None => blake3::Hasher::new(),
        }
    }

    /// The hash of the next frame, which becomes the chain's head.
    pub fn link(&mut self, prefix: &[u8; FRAME_PREFIX_LEN], payload: &[u8]) -> [u8; 32] {
        let mut h = self.hasher();
        h.update(&self.last);
        h.update(prefix);
        h.update(payload);
        self.last = *h.finalize().as_bytes();
        self.last
    }

    /// The hash of the last frame linked: it identifies the whole trace.
    pub fn head(&self) -> [u8; 32] {
        self.last
    }
}

/// The preamble bytes for a version and flags.
pub fn preamble(version: u16, flags: u16) -> [u8; PREAMBLE_LEN] {
    let mut p = [0u8; PREAMBLE_LEN];
    p[..8].copy_from_slice(MAGIC);
    p[8..10].copy_from_slice(&version.to_le_bytes());
    p[10..12].copy_from_slice(&flags.to_le_bytes());
    p
}

/// A hash as lowercase hex.
pub fn hex(hash: &[u8; 32]) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}
