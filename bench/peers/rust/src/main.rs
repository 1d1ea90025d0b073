//! weft-bench-rust: the Rust peer of bench/micro/rt.c, on the `may` crate
//! (stackful coroutines, M:N work-stealing scheduler). Same seven benchmarks,
//! same sizes, same `RESULT <name> <value> <unit>` lines (bench/run-rt.sh).
//!
//! Usage: rustbench [name], name one of switch_ns, spawn_ns, pingpong_ns,
//! chan_msgs_per_s, park1m, wake_ns, wake_block. may fixes its worker count when the
//! scheduler first starts, so without a name the program runs itself once
//! per benchmark (a fresh process each) instead of reconfiguring.
//!
//! Differences from weft/Go forced by may's API, also printed as `#` lines:
//!  - may has no bounded or rendezvous channel (its mpsc is unbounded). The
//!    ping-pong keeps one message in flight, so unbounded channels behave
//!    like unbuffered ones there. The cap-1024 throughput test uses mpsc
//!    plus a Semphore of 1024 credits (acquire before send, post after recv)
//!    to give the producer the same back-pressure.
//!  - may pins workers to cores by default; pinning is turned off so all
//!    three programs are placed only by the script's taskset.

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use may::coroutine;
use may::sync::{mpsc, Semphore, SyncFlag, WaitGroup};

const SWITCH_N: usize = 10_000_000; // total yields (both coroutines together)
const SPAWN_N: usize = 1_000_000;
const SPAWN_B: usize = 1000;
const PING_N: usize = 1_000_000;
const CHAN_N: i64 = 10_000_000;
const CHAN_CAP: usize = 1024;
const PARK_N: usize = 1_000_000;
const WAKE_N: usize = 10_000;
const WAKE_PARK_NS: i64 = 20_000; // the sender waits this long so the receiver is parked
const WAKE_CAP_NS: i64 = 2_000_000; // after this the sender yields (see bench_wake)
const MULTI: usize = 2; // the default on the 2-core bench machine, set explicitly
const MAY_VERSION: &str = "0.3.51"; // keep in step with Cargo.toml

const BENCHES: &[(&str, usize, fn())] = &[
    ("switch_ns", 1, bench_switch),
    ("spawn_ns", 1, bench_spawn),
    ("pingpong_ns", 1, bench_pingpong),
    ("chan_msgs_per_s", MULTI, bench_chan),
    ("park1m", MULTI, bench_park),
    ("wake_ns", MULTI, bench_wake),
    ("wake_block", MULTI, bench_wake_block),
];

fn result(name: &str, v: f64, unit: &str) {
    println!("RESULT {name} {v:.6} {unit}");
}

fn ns_per(el: Duration, n: usize) -> f64 {
    el.as_nanos() as f64 / n as f64
}

/// Benchmark 1: Two coroutines calling yield_now() in a loop, one worker.
fn bench_switch() {
    let per = SWITCH_N / 2;
    let t0 = Instant::now();
    let hs: Vec<_> = (0..2)
        .map(|_| {
            may::go!(move || {
                for _ in 0..per {
                    coroutine::yield_now();
                }
            })
        })
        .collect();
    for h in hs {
        h.join().expect("switch task");
    }
    result("switch_ns", ns_per(t0.elapsed(), SWITCH_N), "ns");
}

/// Benchmark 2: Spawn+exit of trivial coroutines in batches of 1000, one worker.
fn bench_spawn() {
    let t0 = Instant::now();
    for _ in 0..SPAWN_N / SPAWN_B {
        let wg = WaitGroup::new();
        for _ in 0..SPAWN_B {
            let w = wg.clone();
            may::go!(move || drop(w));
        }
        wg.wait();
    }
    result("spawn_ns", ns_per(t0.elapsed(), SPAWN_N), "ns");
}

/// Benchmark 3: Channel round trip (one message in flight each way), one worker.
fn bench_pingpong() {
    let (ping_tx, ping_rx) = mpsc::channel::<i64>();
    let (pong_tx, pong_rx) = mpsc::channel::<i64>();
    let echo = may::go!(move || {
        while let Ok(v) = ping_rx.recv() {
            if pong_tx.send(v + 1).is_err() {
                break;
            }
        }
    });
    let t0 = Instant::now();
    for i in 0..PING_N as i64 {
        ping_tx.send(i).expect("ping");
        let r = pong_rx.recv().expect("pong");
        assert_eq!(r, i + 1);
    }
    let el = t0.elapsed();
    drop(ping_tx);
    echo.join().expect("echo task");
    result("pingpong_ns", ns_per(el, PING_N), "ns");
}

