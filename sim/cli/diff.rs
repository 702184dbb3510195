//! `dsim diff`: where two traces of one scenario part ways.

use super::replay::print_divergence;
use super::ByProtocol;
use super::CliError;
use crate::protocols::Registry;
use crate::replay::first_divergence;
use crate::show::plain;
use crate::trace::{first_failure, Record, Stats};
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

/// Reads one side of a diff: with `key` if it is keyed, without if it is
/// not; whether the key was used.
fn read_side(
    path: &std::path::Path,
    key: Option<&[u8]>,
) -> Result<(crate::trace::Header, Vec<Record<'static>>, bool), CliError> {
    let bytes = std::fs::read(path)
        .map_err(|e| CliError::input(format!("{}: cannot read: {e}", path.display())))?;
    let read =
        |key| crate::trace::read_all(&bytes, key).map(|(header, records, _)| (header, records));
    let (read, keyed) = match read(key) {
        Err(crate::trace::TraceError::KeyNotExpected) if key.is_some() => (read(None), false),
        other => (other, key.is_some()),
    };
    let (header, records) =
        read.map_err(|e| CliError::input(format!("{}: {e}", path.display())))?;
    Ok((header, records, keyed))
}

fn failure(records: &[Record<'_>]) -> String {
    match first_failure(records) {
        Some((_, check, message)) => format!("fails `{}`: {}", plain(check), plain(message)),
        None => "passes".into(),
    }
}

pub fn diff(registry: &Registry, args: DiffArgs) -> Result<(), CliError> {
    let key = args.key.as_deref().map(str::as_bytes);
    let (ha, mut a, keyed_a) = read_side(&args.left, key)?;
    let (hb, mut b, keyed_b) = read_side(&args.right, key)?;
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
    if ha.format_version != hb.format_version {
        println!(
            "header     trace format {} vs {}",
            ha.format_version, hb.format_version
        );
        let digest = |v: u16| v >= crate::trace::CLOCK_DIGEST_VERSION;
        if digest(ha.format_version) != digest(hb.format_version) {
            // One lists raised clock entries, the other has digests: the
            // same run records them differently.
            println!("note       deliveries are compared without their vector clocks, which the older format records as raised entries and the newer as digests (`dsim check` verifies both)");
            crate::replay::forget_delivery_clocks(&mut a);
            crate::replay::forget_delivery_clocks(&mut b);
        }
    }
    let Some(d) = first_divergence(&a, &b) else {
        println!("identical  {} records, record for record the same", a.len());
        return Ok(());
    };
    println!(
        "differ     first at record #{} of {} and {}",
        d.index,
        a.len(),
        b.len()
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
    let (sa, sb) = (
        Stats::of(&a[d.index.min(a.len())..]),
        Stats::of(&b[d.index.min(b.len())..]),
    );
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
    println!("left       {left}: {}", failure(&a));
    println!("right      {right}: {}", failure(&b));
    Err(CliError::CheckFailed)
}
