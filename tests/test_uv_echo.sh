#!/usr/bin/env bash
# Integration test of examples/uv_echo, the libuv echo server, with real TCP clients (bash's
# /dev/tcp). Eight line clients connect, all of them before any sends (so their connections are
# open at the same time and their callbacks interleave in the one loop), then each sends five
# lines and checks every echo; a client sends 2 MB without reading until it has sent it all
# (reading back concurrently, so the server's write queue fills up); two clients leave at once
# without a byte. Then, with one more connection left open, SIGTERM. The log must show:
#   - one conn span per connection, a child of the server span, with its id and peer;
#   - every read and echo event inside the span of the connection that carried its data (each
#     client's lines appear in exactly one connection's events, and no connection has another
#     client's lines), no event of a connection outside a conn span;
#   - the span recorded bytes_in = bytes_out = what the client sent, and closed (the fmt layer's
#     close line) right after its "connection closed" event, once per connection;
#   - the connection open at SIGTERM closed by the shutdown, and the server exiting with 0.
#
# Usage: test_uv_echo.sh path/to/uv_echo
# Robust on a loaded machine: the port is the kernel's choice, waits poll with generous limits,
# and nothing depends on timing (the interleaving comes from the clients' rendezvous).
set -euo pipefail

bin=$1
work=$(mktemp -d)
pid=
bg_pids=() # the clients
log=$work/log
out=$log
# fail, wait_for, cleanup
# shellcheck source=tests/helpers.bash
. "$(dirname "$0")/helpers.bash"
trap cleanup EXIT

