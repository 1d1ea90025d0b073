//! Rust peer of weft's GC case (issue 13 C; docs/gc-case.md): Discord's
//! "Read States" service. Users 1..N (default 10M) each hold a read state
//! (channel, last message acked, mention count, updated at) in memory;
//! `GET /state/{user}` answers it as JSON, `POST`/`PUT /state/{user}` with
//! `{"channel_id":C,"message_id":M}` acks a message. Same routes, JSON,
//! initial values and errors as apps/readstates (weft) and bench/peers/gc-go.
//!
//! The store is what a Rust service would use for this: 64 shards, each a
//! `Mutex<HashMap<u64, State>>` (std's hashbrown) with a multiplicative
//! hasher (the keys are dense integers; SipHash's DoS resistance buys
//! nothing here and costs time), states stored inline. One tokio
//! current_thread runtime serves it, so the locks are never contended.
//!
//!   gc-rust [PORT] [USERS]
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Default)]
struct FibHasher(u64);
impl Hasher for FibHasher {
    fn finish(&self) -> u64 {
        let k = self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        k ^ (k >> 29)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}
type Map = HashMap<u64, ReadState, BuildHasherDefault<FibHasher>>;

#[derive(Clone, Copy)]
struct ReadState {
    channel: u64,
    last_message: u64,
    updated_ms: i64,
    mentions: u32,
}

const SHARDS: usize = 64;
struct Store {
    shards: Vec<Mutex<Map>>,
}

impl Store {
    fn shard(&self, user: u64) -> &Mutex<Map> {
        let h = user.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        &self.shards[(h >> 58) as usize]
    }
    fn load(n: u64) -> Store {
        let per = (n as usize) / SHARDS + 1;
        let shards = (0..SHARDS)
            .map(|_| Mutex::new(Map::with_capacity_and_hasher(per, Default::default())))
            .collect();
        let s = Store { shards };
        for u in 1..=n {
            s.shard(u).lock().unwrap().insert(u, initial(u));
        }
        s
    }
}

/// The same deterministic start as apps/readstates (rs_initial) and gc-go.
fn initial(u: u64) -> ReadState {
    ReadState {
        channel: 1000 + u.wrapping_mul(2654435761) % 100000,
        last_message: 1_000_000_000_000_000 + 7 * u,
        mentions: (u % 4) as u32,
        updated_ms: 1_700_000_000_000 + u as i64,
    }
}

#[derive(Serialize)]
struct Out {
    user_id: u64,
    channel_id: u64,
    last_message_id: u64,
    mention_count: u32,
    updated_at: i64,
}

#[derive(Deserialize)]
struct Ack {
    channel_id: u64,
    message_id: u64,
}

fn out(user: u64, s: &ReadState) -> Response {
    Json(Out {
        user_id: user,
        channel_id: s.channel,
        last_message_id: s.last_message,
        mention_count: s.mentions,
        updated_at: s.updated_ms,
    })
    .into_response()
}

fn error(status: StatusCode, msg: &str) -> Response {
    (status, Json(serde_json::json!({ "error": msg }))).into_response()
}

/// {user}: 1..2^63-1 in decimal, no sign, no leading zero (as weft's).
fn parse_user(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 19 || s.starts_with('0') || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u64>().ok().filter(|&u| u <= i64::MAX as u64)
}

type St = State<Arc<Store>>;

async fn get_state(State(st): St, Path(user): Path<String>) -> Response {
    let Some(u) = parse_user(&user) else {
        return error(StatusCode::BAD_REQUEST, "user is not a positive integer");
    };
    let found = st.shard(u).lock().unwrap().get(&u).copied();
    match found {
        Some(s) => out(u, &s),
        None => error(StatusCode::NOT_FOUND, "no such user"),
    }
}

async fn ack_state(State(st): St, Path(user): Path<String>, body: Bytes) -> Response {
    let Some(u) = parse_user(&user) else {
        return error(StatusCode::BAD_REQUEST, "user is not a positive integer");
    };
    let ack: Ack = match serde_json::from_slice(&body) {
        Ok(a) => a,
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("body: {e}")),
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let updated = {
        let mut m = st.shard(u).lock().unwrap();
        m.get_mut(&u).map(|s| {
            s.channel = ack.channel_id;
            s.last_message = ack.message_id;
            s.mentions = 0;
            s.updated_ms = now;
            *s
        })
    };
    match updated {
        Some(s) => out(u, &s),
        None => error(StatusCode::NOT_FOUND, "no such user"),
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|s| s.parse().ok()).unwrap_or(18702);
    let users: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(10_000_000);
    let t0 = Instant::now();
    let store = Arc::new(Store::load(users));
    let load_s = t0.elapsed().as_secs_f64();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let app = Router::new()
            .route("/state/{user}", get(get_state).post(ack_state).put(ack_state))
            .with_state(store);
        let listener = listener(port).unwrap_or_else(|e| {
            eprintln!("gc-rust: cannot listen on 127.0.0.1:{port}: {e}");
            std::process::exit(1);
        });
        eprintln!(
            "gc-rust: {users} users loaded in {load_s:.2} s; listening on http://127.0.0.1:{port} \
             (axum, tokio current_thread, hyper http1 pipeline_flush, TCP_NODELAY)"
        );
        loop {
            let (socket, _) = match listener.accept().await {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("gc-rust: accept: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
            };
            let _ = socket.set_nodelay(true);
            let service = hyper_util::service::TowerToHyperService::new(app.clone());
            tokio::spawn(async move {
                let io = hyper_util::rt::TokioIo::new(socket);
                let _ = hyper::server::conn::http1::Builder::new()
                    .pipeline_flush(true)
                    .serve_connection(io, service)
                    .await;
            });
        }
    });
}

fn listener(port: u16) -> std::io::Result<tokio::net::TcpListener> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(std::net::SocketAddr::from(([127, 0, 0, 1], port)))?;
    socket.listen(4096)
}
