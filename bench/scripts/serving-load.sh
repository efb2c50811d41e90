#!/usr/bin/env bash
# p50/p99 of /v1/recommendations at a constant 50 requests/s for 30 s on loopback, against a running AppHost (seeded).
# Two load generators in the same run: hey (one URL, Debian package `hey`) and the bench/RecSys.LoadGen open-loop client
# (random seeded users). Usage: bench/scripts/serving-load.sh [rate] [seconds]
set -euo pipefail
rate="${1:-50}"; seconds="${2:-30}"
root="$(git -C "$(dirname "$0")/../.." rev-parse --show-toplevel)"
url="http://localhost:5100/v1/recommendations/u1?count=20"
curl -sf "$url" > /dev/null || { echo "the AppHost is not serving on :5100; start it with: dotnet run --project src/RecSys.AppHost"; exit 1; }

echo "== warm-up"; hey -z 5s -q 10 -c 2 "$url" > /dev/null
echo "== bench/RecSys.LoadGen: ${rate} req/s for ${seconds}s, users u0..u999"
dotnet run -c Release --project "$root/bench/RecSys.LoadGen" -- --rate "$rate" --seconds "$seconds" --users 1000 --url http://localhost:5100
echo "== hey: ${rate} req/s (5 workers x $((rate / 5))) for ${seconds}s, user u1"
hey -z "${seconds}s" -q $((rate / 5)) -c 5 "$url" | sed -n '/Summary/,/Status code distribution/p'
