#!/usr/bin/env bash
# Start a throwaway Ceph cluster (one mon, one memstore OSD, radosgw) on
# 127.0.0.1 as the real S3 server for the gateway's tests.
#
#   scripts/rgw/start.sh DATA_DIR        # DATA_DIR: new or empty directory
#
# stdout carries only the S3_TEST_* lines (also written to DATA_DIR/s3.env; S3_TEST_USERS lists three
# more S3 users, alice, bob and reader, as name=key:secret,...);
# progress goes to stderr. Stop with: scripts/rgw/stop.sh DATA_DIR [--wipe]
#
# Environment (optional):
#   RGW_PORT, MON_PORT  ports to use (default: a random free port each)
#   S3_BUCKET           bucket to create (default gateway-test)
#   RGW_TIMEOUT         seconds allowed per waiting step (default 120)
set -euo pipefail

usage() { echo "usage: $0 DATA_DIR" >&2; exit 2; }
if [ $# -ne 1 ] || [ -z "$1" ]; then usage; fi

here=$(cd "$(dirname "$0")" && pwd)
bucket=${S3_BUCKET:-gateway-test}
timeout=${RGW_TIMEOUT:-120}
[[ $timeout =~ ^[1-9][0-9]*$ ]] || { echo "start.sh: RGW_TIMEOUT must be a positive number of seconds" >&2; exit 2; }

say() { echo "rgw: $*" >&2; }

# Everything in DATA_DIR gets deleted by stop.sh --wipe, so only take a dir
# that holds nothing yet.
if [ -e "$1" ] && { [ ! -d "$1" ] || [ -n "$(ls -A "$1")" ]; }; then
  echo "start.sh: $1 exists and is not an empty directory" >&2
  exit 2
fi
mkdir -p "$1"
dir=$(cd "$1" && pwd -P)
mkdir -p "$dir/log" "$dir/run" "$dir/mon" "$dir/osd" "$dir/crash"
touch "$dir/.made-by-start-sh"   # lets stop.sh --wipe know the dir is ours
conf=$dir/ceph.conf
setup_log=$dir/log/setup.log
ceph_cli=(ceph -c "$conf" --connect-timeout 10)

# On any failure: stop the daemons started so far, then print one error line.
step="prepare" step_log=$setup_log why="" ready=0
on_exit() {
  local rc=$?
  [ "$ready" = 1 ] && return 0
  "$here/stop.sh" "$dir" >>"$dir/log/stop.log" 2>&1 || true
  echo "start.sh: FAILED at step '$step': ${why:-exit status $rc}; see $step_log" >&2
  exit $((rc == 0 ? 1 : rc))
}
trap on_exit EXIT
trap 'why="interrupted"; exit 130' INT TERM

begin() { step=$1 step_log=$2; say "$step"; }

# Fail fast if a daemon died instead of waiting out the timeout.
check_daemons() {
  local pid name
  [ -f "$dir/pids" ] || return 0
  while read -r pid name; do
    kill -0 "$pid" 2>/dev/null || { why="$name (pid $pid) exited"; exit 1; }
  done <"$dir/pids"
}

wait_until() {  # wait_until CMD...: poll until CMD succeeds
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    check_daemons
    if [ "$SECONDS" -ge "$deadline" ]; then why="timed out after ${timeout}s"; exit 1; fi
    sleep 0.2
  done
}

# Foreground mode (-f) in its own session: $! is the daemon's PID, and stdio
# on files means $(start.sh ...) does not wait for the daemons.
start_daemon() {  # start_daemon PROGRAM ARGS...
  local prog=$1; shift
  setsid "$prog" -f -c "$conf" "$@" </dev/null >>"$dir/log/$prog.out" 2>&1 &
  echo "$! $prog" >>"$dir/pids"
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# pick_port REQUESTED AVOID: sets $port to REQUESTED (must be free) or to a
# random free port other than AVOID. Not run in $(...), so a failure's
# message and exit reach the EXIT trap.
pick_port() {
  port=$1
  if [ -n "$port" ]; then
    [[ $port =~ ^[0-9]+$ ]] || { why="port '$port' is not a number"; exit 1; }
    if port_in_use "$port"; then why="port $port on 127.0.0.1 is already in use"; exit 1; fi
    return 0
  fi
  # below Linux's ephemeral range (32768+) so client sockets don't take it meanwhile
  for _ in {1..100}; do
    port=$((20000 + RANDOM % 12000))
    if [ "$port" != "$2" ] && ! port_in_use "$port"; then return 0; fi
  done
  why="no free port found"; exit 1
}

rand_hex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }

# --- packages -------------------------------------------------------------
begin "check packages" "$dir/log/apt.log"
need=()
for pkg in ceph-mon ceph-osd radosgw ceph-common curl uuid-runtime; do
  # shellcheck disable=SC2016  # ${Status} is a dpkg-query field, not a shell variable
  [ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" = "install ok installed" ] || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  begin "install ${need[*]}" "$dir/log/apt.log"
  [ "$(id -u)" = 0 ] || { why="not root, so cannot apt-get install ${need[*]}"; exit 1; }
  # Refresh the package lists only when apt does not know a candidate yet.
  known=$(apt-cache policy "${need[@]}" 2>/dev/null | grep -c 'Candidate: [0-9]' || true)
  if [ "$known" != ${#need[@]} ]; then apt-get update >>"$step_log" 2>&1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}" >>"$step_log" 2>&1
fi

# --- configuration --------------------------------------------------------
begin "choose ports, write ceph.conf" "$setup_log"
started_at=$SECONDS
pick_port "${MON_PORT:-}" ""; mon_port=$port
pick_port "${RGW_PORT:-}" "$mon_port"; rgw_port=$port
fsid=$(uuidgen)
cat >"$conf" <<EOF
[global]
fsid = $fsid
# loopback only; msgr2 only, so the mon needs a single port
mon_host = [v2:127.0.0.1:$mon_port]
public_addr = 127.0.0.1
cluster_addr = 127.0.0.1
ms_bind_msgr1 = false
# throwaway local cluster: no cephx keyrings to manage
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
# keep every file inside DATA_DIR so clusters don't collide
run_dir = $dir/run
log_file = $dir/log/\$name.log
mon_cluster_log_file = $dir/log/cluster.log
crash_dir = $dir/crash
mon_data = $dir/mon/\$id
osd_data = $dir/osd/\$id
# data in RAM; 8 GiB is only the capacity reported, RAM is used as data arrives
osd_objectstore = memstore
memstore_device_bytes = 8589934592
# a single OSD: no replicas, no placement across hosts, no mgr
osd_pool_default_size = 1
osd_pool_default_min_size = 1
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
osd_crush_chooseleaf_type = 0
# radosgw makes ~8 pools; 32 PGs each would pass the per-OSD PG limit
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
mon_max_pg_per_osd = 1000
# a nearly full CI disk must not stop the mon
mon_data_avail_crit = 1
# one mon: commit map changes at once, not once a second (radosgw start ~9 s -> ~1 s)
paxos_propose_interval = 0.05
paxos_min_wait = 0.01

[client.rgw.gw]
rgw_frontends = beast endpoint=127.0.0.1:$rgw_port
# radosgw asks for encrypted mon sessions by default; auth "none" only has crc
ms_mon_client_mode = crc
EOF

# --- monitor --------------------------------------------------------------
begin "create ceph-mon" "$setup_log"
monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon_port]" "$dir/monmap" >>"$setup_log" 2>&1
ceph-mon -c "$conf" --mkfs -i a --monmap "$dir/monmap" >>"$setup_log" 2>&1
begin "start ceph-mon on 127.0.0.1:$mon_port" "$dir/log/mon.a.log"
start_daemon ceph-mon -i a
wait_until "${ceph_cli[@]}" mon stat

# --- OSD ------------------------------------------------------------------
begin "create ceph-osd" "$setup_log"
osd_uuid=$(uuidgen)
osd_id=$("${ceph_cli[@]}" osd new "$osd_uuid" 2>>"$setup_log")
mkdir -p "$dir/osd/$osd_id"
timeout "$timeout" ceph-osd -c "$conf" -i "$osd_id" --mkfs --osd-uuid "$osd_uuid" >>"$setup_log" 2>&1
begin "start ceph-osd" "$dir/log/osd.$osd_id.log"
start_daemon ceph-osd -i "$osd_id"
osd_up() {
  local stat
  stat=$("${ceph_cli[@]}" osd stat -f json) && [[ $stat == *'"num_up_osds":1'* ]]
}
wait_until osd_up

# --- radosgw --------------------------------------------------------------
endpoint=http://127.0.0.1:$rgw_port
begin "start radosgw on $endpoint" "$dir/log/client.rgw.gw.log"
start_daemon radosgw -n client.rgw.gw
wait_until curl -fsS -o /dev/null --max-time 5 "$endpoint/"

# --- S3 user and bucket ---------------------------------------------------
begin "create S3 user" "$setup_log"
access_key=$(rand_hex 10) && access_key=${access_key^^}
secret_key=$(rand_hex 20)
timeout "$timeout" radosgw-admin -c "$conf" user create --uid=gateway-test --display-name="gateway tests" \
  --access-key="$access_key" --secret-key="$secret_key" >>"$setup_log" 2>&1

begin "create bucket $bucket" "$dir/log/client.rgw.gw.log"
# curl's --aws-sigv4 signs the empty-body hash but does not send
# x-amz-content-sha256; radosgw then assumes UNSIGNED-PAYLOAD and rejects
# the signature, so send the header ourselves.
empty_sha256=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
s3_curl() {
  curl -fsS -o /dev/null --max-time 10 --aws-sigv4 "aws:amz:us-east-1:s3" \
    --user "$access_key:$secret_key" -H "x-amz-content-sha256: $empty_sha256" "$@"
}
wait_until s3_curl -X PUT "$endpoint/$bucket"
wait_until s3_curl "$endpoint/$bucket?list-type=2"   # signed listing: auth and bucket work

# People with S3 keys of their own, for the gateway's AUTH_MODE=s3 tests: they own nothing; the tests
# grant them buckets by bucket policy (reader: read only).
begin "create S3 users alice, bob, reader" "$setup_log"
people=()
for person in alice bob reader; do
  person_key=$(rand_hex 10) && person_key=${person_key^^}
  person_secret=$(rand_hex 20)
  timeout "$timeout" radosgw-admin -c "$conf" user create --uid="$person" --display-name="$person (gateway tests)" \
    --access-key="$person_key" --secret-key="$person_secret" >>"$setup_log" 2>&1
  people+=("$person=$person_key:$person_secret")
done

settings=(
  "S3_TEST_ENDPOINT=$endpoint"
  "S3_TEST_ACCESS_KEY_ID=$access_key"
  "S3_TEST_SECRET_ACCESS_KEY=$secret_key"
  "S3_TEST_BUCKET=$bucket"
  "S3_TEST_PROVIDER=ceph"
  "S3_TEST_USERS=$(IFS=,; echo "${people[*]}")"
)
printf '%s\n' "${settings[@]}" >"$dir/s3.env"
ready=1
say "ready in $((SECONDS - started_at))s: $endpoint (data and logs in $dir)"
printf '%s\n' "${settings[@]}"
