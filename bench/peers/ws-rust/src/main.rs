//! Rust peer of weft's WebSocket benchmark (bench/run-ws.sh):
//! tokio-tungstenite on a tokio current_thread runtime (one core).
//!
//!   /echo  every message comes back
//!   /sub   a subscriber of the fan-out; /pub  a publisher: each message it
//!          sends goes to every subscriber
//!   /idle  a connection that is only read (for memory per idle connection)
//!
//! The fan-out is a tokio broadcast channel: the publisher's task sends the
//! message once (its payload is `Bytes`, so every subscriber's clone is a
//! reference), each subscriber's task receives it, feeds it and whatever
//! else is already waiting to its socket and flushes once. A subscriber that
//! falls more than the channel's capacity behind skips the messages it lost
//! (tokio's Lagged), the channel never waits for it. Compression is off
//! (tokio-tungstenite has no permessage-deflate). The read buffer is 4 KiB,
//! what tungstenite's documentation advises "for scenarios where you expect
//! a lot of connections" (its default is 128 KiB).
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

async fn serve(stream: TcpStream, tx: broadcast::Sender<Message>) {
    let _ = stream.set_nodelay(true);
    let mut path = String::new();
    let cfg = WebSocketConfig::default().read_buffer_size(4096);
    let cb = |req: &Request, resp: Response| {
        path = req.uri().path().to_string();
        Ok(resp)
    };
    let mut ws = match tokio_tungstenite::accept_hdr_async_with_config(stream, cb, Some(cfg)).await {
        Ok(ws) => ws,
        Err(_) => return,
    };
    match path.as_str() {
        "/echo" => {
            while let Some(Ok(msg)) = ws.next().await {
                if msg.is_binary() || msg.is_text() {
                    if ws.send(msg).await.is_err() {
                        return;
                    }
                }
            }
        }
        "/pub" => {
            while let Some(Ok(msg)) = ws.next().await {
                if msg.is_binary() || msg.is_text() {
                    let _ = tx.send(msg);
                }
            }
        }
        "/sub" => {
            let mut rx = tx.subscribe();
            loop {
                tokio::select! {
                    m = rx.recv() => match m {
                        Ok(msg) => {
                            if ws.feed(msg).await.is_err() { return; }
                            while let Ok(more) = rx.try_recv() {
                                if ws.feed(more).await.is_err() { return; }
                            }
                            if ws.flush().await.is_err() { return; }
                        }
                        Err(broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(broadcast::error::RecvError::Closed) => return,
                    },
                    r = ws.next() => match r {
                        Some(Ok(_)) => {}
                        _ => return,
                    },
                }
            }
        }
        _ => while let Some(Ok(_)) = ws.next().await {}, // /idle
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut port = 18202u16;
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--port") {
        port = args.get(i + 1).and_then(|p| p.parse().ok()).expect("--port N");
    }
    let ln = TcpListener::bind(("127.0.0.1", port)).await.expect("bind");
    println!("ws-rust listening on {}", ln.local_addr().unwrap());
    let (tx, _) = broadcast::channel::<Message>(256);
    loop {
        if let Ok((s, _)) = ln.accept().await {
            tokio::spawn(serve(s, tx.clone()));
        }
    }
}
