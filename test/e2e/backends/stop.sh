#!/usr/bin/env bash
# Stops the servers test/e2e/backends/start.sh started (by the pids in its env file, and only when
# those pids still run the expected binaries), removes their data folder and the env file.
# Safe to run twice or when nothing was started.
set -euo pipefail

ENV_FILE=${PRW_BACKENDS_ENV:-/tmp/prw-backends.env}
log () { echo "stop.sh: $*" >&2; }

if [[ ! -f "$ENV_FILE" ]]; then
  log "no $ENV_FILE: nothing to stop"
  exit 0
fi
PROMETHEUS_PID='' VICTORIA_PID='' PRW_BACKENDS_DIR=''
# shellcheck disable=SC1090
. "$ENV_FILE"

# Sends TERM to pid $1 if it runs binary $2, waits up to 15 s, then KILL.
stop_pid () {
  local pid=$1 bin=$2 name=$3 i
  if [[ -z "$pid" ]] || ! kill -0 "$pid" 2>/dev/null; then return 0; fi
  if [[ "$(readlink "/proc/$pid/exe" 2>/dev/null || true)" != "$bin" ]]; then
    log "pid $pid is not $bin any more; leaving it alone"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 75; i++)); do
    kill -0 "$pid" 2>/dev/null || { log "$name (pid $pid) stopped"; return 0; }
    sleep 0.2
  done
  log "$name (pid $pid) ignored TERM for 15s; killing it"
  kill -KILL "$pid" 2>/dev/null || true
}

stop_pid "$PROMETHEUS_PID" /usr/bin/prometheus prometheus
stop_pid "$VICTORIA_PID" /usr/bin/victoria-metrics victoria-metrics

# Only ever remove a folder start.sh made.
case "$PRW_BACKENDS_DIR" in
  */prw-backends.*) rm -rf -- "$PRW_BACKENDS_DIR" ;;
  '') ;;
  *) log "not removing unexpected data dir '$PRW_BACKENDS_DIR'" ;;
esac
rm -f -- "$ENV_FILE"
