//! Each checker is fed a trace broken in exactly its property and must
//! catch it at the right record; correct traces pass every check; damaged
//! input never panics.

use crate::common;

use common::Chatter;
use dsim::check::{audit, Options, Report};
use dsim::network::Ordering;
use dsim::trace::{read_all, DeliveryClock, EndReason, Header, Kind, Record, TraceWriter};
use dsim::{Duration, Instant, Latency, LinkConfig, NodeId, Ppm, SimConfig, Simulation};
use proptest::prelude::*;
use std::borrow::Cow;

fn run(seed: u64, ordering: Ordering, loss: u32, dup: u32) -> Vec<u8> {
    let mut config = SimConfig::new(seed, 4);
    config.network.default = LinkConfig {
        latency: Latency::Uniform {
            min: Duration::from_millis(1),
            max: Duration::from_millis(30),
        },
        loss: Ppm(loss),
        duplicate: Ppm(dup),
        ordering,
        ..LinkConfig::default()
    };
    Simulation::new(config, |_| Chatter::new(Duration::from_millis(10), 15))
        .run_traced(Vec::new(), None)
        .unwrap()
        .1
}

/// Header and records (without the seal) of a trace, and how it ended.
fn open(bytes: &[u8]) -> (Header, Vec<Record<'static>>, EndReason) {
    let (header, mut records, _) = read_all(bytes, None).unwrap();
    let Some(Record {
        kind: Kind::End { reason, .. },
        ..
    }) = records.pop()
    else {
        panic!("no seal")
    };
    (header, records, reason)
}

