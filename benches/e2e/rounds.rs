//! Rounds: every part runs several times, its baseline first each time,
//! with the cost of creating a file in the lake directory probed before.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::count;
use crate::table::{Row, summarize};

/// One round of a part: its name (in lake and group names) and its
/// directory for local lakes, under `dir`.
pub(crate) struct Round {
    pub(crate) name: String,
    pub(crate) dir: PathBuf,
}

/// Runs `round` in `E2E_ROUNDS` rounds; one row per path, summarized
/// over the rounds. The rounds' lakes stay until the end of the run
/// (deleting thousands of files between rounds changes what the next
/// round's file creations cost).
pub(crate) fn in_rounds(
    dir: &Path,
    creation_costs: &mut Vec<f64>,
    mut round: impl FnMut(&Round) -> Vec<Row>,
) -> Vec<Row> {
    let rounds: Vec<Vec<Row>> = (0..count("E2E_ROUNDS", 3).max(1))
        .map(|r| {
            let name = format!("r{r}");
            let round_dir = dir.join(&name);
            std::fs::create_dir_all(&round_dir).unwrap();
            let cost = file_creation_micros(&round_dir);
            eprintln!("round {r}: creating a file in the lake directory: {cost:.0} µs");
            creation_costs.push(cost);
            let rows = round(&Round {
                name,
                dir: round_dir,
            });
            for row in &rows {
                let flowing = row.flowing.map_or("-".into(), |s| format!("{s:.2} s"));
                eprintln!(
                    "round {r}: {} {}: {:.2} s wall ({flowing} flowing), {:.2} s CPU, {} MiB",
                    row.broker, row.path, row.wall, row.cpu, row.peak_mib
                );
            }
            rows
        })
        .collect();
    summarize(rounds)
}

/// Microseconds to create (and write 100 bytes to) one file under `dir`,
/// timed over 200 files in a new directory there; the files stay until
/// the run ends, like the lakes.
fn file_creation_micros(dir: &Path) -> f64 {
    static PROBES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = PROBES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let probe = dir.join(format!("file-creation-probe-{n}"));
    let started = Instant::now();
    std::fs::create_dir(&probe).unwrap();
    for i in 0..200 {
        std::fs::write(probe.join(format!("{i}.jsonl")), [b'x'; 100]).unwrap();
    }
    started.elapsed().as_secs_f64() * 1e6 / 200.0
}

/// The file creation costs measured before the rounds, under the table.
pub(crate) fn print_creation_costs(dir: &Path, mut costs: Vec<f64>) {
    costs.sort_by(f64::total_cmp);
    if let (Some(low), Some(high)) = (costs.first(), costs.last()) {
        println!();
        println!(
            "Creating a file in the lake directory ({}) took {low:.0}–{high:.0} µs \
             before the rounds (every local object and marker pays it).",
            dir.parent().unwrap_or(dir).display()
        );
    }
}
