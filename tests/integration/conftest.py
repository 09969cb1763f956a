"""Integration-test fixtures: a real single-node Kafka broker started by ``scripts/kafka-local``.

``kafka_broker`` (session scope) starts a fresh KRaft broker on free 127.0.0.1 ports in a
per-session state directory, yields its bootstrap address (``"127.0.0.1:<port>"``) and stops it
(deleting its data) at the end of the session. If the broker cannot be started the fixture
*fails* the requesting tests with the script output and the broker log tail; it never skips.

Environment:
    CHURNWATCH_TEST_KAFKA_BOOTSTRAP   use this already-running cluster instead (nothing is
                                      started or stopped), e.g. ``broker-1:9092``
    CHURNWATCH_TEST_KAFKA_PORT        client port for the local broker (default: a free port)
    CHURNWATCH_TEST_KAFKA_CONTROLLER_PORT  KRaft controller port (default: a free port)
    KAFKA_LIBS_DIR, KAFKA_MAVEN_REPO, KAFKA_VERSION, ...  passed through to scripts/kafka-local

Tests using the fixture are marked ``@pytest.mark.kafka``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
KAFKA_LOCAL = REPO_ROOT / "scripts" / "kafka-local"

# Generous: the very first start also fetches ~47 MB of jars with Maven. The script applies its
# own readiness timeout (KAFKA_START_TIMEOUT, default 90 s) once the JVM is launched.
START_TIMEOUT_S = 900
STOP_TIMEOUT_S = 120
LOG_TAIL_LINES = 60


def _free_port(exclude: set[int] | None = None) -> int:
    """A currently free TCP port on 127.0.0.1 (the kernel's choice)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if not exclude or port not in exclude:
            return port


def _env_port(name: str) -> int | None:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    try:
        port = int(raw)
    except ValueError:
        pytest.fail(f"{name}={raw!r} is not a port number", pytrace=False)
    if not 0 < port < 65536:
        pytest.fail(f"{name}={raw!r} is not a port number", pytrace=False)
    return port


def _log_tail(home: Path) -> str:
    parts = []
    for name in ("server.log", "kafka.out", "format.log", "maven.log"):
        path = home / "logs" / name
        if path.is_file() and path.stat().st_size > 0:
            lines = path.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
            parts.append(f"----- last {len(lines)} lines of {path} -----\n" + "\n".join(lines))
    return "\n".join(parts) if parts else f"(no logs under {home / 'logs'})"


def _text(output: str | bytes | None) -> str:
    if isinstance(output, bytes):  # TimeoutExpired carries bytes even with text=True
        return output.decode(errors="replace")
    return output or ""


def _run(action: str, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(KAFKA_LOCAL), action],
        env=env,
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap address (``"127.0.0.1:<port>"``) of a fresh local Kafka broker for this session."""
    external = os.environ.get("CHURNWATCH_TEST_KAFKA_BOOTSTRAP", "").strip()
    if external:
        yield external
        return

    port = _env_port("CHURNWATCH_TEST_KAFKA_PORT") or _free_port()
    controller_port = _env_port("CHURNWATCH_TEST_KAFKA_CONTROLLER_PORT") or _free_port({port})
    home = tmp_path_factory.mktemp("kafka-local")
    env = {
        **os.environ,
        "KAFKA_PORT": str(port),
        "KAFKA_CONTROLLER_PORT": str(controller_port),
        "KAFKA_HOME_DIR": str(home),
        "KAFKA_KEEP_DATA": "0",
        # If this pytest process dies without running the finalizer (kill -9, crash), the
        # script's watchdog stops the broker instead of leaving it running.
        "KAFKA_EXIT_WITH_PID": str(os.getpid()),
    }

    try:
        started = _run("start", env, START_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        _run("stop", env, STOP_TIMEOUT_S)
        pytest.fail(
            f"scripts/kafka-local start did not finish within {START_TIMEOUT_S}s\n"
            f"{_text(exc.stdout)}{_text(exc.stderr)}\n{_log_tail(home)}",
            pytrace=False,
        )
    if started.returncode != 0:
        _run("stop", env, STOP_TIMEOUT_S)  # in case a half-started JVM is left
        pytest.fail(
            f"could not start the local Kafka broker (scripts/kafka-local start exited "
            f"{started.returncode}, port {port}, controller port {controller_port}, "
            f"state {home})\n--- stdout ---\n{started.stdout}--- stderr ---\n{started.stderr}\n"
            f"{_log_tail(home)}",
            pytrace=False,
        )
    print(started.stdout, end="")  # shown by pytest -s / on failure: where the logs are

    try:
        yield f"127.0.0.1:{port}"
    finally:
        stopped = _run("stop", env, STOP_TIMEOUT_S)
        if stopped.returncode != 0:
            warnings.warn(
                f"scripts/kafka-local stop exited {stopped.returncode}:\n"
                f"{stopped.stdout}{stopped.stderr}",
                stacklevel=1,
            )