/// Benchmark 4: Bounded (1024) channel of i64, one producer, one consumer, 2 workers.
fn bench_chan() {
    println!("# chan_msgs_per_s: may has no bounded channel: mpsc + Semphore({CHAN_CAP}) credits");
    let (tx, rx) = mpsc::channel::<i64>();
    let credits = Arc::new(Semphore::new(CHAN_CAP));
    let c2 = credits.clone();
    let t0 = Instant::now();
    let prod = may::go!(move || {
        for i in 0..CHAN_N {
            credits.wait();
            tx.send(i).expect("send");
        }
    });
    let cons = may::go!(move || {
        let mut s: i64 = 0;
        while let Ok(v) = rx.recv() {
            c2.post();
            s += v;
        }
        s
    });
    prod.join().expect("producer");
    let sum = cons.join().expect("consumer");
    let el = t0.elapsed();
    assert_eq!(sum, CHAN_N * (CHAN_N - 1) / 2);
    result(
        "chan_msgs_per_s",
        CHAN_N as f64 / el.as_secs_f64(),
        "msgs/s",
    );
}

/// Resident set size from /proc/self/statm (resident pages * page size).
fn rss_bytes() -> i64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: i64 = s
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(-1);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as i64;
    pages * page
}

/// Exit status for a benchmark this machine cannot run (the script shows n/a).
const EXIT_SKIPPED: i32 = 3;

/// Benchmark 5: 1M coroutines parked on one shared flag: time from the first spawn until
/// all have started (and are about to block), RSS growth per coroutine, then
/// release them all and wait for them to end. 2 workers.
fn bench_park() {
    // may (through the generator crate) mmaps every coroutine stack on its own
    // and mprotects a guard page: two kernel mappings per coroutine. Below
    // this limit the spawn loop panics part-way ("failed to alloc sys stack").
    let max_maps: usize = std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    if max_maps < 2 * PARK_N + 65536 {
        println!(
            "# park1m: skipped: vm.max_map_count is {max_maps}; may needs 2 mappings per \
             coroutine, > {} for {PARK_N} (sysctl -w vm.max_map_count=2200000)",
            2 * PARK_N + 65536
        );
        std::process::exit(EXIT_SKIPPED);
    }
    let release = Arc::new(SyncFlag::new());
    let started = Arc::new(AtomicUsize::new(0));
    let exited = WaitGroup::new();
    let rss0 = rss_bytes();
    let t0 = Instant::now();
    for _ in 0..PARK_N {
        let (r, s, w) = (release.clone(), started.clone(), exited.clone());
        may::go!(move || {
            s.fetch_add(1, Ordering::Relaxed);
            r.wait();
            drop(w);
        });
    }
    while started.load(Ordering::Relaxed) < PARK_N {
        coroutine::yield_now();
    }
    let el = t0.elapsed();
    coroutine::sleep(Duration::from_millis(20)); // let the last ones actually park
    let rss1 = rss_bytes();
    let t1 = Instant::now();
    release.fire();
    exited.wait();
    let rel = t1.elapsed();
    result("park1m_spawn_ms", el.as_secs_f64() * 1e3, "ms");
    result(
        "park1m_rss_per_task_bytes",
        (rss1 - rss0) as f64 / PARK_N as f64,
        "B",
    );
    println!(
        "# park1m: rss before {rss0} B, after {rss1} B; release+exit of all {:.1} ms",
        rel.as_secs_f64() * 1e3
    );
}

