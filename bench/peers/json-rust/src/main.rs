//! weft-bench-json-rust: the Rust peer of bench/micro/json.c. Parses a JSON
//! file with serde_json::from_slice::<serde_json::Value> and encodes it back
//! with serde_json::to_vec, timed the same way as the weft program, with the
//! same RESULT lines (see bench/run-json.sh).
//!
//! Usage: jsonbench FILE
use std::time::Instant;

const TARGET_NS: f64 = 1.5e9;
const MIN_ITERS: usize = 20;
const MAX_ITERS: usize = 2000;

fn result(name: &str, v: f64, unit: &str) {
    println!("RESULT {} {:.6} {}", name, v, unit);
}

/// Three warm-up runs estimate the cost, then N timed runs (N so the whole
/// takes ~1.5 s, clamped to [20, 2000]); returns (median ns, N).
fn measure<F: FnMut() -> Result<(), String>>(mut f: F) -> Result<(f64, usize), String> {
    let t0 = Instant::now();
    for _ in 0..3 {
        f()?;
    }
    let est = (t0.elapsed().as_nanos() as f64 / 3.0).max(1.0);
    let n = ((TARGET_NS / est) as usize).clamp(MIN_ITERS, MAX_ITERS);
    let mut t = Vec::with_capacity(n);
    for _ in 0..n {
        let a = Instant::now();
        f()?;
        t.push(a.elapsed().as_nanos() as f64);
    }
    t.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let med = if n % 2 == 1 { t[n / 2] } else { (t[n / 2 - 1] + t[n / 2]) / 2.0 };
    Ok((med, n))
}

fn count_values(v: &serde_json::Value) -> usize {
    1 + match v {
        serde_json::Value::Array(a) => a.iter().map(count_values).sum(),
        serde_json::Value::Object(o) => o.values().map(count_values).sum(),
        _ => 0,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 2 {
        eprintln!("usage: jsonbench FILE");
        std::process::exit(2);
    }
    let doc = std::fs::read(&args[1]).unwrap_or_else(|e| {
        eprintln!("json-rust: {}: {}", args[1], e);
        std::process::exit(1);
    });
    let parse = |d: &[u8]| serde_json::from_slice::<serde_json::Value>(d).map_err(|e| e.to_string());
    let mut root = parse(&doc).unwrap_or_else(|e| {
        eprintln!("json-rust: parse: {}", e);
        std::process::exit(1);
    });
    println!("# rust: {}: {} bytes, {} values", args[1], doc.len(), count_values(&root));
    let (ns, n) = measure(|| {
        // the previous DOM is dropped inside the timed region, as weft's
        // arena reset and Go's garbage collection are
        root = parse(&doc)?;
        Ok(())
    })
    .unwrap_or_else(|e| {
        eprintln!("json-rust: parse: {}", e);
        std::process::exit(1);
    });
    result("parse_ms", ns / 1e6, "ms");
    result("parse_mbps", doc.len() as f64 / (ns / 1e9) / 1e6, "MB/s");
    println!("# rust: parse: {} runs", n);
    let mut out_len = 0;
    let (ns, n) = measure(|| {
        let out = serde_json::to_vec(&root).map_err(|e| e.to_string())?;
        out_len = out.len();
        Ok(())
    })
    .unwrap_or_else(|e| {
        eprintln!("json-rust: encode: {}", e);
        std::process::exit(1);
    });
    result("encode_ms", ns / 1e6, "ms");
    result("encode_mbps", doc.len() as f64 / (ns / 1e9) / 1e6, "MB/s");
    println!("# rust: encode: {} runs; output {} bytes", n, out_len);
}
