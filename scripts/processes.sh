#!/usr/bin/env bash
# Source this: the process manager of `make run` (Supervisor's supervisord, in the foreground
# of this script's session). Why Supervisor: a well-kept, widely deployed manager from PyPI
# (no system service), restarts with a back-off and a limit (startretries: after that the
# program is FATAL and stays down, instead of a hot restart loop), stops whole process groups
# (stopasgroup/killasgroup: a Celery worker's pool children too), keeps each program's log, and
# answers `supervisorctl status` (`make status`).
#   program NAME LOG CMD...   -> a [program:NAME] section (the command is started with
#                                setpriv --pdeathsig TERM: it stops if supervisord dies)
#   start_programs            -> writes $VAR/supervisord.conf, starts supervisord (itself with
#                                --pdeathsig TERM: it stops, and stops them, if this script dies)
#                                and sets SUPERVISORD_PID
#   port_taken PORT           -> prints what listens on PORT and returns 0, else returns 1
SUPERVISOR_CONF="${VAR:-var}/supervisord.conf"
_PROGRAMS=""

_quote() {  # one argument as supervisord's command line reads it: shlex, after its own
  # %(name)s expansion, so a literal % (celery's worker1@%h) is written %%
  local arg=${1//%/%%}
  printf "'%s'" "${arg//\'/\'\"\'\"\'}"
}

program() {
  local name=$1 log=$2
  shift 2
  local cmd="setpriv --pdeathsig TERM" arg
  for arg in "$@"; do cmd+=" $(_quote "$arg")"; done
  _PROGRAMS+="
[program:$name]
command=$cmd
directory=$PWD
autostart=true
autorestart=true
; a start that dies within startsecs is a failed start; after startretries of them (waiting
; 1, 2, 3, ... s between) the program is FATAL and stays down: \`make status\` says so
; (ABVLMQ_STARTSECS, ABVLMQ_STARTRETRIES: the tests of the supervision use shorter ones)
startsecs=${ABVLMQ_STARTSECS:-5}
startretries=${ABVLMQ_STARTRETRIES:-5}
stopsignal=TERM
stopwaitsecs=30
stopasgroup=true
killasgroup=true
redirect_stderr=true
stdout_logfile=$log
stdout_logfile_maxbytes=20MB
stdout_logfile_backups=3
"
}

start_programs() {
  local run="$VAR/run"
  mkdir -p "$run"
  cat >"$SUPERVISOR_CONF" <<CONF
; written by scripts/run.sh at each start: the processes of \`make run\`
[supervisord]
nodaemon=true
logfile=$VAR/supervisord.log
pidfile=$run/supervisord.pid
childlogdir=$VAR
loglevel=info

[unix_http_server]
file=$run/supervisor.sock
chmod=0700

[supervisorctl]
serverurl=unix://$run/supervisor.sock

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
$_PROGRAMS
CONF
  setpriv --pdeathsig TERM .venv/bin/supervisord -c "$SUPERVISOR_CONF" >"$VAR/supervisord.out" 2>&1 &
  SUPERVISORD_PID=$!
}

port_taken() {
  local port=$1 holder
  if ! "${PY:-python3}" - "$port" <<'PY' 2>/dev/null; then
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
PY
    holder="$(ss -H -ltnp "sport = :$port" 2>/dev/null | grep -o 'users:(([^)]*))' | head -1)"
    echo "${holder:-another process (ss could not say which)}"
    return 0
  fi
  return 1
}
