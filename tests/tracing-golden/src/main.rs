// Prints what tracing-subscriber's fmt formats write for the scenarios that tests/test_fmt.c
// replays in C, so that our output can be compared with tracing's byte for byte. Dev tooling,
// not run by `make test`: ./generate regenerates tests/data/tracing-*.txt from Debian's crates.
//
// Usage: tracing-golden MODE SCENARIO, MODE one of full compact pretty pretty-threads json,
// SCENARIO one of scenario (shared/reference/fmt/scenario.rs), message (events whose content
// is a `message` field), span-fields (spans with several fields, one recorded later).
// The events stay on one line each: the C test maps "src/main.rs:N" to its own lines in order.
use tracing::{debug, error, field, info, info_span, trace, warn};

fn scenario() {
    let server = info_span!(target: "server", "server", name = "serve", local = "[::1]:3000");
    let _s = server.enter();
    info!(target: "load", "accepted connection");
    let req = info_span!(target: "load", "request", req.method = "GET", req.path = "/z", status = field::Empty);
    {
        let _r = req.enter();
        debug!(target: "load", version = "HTTP/1.1", "received request");
        trace!(target: "load", letter = "z", "i don't like this letter");
        warn!(target: "load", status = 500u64, ok = false, ratio = 0.5f64, neg = -3i64);
        req.record("status", &500u64);
        error!(target: "load", error = "quote\" and\nnewline", "failed: {}", "unknown internal error");
    }
    drop(req);
}

fn message() {
    info!(target: "load", message = "only a message field");
    warn!(target: "load", message = "a message field", code = 7i64, ok = true);
    let conn = info_span!(target: "load", "conn", peer = "10.0.0.7", message = "a span field");
    let _c = conn.enter();
    error!(target: "load", message = "inside a span");
    debug!(target: "load", code = 9i64, message = "after a field", ok = false);
}

fn span_fields() {
    let conn = info_span!(target: "load", "conn", zeta = 1i64, alpha = "a", mid = true, beta = 2.5f64, later = field::Empty);
    let _c = conn.enter();
    info!(target: "load", "first");
    conn.record("later", &"recorded");
    let req = info_span!(target: "load", "req", path = "/x", id = 42u64, Upper = false);
    let _r = req.enter();
    info!(target: "load", n = 1i64, "second");
}

fn main() {
    let mode = std::env::args().nth(1).expect("usage: tracing-golden MODE SCENARIO");
    let which = std::env::args().nth(2).expect("usage: tracing-golden MODE SCENARIO");
    let b = tracing_subscriber::fmt()
        .with_env_filter("trace")
        .without_time()
        .with_ansi(false)
        .with_writer(std::io::stdout);
    match mode.as_str() {
        "full" => b.init(),
        "compact" => b.compact().init(),
        "pretty" => b.pretty().init(),
        "pretty-threads" => b.pretty().with_thread_names(true).with_thread_ids(true).init(),
        "json" => b.json().with_current_span(true).with_span_list(true).init(),
        _ => panic!("mode"),
    }
    match which.as_str() {
        "scenario" => scenario(),
        "message" => message(),
        "span-fields" => span_fields(),
        _ => panic!("scenario"),
    }
}
