#!/usr/bin/env bash
# Stop what `make demo` started: each process was started in its own session, so the whole
# group (gunicorn and celery children included) is signalled.
set -uo pipefail
cd "$(dirname "$0")/.."
shopt -s nullglob
pidfiles=(var/run/*.pid)
if ((${#pidfiles[@]} == 0)); then
  echo "nothing to stop"
  exit 0
fi
for pidfile in "${pidfiles[@]}"; do
  name=$(basename "$pidfile" .pid)
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"
    for _ in $(seq 1 30); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 1
    done
    if kill -0 "$pid" 2>/dev/null; then
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid"
    fi
    echo "stopped $name"
  fi
  rm -f "$pidfile"
done