TRACE_FILTER=debug "$bin" > "$work/stdout" 2> "$log" &
pid=$!
wait_for 30 'grep -q "^listening on " "$work/stdout"' || fail "the server does not say where it listens"
addr=$(sed -n 's/^listening on //p' "$work/stdout")
port=${addr##*:}
host=${addr%:*}
[ "$host" = 127.0.0.1 ] || fail "listening on $addr, expected 127.0.0.1"

count_in_log() { grep -c -- "$1" "$log" || true; }

LINE_CLIENTS=8
LINES=5
# A line client: connects, says it is ready, waits for the go, then sends its lines one at a
# time and checks each echo.
line_client() {
  local k=$1 reply
  exec 3<>"/dev/tcp/127.0.0.1/$port"
  : > "$work/ready.$k"
  while [ ! -e "$work/go" ]; do sleep 0.02; done
  for ((j = 1; j <= LINES; j++)); do
    printf 'client %d line %d\n' "$k" "$j" >&3
    IFS= read -r -t 30 reply <&3 || { echo "client $k: no echo of line $j" > "$work/err.$k"; return 1; }
    if [ "$reply" != "client $k line $j" ]; then
      echo "client $k: sent 'client $k line $j', got '$reply'" > "$work/err.$k"
      return 1
    fi
  done
  exec 3>&-
  : > "$work/done.$k"
}

for ((k = 1; k <= LINE_CLIENTS; k++)); do
  line_client "$k" &
  bg_pids+=($!)
done
wait_for 60 '[ $(ls "$work" | grep -c "^ready\.") -eq $LINE_CLIENTS ]' || fail "clients could not connect"
# Every connection is accepted (its span exists) before any client sends.
wait_for 60 '[ $(count_in_log "uv_echo: accepted connection") -eq $LINE_CLIENTS ]' ||
  fail "the server did not accept $LINE_CLIENTS connections"
: > "$work/go"

# The bulk client: 2 MB of text, written by one process while another reads the echo back.
head -c 1572864 /dev/urandom | base64 -w 0 > "$work/big"
big_size=$(stat -c %s "$work/big")
(
  exec 3<>"/dev/tcp/127.0.0.1/$port"
  cat "$work/big" >&3 &
  writer=$!
  head -c "$big_size" <&3 > "$work/big.back"
  wait "$writer"
  exec 3>&-
) &
bg_pids+=($!)
# Two clients that leave without a byte.
for k in 1 2; do
  (exec 3<>"/dev/tcp/127.0.0.1/$port"; exec 3>&-) &
  bg_pids+=($!)
done

for p in "${bg_pids[@]}"; do
  wait "$p" || true
done
bg_pids=()
for ((k = 1; k <= LINE_CLIENTS; k++)); do
  [ -e "$work/err.$k" ] && fail "$(cat "$work/err.$k")"
  [ -e "$work/done.$k" ] || fail "client $k did not finish"
done
cmp -s "$work/big" "$work/big.back" || fail "the 2 MB echo differs from what was sent"

CONNS=$((LINE_CLIENTS + 3))
wait_for 60 '[ $(count_in_log "uv_echo: connection closed") -eq $CONNS ]' ||
  fail "expected $CONNS closed connections"

# One more connection, open when the server is told to stop.
exec 4<>"/dev/tcp/127.0.0.1/$port"
wait_for 30 '[ $(count_in_log "uv_echo: accepted connection") -eq $((CONNS + 1)) ]' ||
  fail "the last connection was not accepted"
kill -TERM "$pid"
status=0
wait "$pid" || status=$?
pid=
[ "$status" -eq 0 ] || fail "the server exited with $status after SIGTERM"
# The server closed the idle connection: the client reads the end of the stream.
IFS= read -r -t 10 rest <&4 && fail "the open connection got data after SIGTERM: $rest"
exec 4>&-
ALL=$((CONNS + 1))

# --- the log ---------------------------------------------------------------------------------------
srv_prefix="server{local=\"$addr\"}:conn{id="
# Every line about a connection is inside a conn span under the server span.
for what in "accepted connection" "read bytes=" "echoed bytes=" "client closed its side" \
            "connection closed"; do
  bad=$(grep -F "uv_echo: $what" "$log" | grep -v -F "$srv_prefix" || true)
  [ -z "$bad" ] || fail "'$what' outside a conn span: $bad"
done

# The conn id of a log line.
id_of() { sed -n 's/.*:conn{id=\([0-9]*\) .*/\1/p'; }
ids=$(grep -F "uv_echo: accepted connection" "$log" | id_of | sort -n | tr '\n' ' ')
[ "$ids" = "$(seq 1 $ALL | tr '\n' ' ')" ] || fail "conn ids: $ids, expected 1..$ALL"
grep -F "uv_echo: accepted connection" "$log" | grep -q -v 'peer="127\.0\.0\.1:[0-9]*"' &&
  fail "an accepted connection without its peer"

# Each line client's data is read and echoed in exactly one connection, which carries nothing
# else; all eight connections were open before the first read.
first_read=$(grep -n -m 1 -F "uv_echo: read bytes=" "$log" | cut -d: -f1)
last_accept=$(grep -n -F "uv_echo: accepted connection" "$log" | sed -n "${LINE_CLIENTS}p" | cut -d: -f1)
[ "$last_accept" -lt "$first_read" ] || fail "a read before all line clients were accepted"
declare -A owner
for ((k = 1; k <= LINE_CLIENTS; k++)); do
  kid=$(grep -F "data=\"client $k line " "$log" | id_of | sort -u)
  [ "$(echo "$kid" | wc -w)" -eq 1 ] || fail "client $k's lines are in connections: $kid"
  [ -z "${owner[$kid]:-}" ] || fail "connection $kid carries clients ${owner[$kid]} and $k"
  owner[$kid]=$k
  reads=$(grep -F "conn{id=$kid " "$log" | grep -F "uv_echo: read bytes=" | grep -c -v -F "data=\"client $k line " || true)
  [ "$reads" -eq 0 ] || fail "connection $kid read data not from client $k"
  sent=0
  for ((j = 1; j <= LINES; j++)); do
    line="client $k line $j"
    sent=$((sent + ${#line} + 1))
  done
  grep -F "conn{id=$kid " "$log" | grep -q -F "bytes_in=$sent bytes_out=$sent}: uv_echo: connection closed" ||
    fail "connection $kid (client $k): not closed with bytes_in=bytes_out=$sent"
done
# The bulk client's connection: every byte in, every byte out.
grep -q -F "bytes_in=$big_size bytes_out=$big_size}: uv_echo: connection closed" "$log" ||
  fail "no connection closed with bytes_in=bytes_out=$big_size (the 2 MB client)"
[ "$(count_in_log "bytes_in=0 bytes_out=0}: uv_echo: connection closed")" -ge 2 ] ||
  fail "the two silent clients' connections are not closed with 0 bytes"

# Per connection, in order: accepted, "connection closed", the span's close line, each once.
for ((id = 1; id <= ALL; id++)); do
  lines=$(grep -n -F "conn{id=$id " "$log")
  acc=$(echo "$lines" | grep -F "uv_echo: accepted connection" | cut -d: -f1)
  closed=$(echo "$lines" | grep -F "uv_echo: connection closed" | cut -d: -f1)
  span_close=$(echo "$lines" | grep -F "uv_echo: close time.busy=" | cut -d: -f1)
  [ "$(echo "$closed" | wc -w)" -eq 1 ] || fail "connection $id: 'connection closed' $closed"
  [ "$(echo "$span_close" | wc -w)" -eq 1 ] || fail "connection $id: span closed at lines '$span_close'"
  # The span ends in the close callback, right after its last event (one thread logs).
  [ "$acc" -lt "$closed" ] && [ "$span_close" -eq $((closed + 1)) ] ||
    fail "connection $id: accepted at $acc, closed at $closed, span closed at $span_close"
  last=$(echo "$lines" | tail -n 1 | cut -d: -f1)
  [ "$last" -eq "$span_close" ] || fail "connection $id: a line after its span closed"
done
# The connection open at SIGTERM was closed by the shutdown, inside its span.
grep -F "conn{id=$ALL " "$log" | grep -q "uv_echo: closing connection: shutting down" ||
  fail "the connection open at SIGTERM was not closed by the shutdown"
grep -q -F "server{local=\"$addr\"}: uv_echo: shutting down signal=15" "$log" ||
  fail "no shutdown line in the server span"
tail -n 1 "$log" | grep -q -F "server{local=\"$addr\"}: uv_echo: close time.busy=" ||
  fail "the server span is not the last thing closed"
echo "uv_echo: ok ($ALL connections, $LINE_CLIENTS line clients interleaved, $big_size bytes echoed)"
