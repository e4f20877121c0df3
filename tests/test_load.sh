#!/usr/bin/env bash
# Integration test of examples/load, the flagship example, with a real HTTP client (curl):
# the service's answers, the admin endpoint (GET/PUT /filter, GET /callsites), hostile clients
# (garbage, a 1 MB body, slowloris, a client leaving mid-request, a connection flood) that must not
# stall either port, a live reload to [{req.path="/z"}]=trace after which every TRACE line is
# inside a /z request, and a clean, flushed exit on SIGTERM.
#
# Usage: test_load.sh path/to/load
# Robust on a loaded 2-core machine: ports are picked by the kernel, waits poll with generous
# limits, and every request has a time-out.
set -euo pipefail

bin=$1
# Straight to 127.0.0.1, whatever proxy the environment configures.
unset http_proxy https_proxy all_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY
work=$(mktemp -d)
out=$work/out.txt
pid=
bg_pids=()

# fail, wait_for, cleanup
# shellcheck source=tests/helpers.bash
. "$(dirname "$0")/helpers.bash"
trap cleanup EXIT

# curl with a time-out; prints "<status> <body>" (the body with its newline removed).
http() {
  local body=$work/body code
  code=$(curl -sS --max-time "${TIMEOUT:-3}" -o "$body" -w '%{http_code}' "$@") || code="curl-failed"
  printf '%s %s' "$code" "$(cat "$body" 2>/dev/null)"
}

expect() {
  local want=$1 got=$2 what=$3
  [ "$got" = "$want" ] || fail "$what: expected '$want', got '$got'"
}

# SIGTERM to the program, which must exit with 0; $1 says which run.
stop_program() {
  kill -TERM "$pid"
  local status=0
  wait "$pid" || status=$?
  pid=
  [ "$status" -eq 0 ] || fail "exit status $status$1"
}

# --- start ----------------------------------------------------------------------------------
# The program's own lines (stdout) and its log (stderr) in one file, in the order written: stdout
# is line-buffered, and both descriptors share one file offset.
: >"$out" # exists before the first poll: the child creates it only once it has forked
env -u TRACE_FILTER -u TRACE_FORMAT -u LOAD_FOREVER NO_COLOR=1 \
  "$bin" --port 0 --admin-port 0 --duration 300 --pause 20 >"$out" 2>&1 &
pid=$!
wait_for 30 "grep -q '^load: listening on' '$out'" || fail "no 'listening' line"
line=$(grep '^load: listening on' "$out")
port=$(sed -n 's/^load: listening on 127\.0\.0\.1:\([0-9]*\), admin on .*/\1/p' <<<"$line")
admin=$(sed -n 's/.*, admin on 127\.0\.0\.1:\([0-9]*\)$/\1/p' <<<"$line")
[ -n "$port" ] && [ -n "$admin" ] || fail "cannot parse the ports from: $line"
grep -q "^load: reload the filter meanwhile: curl -X PUT localhost:$admin/filter" "$out" ||
  fail "no how-to line"
svc=http://127.0.0.1:$port
adm=http://127.0.0.1:$admin
wait_for 30 "[ \"\$(http -H 'Content-Length: 1' $svc/b)\" = '200 b' ]" || fail "the service never answered"

# --- the service ----------------------------------------------------------------------------
expect "200 aaa" "$(http -H 'Content-Length: 3' $svc/a)" "GET /a, Content-Length 3"
expect "200 " "$(http $svc/q)" "GET /q without Content-Length"
expect "404 path must be a single ASCII character" "$(http $svc/)" "GET /"
expect "404 path must be a single ASCII character" "$(http $svc/ab)" "GET /ab"
expect "500 unknown internal error" "$(http $svc/z)" "GET /z"
expect "400 content-length must be at most 1048576" \
  "$(http -H 'Content-Length: 1048577' $svc/a)" "GET /a, Content-Length over 1 MiB"
big=$(curl -sS --max-time 10 -H 'Content-Length: 1048576' $svc/x | wc -c)
[ "$big" -eq 1048576 ] || fail "GET /x with Content-Length 1048576 gave $big bytes"
expect "405 only GET is supported" "$(http -X DELETE $svc/a)" "DELETE /a"

