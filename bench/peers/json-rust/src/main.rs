//! weft-bench-json-rust: the Rust peers of bench/micro/json.c. Parses a JSON
//! file into a DOM and encodes it back, timed the same way as the weft
//! program, with the same RESULT lines (see bench/run-json.sh):
//!
//!   serde_json  serde_json::from_slice::<serde_json::Value> / serde_json::to_vec
//!               (objects: BTreeMap, sorted by key)
//!   simd_json   simd_json::to_owned_value (parses in place: the input is
//!               copied into a scratch buffer before each run, outside the
//!               timer) / Writable::encode (objects: a hash map)
//!   sonic_rs    sonic_rs::from_slice::<sonic_rs::Value> / sonic_rs::to_vec
//!
//! Fairness (issue 13, item 1): each timed parse builds a fresh DOM and the
//! DOM is dropped *after* the timer stops, so a parse never pays for freeing
//! the previous one and never runs while the previous one is still alive;
//! the global allocator is mimalloc (weft parses into an arena it resets,
//! Go's encoding/json allocates from its GC heap).
//!
//! Usage: jsonbench serde_json|simd_json|sonic_rs FILE
use std::time::Instant;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const TARGET_NS: f64 = 1.5e9;
const MIN_ITERS: usize = 20;
const MAX_ITERS: usize = 2000;

fn result(name: &str, v: f64, unit: &str) {
    println!("RESULT {} {:.6} {}", name, v, unit);
}

fn median(mut t: Vec<f64>) -> f64 {
    t.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = t.len();
    if n % 2 == 1 { t[n / 2] } else { (t[n / 2 - 1] + t[n / 2]) / 2.0 }
}

/// Times `run` (whose result is dropped after the timer stops); `prep` runs
/// before each call, untimed. Three warm-up runs estimate the cost, then N
/// timed runs (N so the whole takes ~1.5 s, clamped to [20, 2000]); returns
/// (median ns, N).
fn measure<T, P: FnMut(), F: FnMut() -> Result<T, String>>(mut prep: P, mut run: F) -> Result<(f64, usize), String> {
    let mut est = 0.0;
    for _ in 0..3 {
        prep();
        let a = Instant::now();
        let v = run()?;
        est += a.elapsed().as_nanos() as f64;
        drop(v);
    }
    let n = ((TARGET_NS / (est / 3.0).max(1.0)) as usize).clamp(MIN_ITERS, MAX_ITERS);
    let mut t = Vec::with_capacity(n);
    for _ in 0..n {
        prep();
        let a = Instant::now();
        let v = run()?;
        t.push(a.elapsed().as_nanos() as f64);
        drop(v); // outside the timed region
    }
    Ok((median(t), n))
}

fn die(what: &str, e: String) -> ! {
    eprintln!("json-rust: {}: {}", what, e);
    std::process::exit(1);
}

fn report(name: &str, doc_len: usize, parse: (f64, usize), encode: (f64, usize), out_len: usize, values: usize) {
    println!("# {}: {} bytes, {} values", name, doc_len, values);
    result("parse_ms", parse.0 / 1e6, "ms");
    result("parse_mbps", doc_len as f64 / (parse.0 / 1e9) / 1e6, "MB/s");
    println!("# {}: parse: {} runs", name, parse.1);
    result("encode_ms", encode.0 / 1e6, "ms");
    result("encode_mbps", doc_len as f64 / (encode.0 / 1e9) / 1e6, "MB/s");
    println!("# {}: encode: {} runs; output {} bytes", name, encode.1, out_len);
}

fn serde_count(v: &serde_json::Value) -> usize {
    1 + match v {
        serde_json::Value::Array(a) => a.iter().map(serde_count).sum(),
        serde_json::Value::Object(o) => o.values().map(serde_count).sum(),
        _ => 0,
    }
}

fn simd_count(v: &simd_json::OwnedValue) -> usize {
    1 + match v {
        simd_json::OwnedValue::Array(a) => a.iter().map(simd_count).sum(),
        simd_json::OwnedValue::Object(o) => o.values().map(simd_count).sum(),
        _ => 0,
    }
}

fn sonic_count(v: &sonic_rs::Value) -> usize {
    use sonic_rs::JsonContainerTrait;
    1 + if let Some(a) = v.as_array() {
        a.iter().map(sonic_count).sum()
    } else if let Some(o) = v.as_object() {
        o.iter().map(|(_, x)| sonic_count(x)).sum()
    } else {
        0
    }
}

fn bench_serde(doc: &[u8]) {
    let parse = || serde_json::from_slice::<serde_json::Value>(doc).map_err(|e| e.to_string());
    let p = measure(|| {}, parse).unwrap_or_else(|e| die("serde_json parse", e));
    let root = parse().unwrap_or_else(|e| die("serde_json parse", e));
    let mut out_len = 0;
    let e = measure(|| {}, || {
        let out = serde_json::to_vec(&root).map_err(|e| e.to_string())?;
        out_len = out.len();
        Ok(out)
    })
    .unwrap_or_else(|e| die("serde_json encode", e));
    report("serde_json", doc.len(), p, e, out_len, serde_count(&root));
}

fn bench_simd(doc: &[u8]) {
    use simd_json::prelude::Writable;
    let mut scratch = doc.to_vec();
    let p = {
        let s = std::cell::RefCell::new(&mut scratch);
        measure(
            || s.borrow_mut().copy_from_slice(doc),
            || simd_json::to_owned_value(&mut s.borrow_mut()[..]).map_err(|e| e.to_string()),
        )
        .unwrap_or_else(|e| die("simd_json parse", e))
    };
    scratch.copy_from_slice(doc);
    let root = simd_json::to_owned_value(&mut scratch).unwrap_or_else(|e| die("simd_json parse", e.to_string()));
    let mut out_len = 0;
    let e = measure(|| {}, || {
        let out = root.encode();
        out_len = out.len();
        Ok(out)
    })
    .unwrap_or_else(|e| die("simd_json encode", e));
    report("simd_json", doc.len(), p, e, out_len, simd_count(&root));
}

fn bench_sonic(doc: &[u8]) {
    let parse = || sonic_rs::from_slice::<sonic_rs::Value>(doc).map_err(|e| e.to_string());
    let p = measure(|| {}, parse).unwrap_or_else(|e| die("sonic_rs parse", e));
    let root = parse().unwrap_or_else(|e| die("sonic_rs parse", e));
    let mut out_len = 0;
    let e = measure(|| {}, || {
        let out = sonic_rs::to_vec(&root).map_err(|e| e.to_string())?;
        out_len = out.len();
        Ok(out)
    })
    .unwrap_or_else(|e| die("sonic_rs encode", e));
    report("sonic_rs", doc.len(), p, e, out_len, sonic_count(&root));
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: jsonbench serde_json|simd_json|sonic_rs FILE");
        std::process::exit(2);
    }
    let doc = std::fs::read(&args[2]).unwrap_or_else(|e| die(&args[2], e.to_string()));
    match args[1].as_str() {
        "serde_json" => bench_serde(&doc),
        "simd_json" => bench_simd(&doc),
        "sonic_rs" => bench_sonic(&doc),
        other => {
            eprintln!("json-rust: unknown parser '{}' (serde_json, simd_json, sonic_rs)", other);
            std::process::exit(2);
        }
    }
}
