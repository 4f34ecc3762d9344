#!/usr/bin/env bash
# Starts Debian's Prometheus 2.42 and VictoriaMetrics 1.79 on 127.0.0.1 for the end-to-end
# tests (test/e2e/*.backends.test.ts), as shared/docs/backends.md describes: installs the
# packages when missing, gives each server a fresh data folder under one temp dir, waits until
# both are ready and writes their URLs and pids to an env file:
#
#   export PROMETHEUS_URL=http://127.0.0.1:19090
#   export VICTORIA_URL=http://127.0.0.1:18428
#   export PROMETHEUS_PID=... VICTORIA_PID=... PRW_BACKENDS_DIR=...
#
# The env file is $PRW_BACKENDS_ENV (default /tmp/prw-backends.env); the same lines go to
# stdout, so `eval "$(test/e2e/backends/start.sh)"` works too. Logs go to stderr and to
# $PRW_BACKENDS_DIR/{prometheus,victoria}.log.
#
# Idempotent: when the env file names two live, ready servers, it only prints the file. When it
# names dead or half-started ones, they are stopped (test/e2e/backends/stop.sh) and started afresh.
#
# Knobs: PRW_PROMETHEUS_PORT (default 19090) and PRW_VICTORIA_PORT (default 18428) are the
# first ports tried; busy ports are skipped. PROM_EXTRA_ARGS / VM_EXTRA_ARGS are appended to
# the command lines. PRW_READY_TIMEOUT (seconds, default 60).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ENV_FILE=${PRW_BACKENDS_ENV:-/tmp/prw-backends.env}
PROM_PORT_START=${PRW_PROMETHEUS_PORT:-19090}
VM_PORT_START=${PRW_VICTORIA_PORT:-18428}
READY_TIMEOUT=${PRW_READY_TIMEOUT:-60}
PROM_BIN=/usr/bin/prometheus
VM_BIN=/usr/bin/victoria-metrics

log () { echo "start.sh: $*" >&2; }

# Whether pid $1 is alive and runs the binary $2.
runs () {
  local pid=$1 bin=$2
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
  [[ "$(readlink "/proc/$pid/exe" 2>/dev/null || true)" == "$bin" ]]
}

ready () { curl -fsS -o /dev/null --max-time 2 "$1" 2>/dev/null; }

# ---- already running? ------------------------------------------------------------------------
if [[ -f "$ENV_FILE" ]]; then
  PROMETHEUS_URL='' VICTORIA_URL='' PROMETHEUS_PID='' VICTORIA_PID=''
  # shellcheck disable=SC1090
  . "$ENV_FILE"
  if runs "$PROMETHEUS_PID" "$PROM_BIN" && runs "$VICTORIA_PID" "$VM_BIN" \
    && ready "$PROMETHEUS_URL/-/ready" && ready "$VICTORIA_URL/health"; then
    log "already running ($ENV_FILE)"
    cat "$ENV_FILE"
    exit 0
  fi
  log "stale $ENV_FILE: stopping what is left of it"
  PRW_BACKENDS_ENV=$ENV_FILE "$HERE/stop.sh" >&2 || true
fi

# ---- install ---------------------------------------------------------------------------------
if [[ ! -x "$PROM_BIN" || ! -x "$VM_BIN" ]]; then
  SUDO=''
  if [[ $(id -u) -ne 0 ]]; then SUDO='sudo'; fi
  log "installing prometheus and victoria-metrics with apt"
  # No service may start during the install (no systemd here anyway); keep an existing policy.
  made_policy=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod 755 /usr/sbin/policy-rc.d
    made_policy=1
  fi
  cleanup_policy () { if [[ $made_policy -eq 1 ]]; then $SUDO rm -f /usr/sbin/policy-rc.d; fi; }
  trap cleanup_policy EXIT
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    prometheus victoria-metrics >&2
  cleanup_policy
  trap - EXIT
fi
log "packages: $(dpkg-query -W -f='${Package} ${Version}  ' prometheus victoria-metrics 2>/dev/null || true)"

# ---- start -----------------------------------------------------------------------------------
DIR=$(mktemp -d "${TMPDIR:-/tmp}/prw-backends.XXXXXX")
mkdir -p "$DIR/prometheus" "$DIR/victoria"
cat > "$DIR/prometheus/prometheus.yml" <<'YAML'
global:
  scrape_interval: 1m
  evaluation_interval: 1m
