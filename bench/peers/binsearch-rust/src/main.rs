//! The Rust peer of bench/micro/binsearch.c: the same array (10,000,000
//! sorted u64, a[i] = 2*i+1), the same 1,000,000 splitmix64 keys, the same 5
//! timed passes and the same output lines. The search is the standard
//! library's `slice::binary_search`, as a Rust programmer would write it.
use std::hint::black_box;
use std::time::Instant;

const N: usize = 10_000_000;
const Q: usize = 1_000_000;
const PASSES: usize = 5;

fn splitmix64(s: &mut u64) -> u64 {
    *s = s.wrapping_add(0x9e3779b97f4a7c15);
    let mut z = *s;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
    z ^ (z >> 31)
}

fn main() {
    let a: Vec<u64> = (0..N as u64).map(|i| 2 * i + 1).collect();
    let mut seed = 42u64;
    let keys: Vec<u64> = (0..Q).map(|_| splitmix64(&mut seed) % (2 * N as u64 + 2)).collect();
    let a = black_box(a); // the optimiser may not use a[i] = 2*i+1

    let mut ns = [0f64; PASSES];
    let (mut found, mut sum) = (0u64, 0u64);
    for slot in ns.iter_mut() {
        let (mut f, mut s) = (0u64, 0u64);
        let t0 = Instant::now();
        for &k in &keys {
            if let Ok(at) = a.binary_search(&k) {
                f += 1;
                s += at as u64;
            }
        }
        *slot = t0.elapsed().as_nanos() as f64 / Q as f64;
        found = f;
        sum = s;
    }
    ns.sort_by(|x, y| x.total_cmp(y));
    println!("RESULT lookup_ns {:.3} ns", ns[PASSES / 2]);
    println!("RESULT lookup_ns_min {:.3} ns", ns[0]);
    println!("RESULT lookup_ns_max {:.3} ns", ns[PASSES - 1]);
    println!("RESULT found {} count", found);
    println!("RESULT checksum {} sum", sum);
}
