//! The database rows of the arena (bench/run-db.sh), shared by the actix and
//! axum peers: TechEmpower /db, /queries, /fortunes and /updates on
//! tokio-postgres, written the way TFB's actix and axum [postgresql] entries
//! use it:
//!
//!  - a few long-lived connections, each with its statements prepared once
//!    at connect time (world by id, all fortunes, the batched update);
//!  - every query of one request goes to the same connection and all of them
//!    are issued at once (FuturesUnordered): tokio-postgres writes them back
//!    to back and reads the answers in order, so N rows cost one round trip,
//!    not N (pipelining; still one SELECT per row, no IN (...));
//!  - /updates reads its rows that way, then writes them back with ONE
//!    UPDATE ... FROM (SELECT unnest($1::int[]), unnest($2::int[])), ids sorted
//!    so concurrent requests on different connections lock rows in the same
//!    order.
//!
//! Connections: TFB runs one pipelined connection per worker thread; the
//! arena runs one worker, so the scaled number is 1. We keep a few (4 by
//! default, round-robin per request; WEFT_BENCH_PG_POOL overrides) so that
//! PostgreSQL, which has both cores here, is not held to one backend
//! process. The DSN is WEFT_BENCH_PG (libpq key=value conninfo, which
//! tokio-postgres parses), or WEFT_BENCH_PG_URL when that one is unset.
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::BytesMut;
use futures_util::stream::{FuturesUnordered, TryStreamExt};
use serde::Serialize;
use tokio_postgres::{Client, NoTls, Statement};

pub const DEFAULT_POOL: usize = 4;

/// The conninfo of the database rows, or None: then the DB routes are not
/// registered and the binary serves /plaintext and /json only, as before.
pub fn dsn() -> Option<String> {
    ["WEFT_BENCH_PG", "WEFT_BENCH_PG_URL"]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .find(|v| !v.trim().is_empty())
}

pub fn pool_size() -> usize {
    std::env::var("WEFT_BENCH_PG_POOL")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&n: &usize| n >= 1)
        .unwrap_or(DEFAULT_POOL)
}

#[derive(Serialize, Clone, Copy)]
pub struct World {
    pub id: i32,
    #[serde(rename = "randomNumber")]
    pub random_number: i32,
}

pub struct Fortune {
    pub id: i32,
    pub message: String,
}

struct Conn {
    cl: Client,
    world: Statement,
    fortune: Statement,
    update: Statement,
}

pub struct Db {
    conns: Vec<Conn>,
    next: AtomicUsize,
}

pub type Error = tokio_postgres::Error;

impl Db {
    /// Opens `n` connections; the connection tasks are spawned on the
    /// current tokio runtime (actix's worker runtime, or axum's).
    pub async fn connect(dsn: &str, n: usize) -> Result<Db, Error> {
        let mut conns = Vec::with_capacity(n);
        for _ in 0..n {
            let (cl, connection) = tokio_postgres::connect(dsn, NoTls).await?;
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    eprintln!("postgres connection ended: {e}");
                }
            });
            let world = cl
                .prepare("SELECT id, randomnumber FROM world WHERE id = $1")
                .await?;
            let fortune = cl.prepare("SELECT id, message FROM fortune").await?;
            let update = cl
                .prepare(
                    "UPDATE world SET randomnumber = v.r \
                     FROM (SELECT unnest($1::int[]) AS id, unnest($2::int[]) AS r) AS v \
                     WHERE world.id = v.id",
                )
                .await?;
            conns.push(Conn {
                cl,
                world,
                fortune,
                update,
            });
        }
        Ok(Db {
            conns,
            next: AtomicUsize::new(0),
        })
    }

    fn conn(&self) -> &Conn {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        &self.conns[i % self.conns.len()]
    }

    pub async fn world(&self) -> Result<World, Error> {
        let c = self.conn();
        let row = c.cl.query_one(&c.world, &[&random_id()]).await?;
        Ok(World {
            id: row.get(0),
            random_number: row.get(1),
        })
    }

    /// `n` rows, one SELECT each, all pipelined on one connection.
    pub async fn worlds(&self, n: usize) -> Result<Vec<World>, Error> {
        let c = self.conn();
        Self::read(c, n).await
    }

    async fn read(c: &Conn, n: usize) -> Result<Vec<World>, Error> {
        let pending: FuturesUnordered<_> = (0..n)
            .map(|_| {
                let id = random_id();
                async move {
                    let row = c.cl.query_one(&c.world, &[&id]).await?;
                    Ok::<_, Error>(World {
                        id: row.get(0),
                        random_number: row.get(1),
                    })
                }
            })
            .collect();
        pending.try_collect().await
    }

    pub async fn fortunes(&self) -> Result<Vec<Fortune>, Error> {
        let c = self.conn();
        let rows = c.cl.query(&c.fortune, &[]).await?;
        let mut v = Vec::with_capacity(rows.len() + 1);
        for r in rows {
            v.push(Fortune {
                id: r.get(0),
                message: r.get(1),
            });
        }
        Ok(v)
    }

    /// `n` rows read one by one (pipelined), each given a new random number,
    /// written back with one UPDATE; the rows are returned sorted by id.
    pub async fn update(&self, n: usize) -> Result<Vec<World>, Error> {
        let c = self.conn();
        let mut worlds = Self::read(c, n).await?;
        worlds.sort_unstable_by_key(|w| w.id);
        let mut ids = Vec::with_capacity(n);
        let mut nums = Vec::with_capacity(n);
        for w in worlds.iter_mut() {
            w.random_number = random_id();
            ids.push(w.id);
            nums.push(w.random_number);
        }
        c.cl.execute(&c.update, &[&ids, &nums]).await?;
        Ok(worlds)
    }
}