scrape_configs: []
storage:
  tsdb:
    out_of_order_time_window: 100y
YAML

port_busy () { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }

# The command line of server $1 on port $2, into the array CMD.
command_for () {
  if [[ $1 == prometheus ]]; then
    CMD=("$PROM_BIN" "--config.file=$DIR/prometheus/prometheus.yml" "--storage.tsdb.path=$DIR/prometheus/tsdb"
      --storage.tsdb.retention.time=100y "--web.listen-address=127.0.0.1:$2"
      --web.enable-remote-write-receiver --web.enable-admin-api --enable-feature=native-histograms
      --log.level=info)
    # shellcheck disable=SC2206
    CMD+=(${PROM_EXTRA_ARGS:-})
  else
    CMD=("$VM_BIN" "-httpListenAddr=127.0.0.1:$2" "-storageDataPath=$DIR/victoria/data"
      -retentionPeriod=100y -search.disableCache -search.latencyOffset=0s)
    # shellcheck disable=SC2206
    CMD+=(${VM_EXTRA_ARGS:-})
  fi
}

port_busy () { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }

# Starts server $1 from port $2 on and waits for GET $3 to succeed. Sets STARTED_PID and
# STARTED_PORT. Moves to the next port when the server dies (a busy port, or one taken between
# the check and the bind).
start_one () {
  local name=$1 port=$2 path=$3 tries=0 pid deadline
  while (( tries < 20 )); do
    while port_busy "$port"; do port=$((port + 1)); done
    command_for "$name" "$port"
    echo "+ ${CMD[*]}" >> "$DIR/$name.log"
    # setsid: the server gets its own session, so it outlives this script and its process
    # group. (A script has no job control, so setsid execs in place and $! is the server.)
    setsid "${CMD[@]}" >>"$DIR/$name.log" 2>&1 < /dev/null &
    pid=$!
    deadline=$((SECONDS + READY_TIMEOUT))
    while (( SECONDS < deadline )); do
      if ! kill -0 "$pid" 2>/dev/null; then break; fi
      if ready "http://127.0.0.1:$port$path"; then
        if ! runs "$pid" "${CMD[0]}"; then
          log "pid $pid is not ${CMD[0]} (setsid forked?)"
          return 1
        fi
        STARTED_PID=$pid
        STARTED_PORT=$port
        return 0
      fi
      sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "$name did not become ready within ${READY_TIMEOUT}s; see $DIR/$name.log"
      kill "$pid" 2>/dev/null || true
      return 1
    fi
    log "$name exited on port $port (log tail below); trying the next port"
    tail -n 5 "$DIR/$name.log" >&2 || true
    port=$((port + 1))
    tries=$((tries + 1))
  done
  return 1
}

t0=$SECONDS
PROM_PID='' VM_PID=''
abort () {
  log "failed; stopping what was started"
  [[ -n "$PROM_PID" ]] && kill "$PROM_PID" 2>/dev/null || true
  [[ -n "$VM_PID" ]] && kill "$VM_PID" 2>/dev/null || true
  exit 1
}
start_one prometheus "$PROM_PORT_START" /-/ready || abort
PROM_PID=$STARTED_PID PROM_PORT=$STARTED_PORT
start_one victoria "$VM_PORT_START" /health || abort
VM_PID=$STARTED_PID VM_PORT=$STARTED_PORT

tmp_env="$ENV_FILE.tmp.$$"
cat > "$tmp_env" <<EOF
export PROMETHEUS_URL=http://127.0.0.1:$PROM_PORT
export VICTORIA_URL=http://127.0.0.1:$VM_PORT
export PROMETHEUS_PID=$PROM_PID
export VICTORIA_PID=$VM_PID
export PRW_BACKENDS_DIR=$DIR
EOF
mv "$tmp_env" "$ENV_FILE"
log "prometheus pid $PROM_PID on 127.0.0.1:$PROM_PORT, victoria-metrics pid $VM_PID on 127.0.0.1:$VM_PORT," \
  "data in $DIR, ready after $((SECONDS - t0))s; env in $ENV_FILE"
cat "$ENV_FILE"
