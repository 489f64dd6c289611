#!/usr/bin/env bash
# Source this: keep a process running.
#   supervise NAME LOG CMD...  -> runs CMD in the background (output appended to LOG), starts
#   it again a second after it exits, for as long as the supervisor lives; the supervisor's pid
#   is in SUPERVISOR_PID and the current child's pid in $SUPERVISE_DIR/NAME.pid. TERM or INT
#   to the supervisor stops the child, then the supervisor.
SUPERVISE_DIR="${SUPERVISE_DIR:-var/run}"

supervise() {
  local name=$1 log=$2
  shift 2
  mkdir -p "$SUPERVISE_DIR"
  # Each supervisor and its child get a process group of their own (job control on just for
  # this start): a Ctrl-C at the terminal reaches only the script that started them, which
  # then stops them with TERM, instead of killing the children under a supervisor that would
  # start them again.
  local had_m=""
  case $- in *m*) had_m=1 ;; esac
  set -m
  (
    set +e  # a child's non-zero exit is what we are here for, not a reason to stop
    child=""
    stopping=""
    stop() {
      stopping=1
      [ -n "$child" ] && kill -TERM "$child" 2>/dev/null
      [ -n "$child" ] && wait "$child" 2>/dev/null
      rm -f "$SUPERVISE_DIR/$name.pid"
      exit 0
    }
    trap stop TERM INT
    while [ -z "$stopping" ]; do
      "$@" >>"$log" 2>&1 &
      child=$!
      echo "$child" >"$SUPERVISE_DIR/$name.pid"
      wait "$child"
      status=$?
      [ -n "$stopping" ] && break
      echo "supervise: $name (pid $child) exited with $status; starting it again" | tee -a "$log" >&2
      sleep 1 &
      wait $!
    done
  ) &
  SUPERVISOR_PID=$!
  [ -n "$had_m" ] || set +m
}
