//! Rust peer of the arena's tracking hot path (bench/run-tracking.sh, issue
//! 13 part D): the same minimal service as apps/tracking (weft) and
//! bench/peers/tracking-go.
//!
//!  - `GET /?id=..&lat=..&lon=..&timestamp=..&speed=..` (OsmAnd, what
//!    fleet-sim sends; other parameters ignored): the device's latest
//!    position replaced in memory, `200` with an empty body; `400` when id,
//!    lat or lon is missing or not a number (axum's Query rejection).
//!  - `GET /socket` (WebSocket): first every device's latest position, then
//!    at every tick (TICK_MS, 250 by default) the devices that reported since
//!    the last one, each once with its latest fix:
//!    `{"positions":[{"id":"sim-0001","fixTime":<Unix ms>,"lat":..,"lon":..,"speed":..}]}`.
//!
//! How the Rust community writes the fan-out: one ticker task encodes the
//! message once (serde_json) and sends it on a `tokio::sync::broadcast`
//! channel; every socket task receives the shared bytes (axum's `Utf8Bytes`,
//! reference-counted) and writes them. A viewer that falls more than 64
//! messages behind (`RecvError::Lagged`) is disconnected, as weft fleet and
//! the Go peer close a socket whose queue is full.
//!
//! One thread: a tokio current_thread runtime, as the arena's axum HTTP peer
//! (the server gets one CPU). TCP_NODELAY on accepted sockets.
//! Listens on 127.0.0.1:PORT (argv[1] or $PORT, 0 = any) and prints
//! `listening on 127.0.0.1:<port>`.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::Response;
use axum::{routing::get, Router};
use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

#[derive(Deserialize)]
struct Fix {
    id: String,
    lat: f64,
    lon: f64,
    timestamp: Option<i64>,
    speed: Option<f64>,
}

#[derive(Serialize, Clone)]
struct Pos {
    id: String,
    #[serde(rename = "fixTime")]
    fix_time: i64,
    lat: f64,
    lon: f64,
    speed: f64,
}

#[derive(Serialize)]
struct Update<'a> {
    positions: Vec<&'a Pos>,
}

#[derive(Default)]
struct Devices {
    latest: HashMap<String, Pos>,
    changed: Vec<String>, // ids changed since the last tick, each once
    pending: HashMap<String, ()>,
}

struct App {
    devices: Mutex<Devices>,
    tx: broadcast::Sender<Utf8Bytes>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

async fn ingest(State(app): State<Arc<App>>, Query(f): Query<Fix>) -> &'static str {
    let t = match f.timestamp {
        Some(t) if t < 100_000_000_000 => t * 1000, // seconds
        Some(t) => t,
        None => now_ms(),
    };
    let mut d = app.devices.lock().unwrap();
    let pos = Pos { id: f.id, fix_time: t, lat: f.lat, lon: f.lon, speed: f.speed.unwrap_or(0.0) };
    if !d.pending.contains_key(&pos.id) {
        d.pending.insert(pos.id.clone(), ());
        d.changed.push(pos.id.clone());
    }
    d.latest.insert(pos.id.clone(), pos);
    ""
}

fn encode(d: &Devices, ids: &[String]) -> Utf8Bytes {
    let positions = ids.iter().filter_map(|id| d.latest.get(id)).collect();
    serde_json::to_string(&Update { positions }).unwrap_or_default().into()
}

async fn socket(ws: WebSocketUpgrade, State(app): State<Arc<App>>) -> Response {
    ws.max_message_size(64 * 1024).on_upgrade(move |sock| viewer(sock, app))
}

async fn viewer(sock: WebSocket, app: Arc<App>) {
    let mut rx = app.tx.subscribe(); // before the snapshot: nothing falls in between
    let snap = {
        let d = app.devices.lock().unwrap();
        let ids: Vec<String> = d.latest.keys().cloned().collect();
        encode(&d, &ids)
    };
    let (mut out, mut inp) = sock.split();
    if out.send(Message::Text(snap)).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            m = rx.recv() => match m {
                Ok(text) => if out.send(Message::Text(text)).await.is_err() { break },
                Err(_) => break, // lagged (a slow viewer) or closed
            },
            r = inp.next() => match r {
                Some(Ok(_)) => {}
                _ => break,
            },
        }
    }
}

async fn ticker(app: Arc<App>, tick: Duration) {
    let mut iv = tokio::time::interval(tick);
    iv.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        iv.tick().await;
        let msg = {
            let mut d = app.devices.lock().unwrap();
            if d.changed.is_empty() {
                continue;
            }
            let ids = std::mem::take(&mut d.changed);
            d.pending.clear();
            encode(&d, &ids)
        };
        let _ = app.tx.send(msg); // Err only when nobody listens
    }
}

fn main() {
    let port: u16 = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("PORT").ok())
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let tick_ms: u64 = std::env::var("TICK_MS").ok().and_then(|t| t.parse().ok()).unwrap_or(250);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async move {
        let (tx, _) = broadcast::channel(64);
        let app = Arc::new(App { devices: Mutex::new(Devices::default()), tx });
        tokio::spawn(ticker(app.clone(), Duration::from_millis(tick_ms)));
        let router = Router::new()
            .route("/", get(ingest))
            .route("/socket", get(socket))
            .with_state(app);
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("bind");
        println!("listening on 127.0.0.1:{}", listener.local_addr().unwrap().port());
        use std::io::Write;
        let _ = std::io::stdout().flush();
        // axum 0.8: TCP_NODELAY through the listener's tap_io (ListenerExt)
        use axum::serve::ListenerExt;
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(listener, router).await.expect("serve");
    });
}
