"""Settings for running the worker: web address, logs, Kafka security; secrets stay secret."""

from __future__ import annotations

import os
import re
import socket
import ssl
from pathlib import Path

import pytest

from config.settings import ConfigError, Settings, load_settings

SECRET = "hunter2-not-for-logs"
DOCS = Path(__file__).resolve().parents[3] / "docs"
# A CA bundle that exists on Debian; the content only has to be valid PEM.
CA_FILE = ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("CHURNWATCH_")]:
        monkeypatch.delenv(name)


def test_defaults_are_plaintext_json_logs_and_a_loopback_web_server() -> None:
    settings = load_settings()
    assert settings.security_protocol == "PLAINTEXT"
    assert settings.sasl_password is None
    assert settings.log_format == "json"
    assert settings.canonical_url() == "http://127.0.0.1:6066"


def test_sasl_ssl_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHURNWATCH_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("CHURNWATCH_SASL_MECHANISM", "SCRAM-SHA-256")
    monkeypatch.setenv("CHURNWATCH_SASL_USERNAME", "churnwatch")
    monkeypatch.setenv("CHURNWATCH_SASL_PASSWORD", SECRET)
    monkeypatch.setenv("CHURNWATCH_SSL_CAFILE", CA_FILE)
    settings = load_settings()
    assert settings.sasl_password is not None
    assert settings.sasl_password.get_secret_value() == SECRET
    assert SECRET not in repr(settings) and SECRET not in str(settings)
    assert SECRET not in settings.model_dump_json()


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"security_protocol": "SASL_SSL", "sasl_username": "u"}, "needs sasl_username and"),
        ({"sasl_username": "u", "sasl_password": "p"}, "security_protocol is PLAINTEXT"),
        ({"ssl_cafile": CA_FILE}, "uses no TLS"),
        ({"security_protocol": "SSL", "ssl_cafile": "/no/such/ca.pem"}, "no such file"),
        ({"security_protocol": "TLS"}, "security_protocol = 'TLS'"),
        ({"sasl_mechanism": "GSSAPI"}, "sasl_mechanism = 'GSSAPI'"),
        ({"web_canonical_url": "worker-1:6066"}, "must look like http://host:port"),
        ({"log_format": "xml"}, "log_format = 'xml'"),
    ],
)
def test_inconsistent_security_and_bad_values_are_refused(
    tmp_path: Path, values: dict[str, str], fragment: str
) -> None:
    path = tmp_path / "churnwatch.toml"
    path.write_text("".join(f'{key} = "{value}"\n' for key, value in values.items()))
    with pytest.raises(ConfigError) as failure:
        load_settings(path)
    assert fragment in str(failure.value)


def test_the_password_is_never_in_an_error(tmp_path: Path) -> None:
    path = tmp_path / "churnwatch.toml"
    # A rule across keys fails (no username); pydantic's input is every value.
    path.write_text(f'security_protocol = "SASL_SSL"\nsasl_password = "{SECRET}"\n')
    with pytest.raises(ConfigError) as across:
        load_settings(path)
    # The password itself is invalid (not a string).
    path.write_text(f'security_protocol = "SASL_SSL"\nsasl_password = ["{SECRET}"]\n')
    with pytest.raises(ConfigError) as itself:
        load_settings(path)
    for failure in (across, itself):
        assert SECRET not in str(failure.value)
    assert "sasl_password = '**********'" in str(itself.value)


def test_canonical_url_is_reachable_from_other_workers() -> None:
    assert Settings(web_host="0.0.0.0", web_port=7000).canonical_url() == (
        f"http://{socket.gethostname()}:7000"
    )
    explicit = Settings(web_host="0.0.0.0", web_canonical_url="http://worker-2:6066")
    assert explicit.canonical_url() == "http://worker-2:6066"


def test_every_worker_setting_is_documented() -> None:
    documented = (DOCS / "configuration.md").read_text() + (DOCS / "worker.md").read_text()
    first_cells = re.findall(r"^\|([^|]+)\|", documented, flags=re.M)
    names = {name for cell in first_cells for name in re.findall(r"`(\w+)`", cell)}
    for field in Settings.model_fields:
        if field != "detection":
            assert field in names, f"{field} missing from docs/configuration.md and worker.md"
