//! actix-web 4 peer of weft's HTTP arena (bench/run-http.sh): TechEmpower
//! /plaintext and /json the way TFB's actix-web entry writes them
//! (FrameworkBenchmarks, frameworks/Rust/actix/src/main_web.rs: static body
//! for plaintext, the struct serialised per request into a BytesMut with
//! simd_json_derive for json, explicit Server and Content-Type; actix adds
//! Date) and configures its server: keep-alive left to the OS
//! (KeepAlive::Os), no client request timeout (Duration::ZERO), backlog
//! 1024. One worker (workers(1)); listens on 127.0.0.1:PORT, PORT from
//! argv[1] or $PORT. Its global allocator is snmalloc, as in TFB's entry
//! (snmalloc-rs builds snmalloc with cmake: scripts/deps.sh bench).
//!
//! With WEFT_BENCH_PG set, also the database rows of bench/run-db.sh (/db,
//! /queries, /fortunes, /updates; src/db.rs): as TFB's actix entry, the
//! worker builds its tokio-postgres connections itself (data_factory) and
//! the queries of a request are pipelined on one of them.
#[path = "../common.rs"]
mod common;
#[path = "../db.rs"]
mod db;

#[global_allocator]
static GLOBAL: snmalloc_rs::SnMalloc = snmalloc_rs::SnMalloc; // as TFB's actix-web entry

use actix_web::http::header::{HeaderValue, CONTENT_TYPE, SERVER};
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use bytes::{BufMut, Bytes, BytesMut};

#[derive(simd_json_derive::Serialize)]
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
    let msg = Message {
        message: "Hello, World!",
    };
    let mut body = BytesMut::with_capacity(32).writer();
    simd_json_derive::Serialize::json_write(&msg, &mut body).unwrap();
    let mut res = HttpResponse::Ok().body(body.into_inner().freeze());
    let h = res.headers_mut();
    h.insert(SERVER, HeaderValue::from_static("Actix"));
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}

fn db_response(body: BytesMut, ctype: &'static str) -> HttpResponse {
    let mut res = HttpResponse::Ok().body(body.freeze());
    let h = res.headers_mut();
    h.insert(SERVER, HeaderValue::from_static("Actix"));
    h.insert(CONTENT_TYPE, HeaderValue::from_static(ctype));
    res
}

fn db_failed(e: db::Error) -> HttpResponse {
    eprintln!("database error: {e}");
    let mut res = HttpResponse::InternalServerError().finish();
    res.headers_mut()
        .insert(SERVER, HeaderValue::from_static("Actix"));
    res
}

async fn world(db: web::Data<db::Db>) -> HttpResponse {
    match db.world().await {
        Ok(w) => db_response(db::worlds_json(&w), "application/json"),
        Err(e) => db_failed(e),
    }
}

async fn queries(req: HttpRequest, db: web::Data<db::Db>) -> HttpResponse {
    let n = db::queries_count(Some(req.query_string()));
    match db.worlds(n).await {
        Ok(w) => db_response(db::worlds_json(&w), "application/json"),
        Err(e) => db_failed(e),
    }
}

async fn updates(req: HttpRequest, db: web::Data<db::Db>) -> HttpResponse {
    let n = db::queries_count(Some(req.query_string()));
    match db.update(n).await {
        Ok(w) => db_response(db::worlds_json(&w), "application/json"),
        Err(e) => db_failed(e),
    }
}

async fn fortunes(db: web::Data<db::Db>) -> HttpResponse {
    match db.fortunes().await {
        Ok(rows) => db_response(db::fortunes_html(rows), "text/html; charset=utf-8"),
        Err(e) => db_failed(e),
    }
}

fn main() -> std::io::Result<()> {
    let addr = ("127.0.0.1", common::port());
    let dsn = db::dsn();
    let pool = db::pool_size();
    match &dsn {
        Some(_) => eprintln!(
            "actix listening on {}:{} (1 worker; database rows on, {pool} pipelined connections)",
            addr.0, addr.1
        ),
        None => eprintln!("actix listening on {}:{} (1 worker)", addr.0, addr.1),
    }
    actix_rt::System::new().block_on(async move {
        HttpServer::new(move || {
            let app = App::new()
                .service(web::resource("/plaintext").to(plaintext))
                .service(web::resource("/json").to(json));
            let Some(dsn) = dsn.clone() else { return app };
            // per worker: its own connections, made on its own runtime
            app.data_factory(move || {
                let dsn = dsn.clone();
                async move {
                    db::Db::connect(&dsn, pool).await.map_err(|e| {
                        eprintln!("cannot connect to postgres: {e}");
                        e
                    })
                }
            })
            .service(web::resource("/db").to(world))
            .service(web::resource("/queries").to(queries))
            .service(web::resource("/fortunes").to(fortunes))
            .service(web::resource("/updates").to(updates))
        })
        .workers(1)
        .keep_alive(actix_web::http::KeepAlive::Os) // as TFB's actix-web entry
        .client_request_timeout(std::time::Duration::ZERO)
        .backlog(1024)
        .bind(addr)?
        .run()
        .await
    })
}
