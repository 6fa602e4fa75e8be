//! Library spawn and runtime commands timed in alternation, round after round in a random
//! order, so a load that comes and goes on a shared machine weighs on all of them alike.
//! benches/compare.sh runs it in its namespace; by itself (`cargo bench`) it does nothing.
//!
//! Environment: OCIRUN_COMPARE_BUNDLE (a bundle directory), OCIRUN_COMPARE_ROOT (a state
//! root for the library's containers), OCIRUN_COMPARE_ROUNDS (default 100), and
//! OCIRUN_COMPARE_CMDS: one command per line, `name<TAB>program args...`, each a `run` that
//! deletes its container. Prints `name median_seconds` per command, `library` first.

use std::time::{Duration, Instant};

use runtime_core::Container;

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v.get(v.len() / 2).map_or(0.0, Duration::as_secs_f64)
}

fn main() {
    let (Ok(bundle), Ok(root)) = (
        std::env::var("OCIRUN_COMPARE_BUNDLE"),
        std::env::var("OCIRUN_COMPARE_ROOT"),
    ) else {
        eprintln!("interleaved: set OCIRUN_COMPARE_BUNDLE and OCIRUN_COMPARE_ROOT (benches/compare.sh does)");
        return;
    };
    let rounds: usize = std::env::var("OCIRUN_COMPARE_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(100);
    let cmds: Vec<(String, Vec<String>)> = std::env::var("OCIRUN_COMPARE_CMDS")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (name, cmd) = l.split_once('\t')?;
            Some((name.to_owned(), cmd.split_whitespace().map(str::to_owned).collect()))
        })
        .collect();
    let library = || {
        let mut c = Container::builder("cmp-library")
            .root(&root)
            .bundle(&bundle)
            .run()
            .expect("library run");
        assert_eq!(c.wait().expect("wait").code(), 0, "the container failed");
        c.delete(false).expect("delete");
    };
    let run_cmd = |argv: &[String]| {
        let status = std::process::Command::new(&argv[0])
            .args(&argv[1..])
            .status()
            .expect("spawn a runtime");
        assert!(status.success(), "{argv:?}: {status}");
    };
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); cmds.len() + 1];
    // A cheap xorshift for the order: no dependency for one shuffle per round.
    let mut seed = u64::from(std::process::id()) | 1;
    for round in 0..rounds + 5 {
        let mut order: Vec<usize> = (0..=cmds.len()).collect();
        for i in (1..order.len()).rev() {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            order.swap(i, (seed % (i as u64 + 1)) as usize);
        }
        for k in order {
            let start = Instant::now();
            match k {
                0 => library(),
                _ => run_cmd(&cmds[k - 1].1),
            }
            // The first five rounds warm up.
            if round >= 5 {
                times[k].push(start.elapsed());
            }
        }
    }
    let mut names = vec!["library".to_owned()];
    names.extend(cmds.iter().map(|(n, _)| n.clone()));
    for (name, t) in names.iter().zip(times) {
        println!("{name} {}", median(t));
    }
}
