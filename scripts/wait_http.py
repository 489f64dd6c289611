"""Wait until a URL answers 200, then run a command in this process's place:
    python scripts/wait_http.py URL SECONDS -- COMMAND ARGS...
(`make run` starts the workers of the vLLM backend this way, once the server is up, and says
it is running once its site answers: `-- true`)."""

from __future__ import annotations

import os
import sys
import time
import urllib.request


def main(argv: list[str]) -> int:
    url, seconds, sep, *command = argv
    if sep != "--" or not command:
        print(__doc__, file=sys.stderr)
        return 2
    deadline = time.monotonic() + float(seconds)
    while True:
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
