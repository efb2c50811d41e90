#!/usr/bin/env bash
# CPU-ms per request across all services, p99 at a fixed rate, and the saturation rate of /v1/recommendations, with the
# learned two-stage ranker and the fused-score ranker side by side in the same run.
#
# Runs the services directly (Release builds, no AppHost, so that each one is a process whose CPU time can be read from
# /proc and the ports do not clash with an AppHost): Garnet, FeatureServer, Retrieval, and two Ranking instances on the
# same store and Retrieval: "learned" serves the ranker release the seed trained, "fused" is given an empty model folder
# and ranks by the fused retrieval score (the baseline). Security is open (isolated loopback benchmark).
#
# With BASELINE_ROOT=<another checkout, built in Release>, a third Ranking instance ("base", port 7103) runs that checkout's
# Ranking on the same store, Retrieval and release: before/after in one run.
# Usage: bench/scripts/ranking-cost.sh DATA_DIR [items=100000] [rate=100] [seconds=60] [saturation rates, e.g. "150 200 300"]
#   SOURCE_TIMEOUT / SHARD_TIMEOUT (TimeSpan, default 100 ms / 80 ms: Retrieval's defaults) raise Retrieval's per-source
#   budgets (FILTER_TIMEOUT, default 250 ms, the eligibility filter's) on a machine too loaded to meet them, so that every request carries its ~5,000 candidates through ranking.
#   RETRIEVAL_TIMEOUT / RETRIEVAL_ATTEMPT_TIMEOUT / RETRIEVAL_RETRIES set Ranking's budget for the call to Retrieval (defaults:
#   Ranking's own, 2 s / 600 ms / 2): on a loaded machine, attempts time out, retries add load and the circuit opens, and the
#   pass then measures the trending fallback instead of 5,000 candidates (each pass reports how many requests fell back).
#   LOAD_DEGRADATION=true lets Ranking ask for fewer candidates while its p99 is over target (Ranking:LoadDegradation, on in
#   deployments); off by default here, so that every pass measures requests that carry the full ~5,000 candidates.
#   BIN_ROOT=<another checkout, built in Release> runs that checkout's services and trainer with this script (before/after
#   with one script). PERF_MAP=1 makes the .NET processes write perf maps (/tmp/perf-PID.map) for `perf record`.
#   With redis-cli on the PATH, each pass also reports the store's commands per request (INFO commandstats).
#   RETRAIN_RANKERS=1 trains and activates a new ranker release on the seeded world with this checkout's defaults first.
#   The first run seeds DATA_DIR with a generated world (1,000 users, `items` items, 100 events per user) and trains the
#   embeddings and the ranker release; later runs reuse it. Ports: 6471 (Garnet), 7101/7102 (Ranking), 7120, 7130.
set -euo pipefail
data="$(realpath -m "${1:?data folder}")"; items="${2:-100000}"; rate="${3:-100}"; seconds="${4:-60}"; saturation="${5:-}"
root="$(git -C "$(dirname "$0")/../.." rev-parse --show-toplevel)"
garnet_port=6471; learned_port=7101; fused_port=7102; retrieval_port=7120; fs_port=7130
mkdir -p "$data/logs" "$data/empty-models"

bin_root="$(realpath "${BIN_ROOT:-$root}")"
bin() { echo "$bin_root/src/$1/bin/Release/net10.0/$1.dll"; }
if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
  for p in RecSys.OnlineStore RecSys.FeatureServer RecSys.Retrieval RecSys.Ranking RecSys.Trainer; do
    dotnet build -c Release "$bin_root/src/$p" > "$data/logs/build-$p.log" 2>&1 || { echo "build of $p failed: $data/logs/build-$p.log"; exit 1; }
  done
  dotnet build -c Release "$root/bench/RecSys.LoadGen" > "$data/logs/build-loadgen.log" 2>&1
fi
loadgen="$root/bench/RecSys.LoadGen/bin/Release/net10.0/RecSys.LoadGen.dll"

pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

perf_env=(); [[ "${PERF_MAP:-0}" == 1 ]] && perf_env=(DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0)
common=(env "${perf_env[@]}" ASPNETCORE_ENVIRONMENT=Production DOTNET_ENVIRONMENT=Production RecSys__Security__Mode=Open
  "ConnectionStrings__online-store=127.0.0.1:$garnet_port" OTEL_SDK_DISABLED=true)
launch() {
  local name="$1"; shift
  "$@" > "$data/logs/$name.log" 2>&1 &
  pids+=("$!"); eval "pid_$name=$!"
}
wait_http() {
  local url="$1" waited=0
  until curl -sf -m 5 "$url" > /dev/null; do
    sleep 1; waited=$((waited + 1)); (( waited < 300 )) || { echo "$url did not answer; logs in $data/logs"; exit 1; }
  done
}

# The store host always from this checkout (it is not what is compared), with command counting on.
launch garnet env "${perf_env[@]}" OnlineStore__Port=$garnet_port OnlineStore__DataDirectory="$data/garnet" OnlineStore__CommandStats=true \
  ASPNETCORE_URLS=http://127.0.0.1:7140 dotnet "$root/src/RecSys.OnlineStore/bin/Release/net10.0/RecSys.OnlineStore.dll"
