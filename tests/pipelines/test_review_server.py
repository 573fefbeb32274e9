"""``residua review``: the localhost server that records reviewers' decisions (no browser here)."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyogrio
import pytest

from residua.geodata.reviews import read_reviews
from residua.pipelines.cli import _print_summary, main
from residua.pipelines.review_server import ReviewServerError, ReviewSite, make_server, resolve_reviews_path
from tests.test_review_page import SITES, write_inventory


@dataclass
class Running:
    """A review server running in a thread for one test."""

    port: int
    reviews: Path
    out: Path

    def request(self, method: str, path: str, body: object = None, headers: dict[str, str] | None = None,
                raw: bytes | None = None) -> tuple[int, dict | str]:  # fmt: skip
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        sent = {"Content-Type": "application/json", **(headers or {})} if data is not None else dict(headers or {})
        connection.request(method, path, body=data, headers=sent)
        response = connection.getresponse()
        text = response.read().decode("utf-8")
        connection.close()
        is_json = response.getheader("Content-Type", "").startswith("application/json")
        return response.status, json.loads(text) if is_json else text


@pytest.fixture
def server(tmp_path) -> Iterator[Running]:
    out, drop = tmp_path / "out", tmp_path / "drop"
    drop.mkdir()
    write_inventory(out, data_dir=drop)
    site = ReviewSite(out, resolve_reviews_path(out, None), quiet=True)
    httpd = make_server(site, port=0)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield Running(httpd.server_address[1], drop / "reviews.csv", out)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def decision(**overrides: str) -> dict[str, str]:
    return {"site_id": "RM-001", "decision": "accept", "note": "holes fine", "reviewer": "A. Rao", **overrides}


def test_binds_only_to_localhost(tmp_path):
    out = tmp_path / "out"
    write_inventory(out, data_dir=tmp_path)
    httpd = make_server(ReviewSite(out, tmp_path / "reviews.csv", quiet=True))
    try:
        assert httpd.server_address[0] == "127.0.0.1" and httpd.server_address[1] > 0
    finally:
        httpd.server_close()


def test_serves_the_page_with_the_form_enabled(server):
    status, page = server.request("GET", "/")
    assert status == 200 and 'window.RESIDUA_SERVER = {"api": "/api/reviews"}' in page
    assert "Review test inventory" in page  # built from inventory.gpkg, as there is no report.html yet
    assert server.request("GET", "/nothing")[0] == 404


def test_serves_report_html_when_published(server):
    (server.out / "report.html").write_text("<html><head><!--residua:served--></head>published copy</html>")
    status, page = server.request("GET", "/report.html")
    assert status == 200 and "published copy" in page and "RESIDUA_SERVER" in page
    (server.out / "report.html").write_text("<html>written before the review server existed</html>")
    status, page = server.request("GET", "/")
    assert status == 200 and "before the review server" not in page and "Review test inventory" in page


def test_post_appends_a_decision_and_returns_the_history(server):
    status, reply = server.request("POST", "/api/reviews", decision(decision="Needs-Data", note="north cell unsampled"))
    assert status == 201 and reply["row"]["decision"] == "needs-data"
    assert reply["reviews"]["latest"]["RM-001"]["note"] == "north cell unsampled"
    accepted, quarantined = read_reviews(server.reviews)
    assert accepted[["site_id", "decision", "reviewer"]].values.tolist() == [["RM-001", "needs-data", "A. Rao"]]
    assert len(quarantined) == 0
    status, history = server.request("GET", "/api/reviews")
    assert status == 200 and [row["decision"] for row in history["reviews"]["rows"]] == ["needs-data"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (decision(decision="maybe"), "decision 'maybe' is not one of accept, exclude, needs-data"),
        (decision(reviewer="  "), "reviewer must not be empty"),
        (decision(site_id="XX-999"), "site_id 'XX-999' is not in the published inventory (4 sites)"),
        (decision(note=7), "note must be text"),  # type: ignore[arg-type]
        (["RM-001", "accept"], "must be a JSON object"),
        (decision(note="x" * 5000), "note to 4000"),
    ],
)
def test_invalid_decisions_get_a_clear_400_and_write_nothing(server, body, message):
    status, reply = server.request("POST", "/api/reviews", body)
    assert status == 400 and message in reply["error"]
    assert not server.reviews.exists()


def test_malformed_or_foreign_posts_are_refused(server):
    assert server.request("POST", "/api/reviews", raw=b"{not json")[1]["error"].startswith("the body is not valid JSON")
    form = server.request(
        "POST", "/api/reviews", raw=b"site_id=RM-001", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert form[0] == 415
    foreign = server.request("POST", "/api/reviews", decision(), headers={"Origin": "http://evil.example"})
    assert foreign[0] == 403 and "evil.example" in foreign[1]["error"]
    rebound = server.request("POST", "/api/reviews", decision(), headers={"Host": "attacker.example:80"})
    assert rebound[0] == 403
    assert not server.reviews.exists()


def test_concurrent_reviewers_lose_nothing(server):
    threads, per_thread = 8, 6
    statuses: list[int] = []
    lock = threading.Lock()

    def post(worker: int) -> None:
        for i in range(per_thread):
            site_id = list(SITES)[(worker + i) % len(SITES)]
            status, _ = server.request(
                "POST", "/api/reviews", decision(site_id=site_id, note=f"w{worker}-{i}", reviewer=f"R{worker}")
            )
            with lock:
                statuses.append(status)

    workers = [threading.Thread(target=post, args=(worker,)) for worker in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(timeout=60)
    accepted, quarantined = read_reviews(server.reviews)
    assert statuses == [201] * threads * per_thread
    assert len(quarantined) == 0
    assert sorted(accepted["note"]) == sorted(f"w{w}-{i}" for w in range(threads) for i in range(per_thread))


def test_reviews_file_defaults_to_the_recorded_data_dir(tmp_path):
    out, drop = tmp_path / "out", tmp_path / "drop"
    drop.mkdir()
    write_inventory(out, data_dir=drop)
    assert resolve_reviews_path(out, None) == drop / "reviews.csv"
    assert resolve_reviews_path(out, tmp_path / "mine.csv") == (tmp_path / "mine.csv").resolve()


@pytest.mark.parametrize(
    ("data_dir", "message"),
    [
        (None, "records no data directory (run_metadata key 'data_dir')"),
        ("gone", "does not exist here; pass --reviews FILE"),
    ],
)
def test_without_a_usable_data_dir_reviews_must_be_given(tmp_path, data_dir, message):
    out = tmp_path / "out"
    write_inventory(out, data_dir=tmp_path / data_dir if data_dir else None)
    with pytest.raises(ReviewServerError, match=r"pass --reviews FILE"):
        resolve_reviews_path(out, None)
    with pytest.raises(ReviewServerError, match=message.replace("(", r"\(").replace(")", r"\)")):
        resolve_reviews_path(out, None)


def test_cli_review_fails_clearly_without_an_inventory_or_data_dir(tmp_path, capsys):
    assert main(["review", "--out", str(tmp_path / "empty"), "--port", "0"]) == 1
    assert "inventory.gpkg does not exist; publish an inventory first" in capsys.readouterr().err
    write_inventory(tmp_path / "out")
    assert main(["review", "--out", str(tmp_path / "out"), "--port", "0"]) == 1
    assert "pass --reviews FILE" in capsys.readouterr().err


def test_run_summary_names_the_review_map(tmp_path, capsys):
    out = tmp_path / "out"
    gpkg = write_inventory(out)
    pyogrio.read_dataframe(gpkg, layer="sites_ranked", read_geometry=False).to_csv(
        out / "sites_ranked.csv", index=False
    )
    _print_summary(out, synthetic=True)
    assert "report.html" not in capsys.readouterr().out  # no page, no line
    (out / "report.html").write_text("<html></html>")
    _print_summary(out, synthetic=True)
    assert f"{out / 'report.html'}  (review map; `residua review --out {out}`" in capsys.readouterr().out
