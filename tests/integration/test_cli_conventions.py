"""The command line's conventions, as a user meets them in a shell: --version, a closed
pipe, each subcommand's own options and usage, JSON summaries, whole output where no
terminal reads it, progress on a terminal only, and errors that say what is wrong."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.scenario import Scenario

CLI = [sys.executable, "-m", "smsledger.infra.cli"]
LONG_GARBAGE = b"{not json " + b"x" * 300 + b"\n"


def user_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SMSLEDGER_")}


def smsledger(*args: str, cwd: Path, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*CLI, *args], cwd=cwd, env=user_env(), input=stdin,
                          capture_output=True, timeout=120)


def succeed(*args: str, cwd: Path, stdin: bytes = b"") -> bytes:
    done = smsledger(*args, cwd=cwd, stdin=stdin)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout


def one_account() -> bytes:
    scenario = Scenario()
    scenario.account("a1")
    scenario.deposit(500, account="a1", deposit="dep-1")
    scenario.order("o-1", 100, account="a1")
    return b"\n".join(scenario.lines()) + b"\n"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("conventions") / "ledger.db"
    succeed("ingest", "-", "--store", f"sqlite:///{path}", cwd=path.parent,
            stdin=one_account() + LONG_GARBAGE)
    return path


def on_store(store: Path, *args: str) -> list[str]:
    return [*args, "--store", f"sqlite:///{store}"]


def test_version_names_the_installed_package(tmp_path: Path) -> None:
    assert succeed("--version", cwd=tmp_path).decode().strip() == (
        f"smsledger {version('smsledger')}")


def test_a_closed_pipe_ends_the_command_without_a_traceback(store: Path) -> None:
    reader, writer = os.pipe()
    os.close(reader)  # the reader (`| head`) has gone before anything is written
    try:
        done = subprocess.run([*CLI, *on_store(store, "query", "orders", "--json")],
                              cwd=store.parent, env=user_env(), stdout=writer,
                              stderr=subprocess.PIPE, timeout=120)
    finally:
        os.close(writer)
    assert done.stderr == b""
    assert done.returncode == 141


@pytest.mark.parametrize("command", ["broker", "produce", "topics"])
def test_commands_that_open_no_store_offer_no_store_options(command: str,
                                                            tmp_path: Path) -> None:
    shown = succeed(command, "--help", cwd=tmp_path).decode()
    assert "--store" not in shown
    assert "--policy" not in shown


def test_only_the_consumer_offers_a_group_and_a_batch_size(tmp_path: Path) -> None:
    assert "--group" in succeed("consume", "--help", cwd=tmp_path).decode()
    for command in ("relay", "produce", "topics"):
        shown = succeed(command, "--help", cwd=tmp_path).decode()
        assert "--group" not in shown
        assert "--batch-size" not in shown


def test_an_unknown_option_shows_the_subcommands_usage(store: Path) -> None:
    done = smsledger(*on_store(store, "query", "balances", "--colour"), cwd=store.parent)
    said = done.stderr.decode()
    assert done.returncode == 2
    assert said.startswith("usage: smsledger query ")
    assert said.strip().splitlines()[-1] == (
        "smsledger query: error: unrecognized arguments: --colour")


def test_ingest_summary_as_json_counts_every_line(tmp_path: Path) -> None:
    out = succeed("ingest", "-", "--json", "--store", f"sqlite:///{tmp_path}/j.db",
                  cwd=tmp_path, stdin=one_account() + LONG_GARBAGE)
    counts = orjson.loads(out)
    assert counts["applied"] == 3
    assert counts["dead_lettered"] == 1


def test_audit_report_as_json(store: Path) -> None:
    report = orjson.loads(succeed(*on_store(store, "audit", "--json"), cwd=store.parent))
    assert report["clean"] is True
    assert report["problems"] == []
    assert report["accounts"] == 1
    assert report["totals"]["deposited"] == 500


def test_output_read_by_a_program_is_never_cut(store: Path) -> None:
    table = succeed(*on_store(store, "query", "dead-letters"), cwd=store.parent).decode()
    assert LONG_GARBAGE.strip().decode() in table
    assert "…" not in table


def run_on_a_terminal(args: list[str], cwd: Path) -> str:
    """The command's stdout and stderr as a terminal of 200 columns shows them."""
    primary, secondary = pty.openpty()
    process = subprocess.Popen([*CLI, *args], cwd=cwd, env=user_env(), stdin=subprocess.DEVNULL,
                               stdout=secondary, stderr=secondary)
    os.close(secondary)
    chunks = []
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # EIO: the terminal's other side closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(primary)
    assert process.wait(timeout=120) == 0
    return b"".join(chunks).decode()


def test_a_terminal_sees_long_cells_cut_with_an_ellipsis(store: Path) -> None:
    shown = run_on_a_terminal(on_store(store, "query", "dead-letters"), store.parent)
    assert "…" in shown
    assert LONG_GARBAGE.strip().decode() not in shown
    assert "(1 row)" in shown


def test_progress_is_not_written_where_no_terminal_shows_it(tmp_path: Path) -> None:
    done = smsledger("ingest", "-", "--store", f"sqlite:///{tmp_path}/p.db", cwd=tmp_path,
                     stdin=one_account())
    assert done.returncode == 0
    assert done.stderr == b""


