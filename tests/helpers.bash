# Shell helpers of the integration tests that run a server program (sourced by bash scripts).
# They read variables of the sourcing script: pid, the program's process id (empty once it has
# exited), out, the file its output goes to, and for cleanup work, the scratch directory, and
# bg_pids, an array of background clients.

# The scripts' EXIT trap (trap cleanup EXIT): kills the clients and the program, removes $work.
# shellcheck disable=SC2154 # bg_pids and work are the sourcing script's
cleanup() {
  for p in "${bg_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ -n "${pid:-}" ]; then kill -KILL "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}

# Prints what failed and the end of the program's output, and exits with 1.
fail() {
  echo "FAIL: $*" >&2
  if [ -f "${out:-}" ]; then
    echo "--- last lines of the program's output:" >&2
    tail -n 40 "$out" >&2
  fi
  exit 1
}

# Polls a shell condition every 0.1 s for up to $1 seconds; fails at once if the program died.
wait_for() {
  local limit=$1
  shift
  local deadline=$((SECONDS + limit))
  until eval "$@"; do
    [ $SECONDS -lt $deadline ] || return 1
    if [ -n "${pid:-}" ] && ! kill -0 "$pid" 2>/dev/null; then
      fail "the program exited early"
    fi
    sleep 0.1
  done
}
