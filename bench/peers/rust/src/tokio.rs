//! weft-bench-tokio: the tokio peer of bench/micro/rt.c, the Rust reference
//! runtime beside `may` (src/main.rs). Same benchmarks, same sizes, same
//! `RESULT <name> <value> <unit>` lines (bench/run-rt.sh), in one of tokio's
//! two schedulers:
//!
//!   current_thread  Builder::new_current_thread(): one thread runs every task
//!   multi_thread    Builder::new_multi_thread().worker_threads(2): the
//!                   work-stealing scheduler, 2 workers (weft's and Go's
//!                   count for the cross-worker benchmarks on this machine)
//!
//! Usage: tokiobench current_thread|multi_thread [name], name one of
//! switch_ns, spawn_ns, pingpong_ns, chan_msgs_per_s, park1m, wake_ns,
//! wake_block. Each benchmark body runs as a spawned task (as weft's main
//! task), the runtime built fresh for it. Tokio's own primitives throughout:
//! task::yield_now, tokio::spawn + JoinHandle, sync::mpsc bounded channels
//! (capacity 1 where weft and Go use an unbuffered channel: tokio has no
//! rendezvous channel; capacity 1024 for the throughput test), a watch
//! channel for the 1M parked tasks.
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch, Notify};

const SWITCH_N: usize = 10_000_000; // total yields (both tasks together)
const SPAWN_N: usize = 1_000_000;
const SPAWN_B: usize = 1000;
const PING_N: i64 = 1_000_000;
const CHAN_N: i64 = 10_000_000;
const CHAN_CAP: usize = 1024;
const PARK_N: usize = 1_000_000;
const WAKE_N: usize = 10_000;
const WAKE_PARK_NS: i64 = 20_000; // the sender waits this long so the receiver is parked
const WAKE_CAP_NS: i64 = 2_000_000; // after this the spinning sender yields
const TOKIO_VERSION: &str = "1.54.1"; // keep in step with Cargo.toml
const EXIT_SKIPPED: i32 = 3;

fn result(name: &str, v: f64, unit: &str) {
    println!("RESULT {name} {v:.6} {unit}");
}

fn now() -> i64 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    BASE.get_or_init(Instant::now).elapsed().as_nanos() as i64
}