def test_one_row_is_one_row(store: Path) -> None:
    table = succeed(*on_store(store, "query", "balances"), cwd=store.parent).decode()
    assert table.rstrip().endswith("(1 row)")


@pytest.mark.parametrize(
    ("as_of", "said"),
    [
        ("2026-06-01T10:00:00", "has no UTC offset; add Z (UTC) or +HH:MM"),
        ("2026-06-01", "is a date without a time of day"),
        ("yesterday", "is not an RFC 3339 time; write it like 2026-06-01T10:00:00Z"),
    ],
)
def test_a_bad_as_of_time_says_what_is_wrong(store: Path, as_of: str, said: str) -> None:
    done = smsledger(*on_store(store, "history", "a1", "--as-of", as_of), cwd=store.parent)
    assert done.returncode == 2
    assert said in done.stderr.decode()


def test_history_of_an_unknown_id_says_so(store: Path) -> None:
    done = smsledger(*on_store(store, "history", "nobody"), cwd=store.parent)
    assert done.returncode == 2
    assert done.stderr.decode().strip() == (
        "smsledger history: no order, account or refund request called 'nobody' in this store")


def test_history_as_json_gives_structured_values(tmp_path: Path) -> None:
    scenario = Scenario()
    scenario.account("a1")
    scenario.deposit(700, account="a1", deposit="d1")
    scenario.send("refund.requested", request="r1", account="a1", reason="other", amount=900)
    store = tmp_path / "h.db"
    succeed("ingest", "-", "--store", f"sqlite:///{store}", cwd=tmp_path,
            stdin=b"\n".join(scenario.lines()))
    shown = orjson.loads(succeed(*on_store(store, "history", "r1", "--json"), cwd=tmp_path))
    decided = shown["events"][0]
    assert decided["event"] == "RefundRequest.Decided"
    data = decided["data"]
    assert data["allocations"] == [["d1", 700]]
    assert data["rules"] == ["request.amount_capped", "request.details_missing"]
    assert data["triggers"][0] == {"rule": "request.amount_capped", "requested": 900,
                                   "refundable": 700}
    assert data["details_due"] == "2026-06-15T10:00:02Z"
    assert data["requested"] == 900
    assert shown["state"]["rules"] == data["rules"]


@pytest.mark.kafka
def test_consume_summary_as_json(kafka_settings: Any, tmp_path: Path) -> None:
    from smsledger.infra.kafka.produce import produce_jsonl
    from smsledger.infra.kafka.topics import create_topics
    from tests.integration.kafka_support import cli_env

    create_topics(kafka_settings, partitions=1)
    produce_jsonl(one_account().splitlines(), kafka_settings)
    done = subprocess.run(
        [*CLI, "consume", "--json", "--stop-when-idle", "2", "--store",
         f"sqlite:///{tmp_path}/k.db"], env=cli_env(kafka_settings), capture_output=True,
        timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    report = orjson.loads(done.stdout)
    assert report["records"] == 3
    assert report["dead_letters_published"] == 0


@pytest.mark.kafka
def test_produce_explains_its_counts(kafka_settings: Any, tmp_path: Path) -> None:
    from smsledger.infra.kafka.topics import create_topics
    from tests.integration.kafka_support import cli_env

    create_topics(kafka_settings, partitions=3)
    stream = b"".join([
        b'{"id":"m1","type":"sms.delivered","at":"2026-06-01T10:00:05Z",'
        b'"data":{"order":"o-1","text":"1"}}\n',
        one_account(),
        b'{"id":"t1","type":"clock.tick","at":"2026-06-01T11:00:00Z","data":{}}\n',
        b"not json\n",
        b"\n",
    ])
    done = subprocess.run([*CLI, "produce", "-"], env=cli_env(kafka_settings), input=stream,
                          capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    said = done.stdout.decode().splitlines()
    topics = kafka_settings.topics
    assert said[0] == (f"read 6 lines, published 8 messages ({topics.customer} 6, "
                       f"{topics.payments} 1, {topics.provider} 1)")
    assert said[1] == (f"clock ticks: 1 line, each copied to all 3 partitions of "
                       f"{topics.customer} so that every consumer sees it (3 of the messages)")
    assert said[2].startswith("held until their order or refund request was read: 1 line,")
    assert said[3].startswith("unroutable: 1 line (")
    assert f"sent 1 to {topics.customer} partition 0, where the consumer dead-letters" in said[3]
    assert said[4] == "blank lines skipped: 1"


def test_bench_draws_each_phases_bar_with_rate_and_eta_on_a_terminal(tmp_path: Path) -> None:
    shown = run_on_a_terminal(["bench", "--scale", "16000", "--slice", "8000", "--scale-only"],
                              tmp_path)
    assert "bench: scale ingest, ingesting [" in shown
    assert "bench: scale rebuild, rebuilding [" in shown
    assert "ETA" in shown
    assert "/s" in shown
    assert "scale last_first_ratio" in shown


def test_bench_writes_no_bar_where_no_terminal_shows_it(tmp_path: Path) -> None:
    done = smsledger("bench", "--scale", "8000", "--slice", "4000", "--scale-only", "--json",
                     cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert b"ETA" not in done.stderr
    assert b"\r" not in done.stderr
