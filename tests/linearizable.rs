//! The linearizability checker: every model on small histories with known
//! verdicts, generated histories of real linearizable executions, and one
//! corrupted read that must be caught.

use dsim::check::linearizable::{
    by_name, check, describe, Budget, CasRegister, History, KeyValue, MultiRegister, Mutex,
    OwnedMutex, Queue, Register, Set, UnorderedQueue, Verdict,
};
use dsim::history::{Op, Phase, Value};
use proptest::prelude::*;

/// A history from lines `"p0 invoke write 1"`, `"p1 ok read 1"`,
/// `"p2 invoke put k1 5"`: the position is the line number.
fn history(lines: &str) -> History {
    History::from_events(parse(lines)).unwrap()
}

fn parse(lines: &str) -> Vec<(u64, Op)> {
    lines
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .enumerate()
        .map(|(i, l)| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let phase = match w[1] {
                "invoke" => Phase::Invoke,
                "ok" => Phase::Ok,
                "fail" => Phase::Fail,
                _ => Phase::Info,
            };
            let value = |s: &str| -> Value {
                match s {
                    "nil" => Value::Nil,
                    s if s.contains(',') => Value::List(
                        s.split(',')
                            .map(|x| Value::Int(x.parse().unwrap()))
                            .collect(),
                    ),
                    s => Value::Int(s.parse().unwrap()),
                }
            };
            let (key, v) = match w.len() {
                5 => (Some(Value::Str(w[3].into())), value(w[4])),
                4 => (None, value(w[3])),
                _ => (None, Value::Nil),
            };
            let op = Op {
                process: w[0][1..].parse().unwrap(),
                phase,
                f: w[2].into(),
                key,
                value: v,
            };
            (i as u64, op)
        })
        .collect()
}

fn verdict<M: dsim::check::linearizable::Model>(m: &M, lines: &str) -> Verdict {
    check(m, &history(lines), &Budget::default())
}

fn holds(v: &Verdict) -> bool {
    matches!(v, Verdict::Linearizable)
}

#[test]
fn a_register_read_concurrent_with_a_write_may_see_either_value() {
    let r = Register::new(Value::Int(0));
    // p1's read overlaps p0's write: 0 and 1 are both possible.
    for seen in ["0", "1"] {
        let h = format!("p0 invoke write 1\np1 invoke read nil\np1 ok read {seen}\np0 ok write 1");
        assert!(holds(&verdict(&r, &h)), "read {seen}");
    }
    // A value never written is not.
    let v = verdict(
        &r,
        "p0 invoke write 1\np1 invoke read nil\np1 ok read 2\np0 ok write 1",
    );
    assert!(matches!(v, Verdict::NotLinearizable(_)), "{v:?}");
}

#[test]
fn a_stale_read_after_a_completed_write_is_caught_with_its_witnesses() {
    let h = history(
        "p0 invoke write 1
         p0 ok write 1
         p2 invoke write 7
         p2 ok write 7
         p0 invoke write 2
         p0 ok write 2
         p1 invoke read nil
         p1 ok read 1",
    );
    let v = check(&Register::new(Value::Int(0)), &h, &Budget::default());
    let Verdict::NotLinearizable(why) = v else {
        panic!("{v:?}")
    };
    // It breaks at the read's completion (line 7); the witnesses are the
    // last write and the read: the two others, free to have taken effect
    // while they ran or not at all, cannot make it true.
    assert_eq!(why.at, 7);
    let named: Vec<(String, Value)> = why
        .ops
        .iter()
        .map(|&i| (h.ops[i].f.clone(), h.ops[i].input.clone()))
        .collect();
    assert_eq!(
        named,
        [
            ("write".to_string(), Value::Int(2)),
            ("read".to_string(), Value::Nil)
        ],
        "{why:?}"
    );
    assert_eq!(
        why.free
            .iter()
            .map(|&i| &h.ops[i].input)
            .collect::<Vec<_>>(),
        [&Value::Int(1), &Value::Int(7)],
        "the write of 1 first: it wrote what the read saw"
    );
    assert!(why.minimal);
    let reg = Register::new(Value::Int(0));
    assert_witnessed(&reg, &h, &why);
    // And the brute force can fail: one write more is not minimal, the
    // read alone is no witness.
    for ops in [vec![0, 2, 3], vec![3]] {
        let wrong = dsim::check::linearizable::Violation { ops, ..why.clone() };
        let tried = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            assert_witnessed(&reg, &h, &wrong)
        }));
        assert!(tried.is_err(), "{wrong:?} passed");
    }
    // The longest linearizable prefix: the three writes, in order.
    assert_eq!(why.prefix, vec![0, 1, 2]);
}

/// Checks what a violation says of its witnesses by brute force, with
/// the checker itself only on histories where nothing is let go: the
/// witnesses cannot all be true whichever of the other completed
/// operations took effect (each while it ran, outcome unknown) and which
/// did not; and with any one witness let go too, some choice linearizes.
fn assert_witnessed<M: dsim::check::linearizable::Model>(
    model: &M,
    h: &History,
    why: &dsim::check::linearizable::Violation,
) {
    let completed: Vec<usize> = (0..h.ops.len())
        .filter(|&i| h.ops[i].ret.is_some_and(|r| r <= why.at))
        .collect();
    // The history as of the break, with `loose` let go and `dropped` not
    // taken place.
    let variant = |loose: &[usize], dropped: &[usize]| -> History {
        let mut ops = Vec::new();
        for o in h.ops.iter().filter(|o| o.call <= why.at) {
            if dropped.contains(&o.id) {
                continue;
            }
            let mut o = o.clone();
            if o.ret.is_some_and(|r| r > why.at) {
                (o.ret, o.output) = (None, None);
            }
            if loose.contains(&o.id) {
                o.output = None;
            }
            o.id = ops.len();
            ops.push(o);
        }
        History {
            ops,
            failed: Vec::new(),
        }
    };
    // Whether some choice of which of `loose` took effect linearizes.
    let some_choice_linearizes = |loose: &[usize]| -> bool {
        assert!(loose.len() <= 12, "too many to try");
        (0..1u32 << loose.len()).any(|bits| {
            let dropped: Vec<usize> = (0..loose.len())
                .filter(|b| bits & (1 << b) != 0)
                .map(|b| loose[b])
                .collect();
            holds(&check(model, &variant(loose, &dropped), &Budget::default()))
        })
    };
    let others: Vec<usize> = completed
        .iter()
        .copied()
        .filter(|i| !why.ops.contains(i))
        .collect();
    assert!(!some_choice_linearizes(&others), "not a witness: {why:?}");
    for &w in &why.ops {
        let mut loose = others.clone();
        loose.push(w);
        assert!(some_choice_linearizes(&loose), "op {w} not needed: {why:?}");
    }
}

