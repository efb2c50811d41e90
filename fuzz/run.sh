#!/usr/bin/env bash
# Fuzzes one parser with AFL++ and SharpFuzz: builds the harness, instruments the product assemblies, runs afl-fuzz
# under `nice -n 19` and prints executions, crashes and hangs. Crashing inputs are replayed to show their stack traces.
#
#   fuzz/run.sh <target> <executions|minutes>     e.g. fuzz/run.sh csv 1000000   or   fuzz/run.sh model 15m
#   targets: csv, events, snapshot, training-set, training-labels, model
#
# Needs: the .NET SDK, afl++ (apt-get install -y afl++). The SharpFuzz instrumenting tool is installed into fuzz/.tools.
# Set FUZZ_SKIP_BUILD=1 to reuse the last instrumented build; FUZZ_TIMEOUT_MS to change the hang limit (default 2000).
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

mkdir -p "$findings" "$out/tmp"
export AFL_SKIP_BIN_CHECK=1          # the target is `dotnet`, instrumented through SharpFuzz, not by afl-cc
export AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_AFFINITY=1
export AFL_AUTORESUME=1
export TMPDIR="$out/tmp"             # the harness's scratch files
export DOTNET_gcServer=0 DOTNET_GCHeapHardLimit=0x100000000   # a runaway allocation fails at 4 GiB instead of swapping
timeout_ms=${FUZZ_TIMEOUT_MS:-2000}
started=$(date +%s)
nice -n 19 afl-fuzz -i "$fuzz_dir/corpus/$target" -o "$findings" -t "$timeout_ms" -m none "${limit[@]}" \
  -- dotnet "$bin/RecSys.Fuzz.dll" "$target" | tail -n 25
elapsed=$(( $(date +%s) - started ))
rm -rf "$out/tmp"/recsys-fuzz-"$target"-*

stats="$findings/default/fuzzer_stats"
value() { awk -F' *: *' -v k="$1" '$1 == k { print $2 }' "$stats"; }
echo "target=$target execs_done=$(value execs_done) execs_per_sec=$(value execs_per_sec) saved_crashes=$(value saved_crashes) saved_hangs=$(value saved_hangs) corpus_count=$(value corpus_count) wall_seconds=$elapsed"
if compgen -G "$findings/default/crashes/id*" >/dev/null; then
  echo "crashing inputs (replayed):"
  dotnet "$bin/RecSys.Fuzz.dll" "$target" --replay "$findings/default/crashes" | grep -A3 '^FAIL' | head -n 60 || true
fi
