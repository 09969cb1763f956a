"""A broker of a test's own, for tests that stop it or need listeners the session's lacks.

The session's broker (``conftest.kafka_broker``) is shared by every other test, which must
not see it go away. Like it, an own broker fails the test, never skips it, if it cannot
start; its data survives :meth:`OwnBroker.restart`, and the fixture deletes it at the end.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.conftest import START_TIMEOUT_S, STOP_TIMEOUT_S, _free_port, _log_tail, _run

SASL_USERNAME = "churnwatch"
SASL_PASSWORD = "churnwatch-local"


@dataclass
class OwnBroker:
    """``scripts/kafka-local`` on ports and a home directory of its own."""

    home: Path
    port: int
    controller_port: int
    sasl_ssl_port: int | None = None

    @property
    def address(self) -> str:
        """The PLAINTEXT bootstrap address."""
        return f"127.0.0.1:{self.port}"

    @property
    def ca_file(self) -> Path:
        """The throwaway CA that signed the SASL_SSL listener's certificate."""
        return self.home / "tls" / "ca.pem"

    def env(self, keep_data: bool = True) -> dict[str, str]:
        env = {
            **os.environ,
            "KAFKA_PORT": str(self.port),
            "KAFKA_CONTROLLER_PORT": str(self.controller_port),
            "KAFKA_HOME_DIR": str(self.home),
            "KAFKA_KEEP_DATA": "1" if keep_data else "0",
            "KAFKA_EXIT_WITH_PID": str(os.getpid()),
        }
        if self.sasl_ssl_port is not None:
            env.update(
                KAFKA_SASL_SSL_PORT=str(self.sasl_ssl_port),
                KAFKA_SASL_USERNAME=SASL_USERNAME,
                KAFKA_SASL_PASSWORD=SASL_PASSWORD,
            )
        return env

    def start(self) -> None:
        started = _run("start", self.env(), START_TIMEOUT_S)
        if started.returncode != 0:
            pytest.fail(
                f"scripts/kafka-local start exited {started.returncode}\n{started.stdout}"
                f"{started.stderr}\n{_log_tail(self.home)}",
                pytrace=False,
            )

    def stop(self, keep_data: bool = True) -> None:
        stopped = _run("stop", self.env(keep_data), STOP_TIMEOUT_S)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr

    def kill(self) -> None:
        """SIGKILL the broker's JVM (no clean shutdown); ``start`` then recovers its logs."""
        pid = int((self.home / "kafka.pid").read_text())
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while Path(f"/proc/{pid}").exists():
            assert time.monotonic() < deadline, f"broker pid {pid} still there after SIGKILL"
            time.sleep(0.1)


@contextmanager
def own_broker(home: Path, sasl_ssl: bool = False) -> Iterator[OwnBroker]:
    """A started broker in ``home``, stopped and its data deleted on exit."""
    port = _free_port()
    controller = _free_port({port})
    sasl_port = _free_port({port, controller}) if sasl_ssl else None
    broker = OwnBroker(home, port, controller, sasl_port)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop(keep_data=False)