# --- the admin endpoint ---------------------------------------------------------------------
expect "200 debug" "$(http $adm/filter)" "GET /filter"
got=$(http -X PUT $adm/filter -d 'warn,[bad')
[[ "$got" == "400 unclosed '[' at 5" ]] || fail "PUT /filter garbage: got '$got'"
got=$(http -X PUT $adm/filter --data-binary 'app=verbose')
[[ "$got" == "400 unknown level 'verbose'"* ]] || fail "PUT /filter bad level: got '$got'"
expect "200 debug" "$(http $adm/filter)" "GET /filter after rejected reloads"
grep -q "filter rejected; keeping the old one rsp.status=400 error=unclosed '\[' at 5" "$out" ||
  fail "no WARN for the rejected filter"
expect "404" "$(http $adm/nope | cut -d' ' -f1)" "GET /nope on the admin port"
expect "405" "$(http -X DELETE $adm/filter | cut -d' ' -f1)" "DELETE /filter"
expect "405" "$(http -X PUT $adm/callsites -d x | cut -d' ' -f1)" "PUT /callsites"

curl -sS --max-time 5 -o "$work/callsites" $adm/callsites || fail "GET /callsites"
# Never hit in a healthy run: the loop's own failure, and the generator's wrong-body check.
grep -Eq 'examples/load/server\.c:[0-9]+ event ERROR load event .* (never|sometimes|always)$' \
  "$work/callsites" || fail "GET /callsites lacks the never-hit ERROR of server.c"
[ "$(grep -Ec 'examples/load/loadgen\.c:[0-9]+ event ERROR gen ' "$work/callsites")" -eq 2 ] ||
  fail "GET /callsites lacks one of loadgen.c's two ERROR events"
grep -Eq 'examples/load/server\.c:[0-9]+ span INFO load request ' "$work/callsites" ||
  fail "GET /callsites lacks the request span"

# --- the flight recorder (issue 14): the last seconds as a Chrome trace -------------------------
curl -sS --max-time 20 -o "$work/trace.json" "$adm/trace?seconds=2" || fail "GET /trace?seconds=2"
[ "$(head -c 1 "$work/trace.json")" = "[" ] || fail "GET /trace: not a JSON array"
tail -c 3 "$work/trace.json" | grep -q ']' || fail "GET /trace: not a complete document"
grep -q '"name":"request","cat":"load","ph":"X"' "$work/trace.json" ||
  fail "GET /trace: no request span"
grep -q '"name":"thread_name","ph":"M"' "$work/trace.json" || fail "GET /trace: no thread names"
expect "405" "$(http -X PUT $adm/trace -d x | cut -d' ' -f1)" "PUT /trace"

# --- hostile clients: none may stall either port --------------------------------------------
# Both ports must answer quickly while the attackers below are active.
both_answer() {
  local i
  for i in 1 2 3; do
    expect "200 cc" "$(TIMEOUT=2 http -H 'Content-Length: 2' $svc/c)" "service during $1"
    expect "200 debug" "$(TIMEOUT=2 http $adm/filter)" "admin during $1"
    sleep 0.3
  done
}

# Slowloris, one per port: one byte per second, never finishing the head.
for p in $port $admin; do
  (
    exec 3<>/dev/tcp/127.0.0.1/$p || exit 0
    for c in G E T ' ' / a ' ' H T T P / 1 . 1; do
      printf '%s' "$c" >&3 2>/dev/null || exit 0
      sleep 1
    done
  ) &
  bg_pids+=($!)
done
# Garbage: random bytes, binary lines, and 1 MB of bytes without a blank line, to both ports.
for p in $port $admin; do
  (head -c 200000 /dev/urandom >/dev/tcp/127.0.0.1/$p) 2>/dev/null || true
  (printf '\x00\x01\xff GET\r\n\r\n' >/dev/tcp/127.0.0.1/$p) 2>/dev/null || true
  (head -c 1000000 /dev/zero | tr '\0' 'x' >/dev/tcp/127.0.0.1/$p) 2>/dev/null || true
done
# A 1 MB body: curl (which waits for our early 413), and a raw client that sends it anyway.
head -c 1000000 /dev/zero | tr '\0' 'a' >"$work/1mb"
expect "413" "$(TIMEOUT=10 http -X PUT --data-binary @"$work/1mb" $adm/filter | cut -d' ' -f1)" \
  "PUT /filter with a 1 MB body"
( { printf 'PUT /filter HTTP/1.1\r\nContent-Length: 1000000\r\n\r\n'; cat "$work/1mb"; } \
  >/dev/tcp/127.0.0.1/$admin ) 2>/dev/null &
