//! axum peer of weft's HTTP arena (bench/run-http.sh): TechEmpower
//! /plaintext and /json the way TFB's axum entry writes them (handlers that
//! return the Server and Content-Type headers with the body; json through
//! axum's Json, serde_json of a struct per request; hyper adds Date). A tokio
//! current_thread runtime: one thread. Listens on 127.0.0.1:PORT, PORT from
//! argv[1] or $PORT.
#[path = "../common.rs"]
mod common;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use axum::http::header::{HeaderValue, CONTENT_TYPE, SERVER};
use axum::response::IntoResponse;
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
        Json(Message { message: "Hello, World!" }),
    )
}

fn main() {
    let port = common::port();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let app = Router::new()
            .route("/plaintext", get(plaintext))
            .route("/json", get(json));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        eprintln!("axum listening on 127.0.0.1:{port} (tokio current_thread)");
        axum::serve(listener, app).await.unwrap();
    });
}
