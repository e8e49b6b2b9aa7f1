"""`bench --scale`: slices of the ingest cut at their boundaries, and the figures it reports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from smsledger.infra.bench.scale import Slice, scale_store, slices_from_marks


def test_slices_are_cut_at_each_boundary_between_batch_marks() -> None:
    # Batches of 300 messages, one a second; slices of 500 messages.
    marks = [(300, 1.0), (600, 2.0), (900, 3.0), (1200, 4.0), (1300, 5.0)]
    slices = slices_from_marks(marks, 500)
    assert [s.at for s in slices] == [500, 1000]
    assert slices[0].seconds == pytest.approx(500 / 300)
    assert slices[1].seconds == pytest.approx(1000 / 300 - 500 / 300)


def test_a_partial_last_slice_is_not_reported() -> None:
    assert slices_from_marks([(400, 1.0), (800, 2.0)], 500) == [Slice(500, 1.25)]


def test_marks_on_the_boundaries_give_the_batch_times() -> None:
    slices = slices_from_marks([(100, 0.5), (200, 2.0), (300, 2.5)], 100)
    assert [round(s.seconds, 6) for s in slices] == [0.5, 1.5, 0.5]
    assert slices[1].rate(100) == pytest.approx(100 / 1.5)


def test_bench_scale_reports_slices_audit_and_rebuild_in_its_json() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "smsledger.infra.cli", "bench", "--scale", "12000",
         "--slice", "4000", "--scale-only", "--json"],
        capture_output=True, check=False, timeout=300,
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    scale = orjson.loads(done.stdout)["scale"]
    assert scale["messages"] >= 12000
    assert [s["at"] for s in scale["slices"]] == [4000, 8000, 12000][: len(scale["slices"])]
    assert len(scale["slices"]) == scale["messages"] // 4000
    assert all(s["msgs_per_s"] > 0 for s in scale["slices"])
    assert scale["last_first_ratio"] == pytest.approx(
        scale["slices"][-1]["msgs_per_s"] / scale["slices"][0]["msgs_per_s"], rel=0.01)
    assert len(scale["raw_slices_s"]) == len(scale["slices"])
    assert scale["raw_last_first_ratio"] > 0
    assert scale["audit_clean"] is True
    assert scale["events"] > scale["messages"]
    for key in ("audit_s", "audit_peak_rss_mb", "rebuild_s", "rebuild_peak_rss_mb"):
        assert scale[key] > 0


def test_the_scale_store_is_a_sqlite_file_or_the_given_url_with_a_schema_of_its_own(
    tmp_path: Path,
) -> None:
    assert scale_store(tmp_path, None) == (f"sqlite:///{tmp_path / 'scale.db'}", None)
    url, schema = scale_store(tmp_path, "postgresql://u@h:5432/db")
    assert schema is not None
    assert url == f"postgresql://u@h:5432/db?schema={schema}"
    url, schema = scale_store(tmp_path, "postgresql://u@h/db?sslmode=disable")
    assert url == f"postgresql://u@h/db?sslmode=disable&schema={schema}"
    # A schema the user names is theirs: used, and not dropped after.
    assert scale_store(tmp_path, "postgresql://u@h/db?schema=mine") == (
        "postgresql://u@h/db?schema=mine", None)