#[test]
fn a_violation_names_the_writes_still_running_that_it_took_in() {
    // One write of 1 runs from line 0 to line 8; a read sees 1, a later
    // read sees 0. The two reads cannot both be true only because that
    // write is all there is: the report must name it, though its outcome
    // was not known when the history broke (line 5).
    let h = history(
        "p0 invoke write 1
         p1 invoke read nil
         p1 ok read 1
         p3 invoke read nil
         p2 invoke read nil
         p2 ok read 0
         p4 invoke write 5
         p4 ok write 5
         p0 ok write 1
         p3 ok read 5",
    );
    let v = check(&Register::new(Value::Int(0)), &h, &Budget::default());
    let Verdict::NotLinearizable(why) = &v else {
        panic!("{v:?}")
    };
    assert_eq!(why.at, 5);
    assert_eq!(why.ops, vec![1, 3], "the two reads: {why:?}");
    // The write running then; not p3's read (it changes nothing), not
    // p4's write (invoked after the break).
    assert_eq!(why.free, vec![0], "{why:?}");
    assert_witnessed(&Register::new(Value::Int(0)), &h, why);
    let text = dsim::check::linearizable::describe(&h, &v);
    assert!(
        text.ends_with(
            "(even with these free to take effect or not while they ran: p0 write 1 (#0..#8, still running then))"
        ),
        "{text}"
    );
    // Drawn: the witnesses red, the running write amber.
    let svg = dsim::show::history::svg(&h, &v);
    assert!(
        svg.contains("2 witnesses in red, 1 other operation that changes state"),
        "{svg}"
    );
    let bar_of = |label: &str| {
        svg.lines()
            .find(|l| l.contains(&format!("<title>{label}")))
            .unwrap_or_default()
            .to_string()
    };
    assert!(bar_of("p0 write 1").contains("#d80"), "{svg}");
    assert!(bar_of("p1 read").contains("#e00"), "{svg}");
    assert!(bar_of("p4 write 5").contains("#2c6fbb"), "{svg}");
    // The title fits: the drawing is as wide as its text needs.
    let width: usize = svg
        .split("width=\"")
        .nth(1)
        .and_then(|w| w.split('"').next())
        .and_then(|w| w.parse().ok())
        .unwrap();
    let title = svg.lines().nth(1).unwrap();
    assert!(
        width >= 10 + 7 * (title.len() - r#"<text x="10" y="20"></text>"#.len()),
        "{svg}"
    );
    // Without another write running, nothing is named.
    let h = history(
        "p0 invoke write 1
         p0 ok write 1
         p1 invoke read nil
         p1 ok read 0",
    );
    let v = check(&Register::new(Value::Int(0)), &h, &Budget::default());
    let Verdict::NotLinearizable(why) = &v else {
        panic!("{v:?}")
    };
    assert!(why.free.is_empty(), "{why:?}");
    assert!(!dsim::check::linearizable::describe(&h, &v).contains("free"));
}

#[test]
fn a_violation_names_the_write_it_set_aside_that_a_witness_saw() {
    // 1 then 2 enqueued, one after the other, then 2 dequeued: 1 was
    // ahead of it. The witnesses are the enqueue of 1 and the dequeue of
    // 2; the enqueue of 2 is not needed as a witness (let go, it can
    // still have happened), but without it the dequeue of 2 would fail
    // for another reason: the report names it, first (it wrote what a
    // witness saw), though it completed before the break and an enqueue
    // of 3 was invoked before it and still ran then.
    let h = history(
        "p2 invoke enqueue 3
         p0 invoke enqueue 1
         p0 ok enqueue nil
         p0 invoke enqueue 2
         p0 ok enqueue nil
         p1 invoke dequeue nil
         p1 ok dequeue 2
         p2 ok enqueue nil",
    );
    let v = check(&Queue::new(), &h, &Budget::default());
    let Verdict::NotLinearizable(why) = &v else {
        panic!("{v:?}")
    };
    let named = |ids: &[usize]| -> Vec<String> {
        ids.iter().map(|&i| h.ops[i].head().to_string()).collect()
    };
    assert_eq!(named(&why.ops), ["p0 enqueue 1", "p1 dequeue"], "{why:?}");
    assert_eq!(
        named(&why.free),
        ["p0 enqueue 2", "p2 enqueue 3"],
        "{why:?}"
    );
    assert_witnessed(&Queue::new(), &h, why);
    assert!(dsim::show::history::svg(&h, &v).contains(
        "2 witnesses in red, 2 other operations that change state, free to take effect or not while they ran, in amber"
    ));
    let text = dsim::check::linearizable::describe(&h, &v);
    assert!(
        text.ends_with(
            "(even with these free to take effect or not while they ran: p0 enqueue 2 (#3..#4); p2 enqueue 3 (#0..#7, still running then))"
        ),
        "{text}"
    );
}

#[test]
fn a_value_dequeued_twice_is_explained_by_the_two_dequeues_among_many_enqueues() {
    // 24 values enqueued one after another, the first dequeued twice. The
    // two dequeues are the witnesses; each enqueue let go may or may not
    // have happened, and a queue's state keeps which did: 2^23 states,
    // unless the model says an enqueue of a value no dequeue returned is
    // needless to search.
    let mut lines: Vec<String> = Vec::new();
    for v in 1..=24 {
        lines.push(format!("p0 invoke enqueue {v}"));
        lines.push("p0 ok enqueue nil".into());
    }
    for p in ["p1", "p2"] {
        lines.push(format!("{p} invoke dequeue nil"));
        lines.push(format!("{p} ok dequeue 1"));
    }
    let h = history(&lines.join("\n"));
    let v = check(&Queue::new(), &h, &Budget::default());
    let Verdict::NotLinearizable(why) = &v else {
        panic!("{v:?}")
    };
    let named =
        |ids: &[usize]| -> Vec<String> { ids.iter().map(|&i| h.ops[i].to_string()).collect() };
    assert_eq!(
        named(&why.ops),
        ["p1 dequeue -> 1 (#48..#49)", "p2 dequeue -> 1 (#50..#51)"]
    );
    assert!(why.minimal, "{why:?}");
    assert_eq!(named(&why.free[..1]), ["p0 enqueue 1 -> nil (#0..#1)"]);
    // Drawn: one witness is not "1 witnesses".
    let one =
        history("p0 invoke enqueue 1\np0 ok enqueue nil\np1 invoke dequeue nil\np1 ok dequeue 2");
    let v1 = check(&Queue::new(), &one, &Budget::default());
    assert!(
        dsim::show::history::svg(&one, &v1)
            .contains("NOT linearizable from #3: 1 witness in red, 1 other"),
        "{v1:?}"
    );
    // A queue model of one's own that does not say so is still answered
    // truly, with a witness that holds more than it needs.
    struct Plain;
    impl dsim::check::linearizable::Model for Plain {
        type State = <Queue as dsim::check::linearizable::Model>::State;
        fn init(&self) -> Self::State {
            Queue::new().init()
        }
        fn step(
            &self,
            q: &Self::State,
            op: &dsim::check::linearizable::Operation,
        ) -> Option<Self::State> {
            Queue::new().step(q, op)
        }
    }
    let v = check(&Plain, &h, &Budget::default());
    let Verdict::NotLinearizable(plain) = &v else {
        panic!("{v:?}")
    };
    assert!(!plain.minimal, "{plain:?}");
    assert!(
        why.ops.iter().all(|i| plain.ops.contains(i)) && plain.ops.len() > 2,
        "{plain:?}"
    );
}

#[test]
fn a_read_no_order_explains_points_at_where_the_model_starts() {
    use dsim::check::linearizable::describe_from;
    // A register that starts at 0, checked as one that starts nil: the
    // first read of 0 cannot be true whatever the writes did.
    let lines = "p0 invoke read nil
                 p0 ok read 0
                 p1 invoke write 5
                 p1 ok write 5";
    let h = history(lines);
    let nil = Register::new(Value::Nil);
    let v = check(&nil, &h, &Budget::default());
    let text = describe_from(&h, &v, &Value::Nil);
    assert!(
        text.contains("this operation cannot be true: p0 read -> 0")
            && text.contains("look at where the model starts (`initial` is nil here")
            && text.contains("took effect twice"),
        "{text}"
    );
    assert!(holds(&verdict(&Register::new(Value::Int(0)), lines)));
    // A value read before any write of it began: the hint names that
    // write, not the model's start.
    let early = "p0 invoke read nil
                 p0 ok read 5
                 p1 invoke write 5
                 p1 ok write 5";
    let h = history(early);
    let v = check(&Register::new(Value::Int(0)), &h, &Budget::default());
    let text = describe_from(&h, &v, &Value::Int(0));
    assert!(
        text.contains("it returned 5, which no operation running by then wrote: p1 write 5 wrote it, invoked at #2")
            && !text.contains("where the model starts"),
        "{text}"
    );
    // A value only a failed operation wrote: the hint names it (a
    // compare-and-set applied, then answered `fail` by its retry).
    let failed = "p0 invoke write 1
                  p0 ok write 1
                  p1 invoke cas 1,2
                  p2 invoke read nil
                  p2 ok read 2
                  p1 fail cas 1,2";
    let h = history(failed);
    assert_eq!(h.failed.len(), 1);
    let v = check(&CasRegister::new(Value::Nil), &h, &Budget::default());
    let text = describe_from(&h, &v, &Value::Nil);
    assert!(
        text.contains("this operation cannot be true: p2 read -> 2")
            && text.contains("it returned 2, which only p1 cas [1 2] wrote (#2..#5), and that operation completed as `fail`")
            && !text.contains("where the model starts"),
        "{text}"
    );
    // Had it been `info`, the read is explained.
    assert!(holds(&verdict(
        &CasRegister::new(Value::Nil),
        &failed.replace("p1 fail", "p1 info")
    )));
    // A failed write of that value after the read: not named.
    let after = "p0 invoke read nil
                 p0 ok read 2
                 p1 invoke write 2
                 p1 fail write 2";
    let h = history(after);
    let v = check(&Register::new(Value::Nil), &h, &Budget::default());
    let text = describe_from(&h, &v, &Value::Nil);
    assert!(
        !text.contains("completed as `fail`") && text.contains("where the model starts"),
        "{text}"
    );
    // Where the others' order is the trouble, no such pointer: a stale
    // read needs the write after the one it saw as a witness.
    let stale = "p0 invoke write 1
                 p0 ok write 1
                 p0 invoke write 2
                 p0 ok write 2
                 p1 invoke read nil
                 p1 ok read 1";
    let h = history(stale);
    let v = check(&nil, &h, &Budget::default());
    let text = describe_from(&h, &v, &Value::Nil);
    assert!(
        text.contains("these 2 operations cannot be linearized together")
            && !text.contains("where the model starts"),
        "{text}"
    );
}

#[test]
fn an_info_write_may_or_may_not_have_happened() {
    let r = Register::new(Value::Int(0));
    for seen in ["0", "5"] {
        let h =
            format!("p0 invoke write 5\np0 info write 5\np1 invoke read nil\np1 ok read {seen}");
        assert!(holds(&verdict(&r, &h)), "read {seen}");
    }
    // But once it is seen, it stays seen: 5 then 0 is impossible.
    let h = "p0 invoke write 5\np0 info write 5\np1 invoke read nil\np1 ok read 5\np1 invoke read nil\np1 ok read 0";
    assert!(!holds(&verdict(&r, h)));
    // And it cannot take effect before it was invoked.
    let h = "p1 invoke read nil\np1 ok read 5\np0 invoke write 5\np0 info write 5";
    assert!(!holds(&verdict(&r, h)));
    // An invocation never completed counts as info.
    let h = "p0 invoke write 5\np1 invoke read nil\np1 ok read 5";
    assert!(holds(&verdict(&r, h)));
}

#[test]
fn a_failed_operation_did_not_happen() {
    let r = CasRegister::new(Value::Int(0));
    let h = "p0 invoke write 5\np0 fail write 5\np1 invoke read nil\np1 ok read 5";
    assert!(!holds(&verdict(&r, h)));
    let h = "p0 invoke cas 0,3\np0 ok cas 0,3\np1 invoke read nil\np1 ok read 3";
    assert!(holds(&verdict(&r, h)));
    let h = "p0 invoke cas 1,3\np0 ok cas 1,3";
    assert!(
        !holds(&verdict(&r, h)),
        "a cas from a value the register never held"
    );
}

#[test]
fn key_value_keys_are_checked_apart_and_appends_accumulate() {
    let kv = KeyValue::new(Value::Nil);
    let ok = "p0 invoke put a 1\np0 ok put a 1\np1 invoke put b 2\np1 ok put b 2\np2 invoke get a nil\np2 ok get a 1\np3 invoke get b nil\np3 ok get b 2";
    assert!(holds(&verdict(&kv, ok)));
    let crossed = "p0 invoke put a 1\np0 ok put a 1\np2 invoke get b nil\np2 ok get b 1";
    assert!(!holds(&verdict(&kv, crossed)));
    let appends = "p0 invoke append a 1\np0 ok append a 1\np1 invoke append a 2\np1 ok append a 2\np2 invoke get a nil\np2 ok get a 1,2";
    assert!(holds(&verdict(&kv, appends)));
    let twice = "p0 invoke append a 1\np0 ok append a 1\np2 invoke get a nil\np2 ok get a 1,1";
    assert!(!holds(&verdict(&kv, twice)), "an append applied twice");
}

/// A key whose search outgrows the budget hides no violation on another
/// key, whichever comes first: the history is not linearizable if any
/// key is not. And a verdict left unknown by one key names it.
#[test]
fn one_key_past_the_budget_hides_no_violation_on_another() {
    let kv = KeyValue::new(Value::Nil);
    // Key a: fourteen puts at once, each value read by a get running
    // with them all, then a read of a value none wrote: to say so, the
    // search tries every subset of the puts and gets. (Puts of values
    // nothing reads it hides, and decides at once.)
    let mut hard = String::new();
    for p in 0..14 {
        hard += &format!("p{p} invoke put a {p}\np{} invoke get a nil\n", p + 16);
    }
    for p in 0..14 {
        hard += &format!("p{p} ok put a {p}\np{} ok get a {p}\n", p + 16);
    }
    let budget = Budget {
        steps: 200_000,
        ..Budget::default()
    };
    let alone = check(
        &kv,
        &history(&format!("{hard}p14 invoke get a nil\np14 ok get a 99")),
        &budget,
    );
    assert!(matches!(alone, Verdict::Unknown(_)), "{alone:?}");
    // Key b: a read of a value never written, after one write.
    let b = "p15 invoke put b 1\np15 ok put b 1\np15 invoke get b nil\np15 ok get b 2";
    let both = history(&format!("{hard}p14 invoke get a nil\np14 ok get a 99\n{b}"));
    let Verdict::NotLinearizable(why) = check(&kv, &both, &budget) else {
        panic!("a violation on key b hidden by key a's search");
    };
    let named: Vec<String> = why
        .ops
        .iter()
        .map(|&i| both.ops[i].head().to_string())
        .collect();
    assert_eq!(named, ["p15 get \"b\""], "{why:?}");
    // Key b's read good: the verdict is key a's, unknown, and names it.
    let b = "p15 invoke put b 1\np15 ok put b 1\np15 invoke get b nil\np15 ok get b 1";
    let unknown = check(
        &kv,
        &history(&format!("{hard}p14 invoke get a nil\np14 ok get a 99\n{b}")),
        &budget,
    );
    let Verdict::Unknown(why) = unknown else {
        panic!("{unknown:?}");
    };
    assert!(
        why.starts_with("key \"a\": the search took more than 200000 steps"),
        "{why}"
    );
}

#[test]
fn a_mutex_is_held_by_one_process_at_a_time() {
    let ok = "p0 invoke lock nil\np0 ok lock nil\np0 invoke unlock nil\np0 ok unlock nil\np1 invoke lock nil\np1 ok lock nil";
    assert!(holds(&verdict(&Mutex, ok)));
    let both = "p0 invoke lock nil\np0 ok lock nil\np1 invoke lock nil\np1 ok lock nil";
    assert!(!holds(&verdict(&Mutex, both)));
    // Overlapping lock attempts: one may wait for the other's unlock.
    let overlapping = "p0 invoke lock nil\np1 invoke lock nil\np0 ok lock nil\np0 invoke unlock nil\np0 ok unlock nil\np1 ok lock nil";
    assert!(holds(&verdict(&Mutex, overlapping)));
    // As Jepsen's lock tests and Knossos name them: acquire and release.
    let jepsen = |h: &str| {
        h.replace(" unlock ", " release ")
            .replace(" lock ", " acquire ")
    };
    assert!(holds(&verdict(&Mutex, &jepsen(ok))));
    assert!(holds(&verdict(&Mutex, &jepsen(overlapping))));
    assert!(!holds(&verdict(&Mutex, &jepsen(both))));
}

#[test]
fn an_owned_mutex_is_freed_by_its_holder_alone_and_names_two_holders() {
    let ok = "p0 invoke lock nil\np0 ok lock nil\np0 invoke unlock nil\np0 ok unlock nil\np1 invoke lock nil\np1 ok lock nil";
    assert!(holds(&verdict(&OwnedMutex, ok)));
    let overlapping = "p0 invoke lock nil\np1 invoke lock nil\np0 ok lock nil\np0 invoke unlock nil\np0 ok unlock nil\np1 ok lock nil";
    assert!(holds(&verdict(&OwnedMutex, overlapping)));
    // p2 unlocks what p0 holds: Knossos's mutex lets p2's unlock free it
    // for p1, so p0 and p1 hold it at once unseen; held by its taker, it
    // cannot.
    let freed_by_another = "p0 invoke lock nil\np0 ok lock nil\np2 invoke unlock nil\np2 ok unlock nil\np1 invoke lock nil\np1 ok lock nil\np0 invoke unlock nil\np0 ok unlock nil";
    assert!(holds(&verdict(&Mutex, freed_by_another)));
    assert!(!holds(&verdict(&OwnedMutex, freed_by_another)));
    let jepsen = freed_by_another
        .replace(" unlock ", " release ")
        .replace(" lock ", " acquire ");
    assert!(!holds(&verdict(&OwnedMutex, &jepsen)));
    // p1 and p2 hold it at once (p1's lock returns while p2 holds it);
    // p0's unlock, between, may have freed it for one of them if any
    // process's unlock frees it, so Knossos's mutex needs p0's lock too
    // to show it: three witnesses where the two holders are enough.
    let lines: Vec<String> = EVENTS
        .iter()
        .map(|&(p, invoke, f)| format!("p{p} {} {f} nil", if invoke { "invoke" } else { "ok" }))
        .collect();
    let h = history(&lines.join("\n"));
    let knossos = check(&Mutex, &h, &Budget::default());
    let owned = check(&OwnedMutex, &h, &Budget::default());
    let (Verdict::NotLinearizable(k), Verdict::NotLinearizable(o)) = (&knossos, &owned) else {
        panic!("{knossos:?} {owned:?}");
    };
    assert_eq!(o.ops.len(), 2, "{owned:?}");
    assert_eq!(k.ops.len(), 3, "{knossos:?}");
    let said = describe(&h, &knossos);
    assert!(
        said.contains("`owned-mutex` checks that too and names the two holders"),
        "{said}"
    );
    let said = describe(&h, &owned);
    assert!(
        said.contains("these 2 operations cannot be linearized together"),
        "{said}"
    );
    assert!(
        said.contains("p1 lock -> nil (#2..#7)") && said.contains("p2 lock -> nil (#5..#6)"),
        "{said}"
    );
    assert!(!said.contains("owned-mutex"), "{said}");
    // By name, as a scenario or the command line says it.
    assert!(matches!(
        by_name("owned-mutex", Value::Nil, &h, &Budget::default()),
        Ok(Verdict::NotLinearizable(_))
    ));
}

#[test]
fn a_queue_hands_values_out_in_order() {
    let ok = "p0 invoke enqueue 1\np0 ok enqueue 1\np0 invoke enqueue 2\np0 ok enqueue 2\np1 invoke dequeue nil\np1 ok dequeue 1\np1 invoke dequeue nil\np1 ok dequeue 2\np1 invoke dequeue nil\np1 ok dequeue nil";
    assert!(holds(&verdict(&Queue::new(), ok)));
    let reordered = "p0 invoke enqueue 1\np0 ok enqueue 1\np0 invoke enqueue 2\np0 ok enqueue 2\np1 invoke dequeue nil\np1 ok dequeue 2";
    assert!(!holds(&verdict(&Queue::new(), reordered)));
}

#[test]
fn a_history_that_does_not_hold_together_is_refused_with_its_place() {
    let err = History::from_events(parse("p0 invoke write 1\np0 invoke write 2")).unwrap_err();
    assert_eq!(err.at, 1);
    let err = History::from_events(parse("p0 ok write 1")).unwrap_err();
    assert!(err.message.contains("invoked nothing"), "{err}");
    assert!(by_name(
        "registr",
        Value::Nil,
        &History::default(),
        &Budget::default()
    )
    .unwrap_err()
    .contains("did you mean `register`?"));
    let v = by_name(
        "register",
        Value::Nil,
        &history("p0 invoke lock nil\np0 ok lock nil"),
        &Budget::default(),
    )
    .unwrap();
    assert!(
        matches!(v, Verdict::Unknown(ref why) if why.contains("no operation `lock`")),
        "{v:?}"
    );
}

#[test]
fn a_budget_that_runs_out_says_unknown_never_a_guess() {
    let h = history(&concurrent_register_history(3, 400, 10, 0.2).0);
    let tiny = Budget {
        steps: 50,
        remembered: 1_000_000,
    };
    let v = check(&Register::new(Value::Int(0)), &h, &tiny);
    assert!(
        matches!(v, Verdict::Unknown(ref why) if why.contains("steps")),
        "{v:?}"
    );
}

/// The lines of a history in `tests/fixtures/histories`, less its
/// comments.
fn fixture_lines(name: &str) -> String {
    std::fs::read_to_string(format!("tests/fixtures/histories/{name}"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Writes whose outcome is never known (a partition's timeouts) may each
/// have taken effect at any time after they began, or never. A search in
/// time order met every sequence of them: on a user's primary-backup
/// register (143 operations, 80 writes timed out) it was unknown after
/// 5,000,000 configurations. With the known outcomes tried first, under
/// dominance, it is judged in a small budget, and a stale read appended
/// (after a write of 7, a read of the first value written) is caught
/// with its two witnesses.
#[test]
fn a_partitions_timed_out_writes_are_judged_and_a_stale_read_among_them_caught() {
    let lines = fixture_lines("primary-backup-partition.txt");
    let h = history(&lines);
    let unknown = h.ops.iter().filter(|o| o.ret.is_none()).count();
    assert_eq!((h.ops.len(), unknown), (143, 80));
    let reg = Register::new(Value::Int(0));
    let small = Budget {
        steps: 200_000,
        remembered: 200_000,
    };
    let v = check(&reg, &h, &small);
    assert!(holds(&v), "{v:?}");
    let stale = format!(
        "{lines}p900 invoke write 7\np900 ok write 7\np901 invoke read nil\np901 ok read 709\n"
    );
    let h = history(&stale);
    let Verdict::NotLinearizable(why) = check(&reg, &h, &Budget::default()) else {
        panic!("the stale read is not caught");
    };
    let named: Vec<(&str, Option<&Value>)> = why
        .ops
        .iter()
        .map(|&i| (h.ops[i].f.as_str(), h.ops[i].output.as_ref()))
        .collect();
    assert_eq!(named.len(), 2, "{why:?}");
    assert!(named.contains(&("read", Some(&Value::Int(709)))), "{why:?}");
    assert!(why.minimal, "{why:?}");
}

/// Writes that completed but whose value no read returned must each take
/// effect within its call, and nothing says when: a search met every
/// subset of those running at once, each with each last value. On a
/// user's primary-backup register whose primary was crashed twice (147
/// operations, 46 such writes) it was unknown after 5,000,000
/// configurations and 25 s. Each such write is now hidden by the next
/// write to take effect while it could: it is judged in a small budget,
/// and a stale read appended (after a write of 7, a read of the initial
/// 0) is caught with its two witnesses.
#[test]
fn writes_whose_value_no_read_returned_are_judged_and_a_stale_read_after_them_caught() {
    let lines = fixture_lines("primary-backup-primary-crashed.txt");
    let h = history(&lines);
    let read: Vec<&Value> = h
        .ops
        .iter()
        .filter(|o| o.f == "read")
        .filter_map(|o| o.output.as_ref())
        .collect();
    let unread = h
        .ops
        .iter()
        .filter(|o| o.f == "write" && o.ret.is_some() && !read.contains(&&o.input))
        .count();
    assert_eq!((h.ops.len(), unread), (147, 46));
    let reg = Register::new(Value::Int(0));
    let small = Budget {
        steps: 200_000,
        remembered: 200_000,
    };
    let v = check(&reg, &h, &small);
    assert!(holds(&v), "{v:?}");
    let stale = format!(
        "{lines}p900 invoke write 7\np900 ok write 7\np901 invoke read nil\np901 ok read 0\n"
    );
    let h = history(&stale);
    let Verdict::NotLinearizable(why) = check(&reg, &h, &Budget::default()) else {
        panic!("the stale read is not caught");
    };
    let named: Vec<String> = why
        .ops
        .iter()
        .map(|&i| h.ops[i].head().to_string())
        .collect();
    assert_eq!(named, ["p900 write 7", "p901 read"], "{why:?}");
    assert!(why.minimal, "{why:?}");
}

/// A put nothing reads is hidden only by what leaves the state as it
/// would have left it without the put: not by an append, whose list then
/// holds the put's value. (A put of 5 and an append of 6 at once, then a
/// read: of 5 with 6, or of 5 alone, is linearizable; of the initial 0
/// with 6 is not, as the put cannot have been hidden by the append.)
#[test]
fn a_put_nothing_reads_is_not_hidden_by_an_append() {
    let kv = KeyValue::new(Value::Int(0));
    let h = |read: &str| {
        format!(
            "p1 invoke put k 5\np2 invoke append k 6\np2 ok append k 6\np1 ok put k 5\n\
             p3 invoke get k nil\np3 ok get k {read}"
        )
    };
    assert!(holds(&verdict(&kv, &h("5,6"))));
    assert!(holds(&verdict(&kv, &h("5"))));
    assert!(!holds(&verdict(&kv, &h("0,6"))));
}

/// A history of a real object used by `clients` clients, whose writes
/// each write a value of their own and are seldom read back, so most are
/// hidden by the search: a register (`"register"`), one with
/// compare-and-set (`"cas"`), or a key of a store with appends (`"kv"`).
/// Each operation takes effect at one instant within its call; some
/// outcomes are unknown and some reads return an older value instead.
fn unread_writes_history(seed: u64, kind: &str, ops: usize, clients: u64) -> String {
    use rand_chacha::ChaCha8Rng;
    use rand_core::{Rng, SeedableRng};
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut roll = move |n: u64| rng.next_u64() % n;
    let show = |v: &[i64]| v.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    let key = if kind == "kv" { " k" } else { "" };
    // The value (a list when appended to); each written value is new.
    let mut value: Vec<i64> = vec![0];
    let mut fresh = 0;
    // Per client: the operation in flight (f, input, result once applied).
    type InFlight<'a> = Option<(&'a str, Vec<i64>, Option<String>)>;
    let mut pending: Vec<InFlight> = vec![None; clients as usize];
    let (mut lines, mut started) = (Vec::new(), 0);
    while started < ops || pending.iter().any(Option::is_some) {
        let c = roll(clients) as usize;
        let p = c + 1;
        match &mut pending[c] {
            None if started < ops => {
                started += 1;
                fresh += 1;
                let (f, input) = match (kind, roll(10)) {
                    ("kv", 0..=2) => ("get", vec![]),
                    ("kv", 3..=5) => ("append", vec![fresh]),
                    ("kv", _) => ("put", vec![fresh]),
                    ("cas", 8..=9) => {
                        let old = match roll(2) {
                            0 => value[0],
                            _ => roll(fresh as u64) as i64,
                        };
                        ("cas", vec![old, fresh])
                    }
                    (_, 0..=2) => ("read", vec![]),
                    _ => ("write", vec![fresh]),
                };
                let shown = match input.is_empty() {
                    true => "nil".to_string(),
                    false => show(&input),
                };
                lines.push(format!("p{p} invoke {f}{key} {shown}"));
                pending[c] = Some((f, input, None));
            }
            None => {}
            Some((f, input, applied @ None)) if roll(3) == 0 => {
                // The atomic instant.
                *applied = Some(match *f {
                    "read" | "get" => show(&value),
                    "append" => {
                        value.push(input[0]);
                        "ok".into()
                    }
                    "cas" if value == [input[0]] => {
                        value = vec![input[1]];
                        "ok".into()
                    }
                    "cas" => "fail".into(),
                    _ => {
                        value = input.clone();
                        "ok".into()
                    }
                });
            }
            Some((f, input, Some(result))) if roll(2) == 0 => {
                let shown = match input.is_empty() {
                    true => "nil".to_string(),
                    false => show(input),
                };
                let line = match (*f, result.as_str(), roll(8)) {
                    (_, _, 0) => format!("p{p} info {f}{key} {shown}"),
                    ("read" | "get", _, 1..=3) => {
                        format!("p{p} ok {f}{key} {}", roll(fresh as u64))
                    }
                    ("read" | "get", result, _) => format!("p{p} ok {f}{key} {result}"),
                    (_, "fail", _) => format!("p{p} fail {f}{key} {shown}"),
                    _ => format!("p{p} ok {f}{key} {shown}"),
                };
                lines.push(line);
                pending[c] = None;
            }
            Some(_) => {}
        }
    }
    lines.join("\n")
}

/// With writes of values nothing reads hidden, the search gives the
/// verdict trying every order gives: on registers, registers with
/// compare-and-set and a store's key with appends, most writes unread,
/// some outcomes unknown, some reads stale.
#[test]
fn hiding_writes_nothing_reads_keeps_every_verdict() {
    let mut verdicts = [[0; 2]; 3];
    for seed in 0..2000u64 {
        let ops = 3 + (seed % 6) as usize;
        for (m, kind) in ["register", "cas", "kv"].into_iter().enumerate() {
            let lines = unread_writes_history(seed, kind, ops, 2 + seed % 3);
            let h = history(&lines);
            let (search, brute) = match kind {
                "register" => search_and_brute_force(&Register::new(Value::Int(0)), &h),
                "cas" => search_and_brute_force(&CasRegister::new(Value::Int(0)), &h),
                _ => search_and_brute_force(&KeyValue::new(Value::Int(0)), &h),
            };
            assert_eq!(search, brute, "{kind} seed {seed}:\n{lines}");
            verdicts[m][usize::from(search)] += 1;
        }
    }
    assert!(
        verdicts.iter().all(|v| v[0] >= 40 && v[1] >= 40),
        "{verdicts:?}"
    );
}

/// A history of a real atomic register used by `clients` clients: each
/// operation takes effect at one instant between its invocation and its
/// completion. Returns the lines and the number of reads.
fn concurrent_register_history(seed: u64, ops: usize, clients: u64, info: f64) -> (String, usize) {
    use rand_chacha::ChaCha8Rng;
    use rand_core::{Rng, SeedableRng};
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut value = 0i64;
    let mut lines = Vec::new();
    // Per client: the operation in flight, (f, arg, applied result).
    let mut pending: Vec<Option<(String, i64, Option<i64>)>> = vec![None; clients as usize];
    let mut started = 0;
    let mut reads = 0;
    while started < ops || pending.iter().any(Option::is_some) {
        let c = (rng.next_u64() % clients) as usize;
        let step = rng.next_u64() % 3;
        match (&mut pending[c], step) {
            (None, _) if started < ops => {
                let write = rng.next_u64() % 2 == 0;
                let arg = (rng.next_u64() % 5) as i64;
                let (f, shown) = if write {
                    ("write", arg.to_string())
                } else {
                    ("read", "nil".into())
                };
                reads += usize::from(!write);
                lines.push(format!("p{c} invoke {f} {shown}"));
                pending[c] = Some((f.to_string(), arg, None));
                started += 1;
            }
            (Some((f, arg, applied @ None)), 0) => {
                // The atomic instant.
                if f == "write" {
                    value = *arg;
                }
                *applied = Some(value);
            }
            (Some((f, arg, Some(result))), 1 | 2) => {
                let unknown = (rng.next_u64() % 1000) as f64 / 1000.0 < info;
                let line = match (f.as_str(), unknown) {
                    (_, true) => format!("p{c} info {f} nil"),
                    ("write", _) => format!("p{c} ok write {arg}"),
                    _ => format!("p{c} ok read {result}"),
                };
                lines.push(line);
                pending[c] = None;
            }
            _ => {}
        }
    }
    (lines.join("\n"), reads)
}

/// A history of a real queue used by `clients` clients, each operation
/// taking effect at one instant within its call: FIFO, or taking a value
/// at random (`fifo` false); values enqueued are distinct; a dequeue of an
/// empty queue returns nil, or, `fail_empty`, fails (as Jepsen's clients
/// say); with chance `info` an outcome is never known.
fn concurrent_queue_history(
    seed: u64,
    ops: usize,
    clients: u64,
    info: f64,
    fifo: bool,
    fail_empty: bool,
) -> String {
    use rand_chacha::ChaCha8Rng;
    use rand_core::{Rng, SeedableRng};
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut queue: std::collections::VecDeque<i64> = Default::default();
    let mut lines = Vec::new();
    // Per client: the operation in flight, (enqueue's value or none for a
    // dequeue, whether applied, what it returned).
    type InFlight = (Option<i64>, bool, Option<i64>);
    let mut pending: Vec<Option<InFlight>> = vec![None; clients as usize];
    let (mut started, mut next) = (0, 1);
    while started < ops || pending.iter().any(Option::is_some) {
        let c = (rng.next_u64() % clients) as usize;
        match (&mut pending[c], rng.next_u64() % 3) {
            (None, _) if started < ops => {
                started += 1;
                let enqueue = rng.next_u64() % 2 == 0;
                if enqueue {
                    lines.push(format!("p{c} invoke enqueue {next}"));
                    pending[c] = Some((Some(next), false, None));
                    next += 1;
                } else {
                    lines.push(format!("p{c} invoke dequeue nil"));
                    pending[c] = Some((None, false, None));
                }
            }
            (Some((enqueued, applied @ false, taken)), 0) => {
                *applied = true;
                match enqueued {
                    Some(v) => queue.push_back(*v),
                    None if fifo => *taken = queue.pop_front(),
                    None => {
                        let at = (rng.next_u64() as usize) % queue.len().max(1);
                        *taken = queue.remove(at);
                    }
                }
            }
            (Some((enqueued, true, taken)), 1 | 2) => {
                let unknown = (rng.next_u64() % 1000) as f64 / 1000.0 < info;
                let line = match (enqueued, taken, unknown) {
                    (Some(v), _, false) => format!("p{c} ok enqueue {v}"),
                    (Some(v), _, true) => format!("p{c} info enqueue {v}"),
                    (None, _, true) => format!("p{c} info dequeue nil"),
                    (None, Some(v), false) => format!("p{c} ok dequeue {v}"),
                    (None, None, false) if fail_empty => format!("p{c} fail dequeue nil"),
                    (None, None, false) => format!("p{c} ok dequeue nil"),
                };
                lines.push(line);
                pending[c] = None;
            }
            _ => {}
        }
    }
    lines.join("\n")
}

/// Long histories of real queues used by five clients at once: the
/// search is told which values must leave before which (a FIFO queue's
/// values enqueued at once leave in the order their dequeues ran; an
/// unordered queue's values are apart when no dequeue found it empty),
/// and judges 3,000 operations within the default budget; one value
/// dequeued twice is caught. Without that, a FIFO queue's 1,000 outgrew
/// the budget (every order of the values enqueued at once was tried
/// before a dequeue far later refused it).
#[test]
fn long_queue_histories_of_values_enqueued_at_once_are_judged() {
    for seed in 0..3 {
        for (model, fifo, fail_empty) in [
            ("queue", true, false),
            ("queue", true, true),
            ("unordered-queue", false, true),
        ] {
            let lines = concurrent_queue_history(seed, 3000, 5, 0.0, fifo, fail_empty);
            let h = history(&lines);
            let v = by_name(model, Value::Nil, &h, &Budget::default()).unwrap();
            assert!(holds(&v), "{model} seed {seed}: {v:?}");
            // The 100th value dequeued, dequeued again at the end of the
            // first 300 operations (to refute every order of a long
            // history is past the budget: the configurations reached at
            // each point, hundreds, all need refuting).
            let lines = concurrent_queue_history(seed, 300, 5, 0.0, fifo, fail_empty);
            let twice: Vec<String> = lines.lines().map(String::from).collect();
            let first = twice
                .iter()
                .filter(|l| l.contains(" ok dequeue ") && !l.ends_with(" nil"))
                .nth(100)
                .unwrap();
            let value = first.rsplit(' ').next().unwrap().to_string();
            let mut twice = twice.clone();
            twice.push(format!("p9 invoke dequeue nil\np9 ok dequeue {value}"));
            let v = by_name(
                model,
                Value::Nil,
                &history(&twice.join("\n")),
                &Budget::default(),
            )
            .unwrap();
            let Verdict::NotLinearizable(why) = v else {
                panic!("{model} seed {seed}: a value dequeued twice: {v:?}");
            };
            assert_eq!(why.ops.len(), 2, "{model} seed {seed}: {why:?}");
        }
    }
}

/// A history of up to `ops` operations by three clients with outcomes
/// drawn at random (most of them impossible together), on one key of
/// `model`: `kv` (put, append, get, cas), `strings` (the kv model's put,
/// append and get of strings, which concatenate, as Porcupine's and
/// 6.824's stores append, a key never written read as ""), `txn` (the
/// multi-register model's transactions over registers x and y),
/// `set` (adds, and reads of every element in any order), `register`,
/// `queue` or `unordered-queue`.
fn random_history(model: &str, seed: u64, ops: usize) -> History {
    use rand_chacha::ChaCha8Rng;
    use rand_core::{Rng, SeedableRng};
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut small = move |n: u64| rng.next_u64() % n;
    let mut events = Vec::new();
    let mut running: [Option<(String, Value)>; 3] = Default::default();
    let (mut started, mut t) = (0, 0u64);
    while started < ops || running.iter().any(Option::is_some) {
        let c = small(3) as usize;
        let int = |v: u64| Value::Int(v as i64 + 1);
        // Short strings, some inside others: "b" is in "ab", "bc", "abc".
        let string = |v: u64| Value::Str(["a", "b", "ab", "bc", "c", "abc"][v as usize].into());
        let (phase, f, value) = match running[c].take() {
            None if started < ops => {
                started += 1;
                let (f, input) = match (model, small(4)) {
                    // Each value once: what the FIFO queue's search is told
                    // of (which value must leave before which) holds.
                    ("distinct-queue", 0 | 1) => ("enqueue", int(started as u64)),
                    ("distinct-queue", _) => ("dequeue", Value::Nil),
                    ("queue" | "unordered-queue", 0 | 1) => ("enqueue", int(small(3))),
                    ("queue" | "unordered-queue", _) => ("dequeue", Value::Nil),
                    ("set", 0 | 1) => ("add", int(small(3))),
                    ("set", _) => ("read", Value::Nil),
                    ("txn", _) => {
                        let steps = (0..1 + small(2))
                            .map(|_| {
                                let k = Value::Str(["x", "y"][small(2) as usize].into());
                                match small(2) {
                                    0 => Value::List(vec![
                                        Value::Str("write".into()),
                                        k,
                                        int(small(2)),
                                    ]),
                                    _ => {
                                        Value::List(vec![Value::Str("read".into()), k, Value::Nil])
                                    }
                                }
                            })
                            .collect();
                        ("txn", Value::List(steps))
                    }
                    ("strings", 0 | 1) => ("append", string(small(6))),
                    ("strings", 2) => ("put", string(small(6))),
                    ("kv", 0) => ("append", int(small(3))),
                    ("kv", 1) => ("cas", Value::List(vec![int(small(3)), int(small(3))])),
                    (_, 0 | 1) => ("put", int(small(3))),
                    _ => ("get", Value::Nil),
                };
                running[c] = Some((f.to_string(), input.clone()));
                (Phase::Invoke, f.to_string(), input)
            }
            None => continue,
            Some((f, input)) => {
                let filled = match (f.as_str(), &input) {
                    // A transaction's reads see a value, or nil (any).
                    ("txn", Value::List(steps)) => Value::List(
                        steps
                            .iter()
                            .map(|step| match step {
                                Value::List(s) if s[0] == Value::Str("read".into()) => {
                                    let v = match small(3) {
                                        0 => Value::Nil,
                                        v => int(v - 1),
                                    };
                                    Value::List(vec![s[0].clone(), s[1].clone(), v])
                                }
                                _ => step.clone(),
                            })
                            .collect(),
                    ),
                    _ => Value::Nil,
                };
                let output = match f.as_str() {
                    "txn" => filled,
                    // Some of 1, 2 and 3, in either order, or nil.
                    "read" => match small(8) {
                        0 => Value::Nil,
                        bits => {
                            let mut items: Vec<Value> =
                                (0..3).filter(|i| bits >> i & 1 == 1).map(int).collect();
                            if small(2) == 0 {
                                items.reverse();
                            }
                            Value::List(items)
                        }
                    },
                    "get" if model == "strings" => match small(4) {
                        0 => Value::Str(String::new()),
                        1 => string(small(6)),
                        _ => Value::Str(format!("{}{}", string(small(6)), string(small(6)))),
                    },
                    "dequeue" if model == "distinct-queue" => match small(started as u64 + 1) {
                        0 => Value::Nil,
                        v => int(v),
                    },
                    "get" | "dequeue" => match small(5) {
                        0 => Value::Nil,
                        1 if model == "kv" => Value::List(vec![int(small(3))]),
                        2 if model == "kv" => Value::List(vec![int(small(3)), int(small(3))]),
                        v => int(v % 3),
                    },
                    _ => input,
                };
                // A few outcomes are never known (for the unordered
                // queue, more: which value each such dequeue took is what
                // its model must get right).
                let unknown = if model == "unordered-queue" { 3 } else { 10 };
                let phase = if small(unknown) == 0 {
                    Phase::Info
                } else {
                    Phase::Ok
                };
                (phase, f, output)
            }
        };
        let key = matches!(model, "kv" | "strings").then(|| Value::Str("k".into()));
        let process = c as u64;
        events.push((
            t,
            Op {
                process,
                phase,
                f,
                key,
                value,
            },
        ));
        t += 1;
    }
    History::from_events(events).unwrap()
}

/// Every witness set the checker names, on random small histories of
/// the models that leave needless operations out, is one and is minimal,
/// by brute force.
#[test]
fn every_witness_named_is_one_and_minimal() {
    /// Whether the checker finds `h` a violation; if so, its witnesses
    /// are one and minimal.
    fn caught<M: dsim::check::linearizable::Model>(m: &M, h: &History, what: &str) -> bool {
        let Verdict::NotLinearizable(why) = check(m, h, &Budget::default()) else {
            return false;
        };
        assert!(why.minimal, "{what}: {why:?}");
        assert_witnessed(m, h, &why);
        true
    }
    let kinds = [
        "kv",
        "register",
        "queue",
        "strings",
        "set",
        "unordered-queue",
        "txn",
        "distinct-queue",
    ];
    let mut caught_ = [0; 8];
    for seed in 0..2000u64 {
        let ops = 2 + (seed % 8) as usize;
        for (m, name) in kinds.into_iter().enumerate() {
            let h = random_history(name, seed, ops);
            let what = format!("{name} seed {seed}");
            let found = match name {
                "kv" | "strings" => caught(&KeyValue::new(Value::Nil), &h, &what),
                "register" => caught(&Register::new(Value::Nil), &h, &what),
                "queue" | "distinct-queue" => caught(&Queue::new(), &h, &what),
                "set" => caught(&Set, &h, &what),
                "txn" => caught(&MultiRegister::new(Value::Nil), &h, &what),
                _ => caught(&UnorderedQueue, &h, &what),
            };
            caught_[m] += usize::from(found);
        }
    }
    // Most random histories are violations: each model judged many.
    assert!(caught_.iter().all(|&n| n >= 100), "{caught_:?}");
}

/// Whether `h` linearizes, by trying every order that keeps real time:
/// an operation completed before another was invoked comes first; one whose
/// outcome is unknown may also not have happened at all.
fn linearizes_by_brute_force<M: dsim::check::linearizable::Model>(m: &M, h: &History) -> bool {
    linearizes_by_every_choice(h, m.init(), &|state, o| {
        m.step(state, o).into_iter().collect()
    })
}

/// As [`linearizes_by_brute_force`], for a model whose operation may lead
/// to any of several states (`steps`; none: it cannot happen there).
fn linearizes_by_every_choice<S: Clone>(
    h: &History,
    init: S,
    steps: &dyn Fn(&S, &dsim::check::linearizable::Operation) -> Vec<S>,
) -> bool {
    fn go<S: Clone>(
        h: &History,
        steps: &dyn Fn(&S, &dsim::check::linearizable::Operation) -> Vec<S>,
        placed: &mut Vec<bool>,
        state: &S,
    ) -> bool {
        let ops = &h.ops;
        if (0..ops.len()).all(|i| placed[i] || ops[i].ret.is_none()) {
            return true;
        }
        (0..ops.len()).any(|i| {
            let o = &ops[i];
            let ready = !placed[i]
                && (0..ops.len()).all(|j| placed[j] || ops[j].ret.is_none_or(|r| r >= o.call));
            if !ready {
                return false;
            }
            placed[i] = true;
            let found = steps(state, o)
                .iter()
                .any(|next| go(h, steps, placed, next));
            placed[i] = false;
            found
        })
    }
    go(h, steps, &mut vec![false; h.ops.len()], &init)
}

/// `lines` with the read on every third line made to return the next
/// value (of 0..5) instead: most such histories are violations.
fn stale_every_third_read(lines: &str) -> String {
    let wrong: Vec<String> = lines
        .lines()
        .enumerate()
        .map(|(i, l)| match l.split_once(" ok read ") {
            Some((p, v)) if i % 3 == 0 => {
                format!("{p} ok read {}", (v.parse::<i64>().unwrap() + 1) % 5)
            }
            _ => l.to_string(),
        })
        .collect();
    wrong.join("\n")
}

/// Whether `h` holds for the checker, and by trying every order.
fn search_and_brute_force<M: dsim::check::linearizable::Model>(m: &M, h: &History) -> (bool, bool) {
    (
        holds(&check(m, h, &Budget::default())),
        linearizes_by_brute_force(m, h),
    )
}

/// The search (with the compact key it remembers configurations by: the
/// first completion left and the operations still running before it, or a
/// bit per operation when those are many) gives the verdict that trying
/// every order gives, on random histories of six models (kv with lists
/// and with strings, multi-register, register, queue with values alike
/// and each value once, set, unordered queue), most of them violations, and on histories of real
/// registers with many clients and unknown outcomes, some reads made wrong.
#[test]
fn the_search_agrees_with_trying_every_order() {
    let mut verdicts = [[0; 2]; 10];
    let mut judge = |m: usize, h: &History, (holds_, brute): (bool, bool), what: &str| {
        assert_eq!(
            holds_, brute,
            "{what}: search says {holds_}, every order says {brute}\n{h:?}"
        );
        verdicts[m][usize::from(holds_)] += 1;
    };
    let kv = KeyValue::new(Value::Nil);
    let reg = Register::new(Value::Nil);
    let txn = MultiRegister::new(Value::Nil);
    for seed in 0..400u64 {
        let ops = 2 + (seed % 7) as usize;
        for (m, name) in [(0, "kv"), (4, "strings")] {
            let h = random_history(name, seed, ops);
            judge(m, &h, search_and_brute_force(&kv, &h), name);
        }
        let h = random_history("txn", seed, ops);
        judge(5, &h, search_and_brute_force(&txn, &h), "txn");
        let h = random_history("register", seed, ops);
        judge(1, &h, search_and_brute_force(&reg, &h), "register");
        let h = random_history("queue", seed, ops);
        judge(2, &h, search_and_brute_force(&Queue::new(), &h), "queue");
        let h = random_history("set", seed, ops);
        judge(6, &h, search_and_brute_force(&Set, &h), "set");
        let h = random_history("unordered-queue", seed, ops);
        judge(
            7,
            &h,
            search_and_brute_force(&UnorderedQueue, &h),
            "unordered-queue",
        );
        let h = random_history("distinct-queue", seed, ops);
        judge(
            8,
            &h,
            search_and_brute_force(&Queue::new(), &h),
            "distinct-queue",
        );
        let (lines, _) = concurrent_register_history(seed, 4 + (seed % 6) as usize, 5, 0.3);
        let h = history(&stale_every_third_read(&lines));
        let reg0 = Register::new(Value::Int(0));
        judge(
            3,
            &h,
            search_and_brute_force(&reg0, &h),
            "register, 5 clients",
        );
        // Most outcomes unknown: the search lets fewer of those take
        // effect first and does not explore what that dominates.
        let (lines, _) = concurrent_register_history(seed, 5 + (seed % 5) as usize, 5, 0.7);
        let h = history(&stale_every_third_read(&lines));
        judge(
            9,
            &h,
            search_and_brute_force(&reg0, &h),
            "register, most outcomes unknown",
        );
    }
    // Both verdicts, many times, for each kind of history.
    assert!(
        verdicts.iter().all(|v| v[0] >= 20 && v[1] >= 20),
        "{verdicts:?}"
    );
}

/// The unordered queue, whose dequeue of unknown outcome may have taken
/// any value, keeps every multiset the queue may hold: its verdicts are
/// those of trying every order and every value each such dequeue took, on
/// random histories, among them some that hold only because a dequeue of
/// unknown outcome took a value (Knossos's model, which lets it take none,
/// would call them violations).
#[test]
fn an_unordered_queue_judges_as_every_order_and_every_value_taken() {
    let steps = |q: &Vec<Value>, o: &dsim::check::linearizable::Operation| -> Vec<Vec<Value>> {
        let without = |i: usize| {
            let mut q = q.clone();
            q.remove(i);
            q
        };
        match (o.f.as_str(), &o.output) {
            ("enqueue", _) => vec![[q.clone(), vec![o.input.clone()]].concat()],
            ("dequeue", Some(Value::Nil)) | ("dequeue", None) if q.is_empty() => vec![q.clone()],
            ("dequeue", Some(v)) => q
                .iter()
                .position(|x| x == v)
                .map(without)
                .into_iter()
                .collect(),
            ("dequeue", None) => (0..q.len()).map(without).collect(),
            _ => Vec::new(),
        }
    };
    let takes_none = |q: &Vec<Value>, o: &dsim::check::linearizable::Operation| match o.output {
        None if o.f == "dequeue" => Vec::new(),
        _ => steps(q, o),
    };
    let (mut verdicts, mut only_by_a_value_taken) = ([0; 2], 0);
    for seed in 0..30000u64 {
        let h = random_history("unordered-queue", seed, 2 + (seed % 8) as usize);
        let holds_ = holds(&check(&UnorderedQueue, &h, &Budget::default()));
        let brute = linearizes_by_every_choice(&h, Vec::new(), &steps);
        assert_eq!(
            holds_, brute,
            "seed {seed}: search says {holds_}, every choice says {brute}\n{h:?}"
        );
        verdicts[usize::from(holds_)] += 1;
        only_by_a_value_taken +=
            usize::from(holds_ && !linearizes_by_every_choice(&h, Vec::new(), &takes_none));
    }
    assert!(verdicts.iter().all(|&n| n >= 100), "{verdicts:?}");
    assert!(only_by_a_value_taken >= 5, "{only_by_a_value_taken}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn a_real_atomic_registers_history_is_always_linearizable(
        seed in any::<u64>(), ops in 1usize..120, clients in 1u64..6, info in 0.0f64..0.3
    ) {
        let (lines, _) = concurrent_register_history(seed, ops, clients, info);
        let v = check(&Register::new(Value::Int(0)), &history(&lines), &Budget::default());
        prop_assert!(holds(&v), "{v:?}\n{lines}");
    }

    #[test]
    fn one_read_of_a_value_never_written_is_always_caught(
        seed in any::<u64>(), ops in 2usize..120, clients in 1u64..6, pick in any::<usize>()
    ) {
        let (lines, reads) = concurrent_register_history(seed, ops, clients, 0.0);
        prop_assume!(reads > 0);
        // Corrupt one completed read.
        let mut done = 0;
        let target = pick % reads;
        let corrupted: Vec<String> = lines.lines().map(|l| {
            if l.contains(" ok read ") {
                done += 1;
                if done - 1 == target {
                    let p = l.split(' ').next().unwrap();
                    return format!("{p} ok read 99");
                }
            }
            l.to_string()
        }).collect();
        let corrupted = corrupted.join("\n");
        prop_assume!(corrupted != lines);
        let v = check(&Register::new(Value::Int(0)), &history(&corrupted), &Budget::default());
        prop_assert!(matches!(v, Verdict::NotLinearizable(_)), "{v:?}\n{corrupted}");
    }
}

mod jepsen_import {
    use super::*;
    use dsim::check::jepsen::read;

    fn verdict_of(text: &str, model: &str) -> Verdict {
        let h = History::from_events(read(text).unwrap()).unwrap();
        by_name(model, Value::Nil, &h, &Budget::default()).unwrap()
    }

    /// Knossos's multi-register: transactions read and write several
    /// registers at once; a read that sees half of a transaction's writes
    /// is caught, a read of nil is of any value, and a transaction the
    /// model cannot read leaves the verdict unknown, saying why.
    #[test]
    fn a_transaction_over_registers_takes_effect_at_once() {
        let txn = |p: u64, t: &str, v: &str| {
            format!("{{:process {p}, :type :{t}, :f :txn, :value {v}}}\n")
        };
        let write = txn(0, "invoke", "[[:write :x 1] [:write :y 1]]")
            + &txn(0, "ok", "[[:write :x 1] [:write :y 1]]");
        let initial = |text: &str| {
            let h = History::from_events(read(text).unwrap()).unwrap();
            by_name("multi-register", Value::Int(0), &h, &Budget::default()).unwrap()
        };
        let reads = |x: &str, y: &str| {
            txn(1, "invoke", "[[:read :x nil] [:r :y nil]]")
                + &txn(1, "ok", &format!("[[:read :x {x}] [:r :y {y}]]"))
        };
        assert!(holds(&initial(
            &(reads("0", "0") + &write + &reads("1", "1"))
        )));
        assert!(holds(&initial(
            &(reads("nil", "0") + &write + &reads("1", "nil"))
        )));
        // Every read answered nil, where the registers start at 0: no
        // order could fail it, so it is not judged, and says why.
        let Verdict::Unknown(why) = initial(&(reads("nil", "nil") + &write + &reads("nil", "nil")))
        else {
            panic!("a history of nil reads judged");
        };
        assert!(
            why.contains("all 4 reads the transactions returned are nil")
                && why.contains("complete each transaction with the values its reads saw"),
            "{why}"
        );
        // From nil, as Knossos's own histories may start, it is judged.
        let from_nil = reads("nil", "nil") + &write + &reads("nil", "nil");
        let h = History::from_events(read(&from_nil).unwrap()).unwrap();
        assert!(holds(
            &by_name("multi-register", Value::Nil, &h, &Budget::default()).unwrap()
        ));
        let Verdict::NotLinearizable(why) = initial(&(write.clone() + &reads("1", "0"))) else {
            panic!("a fractured read passed");
        };
        // The read alone: no order of the write, nor its absence, explains it.
        assert_eq!((why.ops, why.free), (vec![1], vec![0]));
        // Torn between two transactions: the read is the witness alone,
        // the two that wrote what it read are named first among those
        // free (before an earlier write of another register), and the
        // hint says it saw part of one, not where the model starts.
        let torn = txn(2, "invoke", "[[:w :z 7]]")
            + &txn(2, "ok", "[[:w :z 7]]")
            + &write
            + &txn(0, "invoke", "[[:write :x 2] [:write :y 2]]")
            + &txn(0, "ok", "[[:write :x 2] [:write :y 2]]")
            + &reads("1", "2");
        let h = History::from_events(read(&torn).unwrap()).unwrap();
        let v = by_name("multi-register", Value::Int(0), &h, &Budget::default()).unwrap();
        let Verdict::NotLinearizable(why) = &v else {
            panic!("a torn read passed");
        };
        assert_eq!(
            (why.ops.clone(), why.free.clone()),
            (vec![3], vec![1, 2, 0])
        );
        let text = dsim::check::linearizable::describe_from(&h, &v, &Value::Int(0));
        assert!(
            text.contains("was written by another operation")
                && text.contains("a torn read")
                && !text.contains("where the model starts (`initial`"),
            "{text}"
        );
        // A value no transaction wrote, though one names it as a key:
        // not a torn read, the model's start is the pointer.
        let keyed = txn(0, "invoke", "[[:w 1 5] [:w 2 5]]")
            + &txn(0, "ok", "[[:w 1 5] [:w 2 5]]")
            + &txn(1, "invoke", "[[:r 1 nil]]")
            + &txn(1, "ok", "[[:r 1 2]]");
        let h = History::from_events(read(&keyed).unwrap()).unwrap();
        let v = by_name("multi-register", Value::Int(0), &h, &Budget::default()).unwrap();
        let text = dsim::check::linearizable::describe_from(&h, &v, &Value::Int(0));
        assert!(
            text.contains("look at where the model starts") && !text.contains("torn read"),
            "{text}"
        );
        // A stale read: the later write and the read are the witnesses;
        // the write of what it read, seen, is free (not left out).
        let stale = txn(0, "invoke", "[[:w :x 1]]")
            + &txn(0, "ok", "[[:w :x 1]]")
            + &txn(0, "invoke", "[[:w :x 2]]")
            + &txn(0, "ok", "[[:w :x 2]]")
            + &txn(1, "invoke", "[[:r :x nil]]")
            + &txn(1, "ok", "[[:r :x 1]]");
        let Verdict::NotLinearizable(why) = verdict_of(&stale, "multi-register") else {
            panic!("a stale read passed");
        };
        assert_eq!((why.ops, why.free), (vec![1, 2], vec![0]));
        // Both at once: either order.
        let overlapping = txn(0, "invoke", "[[:write :x 1] [:write :y 1]]")
            + &txn(1, "invoke", "[[:read :x nil] [:read :y nil]]")
            + &txn(1, "ok", "[[:read :x 0] [:read :y 0]]")
            + &txn(0, "ok", "[[:write :x 1] [:write :y 1]]");
        assert!(holds(&initial(&overlapping)));
        let Verdict::Unknown(why) =
            verdict_of(&txn(0, "invoke", "[[:append :x 1]]"), "multi-register")
        else {
            panic!("an append judged");
        };
        assert!(why.contains("[[f k v] ...], f read or write"), "{why}");
    }

    /// Knossos's set and unordered queue: a set's read returns every
    /// element, as an EDN set or a list in any order, an add of unknown
    /// outcome in it or not; a queue's dequeue returns any value in it, and
    /// one of unknown outcome may have taken any (`nil` read then: empty).
    #[test]
    fn a_set_reads_whole_and_an_unordered_queue_in_any_order() {
        let op = |p: u64, t: &str, f: &str, v: &str| {
            format!("{{:process {p}, :type :{t}, :f :{f}, :value {v}}}\n")
        };
        let both = |p: u64, f: &str, v: &str| op(p, "invoke", f, "nil") + &op(p, "ok", f, v);
        let adds = op(0, "invoke", "add", "1")
            + &op(0, "ok", "add", "1")
            + &op(1, "invoke", "add", "2")
            + &op(1, "info", "add", "2")
            + &op(0, "invoke", "add", "3")
            + &op(0, "ok", "add", "3");
        for read in ["#{3 1}", "[3 1]", "#{1 2 3}", "[1 3 2 1]"] {
            let h = adds.clone() + &both(2, "read", read);
            assert!(holds(&verdict_of(&h, "set")), "{read}");
        }
        // 3 was added before the read began.
        let Verdict::NotLinearizable(why) =
            verdict_of(&(adds.clone() + &both(2, "read", "#{1 2}")), "set")
        else {
            panic!("a read without an element added before it passed");
        };
        assert_eq!(why.ops, vec![2, 3], "{why:?}");
        let Verdict::Unknown(why) = verdict_of(&(adds + &both(2, "read", "3")), "set") else {
            panic!("a read of one value judged as a set's");
        };
        assert!(why.contains("reads a set as a list"), "{why}");

        let enqueued = op(0, "invoke", "enqueue", "1")
            + &op(0, "ok", "enqueue", "1")
            + &op(0, "invoke", "enqueue", "2")
            + &op(0, "ok", "enqueue", "2");
        let out_of_order = enqueued.clone() + &both(1, "dequeue", "2") + &both(1, "dequeue", "1");
        assert!(holds(&verdict_of(&out_of_order, "unordered-queue")));
        assert!(!holds(&verdict_of(&out_of_order, "queue")));
        // A dequeue of unknown outcome took 1, or the queue was not empty.
        let taken = enqueued.clone()
            + &op(2, "invoke", "dequeue", "nil")
            + &op(2, "info", "dequeue", "nil")
            + &both(1, "dequeue", "2")
            + &both(1, "dequeue", "nil");
        assert!(holds(&verdict_of(&taken, "unordered-queue")));
        let twice = enqueued + &both(1, "dequeue", "2") + &both(2, "dequeue", "2");
        let Verdict::NotLinearizable(why) = verdict_of(&twice, "unordered-queue") else {
            panic!("a value dequeued twice passed");
        };
        assert_eq!(why.ops, vec![2, 3], "{why:?}");
    }

    /// Porcupine's key-value histories (and MIT 6.824's stores): an
    /// append of a string concatenates, and a key never written reads as
    /// "". A stale read among appends running at once is explained by the
    /// two reads alone: each append is seen inside what they returned.
    #[test]
    fn strings_appended_concatenate_as_porcupine_and_6824_append() {
        let op = |p: u64, t: &str, f: &str, v: &str| {
            format!("{{:process {p}, :type :{t}, :f :{f}, :key \"1\", :value {v}}}\n")
        };
        let mut ok = String::new();
        for (p, f, v, out) in [
            (0, "get", "nil", "\"\""),
            (0, "append", "\"x 0 0 y\"", "\"x 0 0 y\""),
            (1, "append", "\"x 1 0 y\"", "\"x 1 0 y\""),
            (0, "get", "nil", "\"x 0 0 yx 1 0 y\""),
            (1, "put", "\"x 1 1 y\"", "\"x 1 1 y\""),
            (1, "append", "\"x 1 2 y\"", "\"x 1 2 y\""),
            (0, "get", "nil", "\"x 1 1 yx 1 2 y\""),
        ] {
            ok += &op(p, "invoke", f, v);
            ok += &op(p, "ok", f, out);
        }
        assert!(holds(&verdict_of(&ok, "kv")), "{ok}");
        // Six appends run throughout; two reads in turn, the second stale.
        let mut bad = String::new();
        for p in 2..8 {
            bad += &op(p, "invoke", "append", &format!("\"x {p} y\""));
        }
        let all: String = (2..8).map(|p| format!("x {p} y")).collect();
        let some: String = (2..5).map(|p| format!("x {p} y")).collect();
        bad += &op(0, "invoke", "get", "nil");
        bad += &op(0, "ok", "get", &format!("{all:?}"));
        bad += &op(1, "invoke", "get", "nil");
        bad += &op(1, "ok", "get", &format!("{some:?}"));
        for p in 2..8 {
            bad += &op(p, "ok", "append", &format!("\"x {p} y\""));
        }
        let Verdict::NotLinearizable(why) = verdict_of(&bad, "kv") else {
            panic!("{bad}");
        };
        assert!(why.minimal, "{why:?}");
        assert_eq!(why.ops.len(), 2, "the two reads: {why:?}");
        // A compare-and-set expects what a read would return.
        let mut cas = String::new();
        for (f, v, out) in [
            ("cas", "[\"\" \"a\"]", "[\"\" \"a\"]"),
            ("append", "\"b\"", "\"b\""),
            ("cas", "[\"ab\" \"c\"]", "[\"ab\" \"c\"]"),
            ("get", "nil", "\"c\""),
        ] {
            cas += &op(0, "invoke", f, v);
            cas += &op(0, "ok", f, out);
        }
        assert!(holds(&verdict_of(&cas, "kv")), "{cas}");
        // A list append stays a list.
        let list = "{:process 0, :type :invoke, :f :append, :key 1, :value \"a\"}\n\
                    {:process 0, :type :ok, :f :append, :key 1, :value \"a\"}\n\
                    {:process 0, :type :invoke, :f :read, :key 1, :value nil}\n\
                    {:process 0, :type :ok, :f :read, :key 1, :value [\"a\"]}\n";
        assert!(holds(&verdict_of(list, "kv")), "{list}");
    }

    #[test]
    fn one_map_per_line_a_vector_and_log_lines_all_read() {
        let lines = "{:process 0, :type :invoke, :f :write, :value 1}\n\
                     {:process 0, :type :ok, :f :write, :value 1}\n\
                     {:process :nemesis, :type :info, :f :start, :value nil}\n\
                     {:process 1, :type :invoke, :f :read, :value nil}\n\
                     {:process 1, :type :ok, :f :read, :value 1}\n";
        let events = read(lines).unwrap();
        assert_eq!(events.len(), 4, "the nemesis is not a client");
        assert_eq!(events[2].0, 4, "each event keeps its line");
        assert!(holds(&verdict_of(lines, "register")));
        let vector = format!("[{}]", lines.replace('\n', "\n "));
        assert!(holds(&verdict_of(&vector, "register")));
        let log = "INFO  jepsen.util - 0\t:invoke\t:write\t1\n\
                   INFO  jepsen.util - 0\t:ok\t:write\t1\n\
                   INFO  jepsen.util - 1\t:invoke\t:read\tnil\n\
                   INFO  jepsen.util - 1\t:ok\t:read\t2\n";
        assert!(matches!(
            verdict_of(log, "register"),
            Verdict::NotLinearizable(_)
        ));
        // With the tabs turned to spaces (as some of Porcupine's etcd logs
        // hold them), after other log output, and with a value of spaces.
        let spaced = format!(
            "INFO  jepsen.core - Running test\n{}INFO  jepsen.util - 2   :invoke :cas    [1 2]\n",
            log.replace('\t', "   ")
        );
        let events = read(&spaced).unwrap();
        assert_eq!(events.len(), 5, "{events:?}");
        assert_eq!(events[0].0, 2, "each event keeps its line");
        assert_eq!(
            events[4].1.value,
            Value::List(vec![Value::Int(1), Value::Int(2)])
        );
        assert_eq!(
            events[..4],
            read(log)
                .unwrap()
                .iter()
                .map(|(n, op)| (n + 1, op.clone()))
                .collect::<Vec<_>>()[..]
        );
        // A tab-separated line of the wrong type is refused, not passed over.
        let wrong = log.replace("1\t:ok\t:read", "1\t:done\t:read");
        let e = read(&wrong).unwrap_err();
        assert_eq!(e.line, 4, "{e}");
        assert!(e.message.contains(":type must be"), "{e}");
    }

    #[test]
    fn records_as_jepsen_prints_them_and_discarded_forms_read() {
        // Jepsen prints an operation as a record: a tagged map.
        let records = "#jepsen.history.Op{:index 0, :time 1, :type :invoke, :process 0, :f :write, :value 1}\n\
                       #_ {:process 5, :type :invoke, :f :write, :value 9}\n\
                       #jepsen.history.Op{:index 1, :time 2, :type :ok, :process 0, :f :write, :value 1}\n\
                       #jepsen.history.Op{:index 2, :time 3, :type :invoke, :process 1, :f :read, :value nil}\n\
                       #jepsen.history.Op{:index 3, :time 4, :type :ok, :process 1, :f :read, :value 2}\n";
        let events = read(records).unwrap();
        assert_eq!(events.len(), 4, "the discarded map is not read");
        assert_eq!(
            events.iter().map(|e| e.0).collect::<Vec<_>>(),
            [1, 3, 4, 5],
            "each record keeps its line"
        );
        assert!(matches!(
            verdict_of(records, "register"),
            Verdict::NotLinearizable(_)
        ));
        // In a vector, with a discarded element and a tagged value.
        let vector = "[#jepsen.history.Op{:type :invoke, :process 0, :f :write, :value #my/v 2}\n\
                      #_ :skipped\n\
                      {:type :ok, :process 0, :f :write, :value 2}\n\
                      {:type :invoke, :process 1, :f :read, :value nil, :error #uuid \"f81d4fae-7dec-11d0-a765-00a0c91e6bf6\"}\n\
                      {:type :ok, :process 1, :f :read, :value 2}]\n";
        let events = read(vector).unwrap();
        assert_eq!(events.iter().map(|e| e.0).collect::<Vec<_>>(), [1, 3, 4, 5]);
        // A discard as a vector's last element (its parser refused it).
        let last = vector.replace("2}]", "2} #_ {:process 3}]");
        assert_eq!(read(&last).unwrap().len(), 4);
        assert!(holds(&verdict_of(vector, "register")));
    }

    /// The parser takes a level of the stack for each bracket or tag: what
    /// nests deeper than any history is refused at its place, and never
    /// overflows the stack (an abort, not an error).
    #[test]
    fn nesting_deeper_than_any_history_is_refused_at_its_place() {
        let deep = "[".repeat(200_000) + &"]".repeat(200_000);
        let tags = "#t ".repeat(200_000) + "1";
        let cases = [
            format!("{{:process 0, :type :invoke, :f :write, :value 1}}\n{{:process 0, :type :ok, :f :write, :value {deep}}}\n"),
            format!("{deep}\n"),
            format!("{{:process 0, :type :invoke, :f :write, :value {tags}}}\n"),
            format!("[{{:process 0, :type :invoke, :f :write, :value ({})}}]\n", "#_ ".repeat(200_000) + "1 2"),
            format!("INFO  jepsen.util - 0\t:invoke\t:write\t{deep}\n"),
        ];
        for text in &cases {
            let e = read(text).unwrap_err();
            assert!(
                e.message.contains("nest deeper than 100 levels"),
                "{}: {e}",
                &text[..60]
            );
        }
        let e = read(&cases[0]).unwrap_err();
        assert_eq!((e.line, e.column), (2, Some(143)), "{e}");
        // A hundred levels still read.
        let ok = format!(
            "{{:process 0, :type :invoke, :f :write, :value {}1{}}}\n",
            "[".repeat(99),
            "]".repeat(99)
        );
        assert_eq!(read(&ok).unwrap().len(), 1);
        // On the command line, and for --initial: exit 2, not an abort.
        let dir = crate::common::tmp("edn-deep");
        let f = dir.join("deep.edn");
        std::fs::write(&f, &cases[0]).unwrap();
        let run = |extra: &[&str]| {
            std::process::Command::new(env!("CARGO_BIN_EXE_dsim"))
                .args(["check", "--import", "jepsen", "--model", "register"])
                .arg(&f)
                .args(extra)
                .output()
                .unwrap()
        };
        let o = run(&[]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains("deep.edn:2:143: values nest deeper"), "{err}");
        std::fs::write(
            &f,
            "{:process 0, :type :invoke, :f :read, :value nil}\n{:process 0, :type :ok, :f :read, :value 0}\n",
        )
        .unwrap();
        let initial = "[".repeat(5_000);
        let o = run(&["--initial", &initial]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains("--initial: values nest deeper"), "{err}");
    }

    #[test]
    fn fail_and_info_are_read_as_knossos_reads_them() {
        // A failed write did not happen: a read of its value is impossible.
        let failed = "{:process 0, :type :invoke, :f :write, :value 1}\n\
                      {:process 0, :type :fail, :f :write, :value 1}\n\
                      {:process 1, :type :invoke, :f :read, :value nil}\n\
                      {:process 1, :type :ok, :f :read, :value 1}\n";
        assert!(matches!(
            verdict_of(failed, "register"),
            Verdict::NotLinearizable(_)
        ));
        // An info write may have happened.
        let info = failed.replace(":fail", ":info");
        assert!(holds(&verdict_of(&info, "register")));
        // Jepsen's independent tuples carry the key in the value.
        let kv = "{:process 0, :type :invoke, :f :put, :value [7 1]}\n\
                  {:process 0, :type :ok, :f :put, :value [7 1]}\n\
                  {:process 1, :type :invoke, :f :get, :value [8 nil]}\n\
                  {:process 1, :type :ok, :f :get, :value [8 nil]}\n";
        assert!(holds(&verdict_of(kv, "kv")));
    }

    #[test]
    fn dsim_check_points_at_the_starting_value_when_one_read_alone_fails() {
        let dir = crate::common::tmp("initial");
        let file = dir.join("h.edn");
        std::fs::write(
            &file,
            "{:process 0, :type :invoke, :f :read, :value nil}\n\
             {:process 0, :type :ok, :f :read, :value 0}\n",
        )
        .unwrap();
        let check = |extra: &[&str]| {
            let o = std::process::Command::new(env!("CARGO_BIN_EXE_dsim"))
                .args(["check", "--import", "jepsen", "--model", "register"])
                .arg(&file)
                .args(extra)
                .output()
                .unwrap();
            (
                o.status.code(),
                String::from_utf8_lossy(&o.stdout).into_owned(),
            )
        };
        let (code, out) = check(&[]);
        assert_eq!(code, Some(1), "{out}");
        assert!(
            out.contains("1 operation whose outcome cannot be true")
                && out.contains("hint           no order of the other operations explains it")
                && out.contains("nil here")
                && out.contains("prefix         none: no operation completed before it"),
            "{out}"
        );
        let (code, out) = check(&["--initial", "0"]);
        assert_eq!(code, Some(0), "{out}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn malformed_input_names_its_line() {
        let cases = [
            ("{:process 0, :type :invoke, :f :write, :value 1}\n{:process 0 :type :ok, :f :write, :value [1 2}\n", 2, "not EDN"),
            ("{:process 0, :type :invoke, :f :write}\n{:process 0, :type :done, :f :write}\n", 2, ":type"),
            ("{:process 0, :f :write}\n", 1, "no :type"),
            ("{:type :invoke, :f :write}\n", 1, "no :process"),
            ("\n\n", 1, "no history"),
            ("[{:process :nemesis, :type :info, :f :kill, :value nil}\n {:process :nemesis, :type :info, :f :kill, :value nil}]", 1, "no client operation: the 2 operations read are all of processes that are not clients"),
            ("{:process 0, :type :invoke, :f :write, :value 1.5}\n", 1, "kind histories do not hold"),
            // A vector is read an element at a time: cut short between two
            // elements, or closed by the wrong bracket, it is still refused.
            ("\n[{:process 0, :type :invoke, :f :write, :value 1}\n{:process 0, :type :ok, :f :write, :value 1}\n", 2, "never closed"),
            ("[{:process 0, :type :invoke, :f :write, :value 1}\n{:process 0, :type :ok, :f :write, :value 1})\n", 2, "`)` closes the `[` opened at line 1"),
            ("[{:process 0, :type :invoke, :f :write, :value 1}\n #_ ]\n", 2, "no value to apply to"),
            ("[{:process 0, :type :invoke, :f :write, :value 1}\n{:process 0 :type :ok, :value [1}]\n", 2, "`}` closes the `[` opened at line 2, column 31"),
        ];
        for (text, line, says) in cases {
            let e = read(text).unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e}");
            assert!(e.message.contains(says), "{text:?}: {e}");
        }
        // And on the command line: exit 2 with file:line.
        let dir = crate::common::tmp("edn");
        let f = dir.join("bad.edn");
        std::fs::write(&f, cases[0].0).unwrap();
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_dsim"))
            .args([
                "check",
                "--import",
                "jepsen",
                f.to_str().unwrap(),
                "--model",
                "register",
            ])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&o.stderr).contains("bad.edn:2:"));
    }
}

#[test]
fn dsim_check_names_a_failed_operation_whose_value_was_read() {
    // A compare-and-set answered `fail` by a retry that met its own first
    // try's effect: the read of its value is the witness, and the hint
    // names the failed operation; the history line counts it apart.
    let dir = crate::common::tmp("failed-cas");
    let f = dir.join("failed-cas.edn");
    std::fs::write(
        &f,
        "{:process 0, :type :invoke, :f :write, :value 1}
{:process 0, :type :ok, :f :write, :value 1}
{:process 1, :type :invoke, :f :cas, :value [1 2]}
{:process 2, :type :invoke, :f :read, :value nil}
{:process 2, :type :ok, :f :read, :value 2}
{:process 1, :type :fail, :f :cas, :value [1 2]}
",
    )
    .unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_dsim"))
        .args(["check", "--import", "jepsen", f.to_str().unwrap()])
        .args(["--model", "cas-register"])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("2 operations of 2 processes (1 more completed as `fail`")
            && out.contains("p2 read -> 2")
            && out.contains("it returned 2, which only p1 cas [1 2] wrote")
            && out.contains("completed as `fail` (certainly did not happen)"),
        "{out}"
    );
}

/// A model of the user's own: a counter that only goes up by `add`.
struct Counter;

impl dsim::check::linearizable::Model for Counter {
    type State = i64;
    fn init(&self) -> i64 {
        0
    }
    fn step(&self, n: &i64, op: &dsim::check::linearizable::Operation) -> Option<i64> {
        match (op.f.as_str(), &op.input, &op.output) {
            ("add", Value::Int(k), _) => Some(n + k),
            ("value", _, Some(Value::Int(seen))) if seen != n => None,
            ("value", _, _) => Some(*n),
            _ => None,
        }
    }
}

#[test]
fn a_users_own_model_checks_like_the_built_in_ones() {
    let ok = "p0 invoke add 2\np1 invoke value nil\np0 ok add 2\np1 ok value 2";
    assert!(holds(&check(&Counter, &history(ok), &Budget::default())));
    let bad = "p0 invoke add 2\np0 ok add 2\np1 invoke value nil\np1 ok value 3";
    assert!(!holds(&check(&Counter, &history(bad), &Budget::default())));
}

#[test]
fn a_kv_client_restarted_after_a_crash_never_reuses_an_operations_number() {
    // A client that numbered its operations from 1 again after a restart
    // sent numbers the servers' session table had seen: it answered the
    // new operation with the old one's result (a put answered by an
    // earlier put's, a get that never read): 25 of these 300 seeds failed.
    let dir = crate::common::tmp("kv-client-crashes");
    let file = dir.join("kv-client-crashes.toml");
    std::fs::write(&file, CLIENT_CRASHES).unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_dsim"))
        .args([
            "sweep",
            file.to_str().unwrap(),
            "--seeds",
            "0..300",
            "--out",
        ])
        .arg(dir.join("out"))
        .output()
        .unwrap();
    let out = crate::common::text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("300 passed, 0 failed"), "{out}");
}

