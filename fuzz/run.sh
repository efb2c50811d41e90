#!/usr/bin/env bash
# Fuzzes one parser with AFL++ and SharpFuzz: builds the harness, instruments the product assemblies, runs afl-fuzz
# under `nice -n 19` and prints executions, crashes and hangs. Crashing inputs are replayed to show their stack traces.
#
#   fuzz/run.sh <target> <executions|minutes>     e.g. fuzz/run.sh csv 1000000   or   fuzz/run.sh model 15m
#   targets: csv, events, snapshot, training-set, training-labels, model
#
# Needs: the .NET SDK, afl++ (apt-get install -y afl++). The SharpFuzz instrumenting tool is installed into fuzz/.tools.
# FUZZ_SKIP_BUILD=1 reuses the last instrumented build; FUZZ_TIMEOUT_MS sets the hang limit (default 2000);
# FUZZ_INSTANCES the number of afl-fuzz instances of the campaign (default 3; an executions budget is split among them).
set -euo pipefail

usage() { sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[[ $# -eq 2 ]] || usage
target=$1
budget=$2
case "$target" in csv|events|snapshot|training-set|training-labels|model) ;; *) echo "unknown target '$target'" >&2; usage ;; esac
if [[ "$budget" =~ ^([0-9]+)m$ ]]; then
  limit=(-V $((BASH_REMATCH[1] * 60)))
elif [[ "$budget" =~ ^[0-9]+$ ]]; then
  limit=(-E "$budget")
else
  echo "budget must be a number of executions (1000000) or of minutes (15m)" >&2; exit 2
fi

fuzz_dir=$(cd "$(dirname "$0")" && pwd)
out="$fuzz_dir/out"
bin="$out/bin"
findings="$fuzz_dir/findings/$target"
command -v afl-fuzz >/dev/null || { echo "afl-fuzz is missing: apt-get install -y afl++" >&2; exit 1; }

if [[ "${FUZZ_SKIP_BUILD:-0}" != 1 || ! -f "$bin/RecSys.Fuzz.dll" ]]; then
  if [[ ! -x "$fuzz_dir/.tools/sharpfuzz" ]]; then
    dotnet tool install --tool-path "$fuzz_dir/.tools" SharpFuzz.CommandLine --version 2.3.0
  fi
  rm -rf "$bin"
  nice -n 19 dotnet publish "$fuzz_dir/RecSys.Fuzz/RecSys.Fuzz.csproj" -c Release -o "$bin" --nologo -v quiet
  # Only our own assemblies are instrumented: coverage of the parsers, not of the framework or of DuckDB's wrapper.
  for dll in RecSys.Core RecSys.FeatureStore RecSys.VectorSearch RecSys.Learning RecSys.Trainer; do
    "$fuzz_dir/.tools/sharpfuzz" "$bin/$dll.dll"
  done
fi

instances=${FUZZ_INSTANCES:-3}
mkdir -p "$findings"
scratch_root=$(mktemp -d /dev/shm/recsys-fuzz-XXXXXX 2>/dev/null || mktemp -d)
trap 'rm -rf "$scratch_root"' EXIT
export AFL_SKIP_BIN_CHECK=1          # the target is `dotnet`, instrumented through SharpFuzz, not by afl-cc
export AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_AFFINITY=1
export AFL_AUTORESUME=1
export TMPDIR="$scratch_root"        # the harness's scratch files, in memory when /dev/shm exists
export DOTNET_gcServer=0 DOTNET_GCHeapHardLimit=0x100000000   # a runaway allocation fails at 4 GiB instead of swapping
timeout_ms=${FUZZ_TIMEOUT_MS:-2000}
# One campaign, several afl-fuzz instances sharing one findings folder (-M/-S): on a loaded machine a niced instance
# spends most of its time waiting to be scheduled between the fuzzer and the target, so instances add up.
if [[ ${limit[0]} == -E ]]; then limit[1]=$(( (limit[1] + instances - 1) / instances )); fi
started=$(date +%s)
pids=()
for ((i = 0; i < instances; i++)); do
  role=(-S "s$i"); [[ $i == 0 ]] && role=(-M main)
  nice -n 19 afl-fuzz -i "$fuzz_dir/corpus/$target" -o "$findings" "${role[@]}" -t "$timeout_ms" -m none "${limit[@]}" \
    -- dotnet "$bin/RecSys.Fuzz.dll" "$target" > "$findings/afl-$i.log" 2>&1 &
  pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
elapsed=$(( $(date +%s) - started ))
[[ $status == 0 ]] || { echo "an afl-fuzz instance failed; see $findings/afl-*.log" >&2; tail -n 20 "$findings/afl-0.log" >&2; }

sum() { cat "$findings"/*/fuzzer_stats | awk -F' *: *' -v k="$1" '$1 == k { s += $2 } END { print s + 0 }'; }
echo "target=$target instances=$instances execs_done=$(sum execs_done) saved_crashes=$(sum saved_crashes) saved_hangs=$(sum saved_hangs) wall_seconds=$elapsed execs_per_sec=$(( $(sum execs_done) / (elapsed > 0 ? elapsed : 1) ))"
if compgen -G "$findings/*/crashes/id*" >/dev/null || compgen -G "$findings/*/hangs/id*" >/dev/null; then
  echo "crashing inputs (replayed on the uninstrumented build):"
  for dir in "$findings"/*/crashes; do
    compgen -G "$dir/id*" >/dev/null && dotnet "$fuzz_dir/RecSys.Fuzz/bin/Release/net10.0/RecSys.Fuzz.dll" "$target" --replay "$dir" | grep -A3 '^FAIL' | head -n 40
  done
  exit 1
fi
