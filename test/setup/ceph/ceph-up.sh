#!/usr/bin/env bash
# ceph-up.sh: bring up a throwaway single-node Ceph cluster (1 mon, optionally 1 mgr, 1 OSD on
# memstore, pool size 1) plus radosgw (beast) on 127.0.0.1, create an S3 user, and print the
# endpoint and keys on the last three lines of stdout (everything else goes to stderr):
#   S3_ENDPOINT=http://127.0.0.1:7480
#   S3_ACCESS_KEY=...
#   S3_SECRET_KEY=...
# The tests' vitest globalSetup (test/setup/services.ts) runs it with a fresh CEPH_DIR and free
# loopback ports; the benchmark and developers can run it by hand. Debian 12 packages (Ceph 16.2
# Pacific), installed by test/setup/system-tools.mjs (`npm test`) or .ci/run: this script installs
# nothing. No systemd: daemons run as background processes whose PIDs go to $CEPH_DIR/pids (one
# "name pid" per line); ceph-down.sh stops them and wipes $CEPH_DIR. Data lives in RAM (memstore)
# and is lost on teardown. Idempotent: if the cluster in $CEPH_DIR is up and answering, it just
# prints the credentials again; a half-dead one is torn down and rebuilt.
#
# Environment (all optional):
#   CEPH_DIR=/tmp/berth-ceph   state, config, keyrings, logs (the globalSetup passes a mkdtemp folder)
#   S3_PORT=7480               radosgw port on 127.0.0.1
#   S3_ACCESS_KEY / S3_SECRET_KEY  fixed keys (defaults below)
#   CEPH_MEMSTORE_BYTES=8589934592  OSD capacity reported (RAM is used only as data is written)
#   CEPH_NO_MGR=1              skip ceph-mgr (saves RAM/time; RGW works without it, `ceph -s` PG stats don't)
#   CEPH_MON_PORT=3300 (msgr2) and CEPH_MON_V1_PORT=6789
# The OSD binds its own ports from Ceph's ms_bind_port range (6800-7300), moving to the next one
# when a port is taken, so several clusters (a developer's and a test run's) coexist.
# Client settings: path-style addressing (forcePathStyle: true in @aws-sdk/client-s3), any region
# (us-east-1 works), SigV4. Measured on a 2-core/24 GiB machine: ~5-8 s from nothing to S3 ready
# (packages installed), ~140 MiB RSS idle with CEPH_NO_MGR=1 (~445 MiB with the mgr),
# 100-160 MiB/s PUT and GET of a 64 MiB object. Deleted data stays in the OSD's RAM until RGW's GC
# runs (set here to ~30-60 s).
# Known Pacific quirk: the CompleteMultipartUpload response body has an empty <ETag>; HEAD/GET/List
# return the proper "md5-of-md5s-N" ETag. Ranged GET, If-Match/If-None-Match (GET and PUT
# If-None-Match: *), CopyObject and presigned URLs work.
set -euo pipefail

CEPH_DIR=${CEPH_DIR:-/tmp/berth-ceph}
S3_PORT=${S3_PORT:-7480}
S3_ACCESS_KEY=${S3_ACCESS_KEY:-CIACCESSKEY000000000}
S3_SECRET_KEY=${S3_SECRET_KEY:-cisecretkey0000000000000000000000000000}
MEMSTORE_BYTES=${CEPH_MEMSTORE_BYTES:-8589934592}
MON_PORT=${CEPH_MON_PORT:-3300}
MON_V1_PORT=${CEPH_MON_V1_PORT:-6789}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CONF=$CEPH_DIR/ceph.conf
PIDS=$CEPH_DIR/pids
ENDPOINT=http://127.0.0.1:$S3_PORT
t0=$(date +%s.%N)

