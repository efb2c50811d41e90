#!/usr/bin/env bash
# /v1/recommendations under the same open-loop load for two revisions of this repository, side by side in one session:
# each revision runs the README's command (the AppHost, embedded mode, Debug) on its own data root seeded with the same
# demo world, and the rounds alternate A, B, A, B so that drifts of the machine's load hit both alike.
# Usage: bench/scripts/compare-serving.sh REV_A REV_B [rounds] [rate] [seconds]
# Prints one LoadGen line per round and revision (second pass over the same users: warm caches, as in docs/benchmarks.md).
set -euo pipefail
rev_a="$1"; rev_b="$2"; rounds="${3:-2}"; rate="${4:-50}"; seconds="${5:-30}"
root="$(git -C "$(dirname "$0")/../.." rev-parse --show-toplevel)"
work="$(mktemp -d /tmp/recsys-compare-XXXXXX)"
echo "work folder: $work"
lscpu | grep -E '^Model name' || true

dotnet build -c Release "$root/bench/RecSys.LoadGen" -o "$work/loadgen" > "$work/loadgen-build.log" 2>&1
for rev in "$rev_a" "$rev_b"; do
  git -C "$root" worktree add -q --detach "$work/$rev" "$rev"
  dotnet build "$work/$rev/src/RecSys.AppHost" > "$work/build-$rev.log" 2>&1
done

pid=""
cleanup() {
  if [[ -n "$pid" ]]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  for rev in "$rev_a" "$rev_b"; do git -C "$root" worktree remove --force "$work/$rev" 2>/dev/null || true; done
}
trap cleanup EXIT

# Starts one revision's AppHost and waits until the seeded world is served and every event is applied.
start() {
  local rev="$1"
  RecSys__DataRoot="$work/data-$rev" RecSys__Infrastructure=embedded \
    dotnet run --no-build --project "$work/$rev/src/RecSys.AppHost" > "$work/apphost-$rev.log" 2>&1 &
  pid=$!
  local waited=0
  while true; do
    local status body
    body=$(curl -s -m 5 'http://localhost:5100/v1/recommendations/u1?count=10' || true)
    status=$(curl -s -m 5 http://localhost:5300/v1/status || true)
    if [[ "$body" == *'"itemId"'* && "$status" =~ \"eventsApplied\":([0-9]+) && ${BASH_REMATCH[1]} -gt 50000 ]]; then
      local tail pos
      tail=$(sed -E 's/.*"logTail":([0-9]+).*/\1/' <<<"$status"); pos=$(sed -E 's/.*"processedPosition":([0-9]+).*/\1/' <<<"$status")
      if [[ "$pos" -ge "$tail" ]]; then break; fi
    fi
    sleep 1; waited=$((waited + 1))
    if (( waited > 900 )); then echo "$rev did not become ready; log: $work/apphost-$rev.log"; exit 1; fi
  done
}

stop() { kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=""; sleep 3; }

for round in $(seq 1 "$rounds"); do
  for rev in "$rev_a" "$rev_b"; do
    start "$rev"
    dotnet "$work/loadgen/RecSys.LoadGen.dll" --rate "$rate" --seconds "$seconds" --users 1000 --url http://localhost:5100 > /dev/null || true
    printf 'round %s %-12s ' "$round" "$rev"
    dotnet "$work/loadgen/RecSys.LoadGen.dll" --rate "$rate" --seconds "$seconds" --users 1000 --url http://localhost:5100 | tail -n 1 || true
    stop
  done
done
