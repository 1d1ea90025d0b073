//! actix-web 4 peer of weft's HTTP arena (bench/run-http.sh): TechEmpower
//! /plaintext and /json the way TFB's actix entry writes them (static body
//! for plaintext, serde_json of a struct per request into a BytesMut for
//! json, explicit Server and Content-Type; actix adds Date). One worker
//! (workers(1)); listens on 127.0.0.1:PORT, PORT from argv[1] or $PORT.
#[path = "../common.rs"]
mod common;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use actix_web::http::header::{HeaderValue, CONTENT_TYPE, SERVER};
use actix_web::{web, App, HttpResponse, HttpServer};
use bytes::{BufMut, Bytes, BytesMut};
use serde::Serialize;

#[derive(Serialize)]
struct Message {
    message: &'static str,
}

async fn plaintext() -> HttpResponse {
    let mut res = HttpResponse::Ok().body(Bytes::from_static(b"Hello, World!"));
    let h = res.headers_mut();
    h.insert(SERVER, HeaderValue::from_static("Actix"));
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    res
}

async fn json() -> HttpResponse {
    let msg = Message { message: "Hello, World!" };
    let mut body = BytesMut::with_capacity(32).writer();
    serde_json::to_writer(&mut body, &msg).unwrap();
    let mut res = HttpResponse::Ok().body(body.into_inner().freeze());
    let h = res.headers_mut();
    h.insert(SERVER, HeaderValue::from_static("Actix"));
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}

fn main() -> std::io::Result<()> {
    let addr = ("127.0.0.1", common::port());
    eprintln!("actix listening on {}:{} (1 worker)", addr.0, addr.1);
    actix_rt::System::new().block_on(async move {
        HttpServer::new(|| {
            App::new()
                .service(web::resource("/plaintext").to(plaintext))
                .service(web::resource("/json").to(json))
        })
        .workers(1)
        .backlog(4096)
        .max_connections(100_000)
        .bind(addr)?
        .run()
        .await
    })
}
