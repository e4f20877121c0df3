#!/usr/bin/env bash
# Renders docs/timeline-load.png, the picture in docs/timeline.md: the load example runs with its
# flight recorder, its admin endpoint dumps the last second as a Chrome trace (GET /trace), and
# speedscope (the npm package, served from this machine) shows it in headless Chromium (Debian's),
# which takes the screenshot. Not part of `make test`; rerun it after a change to the collector or
# the example and look at the picture.
#
#   docs/scripts/timeline.sh [BUILD_DIR]     (default: build; the load example is built there)
#
# Needs, and installs when missing (as root, like tests/deps.sh): chromium (apt), curl, node and
# npm; speedscope is installed under $TIMELINE_CACHE (default ~/.cache/libtrace-timeline).
# Environment: TIMELINE_OUT (default docs/timeline-load.png), TIMELINE_THREAD (the thread shown:
# the name a thread_name event gives it; default server, the service's event loop),
# TIMELINE_SPAN (the span the picture centres on: the last one of that name on the thread,
# shown with as much time before and after it as it lasted; default request).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
out=${TIMELINE_OUT:-$root/docs/timeline-load.png}
thread=${TIMELINE_THREAD:-server}
focus=${TIMELINE_SPAN:-request}
cache=${TIMELINE_CACHE:-$HOME/.cache/libtrace-timeline}
speedscope_version=1.25.0
unset http_proxy https_proxy all_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY

need=""
command -v chromium >/dev/null || need="$need chromium"
command -v curl >/dev/null || need="$need curl"
command -v npm >/dev/null || need="$need npm"
if [ -n "$need" ]; then
  [ "$(id -u)" = 0 ] || { echo "timeline: please install:$need" >&2; exit 1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq$need >/dev/null
fi
release=$cache/node_modules/speedscope/dist/release
if [ ! -f "$release/index.html" ]; then
  mkdir -p "$cache"
  npm install --prefix "$cache" --no-audit --no-fund "speedscope@$speedscope_version" >/dev/null
fi

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# The load example and a second of its flight recorder.
cmake -S "$root" -B "$build" >/dev/null
cmake --build "$build" --target load >/dev/null
"$build/examples/load" --port 0 --admin-port 0 --duration 30 --pause 5 >"$work/load.out" 2>/dev/null &
pids+=($!)
for _ in $(seq 100); do
  grep -q '^load: listening on' "$work/load.out" && break
  sleep 0.1
done
admin=$(sed -n 's/.*, admin on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$work/load.out")
[ -n "$admin" ] || { echo "timeline: the load example did not start" >&2; exit 1; }
sleep 3
curl -sS --max-time 30 -o "$work/full.json" "http://127.0.0.1:$admin/trace?seconds=1"

# speedscope shows one thread at a time, and a second of a busy service is a comb of thin
# lines: the trace keeps the chosen thread's complete events around the last span of the chosen
# name (three times its length, cut at the window's edges), and the process's metadata.
node - "$work/full.json" "$work/trace.json" "$thread" "$focus" <<'JS'
const fs = require('fs');
const [src, dst, want, focus] = process.argv.slice(2);
const events = JSON.parse(fs.readFileSync(src, 'utf8'));
const named = events.find(e => e.ph === 'M' && e.name === 'thread_name' && e.args.name === want);
if (!named) { console.error(`timeline: no thread named ${want}`); process.exit(1); }
const mine = events.filter(e => e.tid === named.tid && e.ph === 'X');
const last = mine.filter(e => e.name === focus && !(e.args && e.args.open)).pop();
if (!last) { console.error(`timeline: no ${focus} span on ${want}`); process.exit(1); }
const from = last.ts - last.dur, end = last.ts + 2 * last.dur;
const shown = mine.filter(e => e.ts + e.dur > from && e.ts < end).map(e => {
  const start = Math.max(e.ts, from), stop = Math.min(e.ts + e.dur, end);
  return {...e, ts: start, dur: stop - start};
});
const kept = events.filter(e => e.ph === 'M' && (e.name === 'process_name' || e === named))
                   .concat(shown);
fs.writeFileSync(dst, JSON.stringify(kept));
console.error(`timeline: ${kept.length} of ${events.length} events (thread ${want}, ${(end - from).toFixed(1)} us)`);
JS

# speedscope and the trace over HTTP on a free port, opened by headless Chromium.
node - "$release" "$work/trace.json" "$work/port" <<'JS' &
const http = require('http'), fs = require('fs'), path = require('path');
const [dir, trace, portFile] = process.argv.slice(2);
const types = {'.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css',
               '.json': 'application/json', '.wasm': 'application/wasm', '.png': 'image/png'};
http.createServer((req, res) => {
  const url = decodeURIComponent(req.url.split(/[?#]/)[0]);
  const file = url === '/trace.json' ? trace : path.join(dir, path.normalize(url === '/' ? '/index.html' : url));
  fs.readFile(file, (err, data) => {
    if (err) { res.writeHead(404); res.end(); return; }
    res.writeHead(200, {'Content-Type': types[path.extname(file)] || 'application/octet-stream'});
    res.end(data);
  });
}).listen(0, '127.0.0.1', function () { fs.writeFileSync(portFile, String(this.address().port)); });
JS
pids+=($!)
for _ in $(seq 100); do
  [ -s "$work/port" ] && break
  sleep 0.1
done
port=$(cat "$work/port")
url="http://127.0.0.1:$port/index.html#profileURL=http://127.0.0.1:$port/trace.json&title=load%20example%3A%20thread%20$thread"
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$work/chromium" --hide-scrollbars --window-size=1600,900 \
  --virtual-time-budget=20000 --screenshot="$out" "$url" 2>"$work/chromium.log" ||
  { cat "$work/chromium.log" >&2; exit 1; }
echo "timeline: wrote $out"
