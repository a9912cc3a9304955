"""requirements.lock: agrees with the ranges, carries hashes, and is what setup installs."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import tomllib
from packaging.requirements import Requirement

from medlab import env

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"


def ranges(path: Path) -> list[Requirement]:
    lines = [ln.split("#")[0].strip() for ln in path.read_text().splitlines()]
    return [Requirement(ln) for ln in lines if ln and not ln.startswith("-")]


def test_every_range_is_locked_at_a_version_inside_it():
    locked = env.locked_versions(LOCK)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = ranges(ROOT / "requirements.txt") + [Requirement(r) for r in project["dependencies"]]
    assert len(wanted) > 20
    for req in wanted:
        name = env._normalise(req.name)
        assert name in locked, f"{req.name} is in the ranges, not in requirements.lock: bash scripts/lock.sh"
        assert req.specifier.contains(locked[name], prereleases=True), \
            f"{req.name}=={locked[name]} in requirements.lock is outside {req}: bash scripts/lock.sh"


def test_every_pin_is_exact_and_hashed():
    text = LOCK.read_text()
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2])
    assert len(blocks) == len(env.locked_versions(LOCK)) > 100
    for block in blocks:
        assert re.match(r"[A-Za-z0-9][A-Za-z0-9_.\-]*==\S+", block), block[:80]
        assert "--hash=sha256:" in block, f"no hash for {block.split()[0]}"


def test_lock_differences_names_each_package(tmp_path, monkeypatch):
    lock = tmp_path / "requirements.lock"
    lock.write_text("numpy==0.0.1 \\\n    --hash=sha256:00\nnot-a-real-package==1.0\n"
                    f"pytest=={env._installed('pytest')}\n")
    assert env.locked_versions(lock) == {"numpy": "0.0.1", "not-a-real-package": "1.0",
                                         "pytest": env._installed("pytest")}
    diffs = {name: (want, got) for name, want, got in env.lock_differences(lock)}
    assert diffs == {"numpy": ("0.0.1", env._installed("numpy")), "not-a-real-package": ("1.0", None)}
    monkeypatch.setattr(env, "LOCK_FILE", lock)
    problems = env.doctor(check_tensorflow=False)
    assert any("2 of 3 packages differ from requirements.lock" in p for p in problems)


def test_no_lock_file_means_nothing_to_compare(tmp_path):
    assert env.locked_versions(tmp_path / "absent.lock") == {}
    assert env.lock_differences(tmp_path / "absent.lock") == []


@pytest.mark.skipif(Path(sys.prefix).resolve() != (ROOT / ".venv").resolve(),
                    reason="only in the .venv that scripts/setup.sh made")
def test_the_environment_is_the_lock():
    """setup.sh installs requirements.lock: the venv running the tests must match it exactly."""
    diffs = [d for d in env.lock_differences(LOCK) if d[0] not in ("pip", "setuptools")]
    assert not diffs, f"installed versions differ from requirements.lock: {diffs}"


def test_torch_requirements_are_exact_and_do_not_fight_the_lock():
    """requirements-torch.txt (installed after the lock) pins exact versions of packages the lock lacks."""
    locked = env.locked_versions(LOCK)
    reqs = ranges(ROOT / "requirements-torch.txt")
    assert "torch" in {env._normalise(r.name) for r in reqs}
    for req in reqs:
        assert re.fullmatch(r"==[^,*]+", str(req.specifier)), f"{req} must be an exact pin"
        assert env._normalise(req.name) not in locked, f"{req.name} is already pinned in requirements.lock"
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    assert "-r requirements-torch.txt" in setup


@pytest.mark.parametrize("locked, installed, same", [
    ("2.13.0", "2.13.0", True), ("2.13.0", "2.13.0+cpu", True), ("2.13.0+cpu", "2.13.0", False),
    ("2.13.0", "2.13.1", False), ("1.0", None, False), ("1.0", "not-a-version", False)])
def test_a_local_build_label_satisfies_a_plain_pin(locked, installed, same):
    assert env._same_version(locked, installed) is same
