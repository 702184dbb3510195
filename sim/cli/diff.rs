//! `dsim diff`: where two traces of one scenario part ways.

use super::replay::{print_divergence, stream};
use super::ByProtocol;
use super::CliError;
use crate::protocols::Registry;
use crate::replay::first_divergence_of;
use crate::show::plain;
use crate::trace::{Kind, Record, Stats, TraceReader};
use clap::Args;
use std::path::PathBuf;

/// Show where two traces part ways: the first differing record, with
/// context, and a summary of what differs after it.
#[derive(Args, Debug)]
#[command(
    after_help = "Example:\n  dsim diff traces/echo-lossy-seed-4.trace traces/echo-bug-no-dedup-seed-4.trace"
)]
pub struct DiffArgs {
    pub left: PathBuf,
    pub right: PathBuf,
    /// The key of the keyed trace (or both): a keyed trace can be diffed
    /// against one that is not, which is then read without it.
    #[arg(long)]
    pub key: Option<String>,
}

/// One side of a diff, read through once: its header, whether the key was
/// used (with `key` if it is keyed, without if it is not), how many records
/// it has and what it says of its checks. Neither side is ever held as
/// records: both are read again as streams to compare.
struct Side {
    header: crate::trace::Header,
    keyed: bool,
    records: usize,
    failure: String,
}

fn read_side(path: &std::path::Path, key: Option<&[u8]>) -> Result<Side, CliError> {
    let file = |path: &std::path::Path| {
        std::fs::File::open(path)
            .map(std::io::BufReader::new)
            .map_err(|e| CliError::input(format!("{}: cannot read: {e}", path.display())))
    };
    let (reader, keyed) = match TraceReader::new(file(path)?, key) {
        Err(crate::trace::TraceError::KeyNotExpected) if key.is_some() => {
            (TraceReader::new(file(path)?, None), false)
        }
        other => (other, key.is_some()),
    };
    let mut reader = reader.map_err(|e| CliError::input(format!("{}: {e}", path.display())))?;
    let (mut records, mut failure) = (0, None);
    for r in reader.by_ref() {
        let r = r.map_err(|e| CliError::input(format!("{}: {e}", path.display())))?;
        records += 1;
        if let (None, Kind::CheckFailed { check, message }) = (&failure, &r.kind) {
            failure = Some(format!("fails `{}`: {}", plain(check), plain(message)));
        }
    }
    Ok(Side {
        header: reader.header().clone(),
        keyed,
        records,
        failure: failure.unwrap_or_else(|| "passes".into()),
    })
}