bg_pids+=($!)
# Clients that leave mid-request.
for p in $port $admin; do
  (printf 'GET /a HTTP/1.1\r\nHost: x\r\n' >/dev/tcp/127.0.0.1/$p) 2>/dev/null || true
done
both_answer "slowloris, garbage, 1 MB bodies, early disconnects"
expect "200 debug" "$(http $adm/filter)" "the filter after garbage on the admin port"

# The slowloris clients get 408 after the server's 5 s request deadline.
wait_for 30 "[ \$(grep -c 'rsp.status=408 rsp.error=timed out waiting for the request' '$out') -ge 2 ]" ||
  fail "no 408 for the slowloris clients"
grep -q 'rsp.status=413 rsp.error=request head too large' "$out" || fail "no 413 for an endless head"
grep -q 'rsp.status=413 rsp.error=request body too large' "$out" || fail "no 413 for a 1 MB body"
grep -q 'rsp.status=400 rsp.error=' "$out" || fail "no 400 for garbage"
grep -q 'client disconnected mid-request' "$out" || fail "no trace of the early disconnects"

# A flood of idle connections fills the service's 256 slots: the longest-waiting are closed to make
# room, the admin port (with its own slots) still answers, and the service recovers once the flood
# has gone.
(
  fds=()
  for i in $(seq 400); do
    exec {fd}<>/dev/tcp/127.0.0.1/$port || break
    fds+=("$fd")
  done
  sleep 3
) 2>/dev/null &
flood=$!
bg_pids+=($flood)
wait_for 30 "grep -q 'connection limit reached; closed the longest-waiting connections' '$out'" ||
  fail "no 'connection limit reached' warning during the flood"
expect "200 debug" "$(TIMEOUT=2 http $adm/filter)" "admin during the flood"
wait "$flood" || true
wait_for 30 "[ \"\$(TIMEOUT=2 http -H 'Content-Length: 1' $svc/d)\" = '200 d' ]" ||
  fail "the service did not recover after the flood"

# --- the live reload of the blog post -------------------------------------------------------
grep -q '^TRACE' "$out" && fail "TRACE lines before any reload"
expect '200 [{req.path="/z"}]=trace' "$(http -X PUT $adm/filter -d '[{req.path="/z"}]=trace')" \
  "PUT /filter [{req.path=\"/z\"}]=trace"
marker=$(grep -n 'load::admin: reloading filter filter="\[{req.path=\\"/z\\"}\]=trace"' "$out" |
  cut -d: -f1)
[ -n "$marker" ] || fail "no 'reloading filter' line for the reload"
grep -qF 'load: filter reloaded: [{req.path="/z"}]=trace' "$out" || fail "no stdout line for the reload"
grep -qF "load: filter rejected, the old one stays: unclosed '[' at 5" "$out" ||
  fail "no stdout line for the rejected filter"
# Both sides of some /z requests: the generator's and the server's TRACE events.
wait_for 60 "[ \$(grep -c 'load: error=i don.t like this letter. letter=\"z\"' '$out') -ge 3 ]" ||
  fail "no TRACE events of /z requests after the reload"
wait_for 30 "grep -q '^TRACE load_gen{.*req.path=\"/z\".*: gen: response complete. rsp.body=unknown internal error' '$out'" ||
  fail "no TRACE event of the generator"
end=$(wc -l <"$out")
# Every TRACE line is inside a /z request, as in the blog post...
if grep '^TRACE' "$out" | grep -v 'req.path="/z"' | head -n 3 | grep -q .; then
  fail "TRACE lines outside a /z request: $(grep '^TRACE' "$out" | grep -v 'req.path="/z"' | head -n 3)"
fi
# ...and after the reload only /z requests speak at all, but for a few events the generator's
# threads had under way while the filter changed.
others=$(sed -n "$((marker + 1)),${end}p" "$out" | grep -vc 'req.path="/z"' || true)
[ "$others" -le 6 ] || fail "$others lines outside /z requests after the reload"
expect "200 info" "$(http -X PUT $adm/filter -d info)" "PUT /filter info"

