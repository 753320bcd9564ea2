#!/usr/bin/env bash
# Background services for the ccm_twitter molecule scenarios (no systemd, no containers).
# Every service runs from a state directory DIR and leaves DIR/NAME.pid, DIR/NAME.log, DIR/NAME.cmd;
# only processes started here are stopped here (by the pid they recorded).
#
#   molecule-stack.sh start DIR NAME -- COMMAND...   start COMMAND in the background as service NAME
#   molecule-stack.sh restart DIR NAME               stop NAME and start it again with the same command
#   molecule-stack.sh stop DIR [NAME...]             stop the named services (default: all of DIR)
#   molecule-stack.sh nginx-start DIR                nginx with the private prefix DIR/nginx
#   molecule-stack.sh nginx-reload DIR               reload it and wait until the old workers are gone
set -euo pipefail

usage() { sed -n '2,11p' "$0" >&2; exit 2; }

alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

wait_gone() { # pid, tenths of a second
  local pid=$1 n=${2:-50}
  while alive "$pid" && [ "$n" -gt 0 ]; do sleep 0.1; n=$((n - 1)); done
  ! alive "$pid"
}

start() { # dir name -- cmd...
  local dir=$1 name=$2; shift 2
  [ "${1:-}" = "--" ] && shift
  mkdir -p "$dir"
  if [ -f "$dir/$name.pid" ] && alive "$(cat "$dir/$name.pid")"; then
    echo "$name already running (pid $(cat "$dir/$name.pid"))"
    return 0
  fi
  printf '%q ' "$@" > "$dir/$name.cmd"
  # setsid: own process group, so the service outlives the ansible task that started it.
  setsid "$@" >>"$dir/$name.log" 2>&1 < /dev/null &
  echo $! > "$dir/$name.pid"
  sleep 0.2
  if ! alive "$(cat "$dir/$name.pid")"; then
    echo "$name exited at once; its log:" >&2
    tail -n 30 "$dir/$name.log" >&2
    return 1
  fi
  echo "$name started (pid $(cat "$dir/$name.pid"))"
}

stop_one() { # dir name
  local dir=$1 name=$2 pid
  [ -f "$dir/$name.pid" ] || return 0
  pid=$(cat "$dir/$name.pid")
  if alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    wait_gone "$pid" 50 || kill -KILL "$pid" 2>/dev/null || true
    echo "$name stopped (pid $pid)"
  fi
  rm -f "$dir/$name.pid"
}

nginx_pid() { cat "$1/nginx/nginx.pid" 2>/dev/null || true; }

nginx_start() { # dir
  local dir=$1 pid
  pid=$(nginx_pid "$dir")
  if alive "$pid"; then echo "nginx already running (pid $pid)"; return 0; fi
  nginx -p "$dir/nginx/" -e "$dir/nginx/error.log" -c "$dir/nginx/nginx.conf"
  pid=$(nginx_pid "$dir")
  echo "$pid" > "$dir/nginx-master.pid"
  echo "nginx started (pid $pid)"
}

nginx_reload() { # dir
  local dir=$1 pid old n=50
  pid=$(nginx_pid "$dir")
  alive "$pid" || { echo "nginx of $dir is not running" >&2; return 1; }
  old=$(pgrep -P "$pid" | tr '\n' ' ')
  nginx -p "$dir/nginx/" -e "$dir/nginx/error.log" -c "$dir/nginx/nginx.conf" -s reload
  # The reload is asynchronous: wait until the workers of the old configuration have left.
  # (A worker still serving a long request only delays that; the role's preflight retries anyway.)
  for w in $old; do wait_gone "$w" "$n" || echo "old nginx worker $w still running after 5 s" >&2; done
  # ...and until a new worker is up.
  while [ -z "$(pgrep -P "$pid")" ] && [ "$n" -gt 0 ]; do sleep 0.1; n=$((n - 1)); done
}

nginx_stop() { # dir
  local dir=$1 pid
  pid=$(nginx_pid "$dir")
  [ -n "$pid" ] || pid=$(cat "$dir/nginx-master.pid" 2>/dev/null || true)
  if alive "$pid"; then
    # TERM: fast shutdown; nothing here needs nginx's graceful QUIT.
    kill -TERM "$pid" 2>/dev/null || true
    wait_gone "$pid" 50 || kill -KILL "$pid" 2>/dev/null || true
    echo "nginx stopped (pid $pid)"
  fi
  rm -f "$dir/nginx-master.pid"
}

cmd=${1:-}; [ $# -ge 2 ] || usage
dir=$2; shift 2
case "$cmd" in
  start) [ $# -ge 2 ] || usage; start "$dir" "$@" ;;
  restart)
    [ $# -eq 1 ] || usage
    [ -f "$dir/$1.cmd" ] || { echo "no recorded command for $1 in $dir" >&2; exit 1; }
    stop_one "$dir" "$1"
    eval "start \"\$dir\" \"\$1\" -- $(cat "$dir/$1.cmd")" ;;
  stop)
    if [ $# -eq 0 ]; then
      set -- nginx
      for f in "$dir"/*.pid; do
        [ -e "$f" ] || continue; n=${f##*/}; n=${n%.pid}; [ "$n" = nginx-master ] || set -- "$@" "$n"
      done
    fi
    # In parallel: each service may take a moment to wind down.
    for n in "$@"; do if [ "$n" = nginx ]; then nginx_stop "$dir" & else stop_one "$dir" "$n" & fi; done
    wait ;;
  nginx-start) nginx_start "$dir" ;;
  nginx-reload) nginx_reload "$dir" ;;
  *) usage ;;
esac