wait_http http://127.0.0.1:7140/health
launch featureserver "${common[@]}" ASPNETCORE_URLS=http://127.0.0.1:$fs_port FeatureServer__DataDirectory="$data/featureserver" \
  dotnet "$(bin RecSys.FeatureServer)"
launch retrieval "${common[@]}" ASPNETCORE_URLS=http://127.0.0.1:$retrieval_port Retrieval__DataDirectory="$data/retrieval" \
  Retrieval__VectorIndex__Dimensions=16 Retrieval__SourceTimeout="${SOURCE_TIMEOUT:-00:00:00.100}" \
  Retrieval__VectorIndex__PerShardTimeout="${SHARD_TIMEOUT:-00:00:00.080}" Retrieval__FilterTimeout="${FILTER_TIMEOUT:-00:00:00.250}" dotnet "$(bin RecSys.Retrieval)"
wait_http http://127.0.0.1:$fs_port/health; wait_http http://127.0.0.1:$retrieval_port/health

if [[ ! -f "$data/seeded" ]]; then
  echo "seeding $items items (log: $data/logs/seed.log)"
  env services__featureserver__http__0=http://127.0.0.1:$fs_port services__retrieval__http__0=http://127.0.0.1:$retrieval_port \
    dotnet "$(bin RecSys.Trainer)" seed --if-empty --dimensions 16 --items "$items" --model-dir "$data/models/seed" \
    --rankers-registry "$data/models" > "$data/logs/seed.log" 2>&1
  touch "$data/seeded"
fi
# RETRAIN_RANKERS=1: train and activate a new ranker release on the world's events with this checkout's train-rankers
# defaults (e.g. after the pre-ranker's default shape changed), so that the learned instance serves what a new seed would.
if [[ "${RETRAIN_RANKERS:-0}" == 1 ]]; then
  echo "training a ranker release with this checkout's defaults (log: $data/logs/train-rankers.log)"
  dotnet "$(bin RecSys.Trainer)" train-rankers --target http://127.0.0.1:$fs_port --registry "$data/models" --windows 1 --dim 16 \
    > "$data/logs/train-rankers.log" 2>&1 || { echo "train-rankers failed: $data/logs/train-rankers.log"; exit 1; }
fi

