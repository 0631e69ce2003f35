"""An institution's own site on another origin (another port of 127.0.0.1), for the browser tests of what edudesk
puts on other people's pages (the widget, lead forms)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# path (without the query) → the page's HTML, or None for a 404
Pages = Callable[[str], str | None]


class InstitutionSite:
    """``pages`` decides what each path shows; without it every path shows ``html`` (set it in the test)."""

    def __init__(self, pages: Pages | None = None) -> None:
        self.html = ""
        self.pages: Pages = pages or (lambda path: self.html)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                html = site.pages(self.path.split("?")[0])
                body = (html if html is not None else "<!doctype html><title>404</title>").encode()
                self.send_response(200 if html is not None else 404)
                self.send_header("content-type", "text/html; charset=utf-8")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

    def start(self) -> InstitutionSite:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
