#!/usr/bin/env bash
# The worked example, distributed: examples/load with --otlp against the test receiver
# (tests/otlp_receiver.py, which decodes what it gets independently). The load generator
# injects a W3C traceparent into every request and the server extracts it, so each request is
# one trace: the client's request span is its root, and the server's request span is its child
# (same trace id, parent = the client's span, flagged as a remote parent).
#
# Usage: test_load_otlp.sh path/to/load path/to/otlp_receiver.py
set -euo pipefail
bin=$1
receiver=$2
unset http_proxy https_proxy all_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY
work=$(mktemp -d)
rpid=
cleanup() {
  if [ -n "$rpid" ]; then kill "$rpid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

mkfifo "$work/hold"
python3 "$receiver" --out "$work/requests.jsonl" <"$work/hold" >"$work/port.txt" 2>"$work/receiver.err" &
rpid=$!
exec 3>"$work/hold" # keeps the receiver's stdin open until this script ends
for _ in $(seq 300); do
  [ -s "$work/port.txt" ] && break
  sleep 0.1
done
port=$(sed -n 's/^PORT //p' "$work/port.txt")
[ -n "$port" ] || { echo "FAIL: the receiver did not start"; cat "$work/receiver.err"; exit 1; }

env -u TRACE_FILTER -u TRACE_FORMAT -u LOAD_FOREVER -u OTEL_EXPORTER_OTLP_ENDPOINT NO_COLOR=1 \
  OTEL_BSP_SCHEDULE_DELAY=200 \
  "$bin" --otlp "http://127.0.0.1:$port" --port 0 --admin-port 0 --duration 3 --threads 2 \
  --pause 20 >"$work/out.txt" 2>"$work/log.txt" || { echo "FAIL: load exited with $?"; tail "$work/out.txt"; exit 1; }
grep -q '^load: done$' "$work/out.txt" || { echo "FAIL: no 'load: done'"; exit 1; }
summary=$(grep '^load: otlp: exported' "$work/out.txt") || { echo "FAIL: no otlp summary"; cat "$work/out.txt"; exit 1; }
echo "$summary"
# The log still shows the local scope of the server's request spans.
grep -q 'server{name=serve local=127.0.0.1:[0-9]*}:conn{remote=127.0.0.1:[0-9]*}:request{req.method=GET' "$work/log.txt" ||
  { echo "FAIL: the server's request lines lost their scope"; grep request "$work/log.txt" | head -3; exit 1; }

# On a failure, what the exporter said (lost spans are reported on stderr: why they were lost).
exporter_said() { grep '^trace: otlp' "$work/log.txt" | tail -n 5; }
python3 - "$work/requests.jsonl" "$summary" <<'PY' || { exporter_said; exit 1; }
import json, re, sys
reqs = [json.loads(l) for l in open(sys.argv[1])]
errors = [e for r in reqs for e in r["errors"]]
if errors:
    sys.exit("FAIL: the receiver found errors: %s" % errors[:5])
spans = [s for r in reqs for rs in (r["body"] or {}).get("resourceSpans", [])
         for ss in rs["scopeSpans"] for s in ss.get("spans", [])]
def attr(s, k):
    for kv in s.get("attributes", []):
        if kv["key"] == k:
            return list(kv["value"].values())[0]
client = {s["spanId"]: s for s in spans if s["name"] == "request" and attr(s, "code.namespace") == "gen"}
server = [s for s in spans if s["name"] == "request" and attr(s, "code.namespace") == "load"]
if len(client) < 10 or len(server) < 10:
    sys.exit("FAIL: too few request spans: %d client, %d server" % (len(client), len(server)))
traces = set()
for c in client.values():
    if "parentSpanId" in c:
        sys.exit("FAIL: a client request span has a parent: %s" % c)
    traces.add(c["traceId"])
if len(traces) != len(client):
    sys.exit("FAIL: client requests share trace ids")
matched = set()
for s in server:
    p = client.get(s.get("parentSpanId"))
    if p is None:
        sys.exit("FAIL: a server request span's parent is no client request span: %s" % s)
    if p["traceId"] != s["traceId"]:
        sys.exit("FAIL: client and server spans of a request have different trace ids")
    if s["flags"] & 0x300 != 0x300 or (s["flags"] & 1) != 1:
        sys.exit("FAIL: the server span's flags do not say its parent is remote: %#x" % s["flags"])
    if attr(s, "req.path") != attr(p, "req.path"):
        sys.exit("FAIL: client and server spans of a request have different paths")
    matched.add(p["spanId"])
if matched != set(client):
    sys.exit("FAIL: %d client requests have no server span" % (len(client) - len(matched)))
m = re.search(r"lost (\d+) spans", sys.argv[2])
if not m or m.group(1) != "0":
    sys.exit("FAIL: spans were lost: " + sys.argv[2])
print("load otlp: %d requests, each one trace from the generator into the server" % len(client))
PY
