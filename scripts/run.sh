#!/usr/bin/env bash
# Start Vitrina on embedded defaults: gunicorn, a Celery worker and Celery beat, each restarted if it
# crashes; Ctrl-C (or TERM to this script or to `make run`) stops all three.
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

# Supervision: a process that exits on its own is restarted after a back-off (1 s, doubling to 60 s,
# back to 1 s once it has run for a minute), with a line saying so. Ctrl-C, TERM or HUP stop all
# three, and so does the end of the parent: TERM to `make run` need not reach this script.
names=(web worker beat)
declare -A label=([web]=gunicorn [worker]="the Celery worker" [beat]="Celery beat")
declare -A pid=() started=() delay=() due=()
parent=$PPID
ticker=

launch() {
    case $1 in
    web) "$BIN/gunicorn" portal.wsgi:application -c gunicorn.conf.py --access-logfile "$VITRINA_VAR_DIR/access.log" & ;;
    worker) "$BIN/celery" -A portal worker --pool=threads --concurrency="${WORKER_CONCURRENCY:-8}" --loglevel=WARNING & ;;
    beat) "$BIN/celery" -A portal beat --loglevel=WARNING --schedule "$VITRINA_VAR_DIR/celerybeat-schedule" & ;;
    esac
    pid[$1]=$!
    started[$1]=$SECONDS
}

running() {
    local name
    for name in "${names[@]}"; do
        if [ -n "${pid[$name]:-}" ] && kill -0 "${pid[$name]}" 2>/dev/null; then echo "${pid[$name]}"; fi
    done
}

stop() {
    trap - INT TERM HUP EXIT
    echo
    echo "Stopping Vitrina..."
    [ -n "$ticker" ] && { kill "$ticker" 2>/dev/null || true; }
    local live tries=0
    live=$(running)
    # shellcheck disable=SC2086 # one pid per word
    [ -n "$live" ] && { kill -TERM $live 2>/dev/null || true; }
    # A warm shutdown finishes the checks in hand; past 30 s, whatever is left is killed.
    while [ -n "$(running)" ] && [ "$tries" -lt 300 ]; do
        sleep 0.1
        tries=$((tries + 1))
    done
    live=$(running)
    if [ -n "$live" ]; then
        echo "Killing what did not stop in 30 s: $live"
        # shellcheck disable=SC2086
        kill -KILL $live 2>/dev/null || true
    fi
    wait 2>/dev/null || true
    echo "Stopped."
}
trap 'stop; exit 0' INT TERM HUP
trap stop EXIT

supervise() {
    local name status ran wait_for
    while :; do
        sleep 1 &
        ticker=$!
        wait "$ticker" || true
        ticker=
        if [ "$parent" -ne 1 ] && ! kill -0 "$parent" 2>/dev/null; then
            echo "The process that started Vitrina ($parent) has ended."
            stop
            exit 0
        fi
        for name in "${names[@]}"; do
            if [ -n "${pid[$name]}" ] && ! kill -0 "${pid[$name]}" 2>/dev/null; then
                status=0
                wait "${pid[$name]}" || status=$?
                pid[$name]=
                ran=$((SECONDS - started[$name]))
                [ "$ran" -ge 60 ] && delay[$name]=1
                wait_for=${delay[$name]:-1}
                echo "Vitrina: ${label[$name]} exited (status $status) after $ran s; restarting it in $wait_for s."
                due[$name]=$((SECONDS + wait_for))
                delay[$name]=$((wait_for * 2 > 60 ? 60 : wait_for * 2))
            fi
            if [ -z "${pid[$name]}" ] && [ "$SECONDS" -ge "${due[$name]}" ]; then
                launch "$name"
                echo "Vitrina: restarted ${label[$name]} (pid ${pid[$name]})."
            fi
        done
    done
}

for name in "${names[@]}"; do
    launch "$name"
done

broker="filesystem (in $VITRINA_VAR_DIR/broker)"
[ -n "${REDIS_URL:-}" ] && broker="Redis"
cat <<MSG

  Vitrina is running at $SITE_URL/   (broker: $broker; database: ${DATABASE_URL:-SQLite in $VITRINA_VAR_DIR})
  It watches itself: see $SITE_URL/p/vitrina/ within a minute.
  Create an admin user in another terminal:  $BIN/python manage.py createsuperuser
  and its second factor (import the printed URI into an authenticator app):  $BIN/python manage.py addtotp USER
  Then open $SITE_URL/admin/.   Press Ctrl-C to stop.

MSG
supervise
