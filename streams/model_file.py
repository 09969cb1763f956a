"""The population model file: read and written as JSON (``churnwatch fit``, ``--model``).

The model itself is :class:`models.population.PopulationModel`; this module is the file
format around it (``schemas/population-model.schema.json``). Every entry point loads the
model once and passes it to the engines it builds, so all of them decide alike.
"""

from __future__ import annotations

from pathlib import Path

import orjson

from models.population import PopulationModel
from streams.errors import UsageError


def load_model(path: str | Path | None) -> PopulationModel | None:
    """The model in ``path``, or None (the policy's starting prior) without a path.

    Raises :class:`UsageError` with a clear message when the file is unusable.
    """
    if path is None:
        return None
    try:
        document = orjson.loads(Path(path).read_bytes())
    except OSError as exc:
        raise UsageError(f"cannot read the model {path}: {exc.strerror}") from None
    except orjson.JSONDecodeError as exc:
        raise UsageError(f"the model {path} is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise UsageError(f"the model {path} is not a JSON object")
    try:
        return PopulationModel.from_dict(document)
    except ValueError as exc:
        raise UsageError(f"the model {path}: {exc}") from None


def encode_model(model: PopulationModel) -> bytes:
    """The model as an indented JSON document with a final newline."""
    return orjson.dumps(model.to_dict(), option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)
