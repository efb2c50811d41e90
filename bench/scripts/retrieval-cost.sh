#!/usr/bin/env bash
# Retrieval's CPU per request at ~5,000 candidates, before and after in one run, in process (no services): a generated world
# (100k items, 1,000 users, 100 events each) applied to a Garnet store by the stream processor's writer, the embedded
# 4-shard index activated from the world's vectors, then the retriever end to end and stage by stage
# (bench/RecSys.Retrieval.Bench). "base" is the base commit's src with this checkout's bench (which uses only APIs the
# base has); "new" is this checkout. Both load the same index snapshot and ask the same users in the same order; the
# digests of their answers (ids, order, score bits, sources) are compared at the end.
# Usage: bench/scripts/retrieval-cost.sh [rounds=2] [requests=300] [rate=50]
#   BASE_REF (default: merge-base with main), DIMS (default "16 64"), WORK (default /tmp/retcost), SKIP_BUILD=1,
#   NEW_SET / BASE_SET ("K=V;K=V" settings passed to that build's service, e.g. an ef), RECALL_USERS (default 20),
#   PAIRED=1 (base and new run at the same time in each round, so both see the same load on a shared machine; no recall
#   check then), SERVICE=1 (through the service's real web host: POST /v1/candidates, see ServiceRun; no stages),
#   KESTREL=1 with SERVICE=1 (the host on Kestrel over loopback sockets: base on port KESTREL_PORT (default 7201), new on
#   the next one).
set -euo pipefail
rounds="${1:-2}"; requests="${2:-300}"; rate="${3:-50}"
root="$(git -C "$(dirname "$0")/../.." rev-parse --show-toplevel)"
work="${WORK:-/tmp/retcost}"; dims="${DIMS:-16 64}"; port="${PORT:-6480}"
base_ref="${BASE_REF:-$(git -C "$root" merge-base HEAD main)}"
mkdir -p "$work/logs"
dll=bench/RecSys.Retrieval.Bench/bin/Release/net10.0/RecSys.Retrieval.Bench.dll
if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
  rm -rf "$work/base"; mkdir -p "$work/base"
  git -C "$root" archive "$base_ref" | tar -x -C "$work/base"
  rm -rf "$work/base/bench/RecSys.Retrieval.Bench"
  (cd "$root" && tar -c --exclude=bin --exclude=obj bench/RecSys.Retrieval.Bench) | tar -x -C "$work/base"
  dotnet build -c Release "$work/base/bench/RecSys.Retrieval.Bench" > "$work/logs/build-base.log" 2>&1 || { echo "base build failed: $work/logs/build-base.log"; exit 1; }
  dotnet build -c Release "$root/bench/RecSys.Retrieval.Bench" > "$work/logs/build-new.log" 2>&1 || { echo "new build failed: $work/logs/build-new.log"; exit 1; }
fi

store_pid=""
cleanup() { [[ -n "$store_pid" ]] && kill -TERM "$store_pid" 2>/dev/null && wait "$store_pid" 2>/dev/null || true; }
trap cleanup EXIT
dotnet "$root/$dll" store --port "$port" > "$work/logs/store.log" 2>&1 &
store_pid=$!
sleep 3

echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; base $base_ref, new $(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet || echo ' (with uncommitted changes)')"
for dim in $dims; do
  echo "== d=$dim: seeding (log $work/logs/seed-d$dim.log)"
  dotnet "$root/$dll" seed --store "127.0.0.1:$port" --dim "$dim" --index-dir "$work/index-d$dim" > "$work/logs/seed-d$dim.log" 2>&1 \
    || { echo "seed failed: $work/logs/seed-d$dim.log"; exit 1; }
  tail -n 1 "$work/logs/seed-d$dim.log"
  mode_args=(); [[ "${SERVICE:-0}" == 1 ]] && mode_args=(--service)
  run_one() { # build round recall
    local v="$1" round="$2" recall="$3" bin set_arg
    if [[ $v == base ]]; then bin="$work/base/$dll"; set_arg="${BASE_SET:-}"; else bin="$root/$dll"; set_arg="${NEW_SET:-}"; fi
    local kestrel_args=()
    if [[ "${KESTREL:-0}" == 1 ]]; then kestrel_args=(--kestrel "$(( ${KESTREL_PORT:-7201} + $([[ $v == base ]] && echo 0 || echo 1) ))"); fi
    dotnet "$bin" run "${mode_args[@]}" "${kestrel_args[@]}" --store "127.0.0.1:$port" --dim "$dim" --index-dir "$work/index-d$dim" --requests "$requests" --rate "$rate" \
      --recall-users "$recall" --label "$v" --digest "$work/$v-d$dim.digest" --json "$work/$v-d$dim-r$round.json" ${set_arg:+--set "$set_arg"} \
      2> "$work/logs/$v-d$dim-r$round.err" | grep -v '^\[.*\] index loaded\|^\(info\|warn\|fail\):\|^      '
  }
  for round in $(seq 1 "$rounds"); do
    if [[ "${PAIRED:-0}" == 1 ]]; then
      # The one started first gets a head start on a loaded machine: odd rounds start base first, even rounds new.
      first=base; second=new; (( round % 2 == 0 )) && { first=new; second=base; }
      echo "-- d=$dim round $round, base and new at once, $first started first (load average $(cut -d' ' -f1-3 /proc/loadavg))"
      run_one "$first" "$round" 0 > "$work/logs/$first-d$dim-r$round.out" & first_pid=$!
      run_one "$second" "$round" 0 > "$work/logs/$second-d$dim-r$round.out"
      wait "$first_pid"
      cat "$work/logs/base-d$dim-r$round.out" "$work/logs/new-d$dim-r$round.out"
      continue
    fi
    for v in base new; do
      recall=0; [[ $round == 1 ]] && recall="${RECALL_USERS:-20}"
      echo "-- d=$dim round $round $v (load average $(cut -d' ' -f1-3 /proc/loadavg))"
      run_one "$v" "$round" "$recall"
    done
  done
  echo "-- d=$dim answers, base against new:"
  dotnet "$root/$dll" compare "$work/base-d$dim.digest" "$work/new-d$dim.digest" || true
done