const CLIENT_CRASHES: &str = r#"# Clients crash and restart while they work: a restarted client must not
# number its operations from 1 again.
protocol = "kv"
nodes = 5

[params]
servers = 3
keys = 3
timeout = "200ms"

[network]
latency = { dist = "uniform", min = "1ms", max = "30ms" }

[workload]
count = 40
start = "400ms"
interval = { dist = "exponential", mean = "30ms" }

[[fault]]
at = ["500ms", "1s"]
crash = [3, 4]
down = "50ms"

[[fault]]
at = ["1.1s", "1.5s"]
crash = [3, 4]
down = "50ms"

[run]
time = "4s"

[check]
linearizable = "kv""#;

#[test]
fn a_runs_history_is_checked_like_an_invariant_and_read_back_from_the_trace() {
    let dir = crate::common::tmp("kv");
    let trace = dir.join("kv.trace");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_dsim"))
        .args([
            "run",
            "scenarios/kv-bug-sessions-not-replicated.toml",
            "--seed",
            "20",
        ])
        .args(["--trace", trace.to_str().unwrap()])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("check `linearizable`"), "{out}");
    // Raft's own invariants held: only the clients' view shows the bug.
    assert!(
        out.contains("election-safety held until the failure"),
        "{out}"
    );
    // Offline, from the trace alone.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_dsim"))
        .args(["check", trace.to_str().unwrap(), "--linearizable", "kv"])
        .arg("--svg")
        .arg(dir.join("kv.svg"))
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("linearizable   NO (kv)"), "{out}");
    let svg = std::fs::read_to_string(dir.join("kv.svg")).unwrap();
    assert!(svg.contains("#e00"), "the witnesses are drawn in red");
    // The history as text.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_dsim"))
        .args(["show", trace.to_str().unwrap(), "--format", "history"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).contains(" invoke append "));
}

