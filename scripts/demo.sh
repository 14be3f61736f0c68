#!/usr/bin/env bash
# The whole loop on embedded defaults: start the portal, a worker and the MLflow UI, ingest the
# digits data, train a model on a worker, register and promote it, and predict over HTTP.
# Run again, it reuses what is running and what exists (the data is not stored twice).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BIN=$ROOT/.venv/bin
PY=$BIN/python
PORT=${PORT:-5000}
MLFLOW_PORT=${MLFLOW_PORT:-5001}
VAR=$ROOT/var
RUN=$VAR/run
LOG=$VAR/log
# The platform runs offline: MLflow (the UI server too) must not try to send usage data.
export PATH="$BIN:$PATH" TF_CPP_MIN_LOG_LEVEL=2 PYTHONUNBUFFERED=1 MLFLOW_DISABLE_TELEMETRY=true
# Links between the portal's run pages and the MLflow UI.
export MLFLOW_UI_URL="${MLFLOW_UI_URL:-http://127.0.0.1:$MLFLOW_PORT}"
export PORTAL_URL="${PORTAL_URL:-http://127.0.0.1:$PORT}"
mkdir -p "$RUN" "$LOG" "$VAR/demo"

say() { printf '\n==> %s\n' "$*"; }

# Start a process in its own session (so `make stop` can end it with everything it forked),
# unless the one started last time is still alive.
start() {
  local name=$1
  shift
  local pidfile=$RUN/$name.pid
  if [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    echo "$name is already running (pid $(cat "$pidfile"))"
    return
  fi
  setsid "$@" >"$LOG/$name.log" 2>&1 </dev/null &
  echo $! >"$pidfile"
  echo "started $name (pid $!, log var/log/$name.log)"
}

wait_http() {
  local name=$1 url=$2
  for _ in $(seq 1 120); do
    if curl -fsS -o /dev/null "$url" 2>/dev/null; then return 0; fi
    if ! kill -0 "$(cat "$RUN/$name.pid")" 2>/dev/null; then break; fi
    sleep 1
  done
  echo "$name did not come up at $url; the end of var/log/$name.log:" >&2
  tail -n 30 "$LOG/$name.log" >&2
  exit 1
}

say "Settings: a secret key in .env (made once), the database, static files, the admin account"
if [[ ! -f .env ]]; then
  echo "SECRET_KEY=$($PY -c 'import secrets; print(secrets.token_urlsafe(50))')" >.env
fi
if [[ ! -f $VAR/demo-admin-password ]]; then
  $PY -c 'import secrets; print(secrets.token_urlsafe(12))' >"$VAR/demo-admin-password"
fi
$PY manage.py migrate --noinput -v 0
$PY manage.py collectstatic --noinput -v 0
$PY manage.py ensure_superuser admin --password-file "$VAR/demo-admin-password"

say "Processes: MLflow UI, web portal, worker (both queues, with the periodic reaper)"
# MLflow first: it creates its store, which the worker then writes to.
start mlflow "$BIN/mlflow" server --host 127.0.0.1 --port "$MLFLOW_PORT" --workers 1 \
  --backend-store-uri "sqlite:///$VAR/mlflow.db" --default-artifact-root "$VAR/mlartifacts"
wait_http mlflow "http://127.0.0.1:$MLFLOW_PORT/health"
start web "$BIN/gunicorn" hpml_portal.wsgi --bind "127.0.0.1:$PORT" --workers 2 --timeout 120
start worker "$BIN/celery" -A hpml_portal worker -Q default,training --concurrency 2 \
  --beat --schedule "$RUN/celerybeat-schedule" --loglevel INFO
wait_http web "http://127.0.0.1:$PORT/readyz"

say "Ingest the digits data set (scikit-learn ships it)"
$PY manage.py ingest_dataset digits --builtin digits --wait --timeout 300

say "Train a Keras MLP on the worker, tracked in MLflow, registered as model 'digits'"
$PY manage.py train --dataset digits --experiment digits --model-name digits \
  --param epochs=20 --wait --timeout 900 | tee "$VAR/demo/train.txt"
VERSION=$(sed -n 's/^registered digits version \([0-9]*\).*/\1/p' "$VAR/demo/train.txt")

say "Promote version $VERSION to production"
$PY manage.py promote digits "$VERSION" --alias production --comment "make demo" --user admin

say "Predict over HTTP, as a service account that may only predict with this model"
$PY manage.py add_member default demo --role predictor
TOKEN=$($PY manage.py create_api_token demo --predict-only default/digits --name demo | tail -n 1)
$PY - "$VAR/demo/predict.json" <<'EOF'
import json, sys
from sklearn.datasets import load_digits
digits = load_digits()
rows = [digits.data[i].tolist() for i in (0, 1, 2)]  # images of a 0, a 1 and a 2
json.dump({"instances": rows}, open(sys.argv[1], "w"))
EOF
CURL="curl -s -X POST -H 'Authorization: Token $TOKEN' -H 'Content-Type: application/json' \
--data @$VAR/demo/predict.json http://127.0.0.1:$PORT/api/v1/models/digits/predict/"
ANSWER=$(eval "$CURL")
echo "$ANSWER" | $PY -c 'import json,sys; a=json.load(sys.stdin); print("model", a["model"], "version", a["version"], "predicts", a["predictions"], "for images of 0, 1, 2")'

cat <<MSG

The platform is running (make stop ends it).
  Admin:      http://127.0.0.1:$PORT/admin/   login: admin / $(cat "$VAR/demo-admin-password")
  API docs:   http://127.0.0.1:$PORT/api/docs/ (log in to the admin first)
  MLflow UI:  http://127.0.0.1:$MLFLOW_PORT
  API token:  $TOKEN
  Predict:
$CURL
MSG
