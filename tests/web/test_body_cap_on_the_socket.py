"""Bodies over the cap are refused from their headers, on the server the application runs on
(``python -m abvlmq_web.server``: daphne, which reads a whole body before the application sees
the request): a client that announces 60 MB and sends none of it gets 413 at once."""

from __future__ import annotations

import socket
import time

import pytest

from tests.web.live import free_port, start_server

pytestmark = [pytest.mark.slow, pytest.mark.e2e]  # real processes: the web server


@pytest.fixture(scope="module")
def port(tmp_path_factory):
    port = free_port()
    process = start_server(tmp_path_factory.mktemp("logs"), port, ABVLMQ_MAX_UPLOAD_MB="2")
    yield port
    process.stop()


def _post_headers(port: int, path: str, length: int, body: bytes = b"") -> tuple[bytes, float]:
    """Send a POST's headers (and ``body``, if any) and read the answer until the server
    closes or 5 s pass; returns the answer and the seconds it took."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        start = time.monotonic()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: multipart/form-data; boundary=xyz\r\n"
            f"Content-Length: {length}\r\nConnection: close\r\n\r\n"
        )
        s.sendall(head.encode() + body)
        answer = b""
        try:
            while chunk := s.recv(65536):
                answer += chunk
        except TimeoutError:
            pass
        return answer, time.monotonic() - start


@pytest.mark.parametrize("path", ["/api/scans/", "/dicomweb/studies", "/accounts/login/"])
def test_a_60_mb_body_is_refused_from_its_headers_without_being_sent(port, path):
    answer, seconds = _post_headers(port, path, 60 * 2**20)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b'"code": "too_large"' in answer
    assert seconds < 1.0


def test_a_body_under_the_cap_reaches_the_application(port):
    body = b"--xyz--\r\n"
    answer, _ = _post_headers(port, "/api/scans/", len(body), body)
    status = answer.split(b"\r\n", 1)[0]
    assert b"413" not in status
    assert status.split()[1] in (b"400", b"401", b"403")  # the application answered it


def test_the_server_goes_on_after_refusing(port):
    _post_headers(port, "/api/scans/", 60 * 2**20)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 200")
