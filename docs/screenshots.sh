#!/usr/bin/env bash
# Screenshots of the MLflow UI over a store with a finished sweep, for the README:
# the runs table, the compare view of the sweep's trials and the study plots.
#   docs/screenshots.sh [STORE_URI] [OUT_DIR]
# Needs Chromium (Debian: apt-get install chromium). The UI runs on 127.0.0.1
# on a free port and is stopped afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
STORE="${1:-sqlite:///$PWD/runs/mlflow.db}"
OUT="${2:-docs/img}"
BIN="${BIN:-.venv/bin}"
mkdir -p "$OUT"
PORT=$("$BIN/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$BIN/mlflow" ui --backend-store-uri "$STORE" --host 127.0.0.1 --port "$PORT" >/dev/null 2>&1 &
UI=$!
trap 'kill $UI 2>/dev/null || true' EXIT
for _ in $(seq 60); do curl -fs "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 1; done

# The newest sweep's experiment, parent run and search trials.
read -r EXP PARENT TRIALS < <("$BIN/python" - "$STORE" <<'PY'
import json, sys
from motif_tune.tracking.store import child_runs, open_store, sweep_runs
client = open_store(sys.argv[1])
exp = client.get_experiment_by_name("motif_tune").experiment_id
(parent,) = sweep_runs(client, [exp])
trials = [r.info.run_id for r in child_runs(client, exp, parent.info.run_id)
          if r.data.tags.get("motif_tune.role") == "trial"]
print(exp, parent.info.run_id, json.dumps(trials, separators=(",", ":")))
PY
)
BASE="http://127.0.0.1:$PORT"
shot() {  # shot FILE URL WIDTH HEIGHT
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$(mktemp -d)" --hide-scrollbars --window-size="$3,$4" \
    --virtual-time-budget=20000 --screenshot="$1" "$2" >/dev/null 2>&1
  echo "$1"
}
shot "$OUT/runs_table.png" "$BASE/#/experiments/$EXP" 1600 900
shot "$OUT/compare_view.png" "$BASE/#/compare-runs?runs=$TRIALS&experiments=[\"$EXP\"]" 1600 1400
shot "$OUT/study_plots.png" "$BASE/get-artifact?path=plots%2Fstudy.html&run_uuid=$PARENT" 1200 1500