/// Writes records out again with a valid chain: what a forger (or a buggy
/// kernel) would produce.
fn rewrite(header: &Header, records: &[Record<'_>], end: EndReason) -> Vec<u8> {
    let mut w = TraceWriter::new(Vec::new(), header, None).unwrap();
    for r in records {
        w.append(r).unwrap();
    }
    let t = records.last().map(|r| r.time).unwrap_or(Instant::ZERO);
    w.finish(end, t).unwrap().0
}

fn report(bytes: &[u8], causal: bool) -> Report {
    audit(bytes, &Options { key: None, causal }).unwrap()
}

/// The record where `check` first fails (it must fail). Other checks may
/// notice the same damage too; the one under test must, at the right place.
fn only_violation(r: &Report, check: &str) -> u64 {
    let v = r
        .verdicts
        .iter()
        .find(|v| v.check == check)
        .expect("the check ran");
    assert!(!v.holds(), "{check} should be violated: {r:#?}");
    v.first.as_ref().map(|f| f.record).unwrap_or(u64::MAX)
}

fn position(records: &[Record<'_>], pred: impl Fn(&Record<'_>) -> bool) -> usize {
    records
        .iter()
        .position(pred)
        .expect("the trace has such a record")
}

#[test]
fn correct_traces_pass_every_check() {
    for (seed, ordering) in [
        (1, Ordering::Reorder),
        (2, Ordering::Fifo),
        (3, Ordering::Reorder),
    ] {
        let r = report(&run(seed, ordering, 50_000, 30_000), false);
        assert!(r.holds(), "{r:#?}");
        assert_eq!(r.verdicts.len(), 7);
        // Every check ran, but FIFO where no link promises it: that one
        // says it had nothing to check rather than "ok".
        for v in &r.verdicts {
            match (v.check, ordering) {
                ("fifo", Ordering::Reorder) => assert_eq!(
                    v.skipped.as_deref(),
                    Some("no link promises FIFO order: the run's links reorder")
                ),
                _ => assert_eq!(v.skipped, None, "{}", v.check),
            }
        }
    }
}

#[test]
fn a_phantom_delivery_is_caught_by_the_messages_check() {
    let (h, mut recs, end) = open(&run(1, Ordering::Reorder, 0, 0));
    let i = position(&recs, |r| matches!(r.kind, Kind::Deliver { .. }));
    if let Kind::Deliver { msg, .. } = &mut recs[i].kind {
        *msg = 999_999;
    }
    let r = report(&rewrite(&h, &recs, end), false);
    assert_eq!(only_violation(&r, "messages"), i as u64);
    assert!(r.verdicts[2]
        .first
        .as_ref()
        .unwrap()
        .message
        .contains("never sent"));
}

#[test]
fn a_copy_delivered_twice_is_caught_by_the_messages_check() {
    let (h, mut recs, end) = open(&run(1, Ordering::Reorder, 0, 0));
    let i = position(&recs, |r| matches!(r.kind, Kind::Deliver { .. }));
    let copy = recs[i].clone();
    recs.insert(i + 1, copy);
    let r = report(&rewrite(&h, &recs, end), false);
    assert_eq!(only_violation(&r, "messages"), i as u64 + 1);
}

#[test]
fn more_copies_than_sent_plus_duplicated_are_caught() {
    let (h, mut recs, end) = open(&run(1, Ordering::Reorder, 0, 0));
    let i = position(&recs, |r| matches!(r.kind, Kind::Deliver { .. }));
    let mut extra = recs[i].clone();
    if let Kind::Deliver { copy, .. } = &mut extra.kind {
        *copy = 1;
    }
    recs.insert(i + 1, extra);
    let r = report(&rewrite(&h, &recs, end), false);
    assert_eq!(only_violation(&r, "messages"), i as u64 + 1);
}

#[test]
fn a_message_left_in_flight_at_quiescence_is_caught() {
    let (h, mut recs, end) = open(&run(1, Ordering::Reorder, 0, 0));
    assert_eq!(end, EndReason::Quiescent);
    let i = position(&recs, |r| matches!(r.kind, Kind::Deliver { .. }));
    recs.remove(i);
    let r = report(&rewrite(&h, &recs, end), false);
    let v = r.verdicts.iter().find(|v| v.check == "messages").unwrap();
    assert!(
        v.first.as_ref().unwrap().message.contains("in flight"),
        "{v:?}"
    );
}

#[test]
fn a_delivery_not_later_than_its_send_is_caught_by_the_lamport_check() {
    let (h, mut recs, end) = open(&run(1, Ordering::Reorder, 0, 0));
    let i = position(&recs, |r| matches!(r.kind, Kind::Deliver { .. }));
    let Kind::Deliver { msg, .. } = recs[i].kind else {
        unreachable!()
    };
    let sent_lamport = recs
        .iter()
        .find_map(|r| match r.kind {
            Kind::Send {
                msg: m, lamport, ..
            } if m == msg => Some(lamport),
            _ => None,
        })
        .unwrap();
    if let Kind::Deliver { lamport, .. } = &mut recs[i].kind {
        *lamport = sent_lamport;
    }
    let r = report(&rewrite(&h, &recs, end), false);
    assert_eq!(only_violation(&r, "lamport"), i as u64);
}

#[test]
fn a_clock_that_does_not_increase_is_caught_by_the_lamport_check() {
    let (h, mut recs, end) = open(&run(1, Ordering::Reorder, 0, 0));
    let i = position(&recs, |r| matches!(r.kind, Kind::Timer { .. }));
    if let Kind::Timer { lamport, .. } = &mut recs[i].kind {
        *lamport = 1;
    }
    let r = report(&rewrite(&h, &recs, end), false);
    assert_eq!(only_violation(&r, "lamport"), i as u64);
}

#[test]
fn a_wrong_recorded_vector_clock_is_caught() {
    let (h, recs, end) = open(&run(1, Ordering::Reorder, 0, 0));
    let i = position(&recs, |r| {
        matches!(
            &r.kind,
            Kind::Deliver {
                vc: DeliveryClock::Digest(_),
                ..
            }
        )
    });
    // The digest a kernel records, off by one bit, or by one node's weight
    // (as if one entry were one higher).
    for change in [1u32, dsim::clock::weight(0), dsim::clock::weight(1)] {
        let mut recs = recs.clone();
        if let Kind::Deliver {
            vc: DeliveryClock::Digest(d),
            ..
        } = &mut recs[i].kind
        {
            *d = d.wrapping_add(change);
        }
        let r = report(&rewrite(&h, &recs, end), false);
        assert_eq!(only_violation(&r, "vector-clocks"), i as u64);
    }
    // Deliveries that record nothing, though the header says they do.
    let mut none = recs.clone();
    if let Kind::Deliver { vc, .. } = &mut none[i].kind {
        *vc = DeliveryClock::None;
    }
    let r = report(&rewrite(&h, &none, end), false);
    assert_eq!(only_violation(&r, "vector-clocks"), i as u64);
}

#[test]
fn raised_entries_as_older_formats_record_them_are_checked_too() {
    // Every delivery's digest replaced by the entries its merge raised,
    // rebuilt here from the causal structure: the check holds; one
    // entry off, and it fails at that record.
    let (h, recs, end) = open(&run(1, Ordering::Reorder, 0, 0));
    let n = h.nodes as usize;
    let mut clocks = vec![vec![0u32; n]; n];
    let mut at_send = std::collections::BTreeMap::new();
    let mut raised_recs = recs.clone();
    let mut some = None;
    for (at, r) in raised_recs.iter_mut().enumerate() {
        let Some((node, _)) = r.node_event() else {
            continue;
        };
        let i = node.index();
        if let Kind::Deliver { msg, vc, .. } = &mut r.kind {
            let sent: &Vec<u32> = &at_send[&*msg];
            let raised: Vec<(u32, u32)> = (0..n)
                .filter(|&k| sent[k] > clocks[i][k])
                .map(|k| (k as u32, sent[k]))
                .collect();
            for k in 0..n {
                clocks[i][k] = clocks[i][k].max(sent[k]);
            }
            if !raised.is_empty() && some.is_none() {
                some = Some(at);
            }
            *vc = raised.into();
        }
        clocks[i][i] += 1;
        if let Kind::Send { msg, .. } = &r.kind {
            at_send.insert(*msg, clocks[i].clone());
        }
    }
    let r = report(&rewrite(&h, &raised_recs, end), false);
    assert!(r.holds(), "{r:?}");
    let i = some.expect("a delivery raises an entry");
    if let Kind::Deliver {
        vc: DeliveryClock::Raised(v),
        ..
    } = &mut raised_recs[i].kind
    {
        v.to_mut()[0].1 += 5;
    }
    let r = report(&rewrite(&h, &raised_recs, end), false);
    assert_eq!(only_violation(&r, "vector-clocks"), i as u64);
}

#[test]
fn a_causal_loop_is_caught_by_the_happens_before_check() {
    // n0 receives message 1 before n1 has sent it, and n1 sends it only
    // after receiving message 0, which n0 sent after that receipt.
    let h = Simulation::new(SimConfig::new(1, 2), |_| {
        Chatter::new(Duration::from_millis(1), 1)
    })
    .header();
    let t = Instant(0);
    let recs = vec![
        Record {
            time: t,
            kind: Kind::Deliver {
                node: NodeId(0),
                lamport: 1,
                msg: 1,
                copy: 0,
                from: NodeId(1),
                vc: DeliveryClock::Raised(Cow::Owned(vec![])),
            },
        },
        Record {
            time: t,
            kind: Kind::Send {
                node: NodeId(0),
                lamport: 2,
                msg: 0,
                to: NodeId(1),
                payload: Cow::Owned(vec![]),
            },
        },
        Record {
            time: t,
            kind: Kind::Deliver {
                node: NodeId(1),
                lamport: 3,
                msg: 0,
                copy: 0,
                from: NodeId(0),
                vc: vec![(0, 2)].into(),
            },
        },
        Record {
            time: t,
            kind: Kind::Send {
                node: NodeId(1),
                lamport: 4,
                msg: 1,
                to: NodeId(0),
                payload: Cow::Owned(vec![]),
            },
        },
    ];
    let r = report(&rewrite(&h, &recs, EndReason::TimeLimit), false);
    let v = r
        .verdicts
        .iter()
        .find(|v| v.check == "happens-before")
        .unwrap();
    assert!(v.first.as_ref().unwrap().message.contains("cycle"), "{v:?}");
    assert_eq!(v.first.as_ref().unwrap().record, 0);
}

#[test]
fn vector_clocks_that_misorder_two_events_fail_the_characterization() {
    use petgraph::graph::DiGraph;
    let mut g = DiGraph::<(), ()>::new();
    let a = g.add_node(());
    let b = g.add_node(());
    g.add_node(()); // c: an event on node 1, unconnected
    g.add_edge(a, b, ());
    let owner = [NodeId(0), NodeId(0), NodeId(1)];
    let right: Vec<Box<[u32]>> = vec![vec![1, 0].into(), vec![2, 0].into(), vec![0, 1].into()];
    assert_eq!(
        dsim::check::characterizes_happens_before(&g, &owner, &right),
        None
    );
    // c claims to know of a, though nothing connects them.
    let wrong: Vec<Box<[u32]>> = vec![vec![1, 0].into(), vec![2, 0].into(), vec![1, 1].into()];
    assert_eq!(
        dsim::check::characterizes_happens_before(&g, &owner, &wrong),
        Some((0, 2, false))
    );
}

#[test]
fn out_of_order_delivery_on_a_fifo_link_is_caught() {
    let (h, mut recs, end) = open(&run(2, Ordering::Fifo, 0, 0));
    assert!(h.fifo_default);
    // Swap the first two deliveries on one link (moving the later one first).
    let first = position(&recs, |r| matches!(r.kind, Kind::Deliver { .. }));
    let Kind::Deliver { node, from, .. } = recs[first].kind else {
        unreachable!()
    };
    let second = first
        + 1
        + position(
            &recs[first + 1..],
            |r| matches!(r.kind, Kind::Deliver { node: n, from: f, .. } if n == node && f == from),
        );
    let moved = recs.remove(second);
    recs.insert(first, moved);
    let r = report(&rewrite(&h, &recs, end), false);
    assert_eq!(only_violation(&r, "fifo"), first as u64 + 1);
    // The same swap on a trace whose header promises no FIFO is fine for this check.
    let mut h2 = h.clone();
    h2.fifo_default = false;
    let r2 = report(&rewrite(&h2, &recs, end), false);
    assert!(r2
        .verdicts
        .iter()
        .find(|v| v.check == "fifo")
        .unwrap()
        .holds());
}

#[test]
fn a_causal_delivery_violation_is_caught_when_asked_for() {
    // n0 sends m0 to n2, then m1 to n1; n1 forwards (m2) to n2; n2 gets m2 before m0.
    let h = Simulation::new(SimConfig::new(1, 3), |_| {
        Chatter::new(Duration::from_millis(1), 1)
    })
    .header();
    let t = Instant(0);
    let send = |node, lamport, msg, to| Record {
        time: t,
        kind: Kind::Send {
            node: NodeId(node),
            lamport,
            msg,
            to: NodeId(to),
            payload: Cow::Owned(vec![]),
        },
    };
    let deliver = |node, lamport, msg, from, vc: Vec<(u32, u32)>| Record {
        time: t,
        kind: Kind::Deliver {
            node: NodeId(node),
            lamport,
            msg,
            copy: 0,
            from: NodeId(from),
            vc: vc.into(),
        },
    };
    let recs = vec![
        send(0, 1, 0, 2),
        send(0, 2, 1, 1),
        deliver(1, 3, 1, 0, vec![(0, 2)]),
        send(1, 4, 2, 2),
        deliver(2, 5, 2, 1, vec![(0, 2), (1, 2)]),
        deliver(2, 6, 0, 0, vec![]),
    ];
    let bytes = rewrite(&h, &recs, EndReason::Quiescent);
    let without = report(&bytes, false);
    assert!(without.holds(), "{without:#?}");
    let with = report(&bytes, true);
    assert_eq!(only_violation(&with, "causal"), 5);
}

#[test]
fn damage_is_an_integrity_violation_and_earlier_records_are_still_checked() {
    let bytes = run(1, Ordering::Reorder, 0, 0);
    let cut = &bytes[..bytes.len() - 10];
    let r = report(cut, false);
    assert!(!r.integrity().holds());
    assert!(r
        .integrity()
        .first
        .as_ref()
        .unwrap()
        .message
        .contains("truncated"));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic_the_reader_or_the_checks(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let _ = audit(&bytes[..], &Options::default());
        let mut with_magic = dsim::trace::MAGIC.to_vec();
        with_magic.extend_from_slice(&[1, 0, 0, 0]);
        with_magic.extend_from_slice(&bytes);
        let _ = audit(&with_magic[..], &Options { key: None, causal: true });
    }

    #[test]
    fn truncations_and_flips_of_real_traces_are_always_caught(cut in 0usize..20_000, flip in 0usize..20_000, mask in 1u8..=255) {
        let bytes = run(5, Ordering::Reorder, 50_000, 50_000);
        let cut = cut % bytes.len();
        match audit(&bytes[..cut], &Options::default()) {
            Err(_) => {}
            Ok(r) => prop_assert!(!r.integrity().holds()),
        }
        let mut flipped = bytes.clone();
        let at = flip % bytes.len();
        flipped[at] ^= mask;
        match audit(&flipped[..], &Options::default()) {
            Err(_) => {}
            Ok(r) => prop_assert!(!r.integrity().holds(), "flip at {} went unnoticed", at),
        }
    }
}

#[test]
fn a_record_naming_a_node_that_does_not_exist_is_caught_as_malformed() {
    let (h, mut recs, end) = open(&run(1, Ordering::Reorder, 0, 0));
    let i = position(&recs, |r| matches!(r.kind, Kind::Timer { .. }));
    if let Kind::Timer { node, .. } = &mut recs[i].kind {
        *node = NodeId(9);
    }
    let r = report(&rewrite(&h, &recs, end), false);
    assert_eq!(only_violation(&r, "well-formed"), i as u64);
}

#[test]
fn time_running_backwards_is_an_integrity_violation() {
    let (h, mut recs, end) = open(&run(1, Ordering::Reorder, 0, 0));
    let i = position(&recs, |r| r.time > Instant(20_000_000));
    recs[i].time = Instant(1);
    let r = report(&rewrite(&h, &recs, end), false);
    assert_eq!(only_violation(&r, "integrity"), i as u64);
}

#[test]
fn message_ids_out_of_send_order_and_deliveries_to_the_wrong_node_are_caught() {
    let (h, recs, end) = open(&run(1, Ordering::Reorder, 0, 0));
    // Renumber the second send as if a send had been skipped.
    let mut skipped = recs.clone();
    let second = position(&skipped, |r| matches!(r.kind, Kind::Send { msg: 1, .. }));
    if let Kind::Send { msg, .. } = &mut skipped[second].kind {
        *msg = 7;
    }
    let r = report(&rewrite(&h, &skipped, end), false);
    assert_eq!(only_violation(&r, "messages"), second as u64);
    // The largest id there is: flagged, with no id after it to overflow
    // into (CI's tests run with overflow checks on).
    if let Kind::Send { msg, .. } = &mut skipped[second].kind {
        *msg = u64::MAX;
    }
    let r = report(&rewrite(&h, &skipped, end), false);
    assert_eq!(only_violation(&r, "messages"), second as u64);
    // Deliver a message to a node it was not sent to.
    let mut misrouted = recs;
    let i = position(&misrouted, |r| matches!(r.kind, Kind::Deliver { .. }));
    if let Kind::Deliver { node, from, .. } = &mut misrouted[i].kind {
        *node = NodeId((0..4).find(|n| *n != node.0 && *n != from.0).unwrap());
    }
    let r = report(&rewrite(&h, &misrouted, end), false);
    assert_eq!(only_violation(&r, "messages"), i as u64);
    assert!(r
        .verdicts
        .iter()
        .find(|v| v.check == "messages")
        .unwrap()
        .first
        .as_ref()
        .unwrap()
        .message
        .contains("but it was sent"));
}

#[test]
fn a_paused_node_that_handles_an_event_or_a_copy_held_for_a_node_not_paused_is_malformed() {
    // A pause slipped in before a timer of its node: the node handles
    // the timer while paused.
    let (h, recs, end) = open(&run(1, Ordering::Reorder, 0, 0));
    let i = position(&recs, |r| matches!(r.kind, Kind::Timer { .. }));
    let Kind::Timer { node, .. } = recs[i].kind else {
        unreachable!()
    };
    let mut paused = recs.clone();
    paused.insert(
        i,
        Record {
            time: recs[i].time,
            kind: Kind::Pause { node },
        },
    );
    let r = report(&rewrite(&h, &paused, end), false);
    assert_eq!(only_violation(&r, "well-formed"), i as u64 + 1);
    // Resumed first, it may.
    paused.insert(
        i + 1,
        Record {
            time: recs[i].time,
            kind: Kind::Resume { node },
        },
    );
    let r = report(&rewrite(&h, &paused, end), false);
    assert!(r.verdicts.iter().all(|v| v.holds()), "{r:#?}");
    // A copy held for a node that is not paused.
    let j = position(&recs, |r| matches!(r.kind, Kind::Deliver { .. }));
    let Kind::Deliver {
        node, msg, copy, ..
    } = recs[j].kind
    else {
        unreachable!()
    };
    let mut held = recs.clone();
    held.insert(
        j,
        Record {
            time: recs[j].time,
            kind: Kind::Held { node, msg, copy },
        },
    );
    let r = report(&rewrite(&h, &held, end), false);
    assert_eq!(only_violation(&r, "well-formed"), j as u64);
    // A pause slipped in right before a send of its node: the node sends
    // while paused.
    let k = position(&recs, |r| matches!(r.kind, Kind::Send { .. }));
    let Kind::Send { node, .. } = recs[k].kind else {
        unreachable!()
    };
    let mut sending = recs.clone();
    sending.insert(
        k,
        Record {
            time: recs[k].time,
            kind: Kind::Pause { node },
        },
    );
    let r = report(&rewrite(&h, &sending, end), false);
    assert_eq!(only_violation(&r, "well-formed"), k as u64 + 1);
    let message = &r
        .verdicts
        .iter()
        .find(|v| v.check == "well-formed")
        .unwrap();
    let message = &message.first.as_ref().unwrap().message;
    assert!(message.contains("sends while paused"), "{message}");
}
