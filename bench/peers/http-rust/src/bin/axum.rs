//! axum peer of weft's HTTP arena (bench/run-http.sh): TechEmpower
//! /plaintext and /json the way TFB's axum entry writes them (handlers that
//! return the Server and Content-Type headers with the body; json through
//! axum's Json, serde_json of a struct per request; hyper adds Date). A tokio
//! current_thread runtime: one thread. Listens on 127.0.0.1:PORT, PORT from
//! argv[1] or $PORT.
//!
//! Served as TFB's axum entry serves (FrameworkBenchmarks,
//! frameworks/Rust/axum/src/server.rs, `serve_hyper` and `start_tokio`, the
//! axum 0.8 version): not through `axum::serve` but through hyper's
//! connection API, HTTP/1 only, with
//!  - TCP_NODELAY set on every accepted socket;
//!  - `pipeline_flush(true)`: the responses to pipelined requests are
//!    gathered and flushed together instead of one write per response (the
//!    missing flag made the pipelined run stall: 74k req/s on 5.8 of 10
//!    CPU-seconds in bench/results/http-2026-11-22.md);
//!  - a listener with SO_REUSEADDR, SO_REUSEPORT and a backlog of 4096;
//!  - one current_thread runtime per CPU (start_tokio); the arena gives each
//!    server one CPU, so one runtime.
//! TFB sets the Server header with tower-http's SetResponseHeaderLayer; the
//! handlers here set the same header themselves (same bytes on the wire,
//! one dependency less). TFB's entry can be built with a `simd-json` feature
//! for /json; its default, kept here, is axum::Json (serde_json).
//!
//! With WEFT_BENCH_PG set, also the database rows of bench/run-db.sh (/db,
//! /queries, /fortunes, /updates; src/db.rs): as TFB's axum [postgresql]
//! entry, tokio-postgres connections opened on the runtime that serves, the
//! queries of a request pipelined on one of them.
#[path = "../common.rs"]
mod common;
#[path = "../db.rs"]
mod db;

use std::sync::Arc;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use axum::extract::{RawQuery, State};
use axum::http::header::{HeaderValue, CONTENT_TYPE, SERVER};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{routing::get, Json, Router};
use serde::Serialize;

#[derive(Serialize)]
struct Message {
    message: &'static str,
}

static SERVER_NAME: HeaderValue = HeaderValue::from_static("Axum");

async fn plaintext() -> impl IntoResponse {
    (
        [
            (SERVER, SERVER_NAME.clone()),
            (CONTENT_TYPE, HeaderValue::from_static("text/plain")),
        ],
        "Hello, World!",
    )
}

async fn json() -> impl IntoResponse {
    // Json serializes with serde_json and sets Content-Type: application/json
    (
        [(SERVER, SERVER_NAME.clone())],
        Json(Message {
            message: "Hello, World!",
        }),
    )
}

type Db = State<Arc<db::Db>>;

fn db_response(r: Result<bytes::BytesMut, db::Error>, ctype: &'static str) -> Response {
    match r {
        Ok(body) => (
            [
                (SERVER, SERVER_NAME.clone()),
                (CONTENT_TYPE, HeaderValue::from_static(ctype)),
            ],
            body.freeze(),
        )
            .into_response(),
        Err(e) => {
            eprintln!("database error: {e}");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(SERVER, SERVER_NAME.clone())],
            )
                .into_response()
        }
    }
}

async fn world(State(db): Db) -> Response {
    db_response(
        db.world().await.map(|w| db::worlds_json(&w)),
        "application/json",
    )
}

async fn queries(State(db): Db, RawQuery(q): RawQuery) -> Response {
    let n = db::queries_count(q.as_deref());
    db_response(
        db.worlds(n).await.map(|w| db::worlds_json(&w)),
        "application/json",
    )
}

async fn updates(State(db): Db, RawQuery(q): RawQuery) -> Response {
    let n = db::queries_count(q.as_deref());
    db_response(
        db.update(n).await.map(|w| db::worlds_json(&w)),
        "application/json",
    )
}

async fn fortunes(State(db): Db) -> Response {
    db_response(
        db.fortunes().await.map(db::fortunes_html),
        "text/html; charset=utf-8",
    )
}

fn main() {
    let port = common::port();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let mut app = Router::new()
            .route("/plaintext", get(plaintext))
            .route("/json", get(json));
        let mut what = String::new();
        if let Some(dsn) = db::dsn() {
            let pool = db::pool_size();
            let db = match db::Db::connect(&dsn, pool).await {
                Ok(db) => Arc::new(db),
                Err(e) => {
                    eprintln!("axum: cannot connect to postgres: {e}");
                    std::process::exit(1);
                }
            };
            app = app.merge(
                Router::new()
                    .route("/db", get(world))
                    .route("/queries", get(queries))
                    .route("/fortunes", get(fortunes))
                    .route("/updates", get(updates))
                    .with_state(db),
            );
            what = format!("; database rows on, {pool} pipelined connections");
        }
        let listener = tfb_listener(port).unwrap_or_else(|e| {
            eprintln!("axum: cannot listen on 127.0.0.1:{port}: {e}");
            std::process::exit(1);
        });
        eprintln!(
            "axum listening on 127.0.0.1:{port} (tokio current_thread, hyper http1 with \
             pipeline_flush and TCP_NODELAY as TFB's axum entry{what})"
        );
        serve_hyper(listener, app).await;
    });
}

/// The listener of TFB's axum entry: SO_REUSEADDR, SO_REUSEPORT, backlog 4096.
fn tfb_listener(port: u16) -> std::io::Result<tokio::net::TcpListener> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.set_reuseport(true)?;
    socket.bind(std::net::SocketAddr::from(([127, 0, 0, 1], port)))?;
    socket.listen(4096)
}

/// TFB's `serve_hyper`: accept, TCP_NODELAY, one task per connection served
/// by hyper's HTTP/1 connection with pipeline_flush(true).
async fn serve_hyper(listener: tokio::net::TcpListener, app: Router) {
    loop {
        let (socket, _) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // e.g. EMFILE: say so and go on accepting
                eprintln!("axum: accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        if let Err(e) = socket.set_nodelay(true) {
            eprintln!("axum: TCP_NODELAY: {e}");
        }
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let io = hyper_util::rt::TokioIo::new(socket);
            // a connection that ends in an error (a reset by the load
            // generator at the end of a run) needs no report
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .pipeline_flush(true)
                .serve_connection(io, service)
                .await;
        });
    }
}
