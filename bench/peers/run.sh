#!/usr/bin/env bash
# Runs both peers on data written by the bench (base.fvecs, query.fvecs, gt.ivecs in $1).
# Usage: run.sh DATA_DIR [M] [EFC] [THREADS] [K] [EFS] [PQ_SEGMENTS] [RERANK]
# PEERS="hnswlib faiss" (default) selects which peers run.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
d="$1"; m="${2:-16}"; efc="${3:-200}"; th="${4:-$(nproc)}"; k="${5:-10}"; efs="${6:-16,32,64,128,256}"
seg="${7:-32}"; rr="${8:-100}"
[ -x "$here/bin/hnswlib_driver" ] || "$here/build.sh" >&2
# OpenMP busy-waiting collapses under a loaded or oversubscribed machine; make idle workers sleep.
export OMP_WAIT_POLICY=PASSIVE
peers="${PEERS:-hnswlib faiss}"
if [[ " $peers " == *" hnswlib "* ]]; then
  "$here/bin/hnswlib_driver" "$d/base.fvecs" "$d/query.fvecs" "$d/gt.ivecs" "$m" "$efc" "$th" "$k" "$efs"
fi
if [[ " $peers " == *" faiss "* ]]; then
  /usr/bin/python3 "$here/faiss_peer.py" "$d/base.fvecs" "$d/query.fvecs" "$d/gt.ivecs" "$m" "$efc" "$th" "$k" "$efs" "$seg" "$rr"
fi
