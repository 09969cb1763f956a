"""Kafka security settings become the right options for Faust, kafka-python and aiokafka."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import faust
import pytest
from aiokafka import AIOKafkaProducer
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth
from kafka import KafkaAdminClient

from config.settings import Settings
from streams.kafka.security import client_options, faust_credentials, secrets, tls_context

CA_FILE = ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt"
PASSWORD = "correct horse battery staple"


def sasl_ssl(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_username": "churnwatch",
        "sasl_password": PASSWORD,
        "ssl_cafile": CA_FILE,
        **overrides,
    }
    return Settings(**values)


def test_plaintext_needs_nothing() -> None:
    settings = Settings()
    assert faust_credentials(settings) is None
    assert client_options(settings) == {"security_protocol": "PLAINTEXT"}
    assert tls_context(settings) is None
    assert secrets(settings) == []


def test_tls_verifies_the_brokers_certificates_and_names() -> None:
    context = tls_context(sasl_ssl())
    assert context is not None
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname


def test_sasl_ssl_for_faust() -> None:
    credentials = faust_credentials(sasl_ssl())
    assert isinstance(credentials, faust.SASLCredentials)
    options = credentials_to_aiokafka_auth(credentials)  # what Faust gives aiokafka
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert options["sasl_plain_username"] == "churnwatch"
    assert options["sasl_plain_password"] == PASSWORD
    assert isinstance(options["ssl_context"], ssl.SSLContext)
    assert PASSWORD not in repr(credentials)


@pytest.mark.parametrize(
    ("protocol", "mechanism"), [("SASL_PLAINTEXT", "PLAIN"), ("SSL", None), ("SASL_SSL", "PLAIN")]
)
def test_every_protocol_for_faust(protocol: str, mechanism: str | None) -> None:
    overrides: dict[str, Any] = {"security_protocol": protocol}
    if mechanism is None:
        overrides |= {"sasl_username": None, "sasl_password": None}
    else:
        overrides["sasl_mechanism"] = mechanism
    if protocol == "SASL_PLAINTEXT":
        overrides["ssl_cafile"] = None
    options = credentials_to_aiokafka_auth(faust_credentials(sasl_ssl(**overrides)))
    assert options["security_protocol"] == protocol
    assert ("ssl_context" in options and options["ssl_context"] is not None) == (
        protocol != "SASL_PLAINTEXT"
    )


def test_the_same_options_build_kafka_python_and_aiokafka_clients() -> None:
    options = client_options(sasl_ssl())
    assert options["sasl_plain_password"] == PASSWORD
    # Both libraries accept the options (a wrong name raises); neither connects here.
    admin_config = dict(KafkaAdminClient.DEFAULT_CONFIG)
    assert set(options) <= set(admin_config)

    async def build() -> AIOKafkaProducer:
        return AIOKafkaProducer(bootstrap_servers="127.0.0.1:1", **options)

    producer = asyncio.run(build())
    assert producer.client._security_protocol == "SASL_SSL"
    assert producer.client._sasl_mechanism == "SCRAM-SHA-512"


def test_the_password_is_the_only_secret() -> None:
    assert secrets(sasl_ssl()) == [PASSWORD]
