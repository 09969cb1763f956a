"""The configuration reference lists every detection setting with its real default."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from models.policy import Policy

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
        else:
            assert documented == repr(default), field.name