# --- shutdown: SIGTERM, exit 0, every line complete -----------------------------------------
stop_program ""
[ "$(tail -n 1 "$out")" = "load: done" ] || fail "the last line is not 'load: done'"
# Lines already under way in the server and client threads may still follow it (more of them
# on a loaded machine): the order is what matters, not the distance from the end.
shutdown_at=$(grep -n ' INFO load: shutting down reason=Terminated' "$out" | cut -d: -f1 | tail -n 1)
stopped_at=$(grep -n ' INFO load: stopped ' "$out" | cut -d: -f1 | tail -n 1)
[ -n "$shutdown_at" ] || fail "no 'shutting down' line"
[ -n "$stopped_at" ] && [ "$shutdown_at" -lt "$stopped_at" ] ||
  fail "'shutting down' (line $shutdown_at) is not before 'stopped' (line ${stopped_at:-none})"
tail -n 3 "$out" | grep -q ' INFO gen: load generator stopped requests=' || fail "no generator summary"
tail -n 2 "$out" | grep -q ' INFO load: stopped exit_code=0' || fail "no 'stopped' line"
bad=$(grep -Evc '^(TRACE|DEBUG| INFO| WARN|ERROR) |^load: ' "$out" || true)
[ "$bad" -eq 0 ] || fail "$bad malformed or interleaved lines: $(grep -Ev '^(TRACE|DEBUG| INFO| WARN|ERROR) |^load: ' "$out" | head -n 3)"
lines=$(wc -l <"$out")

# --- idle clients cannot lock the operator out of the admin port ----------------------------
# A second run with a small admin limit and a short read timeout (both options), so that this
# part takes a second or two. Ten idle clients against a limit of four: each new connection takes
# the place of the one that has waited longest, so the operator's request gets in at once; the
# idle ones left get 408 when the read timeout expires, and their slots are free again.
out=$work/out2.txt
: >"$out"
env -u TRACE_FILTER -u TRACE_FORMAT -u LOAD_FOREVER NO_COLOR=1 \
  "$bin" --port 0 --admin-port 0 --duration 300 --threads 0 --admin-max-conns 4 \
  --read-timeout 700 >"$out" 2>&1 &
pid=$!
wait_for 30 "grep -q '^load: listening on' '$out'" || fail "no 'listening' line (second run)"
admin=$(sed -n 's/^load: listening on .*, admin on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$out")
adm=http://127.0.0.1:$admin
wait_for 30 "[ \"\$(http $adm/filter)\" = '200 debug' ]" || fail "the admin port never answered"
idle=()
for i in $(seq 10); do
  exec {fd}<>/dev/tcp/127.0.0.1/"$admin" || fail "cannot open idle connection $i"
  idle+=("$fd")
done
expect "200 debug" "$(TIMEOUT=3 http $adm/filter)" "admin request with 10 idle clients, limit 4"
grep -q 'connection limit reached; closing the connection that has waited longest' "$out" ||
  fail "no idle connection was closed to make room"
wait_for 30 "[ \$(grep -c 'rsp.status=408 rsp.error=timed out waiting for the request' '$out') -ge 3 ]" ||
  fail "the idle connections left did not time out"
# The last idle client was told why: a 408, then the end of the connection.
reply=$(timeout 10 cat <&"${idle[9]}" | head -n 1 | tr -d '\r')
expect "HTTP/1.1 408 Request Timeout" "$reply" "what an idle client reads"
for fd in "${idle[@]}"; do exec {fd}>&-; done
expect "200 debug" "$(TIMEOUT=3 http $adm/filter)" "admin request after the read timeout"
# Nor once the idle clients have had their 408: they never close, and their connections linger
# (for the client to close) in every slot. The operator's request used to be dropped then: a
# loaded machine that took the read timeout to reach the request above failed it that way.
answered=$(grep -c 'rsp.status=408 rsp.error=timed out waiting for the request' "$out")
idle=()
for i in $(seq 4); do
  exec {fd}<>/dev/tcp/127.0.0.1/"$admin" || fail "cannot open idle connection $i (second round)"
  idle+=("$fd")
done
wait_for 30 "[ \$(grep -c 'rsp.status=408 rsp.error=timed out waiting for the request' '$out') -ge $((answered + 4)) ]" ||
  fail "the four idle connections did not time out"
expect "200 debug" "$(TIMEOUT=3 http $adm/filter)" "admin request with 4 answered idle clients, limit 4"
for fd in "${idle[@]}"; do exec {fd}>&-; done
stop_program " (second run)"
echo "load: all checks passed ($lines + $(wc -l <"$out") lines of output)"
