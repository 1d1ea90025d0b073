//! The axum /health server of the Go-vs-Rust article (its "Rust HTTP Server
//! (Axum)"), as written there except for the listen address: 127.0.0.1 and
//! the port from the first argument (default 8080), so the arena
//! (bench/run-build.sh) can run it beside the others.
use axum::{routing::get, Json, Router};
use serde::Serialize;

#[derive(Serialize)]
struct Response {
    message: &'static str,
    status: u16,
}

async fn health() -> Json<Response> {
    Json(Response {
        message: "OK",
        status: 200,
    })
}

#[tokio::main]
async fn main() {
    let port = std::env::args().nth(1).unwrap_or_else(|| "8080".into());
    let app = Router::new().route("/health", get(health));

    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}"))
        .await
        .unwrap();

    println!("Server running on 127.0.0.1:{port}");
    axum::serve(listener, app).await.unwrap();
}
