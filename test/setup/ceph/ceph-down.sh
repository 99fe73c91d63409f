#!/usr/bin/env bash
# ceph-down.sh: stop the daemons started by ceph-up.sh (by the PIDs in $CEPH_DIR/pids), then
# remove $CEPH_DIR. Idempotent: nothing to do is not an error. Only processes whose command line
# names $CEPH_DIR/ceph.conf are signalled, so a stale pids file (PIDs since reused) or another
# cluster (a developer's in another CEPH_DIR) is never touched.
set -u
CEPH_DIR=${CEPH_DIR:-/tmp/berth-ceph}
CEPH_DIR=${CEPH_DIR%/}
CONF=$CEPH_DIR/ceph.conf
PIDS=$CEPH_DIR/pids
case $CEPH_DIR in /|/tmp|/var/tmp|/root|/home|"$HOME"|"") echo "refusing CEPH_DIR=$CEPH_DIR" >&2; exit 1;; esac
ours() { [[ $1 =~ ^[0-9]+$ && -r /proc/$1/cmdline ]] && { printf ' '; tr '\0' ' ' <"/proc/$1/cmdline"; } 2>/dev/null | grep -qF -- " $CONF "; }
# a killed daemon is gone once it has no /proc entry or is a zombie waiting for init to reap it
running() { [[ -r /proc/$1/stat ]] && [[ $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) != Z ]]; }
if [[ -f $PIDS ]]; then
  mine=()
  while read -r _ pid; do ours "$pid" && mine+=("$pid"); done < <(tac "$PIDS")
  # Throwaway data: SIGKILL straight away, rgw first, monitor last. A clean stop (SIGTERM) makes
  # the memstore OSD dump its whole RAM store to disk, and takes seconds for nothing.
  for pid in "${mine[@]}"; do kill -KILL "$pid" 2>/dev/null; done
  for i in $(seq 1 50); do # wait (up to 5 s) until they are gone, so their ports are free again
    left=0
    for pid in "${mine[@]}"; do running "$pid" && left=1; done
    ((left)) || break
    sleep 0.1
  done
fi
# keep the directory itself (it may hold other things the caller put there) only if asked
if [[ ${CEPH_KEEP_DIR:-0} == 1 ]]; then
  rm -rf "$CEPH_DIR"/{mon,mgr,osd,rgw,run,log,crash,pids,ceph.conf,monmap,*.keyring,user.json}
  echo "ceph-down: stopped; removed the cluster's files from $CEPH_DIR"
else
  rm -rf "$CEPH_DIR"
  echo "ceph-down: stopped; removed $CEPH_DIR"
fi
