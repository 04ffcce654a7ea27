"""`caption-assets dev` prints the UI line only once the webserver answers /server_info."""

from __future__ import annotations

import http.server
import socket
import threading

import pytest

from caption_assets.app.devserver import answers, wait_until_answers

pytestmark = pytest.mark.unit


class _ServerInfo(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self.send_response(200 if self.path == "/server_info" else 404)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *_args: object) -> None:
        pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_not_ready_until_the_server_answers() -> None:
    url = f"http://127.0.0.1:{_free_port()}"  # nobody listens
    assert not answers(url)
    assert not wait_until_answers(url, 1.0, lambda: True, threading.Event(), interval_seconds=0.1)
    # a child that exited ends the wait at once, whatever the deadline
    assert not wait_until_answers(url, 600.0, lambda: False, threading.Event())


def test_ready_once_server_info_answers() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ServerInfo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        assert wait_until_answers(url, 60.0, lambda: True, threading.Event())
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
