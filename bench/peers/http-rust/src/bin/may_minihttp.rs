//! may_minihttp peer of weft's HTTP arena (bench/run-http.sh): TechEmpower
//! /plaintext and /json the way TFB's may-minihttp entry writes them (a
//! bare path match, yarte serialization of a struct per request straight
//! into the response body; may_minihttp writes Server and Date). may
//! configured with one worker. Listens on 127.0.0.1:PORT, PORT from argv[1]
//! or $PORT. Configuration from TFB's entry (FrameworkBenchmarks,
//! frameworks/Rust/may-minihttp/src/main.rs): may's coroutine pool capacity
//! 1000 and 4 KB coroutine stacks (set_pool_capacity(1000),
//! set_stack_size(0x1000)); the worker count is the arena's (one CPU).
#[path = "../common.rs"]
mod common;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io;

use may_minihttp::{HttpService, HttpServiceFactory, Request, Response};
use yarte::Serialize;

#[derive(Serialize)]
struct HelloMessage {
    message: &'static str,
}

struct Techempower;

impl HttpService for Techempower {
    fn call(&mut self, req: Request, rsp: &mut Response) -> io::Result<()> {
        match req.path() {
            "/plaintext" => {
                rsp.header("Content-Type: text/plain").body("Hello, World!");
            }
            "/json" => {
                rsp.header("Content-Type: application/json");
                let msg = HelloMessage { message: "Hello, World!" };
                msg.to_bytes_mut(rsp.body_mut());
            }
            _ => {
                rsp.status_code(404, "Not Found");
            }
        }
        Ok(())
    }
}

struct Server;

impl HttpServiceFactory for Server {
    type Service = Techempower;

    fn new_service(&self, _id: usize) -> Self::Service {
        Techempower
    }
}

fn main() {
    may::config()
        .set_workers(1)
        .set_pool_capacity(1000)
        .set_stack_size(0x1000);
    let port = common::port();
    eprintln!("may_minihttp listening on 127.0.0.1:{port} (may: 1 worker)");
    Server
        .start(("127.0.0.1", port))
        .unwrap()
        .join()
        .unwrap();
}
