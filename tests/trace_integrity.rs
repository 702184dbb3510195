//! The trace reader rejects every kind of damage with a clear, typed error,
//! and keeps what is readable.

use crate::common;

use common::Chatter;
use dsim::trace::{read_all, Kind, Record, TraceError, TraceReader, TraceWriter};
use dsim::{Duration, Instant, Latency, LinkConfig, NodeId, Ppm, SimConfig, Simulation};

fn sample_trace(rounds: u32, key: Option<&[u8]>) -> Vec<u8> {
    let mut config = SimConfig::new(77, 4);
    config.network.default = LinkConfig {
        latency: Latency::Uniform {
            min: Duration::from_millis(1),
            max: Duration::from_millis(9),
        },
        loss: Ppm(50_000),
        ..LinkConfig::default()
    };
    let sim = Simulation::new(config, move |_| {
        Chatter::new(Duration::from_millis(10), rounds)
    });
    sim.run_traced(Vec::new(), key).unwrap().1
}

/// (offset, len, records) of every frame after the preamble.
fn frames(bytes: &[u8]) -> Vec<(usize, usize, u32)> {
    let mut out = Vec::new();
    let mut at = 12;
    while at < bytes.len() {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        let count = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap());
        out.push((at, len, count));
        at += 8 + len + 32;
    }
    out
}

fn first_error(bytes: &[u8], key: Option<&[u8]>) -> TraceError {
    match TraceReader::new(bytes, key) {
        Err(e) => e,
        Ok(reader) => {
            let mut last = None;
            for r in reader {
                if let Err(e) = r {
                    last = Some(e);
                }
            }
            last.expect("the damaged trace was accepted")
        }
    }
}

#[test]
fn an_intact_trace_reads_back_completely() {
    let bytes = sample_trace(5, None);
    let (header, records, _) = read_all(&bytes, None).unwrap();
    assert_eq!(header.seed, 77);
    assert_eq!(header.nodes, 4);
    assert!(matches!(records.last().unwrap().kind, Kind::End { .. }));
}

#[test]
fn a_truncated_trace_is_reported_and_its_complete_records_stay_readable() {
    let bytes = sample_trace(300, None);
    let f = frames(&bytes);
    assert!(f.len() >= 4, "want several frames, got {}", f.len());
    // Cut in the middle of the third record frame.
    let (at, len, _) = f[3];
    let cut = &bytes[..at + len / 2];
    let mut reader = TraceReader::new(cut, None).unwrap();
    let mut good = 0u64;
    let err = loop {
        match reader.next() {
            Some(Ok(_)) => good += 1,
            Some(Err(e)) => break e,
            None => panic!("a truncated trace read as complete"),
        }
    };
    let expected: u64 = f[1..3].iter().map(|x| u64::from(x.2)).sum();
    assert_eq!(good, expected);
    assert_eq!(
        err,
        TraceError::Truncated {
            after_record: expected,
            detail: "inside a frame"
        }
    );
    assert!(err
        .to_string()
        .contains(&format!("truncated after record {expected}")));
    // Cut exactly at a frame boundary: no seal.
    let (at, _, _) = f[3];
    assert!(
        matches!(first_error(&bytes[..at], None), TraceError::Truncated { after_record, .. } if after_record == expected)
    );
}

#[test]
fn a_flipped_byte_anywhere_is_detected() {
    let bytes = sample_trace(50, None);
    // Every 97th byte past the preamble, one at a time.
    for at in (12..bytes.len()).step_by(97) {
        let mut damaged = bytes.clone();
        damaged[at] ^= 0x20;
        let err = first_error(&damaged, None);
        assert!(
            matches!(
                err,
                TraceError::ChainBroken { .. }
                    | TraceError::Truncated { .. }
                    | TraceError::BadHeader(_)
            ),
            "byte {at}: {err:?}"
        );
    }
}

