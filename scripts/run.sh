#!/usr/bin/env bash
# Start Vitrina on embedded defaults: gunicorn, a Celery worker and Celery beat; Ctrl-C stops all three.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${VENV:-.venv}/bin
export VITRINA_VAR_DIR=${VITRINA_VAR_DIR:-$PWD/var}
export PORT=${PORT:-8000}
export SITE_URL=${SITE_URL:-http://127.0.0.1:$PORT}
# The portal watches itself on loopback, so private addresses are allowed unless said otherwise.
export VITRINA_ALLOW_PRIVATE_ADDRESSES=${VITRINA_ALLOW_PRIVATE_ADDRESSES:-1}
mkdir -p "$VITRINA_VAR_DIR/broker/queue" "$VITRINA_VAR_DIR/broker/processed" "$VITRINA_VAR_DIR/broker/control"

if [ -z "${SECRET_KEY:-}" ] && [ ! -s "$VITRINA_VAR_DIR/secret.key" ]; then
    (umask 077 && "$BIN/python" -c 'import secrets; print(secrets.token_urlsafe(50))' > "$VITRINA_VAR_DIR/secret.key")
fi

"$BIN/python" manage.py migrate --noinput
"$BIN/python" manage.py collectstatic --noinput -v 0
"$BIN/python" manage.py genlogkey
"$BIN/python" manage.py watchself
"$BIN/python" manage.py integratelog

pids=()
stop() {
    trap - INT TERM EXIT
    echo
    echo "Stopping Vitrina..."
    kill -TERM "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
    echo "Stopped."
}
trap stop INT TERM EXIT

"$BIN/gunicorn" portal.wsgi:application -c gunicorn.conf.py --access-logfile "$VITRINA_VAR_DIR/access.log" &
pids+=($!)
"$BIN/celery" -A portal worker --pool=threads --concurrency="${WORKER_CONCURRENCY:-8}" --loglevel=WARNING &
pids+=($!)
"$BIN/celery" -A portal beat --loglevel=WARNING --schedule "$VITRINA_VAR_DIR/celerybeat-schedule" &
pids+=($!)

broker="filesystem (in $VITRINA_VAR_DIR/broker)"
[ -n "${REDIS_URL:-}" ] && broker="Redis"
cat <<MSG

  Vitrina is running at $SITE_URL/   (broker: $broker; database: ${DATABASE_URL:-SQLite in $VITRINA_VAR_DIR})
  It watches itself: see $SITE_URL/p/vitrina/ within a minute.
  Create an admin user in another terminal:  $BIN/python manage.py createsuperuser
  and its second factor (import the printed URI into an authenticator app):  $BIN/python manage.py addtotp USER
  Then open $SITE_URL/admin/.   Press Ctrl-C to stop.

MSG
wait -n "${pids[@]}"
