//! axum peer of weft's HTTP arena (bench/run-http.sh): TechEmpower
//! /plaintext and /json the way TFB's axum entry writes them (handlers that
//! return the Server and Content-Type headers with the body; json through
//! axum's Json, serde_json of a struct per request; hyper adds Date). A tokio
//! current_thread runtime: one thread. Listens on 127.0.0.1:PORT, PORT from
//! argv[1] or $PORT.
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
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        eprintln!("axum listening on 127.0.0.1:{port} (tokio current_thread{what})");
        axum::serve(listener, app).await.unwrap();
    });
}