#[test]
fn two_swapped_records_are_detected() {
    let bytes = sample_trace(50, None);
    let (at, len, _) = frames(&bytes)[1];
    let payload = &bytes[at + 8..at + 8 + len];
    // Find the byte spans of the first two records.
    let (_, rest): (Record<'static>, &[u8]) = postcard::take_from_bytes(payload).unwrap();
    let first_len = payload.len() - rest.len();
    let (_, rest2): (Record<'static>, &[u8]) = postcard::take_from_bytes(rest).unwrap();
    let second_len = rest.len() - rest2.len();
    let mut swapped = payload[first_len..first_len + second_len].to_vec();
    swapped.extend_from_slice(&payload[..first_len]);
    let mut damaged = bytes.clone();
    damaged[at + 8..at + 8 + first_len + second_len].copy_from_slice(&swapped);
    assert_ne!(damaged, bytes);
    assert!(matches!(
        first_error(&damaged, None),
        TraceError::ChainBroken {
            frame: 1,
            first_record: 0,
            ..
        }
    ));
}

#[test]
fn two_swapped_frames_are_detected() {
    let bytes = sample_trace(300, None);
    let f = frames(&bytes);
    let (a, b) = (f[1], f[2]);
    let mut damaged = bytes[..a.0].to_vec();
    damaged.extend_from_slice(&bytes[b.0..b.0 + 8 + b.1 + 32]);
    damaged.extend_from_slice(&bytes[a.0..a.0 + 8 + a.1 + 32]);
    damaged.extend_from_slice(&bytes[b.0 + 8 + b.1 + 32..]);
    assert_eq!(damaged.len(), bytes.len());
    assert!(matches!(
        first_error(&damaged, None),
        TraceError::ChainBroken { frame: 1, .. }
    ));
}

#[test]
fn a_foreign_file_is_not_a_trace() {
    assert_eq!(first_error(b"", None), TraceError::NotATrace);
    assert_eq!(
        first_error(b"PK\x03\x04 zip file contents here", None),
        TraceError::NotATrace
    );
    assert_eq!(
        first_error(b"[scenario]\nprotocol = \"raft\"\n", None),
        TraceError::NotATrace
    );
    let mut other_version = sample_trace(1, None);
    other_version[8] = 99;
    assert!(matches!(
        first_error(&other_version, None),
        TraceError::UnsupportedVersion { found: 99, .. }
    ));
}

#[test]
fn a_spliced_trace_is_detected() {
    let a = sample_trace(300, None);
    let mut config_b = SimConfig::new(78, 4);
    config_b.network.default = LinkConfig::default();
    let b = Simulation::new(config_b, |_| Chatter::new(Duration::from_millis(10), 300))
        .run_traced(Vec::new(), None)
        .unwrap()
        .1;
    let fa = frames(&a);
    let fb = frames(&b);
    // A's first two frames, then B's from its third.
    let mut spliced = a[..fa[2].0].to_vec();
    spliced.extend_from_slice(&b[fb[2].0..]);
    assert!(matches!(
        first_error(&spliced, None),
        TraceError::ChainBroken { frame: 2, .. }
    ));
    // A complete trace with bytes appended after its seal.
    let mut appended = a.clone();
    appended.extend_from_slice(&b[fb[1].0..fb[2].0]);
    assert!(matches!(
        first_error(&appended, None),
        TraceError::TrailingData { .. } | TraceError::ChainBroken { .. }
    ));
}

#[test]
fn a_keyed_trace_verifies_only_with_its_key() {
    let bytes = sample_trace(20, Some(b"secret"));
    assert!(read_all(&bytes, Some(b"secret")).is_ok());
    assert_eq!(first_error(&bytes, None), TraceError::KeyRequired);
    assert!(matches!(
        first_error(&bytes, Some(b"guess")),
        TraceError::ChainBroken { frame: 0, .. }
    ));
    // Someone without the key rewrites a record and recomputes the chain as
    // if it were unkeyed: the keyed check still fails.
    let unkeyed = sample_trace(20, None);
    let mut forged = unkeyed.clone();
    forged[10] = 1; // claim "keyed"
    assert!(matches!(
        first_error(&forged, Some(b"secret")),
        TraceError::ChainBroken { .. }
    ));
}

#[test]
fn a_panic_upstream_keeps_every_record_written() {
    // A writer dropped without being finished (as in a panic) leaves a
    // trace that reads as truncated after its last record.
    let header = Simulation::new(SimConfig::new(1, 1), |_| {
        Chatter::new(Duration::from_millis(1), 1)
    })
    .header();
    let mut out = Vec::new();
    {
        let mut w = TraceWriter::new(&mut out, &header, None).unwrap();
        for i in 0..10 {
            w.append(&Record {
                time: Instant(i),
                kind: Kind::Start {
                    node: NodeId(0),
                    lamport: i + 1,
                },
            })
            .unwrap();
        }
    }
    let mut reader = TraceReader::new(&out[..], None).unwrap();
    let read: Vec<_> = reader.by_ref().take(10).collect::<Result<_, _>>().unwrap();
    assert_eq!(read.len(), 10);
    assert!(matches!(
        reader.next(),
        Some(Err(TraceError::Truncated {
            after_record: 10,
            ..
        }))
    ));
}

#[test]
fn a_forged_header_claiming_absurd_sizes_is_refused_not_obeyed() {
    let mut header = Simulation::new(SimConfig::new(1, 1), |_| {
        Chatter::new(Duration::from_millis(1), 1)
    })
    .header();
    header.nodes = u32::MAX;
    let w = TraceWriter::new(Vec::new(), &header, None).unwrap();
    let (bytes, _) = w
        .finish(dsim::trace::EndReason::Quiescent, Instant(0))
        .unwrap();
    assert!(
        matches!(TraceReader::new(&bytes[..], None), Err(TraceError::BadHeader(m)) if m.contains("nodes"))
    );
    assert!(dsim::check::audit(&bytes[..], &dsim::check::Options::default()).is_err());
}

/// A hand-made trace's header: two nodes, vector clocks on.
fn two_node_header(format_version: u16) -> dsim::trace::Header {
    dsim::trace::Header {
        format_version,
        protocol: "test".into(),
        seed: 1,
        nodes: 2,
        scenario: "test".into(),
        config: String::new(),
        drawn: Default::default(),
        fifo_default: true,
        fifo_exceptions: vec![],
        vector_clocks: true,
        replay: String::new(),
    }
}

#[test]
fn records_larger_than_a_frame_round_trip() {
    let header = two_node_header(dsim::trace::FORMAT_VERSION);
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let records = vec![
        Record {
            time: Instant(1),
            kind: Kind::Start {
                node: NodeId(0),
                lamport: 1,
            },
        },
        // Encoded directly, and larger than the frame buffer.
        Record {
            time: Instant(2),
            kind: Kind::Send {
                node: NodeId(0),
                lamport: 2,
                msg: 0,
                to: NodeId(1),
                payload: big.clone().into(),
            },
        },
        // Encoded by postcard, and larger than the frame buffer.
        Record {
            time: Instant(3),
            kind: Kind::Observe {
                node: NodeId(0),
                lamport: 3,
                text: "x".repeat(200_000).into(),
            },
        },
        Record {
            time: Instant(4),
            kind: Kind::Deliver {
                node: NodeId(1),
                lamport: 3,
                msg: 0,
                copy: 0,
                from: NodeId(0),
                vc: vec![(0, 2)].into(),
            },
        },
    ];
    let mut w = TraceWriter::new(Vec::new(), &header, None).unwrap();
    for r in &records {
        w.append(r).unwrap();
    }
    let (bytes, _) = w
        .finish(dsim::trace::EndReason::Quiescent, Instant(4))
        .unwrap();
    let (_, read, _) = read_all(&bytes, None).unwrap();
    assert_eq!(&read[..records.len()], &records[..]);
    assert!(matches!(read[records.len()].kind, Kind::End { .. }));
}

#[test]
fn times_that_go_back_and_older_formats_round_trip_and_a_digest_needs_format_5() {
    use dsim::trace::DeliveryClock;
    let header = two_node_header;
    // Enough records for several frames, with times that jump forward
    // and back (format 5 stores differences within a frame).
    let records = |vc: fn(u64) -> DeliveryClock<'static>| -> Vec<Record<'static>> {
        (0..20_000u64)
            .map(|i| Record {
                time: Instant(if i % 3 == 0 {
                    u64::MAX - i
                } else {
                    i * 1_000_003
                }),
                kind: Kind::Deliver {
                    node: NodeId((i % 2) as u32),
                    lamport: i,
                    msg: i,
                    copy: 0,
                    from: NodeId(((i + 1) % 2) as u32),
                    vc: vc(i),
                },
            })
            .collect()
    };
    for (version, recs) in [
        (
            dsim::trace::FORMAT_VERSION,
            records(|i| DeliveryClock::Digest(i as u32)),
        ),
        (3, records(|i| vec![(0, i as u32)].into())),
    ] {
        let mut w = TraceWriter::new(Vec::new(), &header(version), None).unwrap();
        for r in &recs {
            w.append(r).unwrap();
        }
        let (bytes, _) = w
            .finish(dsim::trace::EndReason::Quiescent, Instant(5))
            .unwrap();
        let (h, back, _) = read_all(&bytes, None).unwrap();
        assert_eq!(h.format_version, version);
        assert_eq!(&back[..recs.len()], &recs[..], "format {version}");
    }
    // A digest has no place in a format before 5: refused, not mangled.
    let mut w = TraceWriter::new(Vec::new(), &header(3), None).unwrap();
    let err = w
        .append(&records(|_| DeliveryClock::Digest(7))[0])
        .unwrap_err();
    assert!(err.to_string().contains("digest"), "{err}");
}
