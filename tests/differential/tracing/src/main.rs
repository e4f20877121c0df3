//! The tracing side of the env-filter differential test (see ../run.sh and ../diff_filters.c,
//! which runs the same scenario under libtrace). Reads filters from stdin, one per line; for each
//! one prints a line: "E<bits> S<bits>" (the events and the spans of the scenario that the filter
//! let through, '1' or '0' each, in scenario order) or "ERR <reason>" when
//! tracing-subscriber's strict parser (EnvFilter::builder().parse) rejects the filter.
//!
//! The scenario must stay exactly as diff_filters.c writes it: the same targets, levels, fields,
//! values, spans and nesting, in the same order.
use std::fmt;
use std::io::{self, BufRead, Write};
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::{event, span, Event, Level, Span, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::{registry, EnvFilter};

/// Events of one context: 8 targets at 5 levels, then 5 events of target "app" that declare
/// user_id, then 5 of target "db" that declare team.
const PER_CONTEXT: usize = 50;
const CONTEXTS: usize = 11;
const SPANS: usize = 6;

/// Records the index carried by each event's message.
struct Recorder(Arc<Mutex<Vec<bool>>>);

struct MessageIndex(Option<usize>);

impl Visit for MessageIndex {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{:?}", value).parse().ok();
        }
    }
}

impl<S: Subscriber> Layer<S> for Recorder {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut index = MessageIndex(None);
        event.record(&mut index);
        let i = index.0.expect("every scenario event carries its index");
        self.0.lock().unwrap()[i] = true;
    }
}

macro_rules! five {
    ($target:expr, $n:expr $(, $k:ident = $v:expr)*) => {{
        let n: usize = $n;
        event!(target: $target, Level::ERROR, $($k = $v,)* "{}", n);
        event!(target: $target, Level::WARN, $($k = $v,)* "{}", n + 1);
        event!(target: $target, Level::INFO, $($k = $v,)* "{}", n + 2);
        event!(target: $target, Level::DEBUG, $($k = $v,)* "{}", n + 3);
        event!(target: $target, Level::TRACE, $($k = $v,)* "{}", n + 4);
    }};
}

fn emit_all(context: usize) {
    let base = context * PER_CONTEXT;
    five!("app", base);
    five!("app::net", base + 5);
    five!("app::net::http", base + 10);
    five!("app2", base + 15);
    five!("app.net", base + 20);
    five!("db", base + 25);
    five!("db_pool", base + 30);
    five!("h2", base + 35);
    five!("app", base + 40, user_id = 7i64);
    five!("db", base + 45, team = "core");
}

fn request(path: &str, user_id: i64, delta: i64) -> Span {
    span!(target: "app::net", Level::INFO, "request", path = path, user_id = user_id,
          delta = delta, method = "GET")
}

fn scenario(spans: &mut [bool; SPANS]) {
    emit_all(0);
    let conn = span!(target: "app", Level::INFO, "conn", peer = "10.0.0.7", tls = true,
                     port = 8080u64, load = 0.5f64);
    spans[0] = !conn.is_disabled();
    {
        let _conn = conn.enter();
        emit_all(1);
        let req = request("/z", 42, -3);
        spans[1] = !req.is_disabled();
        {
            let _req = req.enter();
            emit_all(2);
            let query = span!(target: "db", Level::DEBUG, "query", sql = "SELECT 1", rows = 3u64);
            spans[2] = !query.is_disabled();
            {
                let _query = query.enter();
                emit_all(3);
            }
            emit_all(4);
        }
        emit_all(5);
        let idle = span!(target: "h2", Level::TRACE, "idle");
        spans[3] = !idle.is_disabled();
        {
            let _idle = idle.enter();
            emit_all(6);
        }
    }
    emit_all(7);
    let req2 = request("/a/b", 7, 3);
    spans[4] = !req2.is_disabled();
    {
        let _req2 = req2.enter();
        emit_all(8);
    }
    let job = span!(target: "app", Level::WARN, "job", status = tracing::field::Empty,
                    owner = "ops");
    job.record("status", &500i64);
    spans[5] = !job.is_disabled();
    {
        let _job = job.enter();
        emit_all(9);
    }
    emit_all(10);
}

fn bits(v: &[bool]) -> String {
    v.iter().map(|&b| if b { '1' } else { '0' }).collect()
}

fn main() {
    let stdin = io::stdin();
    let stdout = io::stdout();
    let mut out = stdout.lock();
    for line in stdin.lock().lines() {
        let spec = line.expect("read a filter");
        let filter = match EnvFilter::builder().parse(&spec) {
            Ok(f) => f,
            Err(e) => {
                writeln!(out, "ERR {}", e).unwrap();
                continue;
            }
        };
        let events = Arc::new(Mutex::new(vec![false; CONTEXTS * PER_CONTEXT]));
        let subscriber = registry().with(filter).with(Recorder(events.clone()));
        let mut spans = [false; SPANS];
        tracing::subscriber::with_default(subscriber, || scenario(&mut spans));
        let events = events.lock().unwrap();
        writeln!(out, "E{} S{}", bits(&events), bits(&spans)).unwrap();
    }
}
