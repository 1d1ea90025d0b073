// shared by the three binaries: listen port from argv[1] or $PORT (8080)
pub fn port() -> u16 {
    std::env::args()
        .nth(1)
        .or_else(|| std::env::var("PORT").ok())
        .and_then(|s| s.parse().ok())
        .unwrap_or(8080)
}