# Both instances log their served lists as impressions to the FeatureServer, as a deployment does: part of the cost.
ranking_env=("${common[@]}" Ranking__RetrievalBaseAddress=http://127.0.0.1:$retrieval_port
  Ranking__RetrievalTimeout="${RETRIEVAL_TIMEOUT:-00:00:02}" Ranking__RetrievalAttemptTimeout="${RETRIEVAL_ATTEMPT_TIMEOUT:-00:00:00.600}"
  Ranking__RetrievalRetries="${RETRIEVAL_RETRIES:-2}" Ranking__LoadDegradation__Enabled="${LOAD_DEGRADATION:-false}"
  Ranking__Feedback__FeatureServerBaseAddress=http://127.0.0.1:$fs_port)
# ITEM_TABLE_REFRESH (default Ranking's, 60 s): the learned instance re-reads the whole catalog at this interval, which
# lands in whichever pass runs then (~500 store commands per request at 20 req/s); 01:00:00 keeps it out of the passes.
launch learned "${ranking_env[@]}" ASPNETCORE_URLS=http://127.0.0.1:$learned_port Ranking__Models__Path="$data/models/rankers" \
  ${ITEM_TABLE_REFRESH:+Ranking__Features__ItemTableRefresh=$ITEM_TABLE_REFRESH} \
  dotnet "$(bin RecSys.Ranking)"
launch fused "${ranking_env[@]}" ASPNETCORE_URLS=http://127.0.0.1:$fused_port Ranking__Models__Path="$data/empty-models" Ranking__Features__ItemTableRefresh=00:00:00 \
  dotnet "$(bin RecSys.Ranking)"
instances=(learned fused)
if [[ -n "${BASELINE_ROOT:-}" ]]; then
  launch base "${ranking_env[@]}" ASPNETCORE_URLS=http://127.0.0.1:7103 Ranking__Models__Path="$data/models/rankers" \
    dotnet "$BASELINE_ROOT/src/RecSys.Ranking/bin/Release/net10.0/RecSys.Ranking.dll"
  wait_http http://127.0.0.1:7103/health; instances+=(base)
fi
wait_http http://127.0.0.1:$learned_port/health; wait_http http://127.0.0.1:$fused_port/health
# Wait until the stream processor has applied the whole log and the learned ranker serves a release.
waited=0
while true; do
  status=$(curl -s -m 5 http://127.0.0.1:$fs_port/v1/status || true)
  body=$(curl -s -m 30 "http://127.0.0.1:$learned_port/v1/recommendations/u1?count=10" || true)
  if [[ "$status" =~ \"processedPosition\":([0-9]+) ]]; then pos=${BASH_REMATCH[1]}; else pos=-1; fi
  if [[ "$status" =~ \"logTail\":([0-9]+) ]]; then tail=${BASH_REMATCH[1]}; else tail=0; fi
  if (( pos >= tail )) && [[ "$body" == *'"pre-ranker"'* ]]; then break; fi
  sleep 2; waited=$((waited + 2)); (( waited < 900 )) || { echo "the learned ranker does not serve; last body: ${body:0:300}"; exit 1; }
done

# The learned instance's item table: its first catalog read must be done before it is measured.
until grep -q "Item feature table refreshed" "$data/logs/learned.log"; do sleep 2; done
grep -m1 "Item feature table refreshed" "$data/logs/learned.log"
lscpu | grep -m1 'Model name'; nproc
services=(garnet featureserver retrieval)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# Store commands so far, one "name calls" line per command (nothing without redis-cli or when the store does not report them).
store_calls() {
  command -v redis-cli > /dev/null || return 0
  redis-cli -p $garnet_port INFO commandstats 2>/dev/null | tr -d '\r' | sed -nE 's/^cmdstat_([^:]+):calls=([0-9]+).*/\1 \2/p' || true
}
# CLOSED_LOOP=N: N requests, two at a time, instead of a fixed rate: on a machine too loaded to carry any rate, every
# request still carries its candidates, and CPU-ms per request stays a like-for-like figure (latency then means nothing).
closed_loop() {
  local port="$1" n="$2"
  echo "requests $n (closed loop, 2 at a time)"
  seq 1 "$n" | xargs -P 2 -I{} sh -c "curl -s -o /dev/null -w '%{http_code}\\n' -m 30 \"http://127.0.0.1:$port/v1/recommendations/u\$(( {} * 7 % 1000 ))?count=20\"" \
    | sort | uniq -c | tr '\n' ' '; echo
}
fallbacks() { grep -c "Candidate generation failed" "$data/logs/$1.log" || true; }
hz=$(getconf CLK_TCK)

# One measured pass against one Ranking instance: LoadGen's summary, then CPU-ms per request of the shared services plus
# that instance (the other Ranking instance idles: its few ms of timers are not counted).
measure() {
  local name="$1" port="$2" r="$3" s="$4" ranking_pid
  eval "ranking_pid=\$pid_$name"
  local before=() after=() total=0 i=0 p
  for svc in "${services[@]}"; do eval "p=\$pid_$svc"; before+=("$(cpu_ticks "$p")"); done
  local rb; rb=$(cpu_ticks "$ranking_pid")
  local calls_before; calls_before=$(store_calls); local fb; fb=$(fallbacks "$name")
  local out
  if [[ -n "${CLOSED_LOOP:-}" ]]; then out=$(closed_loop "$port" "$CLOSED_LOOP"); else
    out=$(dotnet "$loadgen" --rate "$r" --seconds "$s" --users 1000 --url "http://127.0.0.1:$port" || true); fi
  local ra; ra=$(cpu_ticks "$ranking_pid")
  local calls_after; calls_after=$(store_calls); local fa; fa=$(fallbacks "$name")
  local detail="ranking $(( (ra - rb) * 1000 / hz )) ms"
  total=$(( (ra - rb) * 1000 / hz ))
  for svc in "${services[@]}"; do
    eval "p=\$pid_$svc"; local a; a=$(cpu_ticks "$p"); local d=$(( (a - before[i]) * 1000 / hz ))
    detail+=", $svc $d ms"; total=$((total + d)); i=$((i + 1))
  done
  local requests; requests=$(sed -nE 's/^requests ([0-9]+).*/\1/p' <<<"$out")
  echo "== $name at $r req/s for $s s  (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
  echo "$out" | head -n 4
  echo "CPU: $detail; total $total ms over $requests requests = $(awk -v t="$total" -v n="$requests" 'BEGIN { printf "%.2f", t / n }') CPU-ms per request"
  echo "requests answered from the trending fallback (Retrieval failed or timed out): $((fa - fb))"
  if [[ -n "$calls_after" ]]; then
    echo "store commands per request: $(awk -v n="$requests" 'NR == FNR { b[$1] = $2; next } { d = $2 - b[$1]; if (d > 0) printf "%s %.1f, ", $1, d / n }' \
      <(echo "$calls_before") <(echo "$calls_after"))"
  fi
}

# Warm every instance (caches, JIT, connection pools, the item table's first read), then the measured passes, alternating.
port_of() { case "$1" in learned) echo $learned_port ;; fused) echo $fused_port ;; base) echo 7103 ;; esac; }
for name in "${instances[@]}"; do
  if [[ -n "${CLOSED_LOOP:-}" ]]; then closed_loop "$(port_of "$name")" 20 > /dev/null; else
    dotnet "$loadgen" --rate 20 --seconds 10 --users 1000 --url "http://127.0.0.1:$(port_of "$name")" > /dev/null || true; fi
done
curl -s "http://127.0.0.1:$learned_port/v1/recommendations/u7?count=20" | head -c 1500; echo
for name in "${instances[@]}"; do measure "$name" "$(port_of "$name")" "$rate" "$seconds"; done
for r in $saturation; do
  for name in "${instances[@]}"; do measure "$name" "$(port_of "$name")" "$r" 30; done
done