/// ?queries=N: 1..500; missing, not a number or below 1 -> 1.
pub fn queries_count(query: Option<&str>) -> usize {
    let mut n = 1usize;
    if let Some(q) = query {
        for kv in q.split('&') {
            if let Some(v) = kv.strip_prefix("queries=") {
                n = v.parse::<usize>().unwrap_or(1);
            }
        }
    }
    n.clamp(1, 500)
}

thread_local! {
    static RNG: Cell<u64> = Cell::new({
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9e37_79b9_7f4a_7c15);
        t | 1
    });
}

/// A uniformly drawn id 1..=10000 (xorshift64*: fast, not cryptographic, as
/// the SmallRng TFB's Rust entries use).
pub fn random_id() -> i32 {
    RNG.with(|s| {
        let mut x = s.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        s.set(x);
        (((x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) % 10_000) + 1) as i32
    })
}

pub fn worlds_json(w: &impl Serialize) -> BytesMut {
    let mut body = bytes::BufMut::writer(BytesMut::with_capacity(64));
    serde_json::to_writer(&mut body, w).expect("serializing worlds");
    body.into_inner()
}

/// The TFB fortunes page: the rows plus the one added at request time,
/// sorted by message here (not in SQL), every message HTML-escaped.
pub fn fortunes_html(mut rows: Vec<Fortune>) -> BytesMut {
    rows.push(Fortune {
        id: 0,
        message: "Additional fortune added at request time.".to_string(),
    });
    rows.sort_unstable_by(|a, b| a.message.cmp(&b.message));
    let mut out = BytesMut::with_capacity(1536);
    out.extend_from_slice(
        b"<!DOCTYPE html><html><head><title>Fortunes</title></head><body><table><tr><th>id</th><th>message</th></tr>",
    );
    let mut num = itoa_buf();
    for f in &rows {
        out.extend_from_slice(b"<tr><td>");
        out.extend_from_slice(itoa(&mut num, f.id));
        out.extend_from_slice(b"</td><td>");
        escape_into(&mut out, &f.message);
        out.extend_from_slice(b"</td></tr>");
    }
    out.extend_from_slice(b"</table></body></html>");
    out
}

fn escape_into(out: &mut BytesMut, s: &str) {
    let b = s.as_bytes();
    let mut start = 0;
    for (i, &c) in b.iter().enumerate() {
        let rep: &[u8] = match c {
            b'&' => b"&amp;",
            b'<' => b"&lt;",
            b'>' => b"&gt;",
            b'"' => b"&quot;",
            b'\'' => b"&#x27;",
            _ => continue,
        };
        out.extend_from_slice(&b[start..i]);
        out.extend_from_slice(rep);
        start = i + 1;
    }
    out.extend_from_slice(&b[start..]);
}

fn itoa_buf() -> [u8; 12] {
    [0; 12]
}

fn itoa(buf: &mut [u8; 12], v: i32) -> &[u8] {
    let mut i = buf.len();
    let neg = v < 0;
    let mut u = v.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (u % 10) as u8;
        u /= 10;
        if u == 0 {
            break;
        }
    }
    if neg {
        i -= 1;
        buf[i] = b'-';
    }
    &buf[i..]
}