pub fn diff(registry: &Registry, args: DiffArgs) -> Result<(), CliError> {
    let key = args.key.as_deref().map(str::as_bytes);
    let a = read_side(&args.left, key)?;
    let b = read_side(&args.right, key)?;
    let (ha, hb, keyed_a, keyed_b) = (&a.header, &b.header, a.keyed, b.keyed);
    if key.is_some() && !keyed_a && !keyed_b {
        return Err(CliError::input(format!(
            "--key given, but neither {} nor {} is keyed: leave the key out",
            args.left.display(),
            args.right.display()
        )));
    }
    let (left, right) = (
        args.left.display().to_string(),
        args.right.display().to_string(),
    );
    // An edited keyed trace can be re-sealed as an unkeyed one: say which
    // side the key did not vouch for.
    if key.is_some() && keyed_a != keyed_b {
        let unkeyed = if keyed_a { &right } else { &left };
        println!(
            "header     {} is not keyed: read without --key, so its chain shows it whole but not who sealed it",
            plain(unkeyed)
        );
    }
    for (what, x, y) in [
        ("protocol", ha.protocol.clone(), hb.protocol.clone()),
        ("seed", ha.seed.to_string(), hb.seed.to_string()),
        ("scenario", ha.scenario.clone(), hb.scenario.clone()),
        ("nodes", ha.nodes.to_string(), hb.nodes.to_string()),
    ] {
        if x != y {
            println!("header     {what}: {x} vs {y}");
        }
    }
    if ha.config != hb.config {
        println!("header     the scenarios' texts differ");
    }
    // What each seed drew from the scenario's ranges: often the reason
    // two seeds of one scenario part ways.
    let knobs: std::collections::BTreeSet<&String> =
        ha.drawn.keys().chain(hb.drawn.keys()).collect();
    for knob in knobs {
        let (x, y) = (ha.drawn.get(knob), hb.drawn.get(knob));
        if x != y {
            let shown = |v: Option<&String>| {
                v.map_or("not drawn".to_string(), |v| {
                    plain(&crate::scenario::drawn_value(v)).into_owned()
                })
            };
            println!(
                "header     drawn {}: {} vs {}",
                plain(knob),
                shown(x),
                shown(y)
            );
        }
    }
    let mut forget_clocks = false;
    if ha.format_version != hb.format_version {
        println!(
            "header     trace format {} vs {}",
            ha.format_version, hb.format_version
        );
        let digest = |v: u16| v >= crate::trace::CLOCK_DIGEST_VERSION;
        if digest(ha.format_version) != digest(hb.format_version) {
            // One lists raised clock entries, the other has digests: the
            // same run records them differently.
            println!("note       deliveries are compared without their vector clocks, which the older format records as raised entries and the newer as digests (`{} check` verifies both)", super::program());
            forget_clocks = true;
        }
    }
    let comparable = |r: Result<Record<'static>, CliError>| {
        r.map(|mut r| {
            if forget_clocks {
                crate::replay::forget_delivery_clocks(std::slice::from_mut(&mut r));
            }
            r
        })
    };
    let key_of = |keyed| if keyed { key } else { None };
    let mut l = stream(&args.left, key_of(keyed_a))?.map(comparable);
    let mut r = stream(&args.right, key_of(keyed_b))?.map(comparable);
    let Some(d) = first_divergence_of(&mut l, &mut r, false)? else {
        println!(
            "identical  {} records, record for record the same",
            a.records
        );
        return Ok(());
    };
    println!(
        "differ     first at record #{} of {} and {}",
        d.index, a.records, b.records
    );
    // Each side's records read by its own protocol (a protocol and its
    // twin registered under two names, say).
    let decoders = [&ha.protocol, &hb.protocol].map(|p| registry.get(p).map(ByProtocol));
    print_divergence(
        &d,
        "left",
        "right",
        [&decoders[0], &decoders[1]].map(|d| d.as_ref().map(|d| d as _)),
    );
    // What each side does from the divergence on.
    let after =
        |first: &Option<Record<'static>>,
         rest: &mut dyn Iterator<Item = Result<Record<'static>, CliError>>| {
            let mut s = Stats::default();
            first.iter().for_each(|r| s.count(r));
            for r in rest {
                s.count(&r?);
            }
            Ok::<_, CliError>(s)
        };
    let (sa, sb) = (after(&d.left, &mut l)?, after(&d.right, &mut r)?);
    println!("after the divergence:");
    println!("  {:<12} {:>10} {:>10}", "", "left", "right");
    let lost = |s: &Stats| s.lost_total();
    for (name, x, y) in [
        ("records", sa.records, sb.records),
        ("node events", sa.events, sb.events),
        ("sent", sa.sent, sb.sent),
        ("delivered", sa.delivered, sb.delivered),
        ("lost", lost(&sa), lost(&sb)),
        ("duplicated", sa.duplicated, sb.duplicated),
        ("timers", sa.timers, sb.timers),
        ("crashes", sa.crashes, sb.crashes),
    ] {
        let mark = if x != y { "  *" } else { "" };
        println!("  {name:<12} {x:>10} {y:>10}{mark}");
    }
    println!(
        "  {:<12} {:>10} {:>10}",
        "ends at",
        sa.time.to_string(),
        sb.time.to_string()
    );
    println!("left       {left}: {}", a.failure);
    println!("right      {right}: {}", b.failure);
    Err(CliError::CheckFailed)
}
