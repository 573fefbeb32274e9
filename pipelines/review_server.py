"""``residua review``: serve ``report.html`` on localhost and record reviewers' decisions.

Only 127.0.0.1 is bound. ``GET /`` returns the page with its decision form enabled,
``GET /api/reviews`` the review history, and ``POST /api/reviews`` (JSON: ``site_id``,
``decision``, ``note``, ``reviewer``) appends one decision through
:func:`residua.geodata.reviews.append_review`, which locks the file, so reviewers deciding at once
lose nothing. The reviews file defaults to ``reviews.csv`` in the data directory recorded in
the inventory's ``run_metadata``.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from residua.geodata.review_page import (
    SERVED_SLOT,
    ReviewPageError,
    build_review_page,
    default_reviews_path,
    inventory_site_ids,
    mark_served,
    read_run_metadata,
    review_history,
)
from residua.geodata.reviews import ReviewError, append_review
from residua.geodata.vocabulary import DECISIONS

T = TypeVar("T")
HOST = "127.0.0.1"
API = "/api/reviews"
MAX_BODY_BYTES = 64 * 1024
MAX_NOTE_CHARS = 4000
MAX_REVIEWER_CHARS = 120


class ReviewServerError(ValueError):
    """The review server cannot start as asked."""


@dataclass
class ReviewSite:
    """What the server serves: the output folder, the reviews file and cached inventory facts."""

    out_dir: Path
    reviews_path: Path
    quiet: bool = False
    _cache: dict[str, tuple[tuple[str, int], object]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def gpkg(self) -> Path:
        """The published inventory."""
        return self.out_dir / "inventory.gpkg"

    def site_ids(self) -> frozenset[str]:
        """Site ids of the published inventory (re-read when the file changes)."""
        return self._cached("site_ids", self.gpkg, lambda: frozenset(inventory_site_ids(self.gpkg)))

    def page(self) -> bytes:
        """``report.html`` with the form enabled; built from the inventory when the file is missing or older."""
        report = self.out_dir / "report.html"

        def build() -> bytes:
            html = report.read_text(encoding="utf-8") if report.is_file() else ""
            if SERVED_SLOT not in html:  # no report.html, or one written before the review server existed
                html = build_review_page(self.gpkg, reviews=self.reviews_path)
            return mark_served(html, API).encode("utf-8")

        return self._cached("page", report if report.is_file() else self.gpkg, build)

    def _cached(self, key: str, path: Path, make: Callable[[], T]) -> T:
        stamp = (str(path), path.stat().st_mtime_ns)
        with self._lock:
            if key not in self._cache or self._cache[key][0] != stamp:
                self._cache[key] = (stamp, make())
            return self._cache[key][1]  # type: ignore[return-value]


def resolve_reviews_path(out_dir: Path, reviews: Path | None) -> Path:
    """The reviews file: ``reviews`` if given, else ``reviews.csv`` in the run's data directory.

    Raises
    ------
    ReviewServerError
        If there is no inventory, or no reviews file is given and the inventory records no
        data directory (or one that no longer exists).
    """
    gpkg = out_dir / "inventory.gpkg"
    if not gpkg.is_file():
        raise ReviewServerError(f"{gpkg} does not exist; publish an inventory first with `residua run --out {out_dir}`")
    if reviews is not None:
        return reviews.resolve()
    default = default_reviews_path(read_run_metadata(gpkg))
    if default is None:
        raise ReviewServerError(
            f"{gpkg} records no data directory (run_metadata key 'data_dir'), so Residua cannot tell where the "
            "reviews belong; pass --reviews FILE (e.g. --reviews path/to/drop/reviews.csv)"
        )
    if not default.parent.is_dir():
        raise ReviewServerError(
            f"the data directory recorded in {gpkg}, {default.parent}, does not exist here; "
            "pass --reviews FILE to say where decisions go"
        )
    return default


def make_server(site: ReviewSite, port: int = 0) -> ThreadingHTTPServer:
    """A threading HTTP server for ``site`` bound to 127.0.0.1 (``port`` 0: any free port)."""
    server = ThreadingHTTPServer((HOST, port), _handler_for(site))
    server.daemon_threads = True
    return server


def serve(out_dir: Path, port: int = 8765, reviews: Path | None = None) -> int:
    """Run the review server until interrupted; return the exit status (1 when it cannot start)."""
    try:
        site = ReviewSite(out_dir.resolve(), resolve_reviews_path(out_dir.resolve(), reviews))
        site.site_ids()
        site.page()
        server = make_server(site, port)
    except (ReviewServerError, ReviewPageError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    host, bound = server.server_address[:2]
    print(f"Residua review: http://{host}:{bound}/  (decisions go to {site.reviews_path}; Ctrl+C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped")
    finally:
        server.server_close()
    return 0


def validate_decision(body: object, site_ids: frozenset[str]) -> dict[str, str]:
    """Check a decision posted as JSON; return its fields or raise ReviewError with the reason.

    Examples
    --------
    >>> validate_decision({"site_id": "A", "decision": "accept", "reviewer": "R"}, frozenset({"A"}))["note"]
    ''
    >>> validate_decision({"site_id": "A", "decision": "maybe", "reviewer": "R"}, frozenset({"A"}))
    Traceback (most recent call last):
    ...
    residua.geodata.reviews.ReviewError: decision 'maybe' is not one of accept, exclude, needs-data, accept-tonnage
    """
    if not isinstance(body, dict):
        raise ReviewError("the body must be a JSON object with site_id, decision, note and reviewer")
    fields = {key: body.get(key, "") for key in ("site_id", "decision", "note", "reviewer")}
    wrong = [key for key, value in fields.items() if not isinstance(value, str)]
    if wrong:
        raise ReviewError(f"{', '.join(wrong)} must be text")
    decision = fields["decision"].strip().lower()
    if decision not in DECISIONS:
        raise ReviewError(f"decision {fields['decision']!r} is not one of {', '.join(DECISIONS)}")
    if not fields["reviewer"].strip():
        raise ReviewError("reviewer must not be empty: give the name of the person deciding")
    if len(fields["reviewer"]) > MAX_REVIEWER_CHARS or len(fields["note"]) > MAX_NOTE_CHARS:
        raise ReviewError(f"reviewer is limited to {MAX_REVIEWER_CHARS} characters and note to {MAX_NOTE_CHARS}")
    if fields["site_id"].strip() not in site_ids:
        raise ReviewError(f"site_id {fields['site_id']!r} is not in the published inventory ({len(site_ids)} sites)")
    return {**fields, "decision": decision, "site_id": fields["site_id"].strip()}


def _handler_for(site: ReviewSite) -> type[BaseHTTPRequestHandler]:
    class ReviewHandler(BaseHTTPRequestHandler):
        server_version = "ResiduaReview/1"

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            if path in ("/", "/report.html"):
                self._send(HTTPStatus.OK, site.page(), "text/html; charset=utf-8")
            elif path == API:
                self._json(HTTPStatus.OK, {"reviews": review_history(site.reviews_path)})
            else:
                self._json(HTTPStatus.NOT_FOUND, {"error": f"no such page {path}; open / for the review map"})

        def do_POST(self) -> None:
            if urlsplit(self.path).path != API:
                return self._json(HTTPStatus.NOT_FOUND, {"error": f"POST decisions to {API}"})
            refusal = self._refusal()
            if refusal is not None:
                return self._json(*refusal)
            try:
                fields = validate_decision(
                    json.loads(self.rfile.read(int(self.headers["Content-Length"]))), site.site_ids()
                )
            except json.JSONDecodeError as error:
                return self._json(HTTPStatus.BAD_REQUEST, {"error": f"the body is not valid JSON ({error.msg})"})
            except ReviewError as error:
                return self._json(HTTPStatus.BAD_REQUEST, {"error": str(error)})
            try:
                row = append_review(
                    site.reviews_path, fields["site_id"], fields["decision"], fields["note"], fields["reviewer"]
                )
            except OSError as error:
                return self._json(
                    HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"could not write {site.reviews_path}: {error}"}
                )
            self._json(HTTPStatus.CREATED, {"row": row, "reviews": review_history(site.reviews_path)})

        def _refusal(self) -> tuple[HTTPStatus, dict[str, str]] | None:
            """Why a POST is refused before reading it: cross-site origin, wrong type or size."""
            host = self.headers.get("Host", "")
            if host.split(":")[0] not in ("127.0.0.1", "localhost"):
                return HTTPStatus.FORBIDDEN, {"error": f"unexpected Host {host!r}; open http://127.0.0.1:<port>/"}
            origin = self.headers.get("Origin")
            if origin is not None and urlsplit(origin).netloc != host:
                return HTTPStatus.FORBIDDEN, {"error": f"decisions are accepted only from this page, not from {origin}"}
            if self.headers.get_content_type() != "application/json":
                return HTTPStatus.UNSUPPORTED_MEDIA_TYPE, {"error": "send the decision as application/json"}
            length = self.headers.get("Content-Length", "")
            if not length.isdigit() or int(length) > MAX_BODY_BYTES:
                return HTTPStatus.BAD_REQUEST, {
                    "error": f"a decision needs a Content-Length of at most {MAX_BODY_BYTES} bytes"
                }
            return None

        def _json(self, status: HTTPStatus, payload: object) -> None:
            self._send(status, json.dumps(payload).encode("utf-8"), "application/json")

        def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            if not site.quiet:
                super().log_message(format, *args)

    return ReviewHandler
