"""The configuration reference lists every detection setting with its real default, and
every ``CHURNWATCH_*`` example in the documentation works as written."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from models.actions import CAUSES, DEFAULT_ACTIONS
from models.policy import Policy
from models.population import PopulationModel
from streams.cli import main
from streams.config_commands import MASK
from streams.model_file import encode_model

DOC = Path(__file__).resolve().parents[3] / "docs" / "configuration.md"


def test_every_policy_field_is_documented_with_its_default() -> None:
    rows = {
        match.group(1): match.group(2)
        for match in re.finditer(r"^\| `(\w+)` \| `([^`]*)` \|", DOC.read_text(), re.M)
    }
    for field in dataclasses.fields(Policy):
        assert field.name in rows, f"{field.name} missing from docs/configuration.md"
        default = getattr(Policy(), field.name)
        documented = rows[field.name]
        if isinstance(default, tuple):
            expected = str([[name, int(v)] for name, v in default]).replace("'", '"')
            assert documented == expected, field.name
        elif isinstance(default, Mapping):
            # Overrides of a table whose defaults are documented cell by cell (below).
            assert documented == "{}", field.name
        else:
            assert documented == repr(default), field.name


# --- every CHURNWATCH_* example in the docs works as written ----------------------------------

REPO = DOC.parents[1]
_ASSIGNMENT = re.compile(r"\bCHURNWATCH_([A-Z0-9_]+)=(\"[^\"]*\"|'[^']*'|[^\s`;)]+)")
_NOT_SETTINGS = ("CONFIG", "TEST_")


def _documented_examples() -> list[tuple[str, dict[str, str]]]:
    """(where, {variable suffix: shell value}) per fenced block or inline code span."""
    examples = []
    for path in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        text = path.read_text()
        blocks = re.findall(r"^```[^\n]*\n(.*?)^```", text, re.M | re.S)
        spans = re.findall(r"`([^`\n]+)`", re.sub(r"^```.*?^```", "", text, flags=re.M | re.S))
        for number, snippet in enumerate(blocks + spans):
            found = {
                name: value
                for name, value in _ASSIGNMENT.findall(snippet)
                if not name.startswith(_NOT_SETTINGS)
            }
            if found:
                examples.append((f"{path.name} example {number}", found))
    return examples


def _shell_value(raw: str) -> str:
    value = raw[1:-1] if raw[:1] in "'\"" and raw[-1:] == raw[:1] else raw
    # A command substitution reads a secret from a file: any text stands in for it.
    return re.sub(r"\$\([^)]*\)", "example-secret", value)


def test_the_documentation_has_environment_examples() -> None:
    names = {name for _, found in _documented_examples() for name in found}
    assert {"DETECTION__LOST_RISK", "DETECTION__SEGMENTS", "SASL_PASSWORD"} <= names


@pytest.mark.parametrize(
    ("where", "variables"), _documented_examples(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_documented_environment_example_runs(
    where: str,
    variables: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    expected: dict[str, Any] = {}
    for name, raw in variables.items():
        value = _shell_value(raw)
        if name == "SSL_CAFILE":  # must be a readable file: one stands in for the CA bundle
            (tmp_path / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
            value = str(tmp_path / "ca.pem")
        if name == "MODEL":  # must be a readable file: the starting prior stands in for a fit
            (tmp_path / "model.json").write_bytes(
                encode_model(PopulationModel.from_policy(Policy()))
            )
            value = str(tmp_path / "model.json")
        monkeypatch.setenv(f"CHURNWATCH_{name}", value)
        try:
            expected[name] = json.loads(value)
        except ValueError:
            expected[name] = value
    status = main(["config", "show"])
    captured = capsys.readouterr()
    assert status == 0, f"{where}: {captured.err}"
    shown = json.loads(captured.out)
    for name, value in expected.items():
        node: Any = shown
        for part in name.lower().split("__"):
            node = node[part]
        if name == "SASL_PASSWORD":
            value = MASK
        assert node == value, f"{where}: CHURNWATCH_{name}"


def test_the_default_action_table_is_documented_cell_by_cell() -> None:
    text = DOC.read_text()
    header = re.search(r"^\| decision \|(.*)\|$", text, re.M)
    assert header is not None
    causes = [c.strip().strip("`") for c in header.group(1).split("|")]
    assert causes == list(CAUSES)
    for kind, row in DEFAULT_ACTIONS.items():
        line = re.search(rf"^\| `{kind}` \|(.*)\|$", text, re.M)
        assert line is not None, kind
        cells = [c.strip().strip("`") for c in line.group(1).split("|")]
        assert cells == [row[cause] for cause in CAUSES], kind