async fn bench_switch() {
    let t0 = Instant::now();
    let hs: Vec<_> = (0..2)
        .map(|_| {
            tokio::spawn(async {
                for _ in 0..SWITCH_N / 2 {
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    for h in hs {
        h.await.expect("switch task");
    }
    result("switch_ns", t0.elapsed().as_nanos() as f64 / SWITCH_N as f64, "ns");
}

async fn bench_spawn() {
    let t0 = Instant::now();
    let mut hs = Vec::with_capacity(SPAWN_B);
    for _ in 0..SPAWN_N / SPAWN_B {
        for _ in 0..SPAWN_B {
            hs.push(tokio::spawn(async {}));
        }
        for h in hs.drain(..) {
            h.await.expect("spawned task");
        }
    }
    result("spawn_ns", t0.elapsed().as_nanos() as f64 / SPAWN_N as f64, "ns");
}

async fn bench_pingpong() {
    let (ping_tx, mut ping_rx) = mpsc::channel::<i64>(1);
    let (pong_tx, mut pong_rx) = mpsc::channel::<i64>(1);
    let echo = tokio::spawn(async move {
        while let Some(v) = ping_rx.recv().await {
            pong_tx.send(v + 1).await.expect("pong send");
        }
    });
    let t0 = Instant::now();
    for i in 0..PING_N {
        ping_tx.send(i).await.expect("ping send");
        let r = pong_rx.recv().await.expect("pong recv");
        assert_eq!(r, i + 1, "pong carried a wrong value");
    }
    let el = t0.elapsed();
    drop(ping_tx);
    echo.await.expect("echo task");
    result("pingpong_ns", el.as_nanos() as f64 / PING_N as f64, "ns");
}

async fn bench_chan() {
    let (tx, mut rx) = mpsc::channel::<i64>(CHAN_CAP);
    let t0 = Instant::now();
    let p = tokio::spawn(async move {
        for i in 0..CHAN_N {
            tx.send(i).await.expect("send");
        }
    });
    let c = tokio::spawn(async move {
        let mut s = 0i64;
        while let Some(v) = rx.recv().await {
            s += v;
        }
        s
    });
    p.await.expect("producer");
    let sum = c.await.expect("consumer");
    let el = t0.elapsed();
    assert_eq!(sum, CHAN_N * (CHAN_N - 1) / 2, "consumer got a wrong sum");
    result("chan_msgs_per_s", CHAN_N as f64 / el.as_secs_f64(), "msgs/s");
}

fn rss_bytes() -> i64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: i64 = s.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(-1);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as i64;
    pages * page
}

/// 1M tasks each bump a counter and wait on one watch channel; the last to
/// exit notifies the main task (no Vec of JoinHandles: its 8 MB would count
/// in the RSS per task).
async fn bench_park() {
    let (tx, rx) = watch::channel(false);
    let started = Arc::new(AtomicUsize::new(0));
    let left = Arc::new(AtomicUsize::new(PARK_N));
    let done = Arc::new(Notify::new());
    let rss0 = rss_bytes();
    let t0 = Instant::now();
    for _ in 0..PARK_N {
        let (mut rx, s, l, d) = (rx.clone(), started.clone(), left.clone(), done.clone());
        tokio::spawn(async move {
            s.fetch_add(1, Ordering::Relaxed);
            while !*rx.borrow_and_update() {
                rx.changed().await.expect("watch closed");
            }
            if l.fetch_sub(1, Ordering::AcqRel) == 1 {
                d.notify_one();
            }
        });
    }
    while started.load(Ordering::Relaxed) < PARK_N {
        tokio::task::yield_now().await;
    }
    let el = t0.elapsed();
    tokio::time::sleep(Duration::from_millis(20)).await; // let the last ones park
    let rss1 = rss_bytes();
    let t1 = Instant::now();
    tx.send(true).expect("release");
    done.notified().await;
    let rel = t1.elapsed();
    result("park1m_spawn_ms", el.as_secs_f64() * 1e3, "ms");
    result("park1m_rss_per_task_bytes", (rss1 - rss0) as f64 / PARK_N as f64, "B");
    println!("# park1m: rss before {rss0} B, after {rss1} B; release+exit of all {:.1} ms", rel.as_secs_f64() * 1e3);
}

/// The samples of a wake benchmark: the median, and the share of samples
/// under 10 us, 100 us and 1 ms (RESULT <prefix>_lt10us_pct ...), so that a
/// distribution with a long tail is shown as one, not divided by a cap.
fn report_wake(prefix: &str, mut v: Vec<i64>, capped_note: bool) {
    v.sort_unstable();
    let n = v.len();
    result(&format!("{prefix}_ns"), v[n / 2] as f64, "ns");
    for (lim, tag) in [(10_000i64, "10us"), (100_000, "100us"), (1_000_000, "1ms")] {
        let under = v.iter().filter(|&&x| x < lim).count();
        result(&format!("{prefix}_lt{tag}_pct"), 100.0 * under as f64 / n as f64, "%");
    }
    let capped = v.iter().filter(|&&x| x >= WAKE_CAP_NS).count();
    println!(
        "# {prefix}: p10 {} p90 {} p99 {} max {} ns{}",
        v[n / 10],
        v[n * 9 / 10],
        v[n * 99 / 100],
        v[n - 1],
        if capped_note { format!("; {capped} of {n} samples at or past the {WAKE_CAP_NS} ns point where the sender starts yielding") } else { String::new() }
    );
}

/// Cross-worker wake-up: the receiver R waits in recv; the sender S stamps
/// t0 and sends it. wake_ns: S then keeps its worker busy (spinning; after
/// 2 ms it yields so the run ends) until R reports it ran, so R must be run
/// by the other, idle, worker. wake_block: S then blocks in a recv of R's
/// acknowledgement, freeing its worker. Sample = R's clock on resume - t0.
async fn bench_wake(block: bool) {
    let (tx, mut rx) = mpsc::channel::<i64>(1);
    let (ack_tx, mut ack_rx) = mpsc::channel::<()>(1);
    let ready = Arc::new(AtomicI64::new(0));
    let got = Arc::new(AtomicI64::new(0));
    let (ready2, got2) = (ready.clone(), got.clone());
    let r = tokio::spawn(async move {
        let mut samples = Vec::with_capacity(WAKE_N);
        for i in 0..WAKE_N as i64 {
            ready2.store(i + 1, Ordering::SeqCst);
            let t0 = rx.recv().await.expect("recv");
            samples.push(now() - t0);
            got2.store(i + 1, Ordering::SeqCst);
            if block {
                ack_tx.send(()).await.expect("ack send");
            }
        }
        samples
    });
    let s = tokio::spawn(async move {
        for i in 0..WAKE_N as i64 {
            while ready.load(Ordering::SeqCst) != i + 1 {
                tokio::task::yield_now().await;
            }
            let s0 = now(); // R announced its recv: give it time to park
            while now() - s0 < WAKE_PARK_NS {}
            tx.send(now()).await.expect("send");
            if block {
                ack_rx.recv().await.expect("ack recv");
            } else {
                let s1 = now();
                while got.load(Ordering::SeqCst) != i + 1 {
                    if now() - s1 > WAKE_CAP_NS {
                        tokio::task::yield_now().await;
                    }
                }
            }
        }
    });
    s.await.expect("sender");
    let v = r.await.expect("receiver");
    report_wake(if block { "wake_block" } else { "wake" }, v, !block);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let names = ["switch_ns", "spawn_ns", "pingpong_ns", "chan_msgs_per_s", "park1m", "wake_ns", "wake_block"];
    let flavor = args.get(1).map(String::as_str).unwrap_or("");
    if flavor != "current_thread" && flavor != "multi_thread" {
        eprintln!("usage: tokiobench current_thread|multi_thread [name]");
        std::process::exit(2);
    }
    let Some(filter) = args.get(2) else {
        let exe = std::env::current_exe().expect("current_exe");
        let mut failed = false;
        for n in names {
            let st = std::process::Command::new(&exe).args([flavor, n]).status();
            if !matches!(st, Ok(s) if s.success() || s.code() == Some(EXIT_SKIPPED)) {
                eprintln!("tokiobench: {n} failed: {st:?}");
                failed = true;
            }
        }
        std::process::exit(if failed { 1 } else { 0 });
    };
    let Some(&name) = names.iter().find(|n| filter == *n || filter.starts_with(&format!("{n}_"))) else {
        eprintln!("unknown benchmark {filter:?}");
        std::process::exit(2);
    };
    if name == "wake_ns" && flavor == "current_thread" {
        // one thread: the spinning sender holds it, the receiver can only run
        // when the sender gives up at the cap; there is no idle worker to measure
        println!("# wake_ns: skipped: current_thread has no second worker to wake the receiver on");
        std::process::exit(EXIT_SKIPPED);
    }
    let rt = if flavor == "current_thread" {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()
    }
    .expect("tokio runtime");
    let workers = if flavor == "current_thread" { 1 } else { 2 };
    println!("# tokio {TOKIO_VERSION} {flavor}, {workers} worker(s)");
    let r = rt.block_on(async move {
        tokio::spawn(async move {
            match name {
                "switch_ns" => bench_switch().await,
                "spawn_ns" => bench_spawn().await,
                "pingpong_ns" => bench_pingpong().await,
                "chan_msgs_per_s" => bench_chan().await,
                "park1m" => bench_park().await,
                "wake_ns" => bench_wake(false).await,
                _ => bench_wake(true).await,
            }
        })
        .await
    });
    if r.is_err() {
        eprintln!("tokiobench: {name} panicked");
        std::process::exit(1);
    }
}