/// Benchmarks 6, 7: Cross-worker wake-up latency, 2 workers. The receiver R
/// is parked in a recv; the sender S stamps t0 and sends it. Sample = R's
/// clock on resume - t0. wake_ns: S then keeps its worker busy (spinning)
/// until R reports it ran, so R has to be resumed by the other (idle) worker;
/// if R has not run after 2 ms (the scheduler left it queued behind the busy
/// sender), S yields so the benchmark ends; such samples count as they are.
/// wake_block: S then blocks in a recv of R's acknowledgement, freeing its
/// worker.
fn run_wake(block: bool) {
    let base = Instant::now();
    let now = move || base.elapsed().as_nanos() as i64;
    let (tx, rx) = mpsc::channel::<i64>();
    let (ack_tx, ack_rx) = mpsc::channel::<()>();
    let ready = Arc::new(AtomicI64::new(0));
    let got = Arc::new(AtomicI64::new(0));
    let (ready2, got2) = (ready.clone(), got.clone());
    let r = may::go!(move || {
        let mut samples = Vec::with_capacity(WAKE_N);
        for i in 0..WAKE_N as i64 {
            ready2.store(i + 1, Ordering::SeqCst);
            let t0 = rx.recv().expect("recv");
            samples.push(now() - t0);
            got2.store(i + 1, Ordering::SeqCst);
            if block {
                ack_tx.send(()).expect("ack send");
            }
        }
        samples
    });
    let s = may::go!(move || {
        for i in 0..WAKE_N as i64 {
            while ready.load(Ordering::SeqCst) != i + 1 {
                coroutine::yield_now();
            }
            // R announced it is about to recv; give it time to park.
            let s0 = now();
            while now() - s0 < WAKE_PARK_NS {}
            tx.send(now()).expect("send");
            if block {
                ack_rx.recv().expect("ack recv");
                continue;
            }
            let s1 = now();
            while got.load(Ordering::SeqCst) != i + 1 {
                if now() - s1 > WAKE_CAP_NS {
                    coroutine::yield_now();
                }
            }
        }
    });
    s.join().expect("sender");
    let mut v = r.join().expect("receiver");
    v.sort_unstable();
    report_wake(if block { "wake_block" } else { "wake" }, &v, !block);
}

/// RESULT <prefix>_ns (the median of the sorted samples) and the share of
/// samples under 10 us, 100 us and 1 ms (<prefix>_lt10us_pct ...): a
/// distribution, never a figure divided by the cap.
fn report_wake(prefix: &str, v: &[i64], spin: bool) {
    let n = v.len();
    result(&format!("{prefix}_ns"), v[n / 2] as f64, "ns");
    for (lim, tag) in [(10_000i64, "10us"), (100_000, "100us"), (1_000_000, "1ms")] {
        let under = v.iter().filter(|&&x| x < lim).count();
        result(&format!("{prefix}_lt{tag}_pct"), 100.0 * under as f64 / n as f64, "%");
    }
    let capped = v.iter().filter(|&&x| x >= WAKE_CAP_NS).count();
    let tail = if spin {
        format!("; {capped} of {n} samples at or past the {WAKE_CAP_NS} ns point where the sender starts yielding")
    } else {
        String::new()
    };
    println!(
        "# {prefix}: p10 {} p90 {} p99 {} max {} ns{tail}",
        v[n / 10],
        v[n * 9 / 10],
        v[n * 99 / 100],
        v[n - 1]
    );
}

fn bench_wake() {
    run_wake(false)
}

fn bench_wake_block() {
    run_wake(true)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(filter) = args.get(1) else {
        // No name: run each benchmark in a fresh process of this program.
        let exe = std::env::current_exe().expect("current_exe");
        let mut failed = false;
        for (name, _, _) in BENCHES {
            let st = std::process::Command::new(&exe).arg(name).status();
            if !matches!(st, Ok(s) if s.success() || s.code() == Some(EXIT_SKIPPED)) {
                eprintln!("rustbench: {name} failed: {st:?}");
                failed = true;
            }
        }
        std::process::exit(if failed { 1 } else { 0 });
    };
    let Some(&(name, workers, f)) = BENCHES
        .iter()
        .find(|(n, _, _)| filter == n || filter.starts_with(&format!("{n}_")))
    else {
        eprintln!("unknown benchmark {filter:?}");
        std::process::exit(2);
    };
    may::config().set_workers(workers);
    may::config().set_worker_pin(false);
    println!("# rust: may {MAY_VERSION}, {workers} worker(s)");
    // Run the benchmark body as a coroutine, like weft's main task.
    match may::go!(f).join() {
        Ok(()) => {}
        Err(_) => {
            eprintln!("rustbench: {name} panicked");
            std::process::exit(1);
        }
    }
}
