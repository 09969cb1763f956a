"""The worker, `topics create` and `produce` over SASL_SSL (SCRAM over TLS), on a real broker.

The broker is the test's own (:mod:`tests.integration.own_broker`) with a SASL_SSL listener
whose certificate a throwaway CA signed at start (``scripts/kafka-local``,
``KAFKA_SASL_SSL_PORT``). Every Churnwatch client speaks only to that listener: it
authenticates with SCRAM-SHA-512 and verifies the broker's certificate and host name
against the CA. The test reads the results back over PLAINTEXT.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.harness import REPO, deployment, replay_decisions, simulate
from tests.integration.own_broker import SASL_PASSWORD, SASL_USERNAME, OwnBroker, own_broker

pytestmark = pytest.mark.kafka


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnBroker]:
    with own_broker(tmp_path_factory.mktemp("kafka-sasl"), sasl_ssl=True) as started:
        yield started


def sasl_ssl(broker: OwnBroker, password: str = SASL_PASSWORD) -> dict[str, str]:
    return {
        "BROKER": f"kafka://127.0.0.1:{broker.sasl_ssl_port}",
        "SECURITY_PROTOCOL": "SASL_SSL",
        "SASL_MECHANISM": "SCRAM-SHA-512",
        "SASL_USERNAME": SASL_USERNAME,
        "SASL_PASSWORD": password,
        "SSL_CAFILE": str(broker.ca_file),
    }


def test_the_worker_decides_as_replay_over_sasl_ssl(broker: OwnBroker, tmp_path: Path) -> None:
    events = simulate(tmp_path, customers=150, days=200)
    # Two partitions, one population model: replay's decisions exactly (see
    # test_worker_parity.py).
    extra = sasl_ssl(broker)
    with deployment(broker.address, tmp_path, partitions=2, extra=extra) as d:
        # Made with `topics create` over SASL_SSL (the deployment's environment).
        assert set(d.topics.values()) <= set(d._admin.list_topics())
        expected = replay_decisions(d, events)
        d.produce(events, advance_to_end=True)
        worker = d.start_worker()
        d.wait_until_consumed(timeout=120, stall_seconds=60)
        assert worker.process.poll() is None, worker.log_text()[-3000:]
        assert len(expected) > 50
        decided = d.decisions()
        assert Counter(decided).most_common(1)[0][1] == 1
        assert set(decided) == set(expected)
        log = worker.log_text()
        assert f"Authenticated as {SASL_USERNAME} via SCRAM-SHA-512" in log
        assert SASL_PASSWORD not in log
        assert f"127.0.0.1:{broker.port}" not in log  # only the SASL_SSL listener was used


def test_a_wrong_password_is_refused_with_a_clear_message(
    broker: OwnBroker, tmp_path: Path
) -> None:
    with deployment(broker.address, tmp_path, extra=sasl_ssl(broker)) as d:
        done = subprocess.run(
            [sys.executable, "-m", "streams.cli", "topics", "create"],
            cwd=REPO,
            env=d.env(SASL_PASSWORD="not-the-password", BROKER_TIMEOUT_SECONDS="5"),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode != 0
    assert "not-the-password" not in done.stdout + done.stderr
    assert "cannot reach the Kafka broker" in done.stderr, done.stderr
    assert "with SASL_SSL a refused login" in done.stderr