log() { echo "[ceph-up $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%5.1fs", b-a}')] $*" >&2; }
# A PID from $PIDS is ours only while its command line names our ceph.conf: a daemon that died
# long ago may have had its PID reused by an unrelated process, which must never be signalled.
ours() { [[ -n ${1:-} && -r /proc/$1/cmdline ]] && { printf ' '; tr '\0' ' ' <"/proc/$1/cmdline"; } 2>/dev/null | grep -qF -- " $CONF "; }
die() { # print log tails, kill what was started (logs stay in $CEPH_DIR/log), exit 1
  log "FAILED: $*"
  for f in "$CEPH_DIR"/log/*; do [[ -f $f ]] && { echo "--- tail $f" >&2; tail -n 15 "$f" >&2; }; done
  if [[ -f $PIDS ]]; then
    while read -r _ pid; do ours "$pid" && kill -KILL "$pid" 2>/dev/null; done <"$PIDS"
  fi
  rm -f "$PIDS"; exit 1
}
print_creds() { echo "S3_ENDPOINT=$ENDPOINT"; echo "S3_ACCESS_KEY=$S3_ACCESS_KEY"; echo "S3_SECRET_KEY=$S3_SECRET_KEY"; }
alive() { ours "${1:-}" && [[ $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) != Z ]]; }
rgw_answers() { curl -s --max-time 2 "$ENDPOINT/" 2>/dev/null | grep -q ListAllMyBucketsResult; }
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# 1. tools: installed by test/setup/system-tools.mjs or .ci/run, never here (a test run must not
#    reach for apt behind the developer's back); a missing one is named with the package to install.
need=()
for b in ceph-mon:ceph-mon ceph-osd:ceph-osd radosgw:radosgw radosgw-admin:radosgw ceph:ceph-common ceph-authtool:ceph-common monmaptool:ceph-base uuidgen:uuid-runtime curl:curl; do
  command -v "${b%%:*}" >/dev/null 2>&1 || need+=("${b#*:}")
done
[[ ${CEPH_NO_MGR:-0} == 1 ]] || command -v ceph-mgr >/dev/null 2>&1 || need+=(ceph-mgr)
if ((${#need[@]})); then
  log "FAILED: missing Debian packages: ${need[*]} (run: node test/setup/system-tools.mjs, or as root:" \
    "apt-get install -y --no-install-recommends ${need[*]})"
  exit 1
fi

# 2. already up? (every recorded PID alive and the endpoint answers) -> just print
if [[ -f $PIDS ]]; then
  ok=1
  while read -r _ pid; do alive "$pid" || ok=0; done <"$PIDS"
  if ((ok)) && rgw_answers; then
    log "already running (pids: $(awk '{printf "%s=%s ",$1,$2}' "$PIDS"))"
    print_creds; exit 0
  fi
  log "stale cluster in $CEPH_DIR, tearing it down"
fi
CEPH_DIR=$CEPH_DIR CEPH_KEEP_DIR=1 bash "$HERE/ceph-down.sh" >/dev/null || true

# 3. config and keys
for p in "$S3_PORT" "$MON_PORT" "$MON_V1_PORT"; do
  port_busy "$p" && { log "FAILED: 127.0.0.1:$p is already in use (set S3_PORT / CEPH_MON_PORT / CEPH_MON_V1_PORT)"; exit 1; }
done
mkdir -p "$CEPH_DIR"/{mon/ceph-a,mgr/ceph-x,osd/ceph-0,rgw,run,log}
: >"$PIDS"
FSID=$(uuidgen)
cat >"$CONF" <<CONF
[global]
fsid = $FSID
mon initial members = a
mon host = [v2:127.0.0.1:$MON_PORT,v1:127.0.0.1:$MON_V1_PORT]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv6 = false
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
keyring = $CEPH_DIR/ceph.client.admin.keyring
run dir = $CEPH_DIR/run
admin socket = $CEPH_DIR/run/\$name.asok
log file = $CEPH_DIR/log/\$name.log
log to stderr = false
err to stderr = true
crash dir = $CEPH_DIR/crash
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon data avail warn = 1
mon data avail crit = 1
mon max pg per osd = 1000
mon warn on insecure global id reclaim allowed = false
auth allow insecure global id reclaim = false

[mon]
mon data = $CEPH_DIR/mon/ceph-\$id
# propose map changes fast (default 1 s): OSD boot and pool creation each need a new osdmap epoch
paxos propose interval = 0.05
paxos min wait = 0.01

[mgr]
mgr data = $CEPH_DIR/mgr/ceph-\$id
keyring = $CEPH_DIR/mgr/ceph-\$id/keyring

[osd]
osd data = $CEPH_DIR/osd/ceph-\$id
keyring = $CEPH_DIR/osd/ceph-\$id/keyring
osd objectstore = memstore
memstore device bytes = $MEMSTORE_BYTES
osd crush initial weight = 1
osd op num shards = 2
osd op num threads per shard = 2

[client.rgw.a]
keyring = $CEPH_DIR/rgw/keyring
rgw frontends = beast endpoint=127.0.0.1:$S3_PORT
rgw data = $CEPH_DIR/rgw
rgw dns name = localhost
rgw thread pool size = 64
# reclaim deleted objects' data within a minute (memstore keeps it in RAM until GC)
rgw gc obj min wait = 30
rgw gc processor period = 30
CONF
C=(-c "$CONF")
ceph-authtool --create-keyring "$CEPH_DIR/mon.keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
ceph-authtool --create-keyring "$CEPH_DIR/ceph.client.admin.keyring" --gen-key -n client.admin \
  --cap mon 'allow *' --cap osd 'allow *' --cap mds 'allow *' --cap mgr 'allow *' >/dev/null
ceph-authtool "$CEPH_DIR/mon.keyring" --import-keyring "$CEPH_DIR/ceph.client.admin.keyring" >/dev/null
monmaptool --create --fsid "$FSID" --addv a "[v2:127.0.0.1:$MON_PORT,v1:127.0.0.1:$MON_V1_PORT]" "$CEPH_DIR/monmap" >/dev/null

start() { # name, command...: run in background (stdin from /dev/null, output to its log), record pid
  local name=$1; shift
  "$@" </dev/null >>"$CEPH_DIR/log/$name.out" 2>&1 &
  echo "$name $!" >>"$PIDS"
}
ceph_() { timeout 30 ceph "${C[@]}" --connect-timeout 10 "$@"; }

# 4. monitor
ceph-mon "${C[@]}" --mkfs -i a --monmap "$CEPH_DIR/monmap" --keyring "$CEPH_DIR/mon.keyring" \
  >>"$CEPH_DIR/log/mon.a.out" 2>&1 || die "ceph-mon --mkfs"
start mon.a ceph-mon "${C[@]}" -f -i a
for i in $(seq 1 100); do ceph_ mon stat >/dev/null 2>&1 && break; sleep 0.2; done
ceph_ mon stat >/dev/null 2>&1 || die "monitor did not answer"
log "mon up"

# 5. manager (optional)
if [[ ${CEPH_NO_MGR:-0} != 1 ]]; then
  ceph_ auth get-or-create mgr.x mon 'allow profile mgr' osd 'allow *' mds 'allow *' >"$CEPH_DIR/mgr/ceph-x/keyring" || die "auth mgr.x"
  start mgr.x ceph-mgr "${C[@]}" -f -i x
fi

# 6. OSD on memstore
OSD_UUID=$(uuidgen)
ceph-authtool --create-keyring "$CEPH_DIR/osd/ceph-0/keyring" --gen-key -n osd.0 >/dev/null
ceph_ auth add osd.0 osd 'allow *' mon 'allow profile osd' mgr 'allow profile osd' -i "$CEPH_DIR/osd/ceph-0/keyring" >/dev/null 2>&1 || die "auth osd.0"
id=$(ceph_ osd new "$OSD_UUID" 0) || die "ceph osd new"
ceph-osd "${C[@]}" -i 0 --mkfs --osd-uuid "$OSD_UUID" >>"$CEPH_DIR/log/osd.0.out" 2>&1 || die "ceph-osd --mkfs"
start osd.0 ceph-osd "${C[@]}" -f -i 0
for i in $(seq 1 150); do
  [[ $(ceph_ osd dump -f json 2>/dev/null | grep -o '"up":1' | head -1) == '"up":1' ]] && break; sleep 0.2
done
ceph_ osd dump 2>/dev/null | grep -q '^osd.0 up' || die "osd.0 not up"
log "osd up"

# 7. radosgw + S3 user. Pre-create RGW's pools in parallel (RGW would create them one by one, ~2 s each)
creators=()
for p in .rgw.root default.rgw.log default.rgw.control default.rgw.meta default.rgw.buckets.index \
  default.rgw.buckets.non-ec default.rgw.buckets.data; do
  (ceph_ osd pool create "$p" 8 8 replicated >/dev/null 2>&1 && ceph_ osd pool application enable "$p" rgw >/dev/null 2>&1) &
  creators+=($!)
done
wait "${creators[@]}" || true   # RGW creates any pool that is still missing
log "pools created"
ceph_ auth get-or-create client.rgw.a mon 'allow rw' osd 'allow rwx' mgr 'allow rw' >"$CEPH_DIR/rgw/keyring" || die "auth client.rgw.a"
start rgw.a radosgw "${C[@]}" -f -n client.rgw.a
for i in $(seq 1 300); do
  rgw_answers && break
  alive "$(awk '$1=="rgw.a"{print $2}' "$PIDS")" || die "radosgw exited"
  sleep 0.2
done
rgw_answers || die "radosgw did not answer on $ENDPOINT"
log "rgw up"
timeout 60 radosgw-admin "${C[@]}" user create --uid=ci --display-name=ci \
  --access-key="$S3_ACCESS_KEY" --secret-key="$S3_SECRET_KEY" >"$CEPH_DIR/user.json" 2>>"$CEPH_DIR/log/radosgw-admin.out" ||
  die "radosgw-admin user create"
log "S3 ready (pids: $(awk '{printf "%s=%s ",$1,$2}' "$PIDS"))"
print_creds
