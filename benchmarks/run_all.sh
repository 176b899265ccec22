#!/usr/bin/env bash
# Run every benchmark at a size that finishes in a few minutes and write benchmarks/RESULTS.md.
# Installs what it needs (the venv; wrk from Debian for the API benchmark). Sizes: ROWS (drift, default 1,000,000)
# and BIG_ROWS (ingestion, and the largest pipeline run, default 10,000,000). Generated data
# sets are kept in $TMPDIR/risk-bench, so only the first run pays for making them.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/setup_env.sh" dev spark
"$root/setup_tools.sh" all
python="$root/.venv/bin/python"
rows="${ROWS:-1000000}"
big_rows="${BIG_ROWS:-10000000}"
out="$root/benchmarks/RESULTS.md"
tmp="$(mktemp)"
trap 'rm -f "$tmp"' EXIT

run() {  # name, then the command; keeps the printed table and the JSON line
  local name="$1"; shift
  echo "running $name..." >&2
  local output
  output="$("$@" 2>/dev/null)"
  printf '## %s\n\n`%s`\n\n```\n%s\n```\n\n' "$name" "${*#$root/}" "$output" >> "$tmp"
}

{
  echo "# Benchmark results"
  echo
  echo "Written by \`benchmarks/run_all.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC')."
  echo "Machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB memory,"
  echo "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), Python $("$python" -c 'import platform; print(platform.python_version())')."
  echo
} > "$tmp"
run "API: ours (gunicorn) vs mlflow models serve, and against the server's ceiling" "$python" "$root/benchmarks/api.py" --seconds 10
run "Hostile requests: the widest bodies at the limit, /health under 2,000 idle sockets" "$python" "$root/benchmarks/hostile.py"
run "Data drift: ours vs Evidently DataDriftPreset" "$python" "$root/benchmarks/drift.py" --rows "$rows"
run "Data drift quality: false alarms and detection at every size" "$python" "$root/benchmarks/drift_quality.py"
run "Multivariate drift: ours vs NannyML domain classifier and reconstruction" "$python" "$root/benchmarks/multivariate.py"
run "Estimated performance: ours vs NannyML CBPE" "$python" "$root/benchmarks/estimation.py" --rows "$rows"
run "Ingestion: naive pandas vs ours" "$python" "$root/benchmarks/ingestion.py" --rows "$big_rows" --files 20
run "Pipeline overhead: the demo against six no-op MLflow steps" "$python" "$root/benchmarks/pipeline.py" --demo --repeats 3
run "Engines: Polars (local) vs Spark at 1 and 2 cores, and plain Spark's floor" "$python" "$root/benchmarks/engines.py" --rows "$big_rows" --cores 1,2
run "Pipeline: every step at growing sizes" "$python" "$root/benchmarks/pipeline.py" --rows "$((big_rows / 10))" "$((big_rows * 3 / 10))" "$big_rows"
mv "$tmp" "$out"
trap - EXIT
echo "wrote $out" >&2
