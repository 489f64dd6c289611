"""Wait until a URL answers 200, then run a command in this process's place:
    python scripts/wait_http.py [--while-pid PID] URL SECONDS -- COMMAND ARGS...
(`make run` starts the workers of the vLLM backend this way, once the server is up, and says
it is running once its site answers: `-- true`)."""

from __future__ import annotations

import os
import sys
import time
import urllib.request


def _alive(pid: int | None) -> bool:
    if pid is None:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def main(argv: list[str]) -> int:
    watch = None  # --while-pid PID: give up at once when that process (the supervisor) is gone
    if argv[:1] == ["--while-pid"]:
        watch, argv = int(argv[1]), argv[2:]
    url, seconds, sep, *command = argv
    if sep != "--" or not command:
        print(__doc__, file=sys.stderr)
        return 2
    deadline = time.monotonic() + float(seconds)
    while True:
        if not _alive(watch):
            print(f"wait_http: process {watch} ended before {url} answered", file=sys.stderr)
            return 1
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if time.monotonic() > deadline:
            print(f"wait_http: {url} did not answer within {seconds} s", file=sys.stderr)
            return 1
        time.sleep(0.5)
    os.execvp(command[0], command)
    return 0  # not reached


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
