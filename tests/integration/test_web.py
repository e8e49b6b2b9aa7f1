"""`smsledger serve` as support and analysts use it: a real server process on loopback, read
over HTTP and in headless Chromium (Debian's), with hostile ids in the data and the URLs."""

from __future__ import annotations

import html
import importlib.util
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.integration.conftest import service_unavailable
from tests.scenario import Scenario, run

if not all(importlib.util.find_spec(name) for name in ("starlette", "uvicorn", "jinja2")):
    if os.environ.get("SMSLEDGER_REQUIRE_SERVICES") == "1":
        pytest.fail("the web view's packages are missing: pip install -e '.[web]'",
                    pytrace=False)
    pytest.skip("the web view needs the 'web' extra", allow_module_level=True)

SCRIPT = "<script>alert(1)</script>"
INJECTION = "' OR 1=1 --"
ODD_ORDER = "o/../1 ?#x"
PAGES = ("/", "/balances", "/providers", "/daily", "/money", "/history/a1", "/search?q=o1")
DAYS = 3


@dataclass
class Served:
    url: str
    store: Path


def traffic() -> Scenario:
    """Three days of orders for a1 (an SMS every day, one order a day without one), and two
    accounts whose ids are an HTML script and an SQL injection, each with one order."""
    scenario = Scenario()
    scenario.account()
    scenario.deposit(10_000)
    for day in range(DAYS):
        scenario.at(timedelta(days=day, hours=9))
        for n in range(3):
            order = f"o{day * 3 + n + 1}"
            scenario.order(order, 100 + 10 * day)
            scenario.issue(order, provider=("p1", "p2")[n % 2])
            if n < 2:
                scenario.sms(order)
                scenario.customer("order.completed", order)
            else:
                scenario.customer("order.cancel_requested", order)
    for account, order in ((SCRIPT, ODD_ORDER), (INJECTION, "inj-order")):
        scenario.account(account)
        scenario.deposit(500, account=account)
        scenario.order(order, 50, account=account)
    return scenario


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("web")
    store = folder / "ledger.db"
    run(traffic(), store=f"sqlite:///{store}").ledger.close()
    process = subprocess.Popen(
        [sys.executable, "-m", "smsledger.infra.cli", "serve", "--port", "0", "--store",
         f"sqlite:///{store}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = process.stdout.readline() if process.stdout else ""
        found = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert found, f"no address announced: {line!r} {process.stderr and process.stderr.read()}"
        yield Served(found.group(0).rstrip("/"), store)
    finally:
        process.terminate()
        process.wait(timeout=10)


def fetch(url: str, method: str = "GET", headers: dict[str, str] | None = None
          ) -> tuple[int, str, dict[str, str]]:
    request = urllib.request.Request(url, method=method, headers=headers or {},
                                     data=b"x=1" if method in ("POST", "PUT", "PATCH") else None)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), dict(error.headers)


def event_count(store: Path) -> int:
    import sqlite3

    with sqlite3.connect(store) as db:
        return int(db.execute("SELECT COUNT(*) FROM stored_events").fetchone()[0])


def test_every_page_answers_get_and_refuses_every_write(served: Served) -> None:
    events = event_count(served.store)
    for path in PAGES:
        status, body, headers = fetch(served.url + path)
        assert status == 200, path
        assert headers["content-security-policy"].startswith("default-src 'none';")
        assert "<script" not in body
        for method in ("POST", "PUT", "DELETE", "PATCH"):
            status, _, headers = fetch(served.url + path, method)
            assert status == 405, (method, path)
            assert headers["allow"] == "GET, HEAD"
    assert event_count(served.store) == events


def test_a_hostile_id_in_the_data_or_the_url_is_shown_as_text_and_selects_only_itself(
    served: Served,
) -> None:
    status, body, _ = fetch(f"{served.url}/history/{quote(SCRIPT, safe='')}")
    assert status == 200
    assert "<script" not in body
    assert html.escape(SCRIPT, quote=False) in body
    href = re.search(r'href="(/history/[^"]*)">' + re.escape(html.escape(ODD_ORDER)), body)
    assert href, "the account's order is linked"
    status, order_page, _ = fetch(served.url + html.unescape(href.group(1)))
    assert status == 200
    assert "order <span" in order_page
    assert html.escape(ODD_ORDER) in order_page

    status, body, _ = fetch(f"{served.url}/history/{quote(INJECTION, safe='')}")
    assert status == 200
    assert "inj-order" in body
    assert ">o1<" not in body  # an injection would have listed every account's orders

    status, body, _ = fetch(f"{served.url}/history/{quote('x' + INJECTION, safe='')}")
    assert status == 404
    assert f"called “x{INJECTION}”" in html.unescape(body)

    status, body, _ = fetch(f"{served.url}/daily?provider={quote(INJECTION)}")
    assert status == 200
    assert "(no rows)" in body
    status, body, _ = fetch(f"{served.url}/daily?since={quote(SCRIPT)}")
    assert status == 400
    assert "<script" not in body
    assert "&lt;script&gt;" in body


def test_a_request_naming_another_host_is_refused(served: Served) -> None:
    status, _, _ = fetch(served.url + "/", headers={"Host": "ledger.example.com"})
    assert status == 400


def test_search_leads_to_the_history_of_what_it_finds(served: Served) -> None:
    status, body, _ = fetch(f"{served.url}/search?q=o3")
    assert status == 200
    assert "order <span" in body
    assert "Order.Cancelled" in body
    assert "cancelled" in body


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    service_unavailable("Chromium is not installed (apt-get install chromium)")


def browse(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [chromium(), "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--no-first-run", f"--user-data-dir={profile}", *args, url],
            capture_output=True, text=True, timeout=90,
        )


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_the_overview_renders_in_chromium_with_a_bar_and_a_point_a_day(served: Served) -> None:
    dom = browse(served.url + "/", "--dump-dom").stdout

    bars = re.findall(r'<rect class="revenue" data-day="([\d-]+)"', dom)
    assert bars == ["2026-06-01", "2026-06-02", "2026-06-03"]
    heights = [float(h) for h in re.findall(r'<rect class="revenue" [^>]*height="([\d.]+)"', dom)]
    assert heights[0] < heights[1] < heights[2]  # prices rise by the day: so does revenue
    path = re.search(r'<path class="sms-rate" d="([^"]+)"', dom)
    assert path
    assert path.group(1).count("L") == DAYS - 1
    assert len(re.findall(r'<circle class="sms-rate-point"', dom)) == DAYS
    # Each day two of three issued numbers got an SMS.
    assert dom.count("SMS rate 66.7% (2 of 3 issued)") == DAYS


def test_pages_screenshot_in_chromium(served: Served, tmp_path: Path) -> None:
    folder = Path(os.environ.get("SMSLEDGER_SCREENSHOTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    for name, path in (("overview", "/"), ("account", "/history/a1"),
                       ("hostile", f"/history/{quote(SCRIPT, safe='')}")):
        shot = folder / f"{name}.png"
        done = browse(served.url + path, f"--screenshot={shot}", "--window-size=1280,1000")
        assert done.returncode == 0, done.stderr[-500:]
        assert png_size(shot) == (1280, 1000)
        assert shot.stat().st_size > 20_000  # a drawn page, not a blank one

    dom = browse(f"{served.url}/history/{quote(SCRIPT, safe='')}", "--dump-dom").stdout
    assert "<script" not in dom
    assert f"account <span class=\"rule\">{html.escape(SCRIPT, quote=False)}</span>" in dom
