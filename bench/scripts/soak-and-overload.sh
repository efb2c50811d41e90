#!/usr/bin/env bash
# Soak and overload of /v1/recommendations against a running AppHost (embedded mode, seeded), Release build.
#   soak:     300 req/s for 10 min: errors, p99, the Ranking process's RSS growth.
#   overload: 100 req/s for 30 s, then 3x the sustainable rate for 60 s, then 100 req/s for 60 s: how many get 429, how
#             fast, the admitted p99, and how long after the overload ends until every answer is 2xx with p99 <= 500 ms.
# Usage: bench/scripts/soak-and-overload.sh soak|overload [sustainable-rate]   (RECSYS_API_KEY: a public-read key)
set -euo pipefail
mode="${1:?soak or overload}"; sustainable="${2:-300}"
root="$(git -C "$(dirname "$0")/../.." rev-parse --show-toplevel)"
url="${RECSYS_RANKING_URL:-http://localhost:5100}"
pid="$(pgrep -f 'RecSys.Ranking(\.dll)?( |$)' | head -1 || true)"
curl -sf -H "X-Api-Key: ${RECSYS_API_KEY:-}" "$url/v1/recommendations/u1?count=20" > /dev/null \
  || { echo "Ranking does not answer on $url (start the AppHost; export RECSYS_API_KEY)"; exit 1; }
lscpu | grep -m1 'Model name'; uptime
gen=(dotnet run -c Release --project "$root/bench/RecSys.LoadGen" -- --url "$url" --users 1000)
[[ -n "$pid" ]] && gen+=(--pid "$pid")
case "$mode" in
  soak) "${gen[@]}" --rate 300 --seconds 600 ;;
  overload) "${gen[@]}" --profile "100:30,$((sustainable * 3)):60,100:60" --timeline ;;
  *) echo "soak or overload"; exit 2 ;;
esac