/// A counter kept by a primary (node 0) and a backup (node 1); the other
/// nodes are clients, one process per operation. With `read_backup`,
/// reads go to the backup, which may not have heard of an add yet.
#[derive(Hash)]
struct PrimaryBackup {
    value: i64,
    read_backup: bool,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
enum CounterMsg {
    Add { op: u64, n: i64 },
    Value { op: u64 },
    Replicate { n: i64 },
    Added { op: u64 },
    Seen { op: u64, v: i64 },
}

impl dsim::Node for PrimaryBackup {
    type Msg = CounterMsg;
    type Timer = ();
    fn on_start(&mut self, _: &mut dsim::Context<'_, Self>) {}
    fn on_input(&mut self, ctx: &mut dsim::Context<'_, Self>, input: dsim::Input) {
        use dsim::NodeId;
        if input.value % 2 == 0 {
            let n = (input.value % 7) as i64 + 1;
            ctx.invoke(input.id, "add", None, Value::Int(n));
            ctx.send(NodeId(0), &CounterMsg::Add { op: input.id, n });
        } else {
            ctx.invoke(input.id, "value", None, Value::Nil);
            let to = NodeId(u32::from(self.read_backup));
            ctx.send(to, &CounterMsg::Value { op: input.id });
        }
    }
    fn on_message(
        &mut self,
        ctx: &mut dsim::Context<'_, Self>,
        from: dsim::NodeId,
        msg: CounterMsg,
    ) {
        match msg {
            CounterMsg::Add { op, n } => {
                self.value += n;
                ctx.send(dsim::NodeId(1), &CounterMsg::Replicate { n });
                ctx.send(from, &CounterMsg::Added { op });
            }
            CounterMsg::Replicate { n } => self.value += n,
            CounterMsg::Value { op } => ctx.send(from, &CounterMsg::Seen { op, v: self.value }),
            CounterMsg::Added { op } => ctx.complete(op, Phase::Ok, "add", None, Value::Nil),
            CounterMsg::Seen { op, v } => ctx.complete(op, Phase::Ok, "value", None, Value::Int(v)),
        }
    }
}

fn primary_backup_config(seed: u64) -> dsim::SimConfig {
    let mut config = dsim::SimConfig::new(seed, 4);
    config.network.default.latency = dsim::Latency::Uniform {
        min: dsim::Duration::from_millis(1),
        max: dsim::Duration::from_millis(20),
    };
    config.workload = Some(dsim::Workload {
        count: 20,
        interval: dsim::Latency::Uniform {
            min: dsim::Duration::from_millis(1),
            max: dsim::Duration::from_millis(9),
        },
        start: dsim::Duration::ZERO,
        targets: vec![dsim::NodeId(2), dsim::NodeId(3)],
        value_range: 1000,
        skip: Vec::new(),
    });
    config
}

/// The primary-backup counter checked against the user's own model.
fn primary_backup_run(config: dsim::SimConfig, read_backup: bool) -> dsim::Outcome {
    dsim::Simulation::new(config, move |_| PrimaryBackup {
        value: 0,
        read_backup,
    })
    .linearizable(Counter)
    .run()
    .unwrap()
}

fn linearizable_status(outcome: &dsim::Outcome) -> dsim::scheduler::CheckStatus {
    let check = outcome.checks.iter().find(|c| c.name == "linearizable");
    check.expect("a linearizable check").status.clone()
}

#[test]
fn a_users_own_model_checks_a_run_through_the_simulation() {
    // The library's way: the model given to the simulation itself.
    let run =
        |read_backup: bool, seed: u64| primary_backup_run(primary_backup_config(seed), read_backup);
    let failing: Vec<u64> = (0..50)
        .filter(|&s| run(true, s).failure.is_some())
        .collect();
    assert!(
        !failing.is_empty(),
        "reads from the lagging backup are caught"
    );
    let f = run(true, failing[0]).failure.unwrap();
    assert_eq!(f.check, "linearizable", "{f:?}");
    assert!(
        f.message.contains("p") && f.message.contains("value"),
        "{}",
        f.message
    );
    for seed in 0..50 {
        assert!(run(false, seed).failure.is_none(), "seed {seed}");
    }
}

#[test]
fn a_history_check_over_no_operations_is_not_run_never_held() {
    use dsim::scheduler::CheckStatus;
    // No workload: the nodes record no operation, so there is nothing to
    // judge; the check says so instead of "held".
    let mut config = primary_backup_config(3);
    config.workload = None;
    let outcome = primary_backup_run(config, true);
    match &linearizable_status(&outcome) {
        CheckStatus::NotRun { reason } => {
            assert!(reason.contains("no client operation"), "{reason}")
        }
        other => panic!("an empty history was judged: {other:?}"),
    }
    // With operations, it is judged.
    let check = linearizable_status(&primary_backup_run(primary_backup_config(3), false));
    assert!(matches!(check, CheckStatus::Held { .. }), "{check:?}");
}

/// The primary-backup counter as a registered protocol, with its model.
fn counter_spec() -> dsim::protocols::Spec<PrimaryBackup> {
    use dsim::check::linearizable::NamedModel;
    use dsim::protocols::{ParamDoc, Spec};
    Spec::new(
        "counter",
        "a counter on a primary and a backup",
        |config, params| {
            let read_backup = params.flag("read_backup")?;
            Ok(dsim::Simulation::new(config, move |_| PrimaryBackup {
                value: 0,
                read_backup,
            }))
        },
    )
    .param(ParamDoc::flag(
        "read_backup",
        false,
        "reads go to the backup",
    ))
    .model(NamedModel::new("counter", "add n, value", |_| Counter))
    .min_nodes(3)
    .clients(|nodes, _| (2..nodes).map(dsim::NodeId).collect())
}

#[test]
fn the_property_harness_checks_a_protocols_model_when_asked() {
    use dsim::history::Linearizability;
    use dsim::protocols::{ParamValue, Params, Protocol};
    use dsim::testing::{cases, check_protocol, check_protocol_with, Bounds};
    use proptest::test_runner::{Config, RngAlgorithm, TestError, TestRng, TestRunner};
    let spec = counter_spec();
    let params = |read_backup: bool| {
        let given = [("read_backup".to_string(), ParamValue::Bool(read_backup))].into();
        Params::resolve(&spec.params(), &given).unwrap()
    };
    let runner = || {
        TestRunner::new_with_rng(
            Config {
                cases: 64,
                failure_persistence: None,
                ..Config::default()
            },
            TestRng::from_seed(RngAlgorithm::ChaCha, &[5; 32]),
        )
    };
    // (It answers every message it gets: a duplicate would complete an
    // operation twice, which the history check rightly refuses.)
    let bounds = Bounds {
        operations: 5..=30,
        ..Bounds::default()
            .no_crashes()
            .no_partitions()
            .no_duplication()
    };
    let counter = Some(Linearizability {
        model: "counter".into(),
        initial: Value::Nil,
    });
    let (good, twin) = (params(false), params(true));
    // The twin's only symptom is in the clients' history: the plain
    // harness, which checks the protocol's own invariants, passes it...
    assert!(runner()
        .run(&cases(bounds.clone()), |case| check_protocol(
            &case, &spec, &twin
        ))
        .is_ok());
    // ...and asked for the history check, it catches it, and passes the
    // correct counter.
    match runner().run(&cases(bounds.clone()), |case| {
        check_protocol_with(&case, &spec, &twin, counter.clone())
    }) {
        Err(TestError::Fail(why, _)) => {
            assert!(why.to_string().contains("linearizable"), "{why}")
        }
        other => panic!("the twin was not caught: {other:?}"),
    }
    let result = runner().run(&cases(bounds), |case| {
        check_protocol_with(&case, &spec, &good, counter.clone())
    });
    assert!(result.is_ok(), "{result:?}");
}

#[test]
fn a_protocols_own_model_is_named_by_scenarios_and_dsim_check() {
    use dsim::protocols::Registry;
    let mut registry = Registry::builtin();
    registry.add(counter_spec());
    assert_eq!(registry.models().len(), 1);
    let dir = crate::common::tmp("own-model");
    let scenario = |name: &str, read_backup: bool, model: &str| {
        let path = dir.join(format!("{name}.toml"));
        std::fs::write(
            &path,
            format!(
                "protocol = \"counter\"\nnodes = 4\n[params]\nread_backup = {read_backup}\n\
                 [network]\nlatency = {{ dist = \"uniform\", min = \"1ms\", max = \"20ms\" }}\n\
                 [workload]\ncount = 20\ninterval = {{ dist = \"exponential\", mean = \"5ms\" }}\n\
                 [check]\nlinearizable = \"{model}\"\n"
            ),
        )
        .unwrap();
        path.to_str().unwrap().to_string()
    };
    let cli = |args: &[&str]| dsim::cli::run_with(&registry, ["counter"].iter().chain(args));
    let good = scenario("good", false, "counter");
    let bad = scenario("bad", true, "counter");
    let out = dir.join("sweep");
    let (out, good_out) = (out.to_str().unwrap(), dir.join("good-sweep"));
    assert_eq!(
        cli(&[
            "sweep",
            &good,
            "--seeds",
            "0..100",
            "--out",
            good_out.to_str().unwrap()
        ]),
        0
    );
    assert_eq!(cli(&["sweep", &bad, "--seeds", "0..100", "--out", out]), 1);
    // The failing seeds failed the model's check, and their traces are
    // judged again by name, offline.
    let summary = std::fs::read_to_string(dir.join("sweep/summary.json")).unwrap();
    assert!(summary.contains("linearizable"), "{summary}");
    let trace = std::fs::read_dir(dir.join("sweep"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "trace"))
        .expect("a failing seed's trace");
    let trace = trace.to_str().unwrap();
    assert_eq!(cli(&["check", trace, "--linearizable", "counter"]), 1);
    // The built-in register knows no `add`: unknown, exit 2; a misspelt
    // model is bad input, in a scenario and on the command line.
    assert_eq!(cli(&["check", trace, "--linearizable", "register"]), 2);
    assert_eq!(cli(&["check", trace, "--linearizable", "countr"]), 2);
    assert_eq!(cli(&["check", trace, "--linearizable", ""]), 2);
    assert!(dsim::check::linearizable::find("", &[])
        .unwrap_err()
        .starts_with("no model named"));
    assert_eq!(cli(&["run", &scenario("typo", false, "countr")]), 2);
    // The stock `dsim`, without the protocol, does not know the model.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_dsim"))
        .args(["check", trace, "--linearizable", "counter"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no model `counter`"));
}

/// Takes client operations and records none of them.
struct Unrecorded;

impl dsim::Node for Unrecorded {
    type Msg = ();
    type Timer = ();
    fn on_start(&mut self, _: &mut dsim::Context<'_, Self>) {}
    fn on_message(&mut self, _: &mut dsim::Context<'_, Self>, _: dsim::NodeId, _: ()) {}
    fn on_input(&mut self, ctx: &mut dsim::Context<'_, Self>, _: dsim::Input) {
        ctx.observe("did something, told no history");
    }
}

#[test]
fn a_property_test_does_not_pass_on_a_history_check_that_did_not_run() {
    use dsim::testing::{cases, check, Bounds};
    use proptest::test_runner::{Config, TestError, TestRunner};
    let mut runner = TestRunner::new(Config {
        cases: 16,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&cases(Bounds::default()), |case| {
        check(&case, |config| {
            dsim::Simulation::new(config, |_| Unrecorded).linearizable(Register::new(Value::Nil))
        })
    });
    match result {
        Err(TestError::Fail(why, _)) => assert!(
            why.to_string().contains("check `linearizable` did not run")
                && why.to_string().contains("ctx.invoke"),
            "{why}"
        ),
        other => panic!("a check that never ran passed the test: {other:?}"),
    }
}

/// Node 1 takes a lock and never gives it back; node 2 takes it later.
/// Node 0 records no operation; when `writes`, it writes two keys at its
/// start and never syncs them.
#[derive(Hash)]
struct Locker {
    writes: bool,
}

impl dsim::Node for Locker {
    type Msg = ();
    type Timer = ();
    fn on_start(&mut self, ctx: &mut dsim::Context<'_, Self>) {
        match ctx.id().0 {
            0 if self.writes => {
                ctx.disk().write("held", &1u8);
                ctx.disk().write("by", &1u8);
            }
            1 => {
                ctx.invoke(1, "lock", None, Value::Nil);
                ctx.complete(1, Phase::Ok, "lock", None, Value::Nil);
            }
            2 => {
                ctx.set_timer(dsim::Duration::from_millis(20), ());
            }
            _ => {}
        }
    }
    fn on_message(&mut self, _: &mut dsim::Context<'_, Self>, _: dsim::NodeId, _: ()) {}
    fn on_timer(&mut self, ctx: &mut dsim::Context<'_, Self>, _: dsim::TimerId, _: ()) {
        ctx.invoke(2, "lock", None, Value::Nil);
        ctx.complete(2, Phase::Ok, "lock", None, Value::Nil);
    }
}

#[test]
fn a_violation_among_crashed_clients_says_what_a_model_makes_of_a_crash() {
    use dsim::config::{Fault, FaultAction};
    // Node 1 crashes holding the lock: to the model, which knows no
    // crashes, it holds it still, so node 2's lock cannot be true. The
    // witnesses are two locks; the report must say where the crash was.
    let run_crashing = |crash: Option<u64>, node: u32| {
        let mut config = dsim::SimConfig::new(1, 3);
        if let Some(ms) = crash {
            config.faults = vec![Fault {
                after: None,
                at: dsim::Duration::from_millis(ms),
                action: FaultAction::Crash {
                    node: dsim::NodeId(node),
                },
            }];
        }
        dsim::Simulation::new(config, |_| Locker { writes: false })
            .linearizable(dsim::check::linearizable::Mutex)
            .run_traced(Vec::new(), None)
            .unwrap()
    };
    let run = |crash: Option<u64>| run_crashing(crash, 1);
    let (outcome, trace) = run(Some(10));
    let f = outcome.failure.expect("two holders of one lock");
    assert_eq!(f.check, "linearizable");
    assert!(
        f.message
            .contains("note: n1 crashed at #5 (t=0.010000000s; it lost no unsynced write) after recording operations")
            && f.message.contains("a lock stays held"),
        "{}",
        f.message
    );
    // Offline, `dsim check` says the same on a line of its own.
    let dir = crate::common::tmp("crashed-lock");
    let check = |trace: Vec<u8>| {
        let file = dir.join("t.trace");
        std::fs::write(&file, trace).unwrap();
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_dsim"))
            .args(["check", file.to_str().unwrap(), "--linearizable", "mutex"])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1), "{o:?}");
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let out = check(trace);
    assert!(out.contains("crashes        n1 crashed at #5"), "{out}");
    // Without the crash the same violation carries no such note; nor with
    // a crash only after the history stopped being linearizable (node 2's
    // lock at 20 ms), which cannot have caused it.
    let f = run(None).0.failure.expect("two holders of one lock");
    assert!(!f.message.contains("crashed"), "{}", f.message);
    let (outcome, trace) = run_crashing(Some(30), 1);
    let f = outcome.failure.expect("two holders of one lock");
    assert!(!f.message.contains("crashed"), "{}", f.message);
    let out = check(trace);
    assert!(!out.contains("crashes "), "{out}");
    // Node 0 records no operation (a server, say): its crash before the
    // violation is named as such, in the run and by `dsim check`.
    let (outcome, trace) = run_crashing(Some(10), 0);
    let f = outcome.failure.expect("two holders of one lock");
    assert!(
        f.message.contains(
            "note: n0 crashed at #5 (t=0.010000000s; it lost no unsynced write) before recording any operation: a restarted node keeps only what it synced to its disk"
        ) && !f.message.contains("a model knows no crashes"),
        "{}",
        f.message
    );
    assert!(check(trace).contains("crashes        n0 crashed at #5 (t=0.010000000s) before"));
    // A node that wrote and had not synced when it crashed: the note says
    // what it lost (a server that answers before it syncs).
    let mut config = dsim::SimConfig::new(1, 3);
    config.faults = vec![Fault {
        after: None,
        at: dsim::Duration::from_millis(10),
        action: FaultAction::Crash {
            node: dsim::NodeId(0),
        },
    }];
    let f = dsim::Simulation::new(config, |_| Locker { writes: true })
        .linearizable(dsim::check::linearizable::Mutex)
        .run()
        .unwrap()
        .failure
        .expect("two holders of one lock");
    assert!(
        f.message
            .contains("n0 crashed at #5 (t=0.010000000s; it lost 2 unsynced writes) before"),
        "{}",
        f.message
    );
}

/// A history of one lock, as (process, invoked rather than completed,
/// operation): p1 and p2 hold it at once, p0's unlock between (see
/// `an_owned_mutex_is_freed_by_its_holder_alone_and_names_two_holders`).
const EVENTS: [(u64, bool, &str); 12] = [
    (0, true, "lock"),
    (0, false, "lock"),
    (1, true, "lock"),
    (0, true, "unlock"),
    (0, false, "unlock"),
    (2, true, "lock"),
    (2, false, "lock"),
    (1, false, "lock"),
    (2, true, "unlock"),
    (2, false, "unlock"),
    (1, true, "unlock"),
    (1, false, "unlock"),
];

/// Node 0 records `EVENTS`, the i-th at i + 1 ms.
#[derive(Hash)]
struct Scripted;

impl dsim::Node for Scripted {
    type Msg = ();
    type Timer = usize;
    fn on_start(&mut self, ctx: &mut dsim::Context<'_, Self>) {
        if ctx.id().0 == 0 {
            for i in 0..EVENTS.len() {
                ctx.set_timer(dsim::Duration::from_millis(1 + i as u64), i);
            }
        }
    }
    fn on_message(&mut self, _: &mut dsim::Context<'_, Self>, _: dsim::NodeId, _: ()) {}
    fn on_timer(&mut self, ctx: &mut dsim::Context<'_, Self>, _: dsim::TimerId, i: usize) {
        let (p, invoke, f) = EVENTS[i];
        match invoke {
            true => ctx.invoke(p, f, None, Value::Nil),
            false => ctx.complete(p, Phase::Ok, f, None, Value::Nil),
        }
    }
}

#[test]
fn dsim_check_says_which_mutex_names_the_two_holders() {
    let (outcome, trace) = dsim::Simulation::new(dsim::SimConfig::new(1, 1), |_| Scripted)
        .linearizable(Mutex)
        .run_traced(Vec::new(), None)
        .unwrap();
    let f = outcome.failure.expect("two holders at once");
    assert!(
        f.message.contains("these 3 operations") && f.message.contains("`owned-mutex`"),
        "{}",
        f.message
    );
    let file = crate::common::tmp("scripted-locks").join("t.trace");
    std::fs::write(&file, trace).unwrap();
    let check = |model: &str| {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_dsim"))
            .args(["check", file.to_str().unwrap(), "--linearizable", model])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1), "{o:?}");
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let out = check("mutex");
    assert!(out.contains("witnesses      3 operations"), "{out}");
    assert!(
        out.contains("hint           a lock here may have been freed by any process's unlock"),
        "{out}"
    );
    let out = check("owned-mutex");
    assert!(
        out.contains("linearizable   NO (owned-mutex)")
            && out.contains("witnesses      2 operations"),
        "{out}"
    );
    assert!(!out.contains("hint "), "{out}");
}

/// A stale read of 2 after a write of 3, which a compare-and-set of 3 to
/// 2 answered `fail` explains if it took effect: the witnesses are two
/// (the write of 3, the read), and no value only the failed one wrote
/// shows it (the first write wrote 2 too).
const STALE_UNLESS_FAILED_CAS: &str = "p0 invoke write 2
    p0 ok write 2
    p1 invoke write 3
    p1 ok write 3
    p2 invoke cas 3,2
    p3 invoke read nil
    p3 ok read 2
    p2 fail cas 3,2";

#[test]
fn a_failed_operation_that_would_explain_a_violation_is_named() {
    use dsim::check::linearizable::{alone_hint, failed_effect_hint, FAILED_EFFECT_BUDGET};
    let hint_of = |lines: &str, model: &dyn Fn(&History) -> Verdict| {
        let h = history(lines);
        let Verdict::NotLinearizable(v) = model(&h) else {
            panic!("{lines}: linearizable")
        };
        (
            v.ops.len(),
            alone_hint(&h, &v, &Value::Nil),
            failed_effect_hint(&h, &v, model),
        )
    };
    let cas = |h: &History| check(&CasRegister::new(Value::Nil), h, &FAILED_EFFECT_BUDGET);
    let (witnesses, alone, hint) = hint_of(STALE_UNLESS_FAILED_CAS, &cas);
    assert_eq!((witnesses, alone), (2, None));
    let hint = hint.expect("the failed cas explains the read");
    assert!(
        hint.starts_with("had p2 cas [3 2] (#4..#7), answered `fail` (certainly did not happen), taken effect, the history would linearize: it may have taken effect and been answered as failed"),
        "{hint}"
    );
    // A failed cas that could not have written 2 there (from 1, not 3):
    // nothing named; nor one invoked after the read completed.
    let (_, _, hint) = hint_of(&STALE_UNLESS_FAILED_CAS.replace("cas 3,2", "cas 1,2"), &cas);
    assert_eq!(hint, None);
    let late = "p0 invoke write 2
                p0 ok write 2
                p1 invoke write 3
                p1 ok write 3
                p3 invoke read nil
                p3 ok read 2
                p2 invoke cas 3,2
                p2 fail cas 3,2";
    assert_eq!(hint_of(late, &cas).2, None);
    // Whatever the model: a counter read at 5 after an add of 2, where an
    // add of 3 failed. No value names it (5 is no operation's input); the
    // check with the add's outcome unknown does, and says how far a
    // later violation lets it go.
    let counter = |h: &History| check(&Counter, h, &FAILED_EFFECT_BUDGET);
    let sum = "p0 invoke add 2
               p0 ok add 2
               p1 invoke add 3
               p2 invoke value nil
               p2 ok value 5
               p1 fail add 3
               p2 invoke value nil
               p2 ok value 9";
    let (witnesses, _, hint) = hint_of(sum, &counter);
    assert_eq!(witnesses, 1);
    let hint = hint.expect("the failed add explains the value");
    assert!(
        hint.starts_with("had p1 add 3 (#2..#5), answered `fail` (certainly did not happen), taken effect, the history would linearize up to #7: "),
        "{hint}"
    );
}

/// Node 0 records [`STALE_UNLESS_FAILED_CAS`] as it starts.
struct StaleUnlessFailedCas;

impl dsim::Node for StaleUnlessFailedCas {
    type Msg = ();
    type Timer = ();
    fn on_start(&mut self, ctx: &mut dsim::Context<'_, Self>) {
        if ctx.id().0 != 0 {
            return;
        }
        for (process, phase, f, value) in parse(STALE_UNLESS_FAILED_CAS)
            .into_iter()
            .map(|(_, op)| (op.process, op.phase, op.f, op.value))
        {
            match phase {
                Phase::Invoke => ctx.invoke(process, &f, None, value),
                _ => ctx.complete(process, phase, &f, None, value),
            }
        }
    }
    fn on_message(&mut self, _: &mut dsim::Context<'_, Self>, _: dsim::NodeId, _: ()) {}
}

#[test]
fn a_run_and_dsim_check_name_a_failed_operation_that_would_explain_a_violation() {
    let (outcome, trace) =
        dsim::Simulation::new(dsim::SimConfig::new(1, 2), |_| StaleUnlessFailedCas)
            .linearizable(CasRegister::new(Value::Nil))
            .run_traced(Vec::new(), None)
            .unwrap();
    let f = outcome.failure.expect("a stale read");
    assert_eq!(f.check, "linearizable");
    assert!(
        f.message
            .contains("these 2 operations cannot be linearized together")
            && f.message.contains("; had p2 cas [3 2] (#")
            && f.message
                .contains("taken effect, the history would linearize: "),
        "{}",
        f.message
    );
    let dir = crate::common::tmp("failed-cas-stale");
    let file = dir.join("t.trace");
    std::fs::write(&file, trace).unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_dsim"))
        .args([
            "check",
            file.to_str().unwrap(),
            "--linearizable",
            "cas-register",
        ])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("\nhint           had p2 cas [3 2] (#")
            && out.contains("taken effect, the history would linearize: "),
        "{out}"
    );
    // Answered `info`, the cas explains the read and the run passes.
    let info = STALE_UNLESS_FAILED_CAS.replace("p2 fail", "p2 info");
    assert!(matches!(
        check(
            &CasRegister::new(Value::Nil),
            &history(&info),
            &Budget::default()
        ),
        Verdict::Linearizable
    ));
}

#[test]
fn an_operation_that_would_explain_a_violation_by_taking_effect_twice_is_named() {
    use dsim::check::linearizable::{effect_hint, FAILED_EFFECT_BUDGET};
    let hint_of = |lines: &str, model: &dyn Fn(&History) -> Verdict| {
        let h = history(lines);
        let Verdict::NotLinearizable(v) = model(&h) else {
            panic!("{lines}: linearizable")
        };
        effect_hint(&h, &v, model)
    };
    let register = |h: &History| check(&Register::new(Value::Nil), h, &FAILED_EFFECT_BUDGET);
    // A write of 1 seen again after a write of 2: once more, later, and
    // the whole history linearizes.
    let again = "p0 invoke write 1
                 p0 ok write 1
                 p1 invoke write 2
                 p1 ok write 2
                 p2 invoke read nil
                 p2 ok read 1";
    let hint = hint_of(again, &register).expect("write 1 applied again");
    assert!(
        hint.starts_with("the whole history would linearize had p0 write 1 (#0..#1) taken effect a second time, later: either it did (a request retried or duplicated, applied again, not recognized as seen), or a read that returned what it wrote was served from a state that missed what came after"),
        "{hint}"
    );
    // A later read of 2 by another client: one write applied twice
    // explains one read, not both, so nothing is named.
    let two = format!("{again}\np3 invoke read nil\np3 ok read 2");
    assert_eq!(hint_of(&two, &register), None);
    // Whatever the model: a counter at 4 after one add of 2, the add
    // applied twice; at 5, nothing applied twice explains it.
    let counter = |h: &History| check(&Counter, h, &FAILED_EFFECT_BUDGET);
    let sum = "p0 invoke add 2
               p0 ok add 2
               p1 invoke value nil
               p1 ok value 4";
    let hint = hint_of(sum, &counter).expect("add 2 applied twice");
    assert!(
        hint.starts_with(
            "the whole history would linearize had p0 add 2 (#0..#1) taken effect a second time"
        ),
        "{hint}"
    );
    assert_eq!(hint_of(&sum.replace("value 4", "value 5"), &counter), None);
}
