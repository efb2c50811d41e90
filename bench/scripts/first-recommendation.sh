#!/usr/bin/env bash
# Time from `dotnet run` of the AppHost to the first recommendation, on a fresh clone with an empty data root.
# Usage: bench/scripts/first-recommendation.sh [repo-url-or-path]   (default: this repository's HEAD)
# Prints: seconds to the first 200 with items for seeded user u1, and to the end of seeding (every event applied).
set -euo pipefail
src="${1:-$(git -C "$(dirname "$0")/../.." rev-parse --show-toplevel)}"
work="$(mktemp -d /tmp/recsys-first-XXXXXX)"
git clone -q "$src" "$work/repo"
cd "$work/repo"

start=$(date +%s.%N)
RecSys__DataRoot="$work/data" RecSys__Infrastructure=embedded \
  dotnet run --project src/RecSys.AppHost > "$work/apphost.log" 2>&1 &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT

elapsed() { echo "$(date +%s.%N) - $start" | bc; }
first=""
while true; do
  body=$(curl -s -m 5 'http://localhost:5100/v1/recommendations/u1?count=10' || true)
  if [[ -z "$first" && "$body" == *'"itemId"'* ]]; then
    first=$(elapsed); echo "first recommendation after ${first}s"
  fi
  status=$(curl -s -m 5 http://localhost:5300/v1/status || true)
  if [[ -n "$first" && "$status" =~ \"items\":([0-9]+) && ${BASH_REMATCH[1]} -gt 0 ]]; then
    tail=$(sed -E 's/.*"logTail":([0-9]+).*/\1/' <<<"$status"); pos=$(sed -E 's/.*"processedPosition":([0-9]+).*/\1/' <<<"$status")
    applied=$(sed -E 's/.*"eventsApplied":([0-9]+).*/\1/' <<<"$status")
    if [[ "$pos" -ge "$tail" && "$applied" -gt 50000 ]]; then
      echo "seeding applied ($applied events) after $(elapsed)s"; break
    fi
  fi
  if (( $(echo "$(elapsed) > 900" | bc) )); then echo "timed out; log: $work/apphost.log"; tail -50 "$work/apphost.log"; exit 1; fi
  sleep 0.5
done
