#!/usr/bin/env bash
# A real S3 API on loopback for the storage tests: Debian's Ceph (mon + osd + radosgw), single node,
# memstore-backed, auth off inside the cluster, RGW on 127.0.0.1:$HERD_S3_PORT with one user whose
# keys are fixed. Recipe: ../shared/reference/deploy-anchors.md §6. Lab use only.
#
#   scripts/test-s3.sh start   # installs the Debian packages if missing (~75 s), starts (~15 s)
#   scripts/test-s3.sh stop    # stops the daemons by their pid files, removes the state folder
#   scripts/test-s3.sh env     # prints the AWS_* settings for a client
#
# Env: HERD_CEPH_DIR (default /tmp/herd-ceph), HERD_S3_PORT (default 7480),
#      HERD_S3_NO_INSTALL=1 to fail instead of installing.
set -euo pipefail
DIR=${HERD_CEPH_DIR:-/tmp/herd-ceph}
PORT=${HERD_S3_PORT:-7480}
ACCESS=HERDTESTACCESSKEY
SECRET=HERDTESTSECRETKEY
C="-c $DIR/ceph.conf"

say() { echo "test-s3: $*" >&2; }

print_env() {
  echo "AWS_ENDPOINT_URL=http://127.0.0.1:$PORT"
  echo "AWS_ACCESS_KEY_ID=$ACCESS"
  echo "AWS_SECRET_ACCESS_KEY=$SECRET"
  echo "AWS_REGION=us-east-1"
}

install_if_missing() {
  local missing=()
  for bin in ceph-mon ceph-osd radosgw radosgw-admin ceph monmaptool; do command -v "$bin" >/dev/null || missing+=("$bin"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "${HERD_S3_NO_INSTALL:-}" = 1 ]; then say "missing ${missing[*]} (apt-get install ceph-mon ceph-osd radosgw ceph-common)"; exit 2; fi
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo -n"
  say "installing ceph-mon ceph-osd radosgw ceph-common (missing: ${missing[*]})"
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq ceph-mon ceph-osd radosgw ceph-common >&2
}

stop() {
  [ -d "$DIR/run" ] || { rm -rf "$DIR"; return 0; }
  local pids=()
  for f in "$DIR"/run/*.pid; do
    [ -e "$f" ] || continue
    local pid
    pid=$(cat "$f")
    if kill -0 "$pid" 2>/dev/null; then kill "$pid" 2>/dev/null || true; pids+=("$pid"); fi
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
  done
  rm -rf "$DIR"
  say "stopped"
}

start() {
  install_if_missing
  stop
  mkdir -p "$DIR"/{mon,osd0,run,log,rgw}
  local fsid
  fsid=$(cat /proc/sys/kernel/random/uuid)
  cat >"$DIR/ceph.conf" <<CONF
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:3300,v1:127.0.0.1:6789]
public addr = 127.0.0.1
auth cluster required = none
auth service required = none
auth client required = none
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
osd objectstore = memstore
memstore device bytes = 3221225472
run dir = $DIR/run
log file = $DIR/log/\$name.log
admin socket = $DIR/run/\$name.asok
pid file = $DIR/run/\$name.pid
ms bind ipv6 = false
ms mon client mode = crc
ms client mode = crc
[mon.a]
mon data = $DIR/mon
[osd.0]
osd data = $DIR/osd0
[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$PORT
rgw data = $DIR/rgw
CONF
  monmaptool --create --addv a '[v2:127.0.0.1:3300,v1:127.0.0.1:6789]' --fsid "$fsid" "$DIR/monmap" >/dev/null
  ceph-mon $C --mkfs -i a --monmap "$DIR/monmap" 2>>"$DIR/log/mkfs.log"
  ceph-mon $C -i a 2>>"$DIR/log/daemons.log"
  timeout 60 ceph $C -s >/dev/null
  local osd_uuid id
  osd_uuid=$(cat /proc/sys/kernel/random/uuid)
  id=$(ceph $C osd new "$osd_uuid")
  ceph-osd $C -i "$id" --mkfs --osd-uuid "$osd_uuid" 2>>"$DIR/log/mkfs.log"
  ceph-osd $C -i "$id" 2>>"$DIR/log/daemons.log"
  for _ in $(seq 1 60); do ceph $C osd stat 2>/dev/null | grep -q '1 up' && break; sleep 1; done
  radosgw $C -n client.rgw.a 2>>"$DIR/log/daemons.log"
  local up=0
  for _ in $(seq 1 90); do curl -s -o /dev/null "http://127.0.0.1:$PORT/" && { up=1; break; }; sleep 1; done
  [ $up = 1 ] || { say "radosgw did not answer on 127.0.0.1:$PORT (logs in $DIR/log)"; exit 1; }
  radosgw-admin $C user create --uid=herd-test --display-name=herd-test --access-key=$ACCESS --secret=$SECRET >/dev/null
  say "up on http://127.0.0.1:$PORT ($(ceph $C -s 2>/dev/null | grep -E 'health:' | tr -s ' '))"
  print_env
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  env) print_env ;;
  *) echo "usage: $0 start|stop|env" >&2; exit 64 ;;
esac
