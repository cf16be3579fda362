#!/usr/bin/env bash
# Stop the Ceph test cluster that scripts/rgw/start.sh started in DATA_DIR.
#
#   scripts/rgw/stop.sh DATA_DIR [--wipe]
#
# Signals only the PIDs recorded in DATA_DIR/pids, never processes by name,
# last started first (radosgw, OSD, mon: an OSD whose mon is gone hangs on
# shutdown). SIGTERM, up to 15 s grace, then SIGKILL. --wipe then deletes
# DATA_DIR, but only if start.sh created it.
set -euo pipefail

usage() { echo "usage: $0 DATA_DIR [--wipe]" >&2; exit 2; }
if [ $# -lt 1 ] || [ $# -gt 2 ] || [ -z "$1" ]; then usage; fi
dir=$1 wipe=0
if [ $# -eq 2 ]; then
  [ "$2" = --wipe ] || usage
  wipe=1
fi

say() { echo "rgw: $*" >&2; }

# Still our daemon: alive, not a zombie (PID 1 in a container may never reap
# it), and the PID not reused by another program (comm is cut to 15 chars).
ours() {  # ours PID PROGRAM
  local state comm
  state=$(awk '$1 == "State:" { print $2 }' "/proc/$1/status" 2>/dev/null) || return 1
  comm=$(cat "/proc/$1/comm" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ] && [ "$comm" = "${2:0:15}" ]
}

if [ -f "$dir/pids" ]; then
  mapfile -t entries < <(tac "$dir/pids")
  for entry in "${entries[@]}"; do
    read -r pid prog <<<"$entry"
    if ! ours "$pid" "$prog"; then
      say "$prog (pid $pid) is not running (or the PID is now another program's): left alone"
      continue
    fi
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 150; i++)); do
      ours "$pid" "$prog" || break
      sleep 0.1
    done
    if ours "$pid" "$prog"; then
      say "$prog (pid $pid) ignored SIGTERM for 15 s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    say "stopped $prog (pid $pid)"
  done
  rm -f "$dir/pids"
else
  say "no $dir/pids: nothing to stop"
fi

if [ "$wipe" = 1 ] && [ -d "$dir" ]; then
  if [ ! -f "$dir/.made-by-start-sh" ]; then
    say "$dir was not made by start.sh: not removed"
    exit 1
  fi
  rm -rf -- "$dir"
  say "removed $dir"
fi
