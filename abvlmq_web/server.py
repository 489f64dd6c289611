"""The web server: daphne, with request bodies over the cap refused as soon as the headers are in.

    python -m abvlmq_web.server -b 127.0.0.1 -p 8000 abvlmq_web.asgi:application

Daphne hands a request to the application only once its whole body has arrived (Twisted reads
the body before ``process``), so the ASGI middleware in ``asgi.py`` answers 413 to a 60 MB
upload only after 60 MB were sent. Here the cap acts when Twisted learns the request's length,
right after its headers: a body declared over ``ABVLMQ_MAX_REQUEST_BYTES`` gets the same 413 at
once, the connection is closed, and nothing of the body is read or stored. Uploads, STOW-RS and
every other path share the cap (the largest any of them takes). A proxy in front (docker/nginx)
caps it too; this holds without one, as ``make run`` serves.
"""

from __future__ import annotations

import json
import logging
import os
import sys

log = logging.getLogger(__name__)


def refusal(limit_bytes: int) -> bytes:
    """The raw HTTP/1.1 response: the upload API's error body, the connection closed."""
    body = json.dumps(
        {"code": "too_large", "detail": f"The request is over {limit_bytes / 2**20:g} MB."}
    ).encode()
    head = (
        "HTTP/1.1 413 Payload Too Large\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    return head + body


def install_body_cap(limit_bytes: int) -> None:
    """Make daphne's requests refuse a declared body over ``limit_bytes`` from its headers."""
    from daphne.http_protocol import WebRequest

    if getattr(WebRequest, "_abvlmq_cap", None) is not None:
        WebRequest._abvlmq_cap = limit_bytes
        return
    original = WebRequest.gotLength

    def gotLength(self, length):  # Twisted's name
        cap = WebRequest._abvlmq_cap
        if length is not None and length > cap:
            log.warning("refused a request body of %d bytes from its headers (cap %d)", length, cap)
            transport = self.channel.transport
            transport.write(refusal(cap))
            transport.loseConnection()
            self.channel._dataBuffer = []  # anything of the body already here is dropped
            original(self, 0)  # a request object that holds nothing
            self.channel.pauseProducing()  # and reads no more of it
            return None
        return original(self, length)

    WebRequest.gotLength = gotLength
    WebRequest._abvlmq_cap = limit_bytes


def limit_malloc_arenas(count: int = 2) -> None:
    """glibc gives a thread that allocates its own arena and keeps what it held in it: the
    server's pool hands uploads to ever other threads, so even two intakes at once left the
    process 1.1 GiB after a burst of 32 (bench.memory), 0.7 with ``count`` arenas (glibc's
    MALLOC_ARENA_MAX, set from here). Elsewhere than glibc: nothing."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if not name:
        return
    try:
        ctypes.CDLL(name).mallopt(-8, count)  # M_ARENA_MAX
    except (OSError, AttributeError):
        return


def main(argv: list[str] | None = None) -> None:
    limit_malloc_arenas()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "abvlmq_web.settings")
    from django.conf import settings

    install_body_cap(int(settings.ABVLMQ_MAX_REQUEST_BYTES))
    if not settings.DEBUG and not settings.ABVLMQ_METRICS_TOKEN:
        print(
            "warning: ABVLMQ_METRICS_TOKEN is not set: /metrics is off (403) and /readyz gives "
            "its details to callers on this machine only; set it to scrape metrics",
            file=sys.stderr,
            flush=True,
        )
    from daphne.cli import CommandLineInterface

    CommandLineInterface().run(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
