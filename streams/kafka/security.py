"""Kafka security from the settings, in the form each client library wants it.

One source (``security_protocol``, ``sasl_mechanism``, ``sasl_username``,
``sasl_password``, ``ssl_cafile``), three consumers: Faust's ``broker_credentials`` (the
worker's consumer, producers and admin calls), kafka-python's keyword arguments
(``topics create`` and the worker's start-up checks) and aiokafka's (``produce``).

TLS verifies the brokers' certificates and host names against ``ssl_cafile``, or the
system's CAs when it is not set. The password is read from its ``SecretStr`` only here, at
the moment a client is built; it is never logged (:mod:`streams.logs` also masks it should
a library log its configuration).
"""

from __future__ import annotations

import ssl
from typing import Any

import faust
from faust.types.auth import CredentialsT

from config.settings import Settings


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    """A client TLS context verifying the brokers, or None without TLS."""
    if settings.security_protocol not in ("SSL", "SASL_SSL"):
        return None
    cafile = str(settings.ssl_cafile) if settings.ssl_cafile is not None else None
    return ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile)


def _password(settings: Settings) -> str | None:
    secret = settings.sasl_password
    return secret.get_secret_value() if secret is not None else None


def faust_credentials(settings: Settings) -> CredentialsT | None:
    """Faust's ``broker_credentials``: None for PLAINTEXT."""
    protocol = settings.security_protocol
    if protocol == "PLAINTEXT":
        return None
    context = tls_context(settings)
    if protocol == "SSL":
        return faust.SSLCredentials(context)
    return faust.SASLCredentials(
        username=settings.sasl_username,
        password=_password(settings),
        mechanism=settings.sasl_mechanism,
        ssl_context=context,  # None: SASL_PLAINTEXT, else SASL_SSL
    )


def client_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for kafka-python's and aiokafka's clients (same names in both)."""
    protocol = settings.security_protocol
    options: dict[str, Any] = {"security_protocol": protocol}
    context = tls_context(settings)
    if context is not None:
        options["ssl_context"] = context
    if protocol in ("SASL_PLAINTEXT", "SASL_SSL"):
        options["sasl_mechanism"] = settings.sasl_mechanism
        options["sasl_plain_username"] = settings.sasl_username
        options["sasl_plain_password"] = _password(settings)
    return options


def secrets(settings: Settings) -> list[str]:
    """Values that must never appear in any output."""
    password = _password(settings)
    return [password] if password else []
