"""The dependency floors: an old torch (Debian's 1.13, an early Jetson wheel) stops the import with one line that
names what was found, what is needed and the fix; versions at or above the floors pass."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rgbt_seg_core.utils import versions
from rgbt_seg_core.utils.versions import MINIMUM, DependencyVersionError, Found, check_dependencies, parse_version

ROOT = Path(__file__).resolve().parents[3]


def _at_floor() -> dict[str, Found | None]:
    return {r.module: Found(".".join(map(str, r.minimum)) + ".0", "/venv/lib/site-packages") for r in MINIMUM}


def test_this_environment_meets_the_floors() -> None:
    check_dependencies()


def test_versions_at_the_floor_pass() -> None:
    check_dependencies(_at_floor())


@pytest.mark.parametrize("text, expected", [
    ("2.5.0", (2, 5, 0)), ("2.5.0a0+872d972e41.nv24.08", (2, 5, 0)), ("1.13.1+dfsg", (1, 13, 1)),
    ("4.8.1.78", (4, 8, 1, 78)), ("0.20.0+cu124", (0, 20, 0)), ("garbage", ()),
])
def test_parse_version_reads_the_release_numbers(text: str, expected: tuple[int, ...]) -> None:
    assert parse_version(text) == expected


def test_debian_torch_is_refused_in_one_line_with_the_fix() -> None:
    found = {**_at_floor(), "torch": Found("1.13.1", "/usr/lib/python3/dist-packages")}
    with pytest.raises(DependencyVersionError) as err:
        check_dependencies(found)
    text = str(err.value)
    assert "\n" not in text
    assert "torch >= 2.5, found 1.13.1 in /usr/lib/python3/dist-packages (Debian's python3-torch?)" in text
    assert "pip install 'torch>=2.5' 'torchvision>=0.20', or on Jetson NVIDIA's wheels for JetPack 6" in text
    assert isinstance(err.value, ImportError)


@pytest.mark.parametrize("module", [r.module for r in MINIMUM])
def test_each_floor_can_fail(module: str) -> None:
    found = {**_at_floor(), module: Found("0.1", "/x")}
    with pytest.raises(DependencyVersionError, match=r"found 0\.1 in /x"):
        check_dependencies(found)


def test_a_missing_package_is_named() -> None:
    with pytest.raises(DependencyVersionError, match=r"^rgbt-seg needs numpy >= 1\.23, found none: pip install "
                                                     r"'numpy>=1\.23'$"):
        check_dependencies({**_at_floor(), "numpy": None})


def test_an_early_jetson_wheel_is_refused_and_a_current_one_passes() -> None:
    with pytest.raises(DependencyVersionError, match=r"found 2\.4\.0a0\+3bcc3cddb5\.nv24\.07"):
        check_dependencies({**_at_floor(), "torch": Found("2.4.0a0+3bcc3cddb5.nv24.07", "/usr/local/lib")})
    check_dependencies({**_at_floor(), "torch": Found("2.5.0a0+872d972e41.nv24.08", "/usr/local/lib")})


def test_a_module_without_metadata_is_read_from_its_version(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.metadata

    def no_metadata(name: str):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", no_metadata)
    found = versions.find(MINIMUM[2])  # numpy, imported for its __version__
    import numpy

    assert found is not None and found.version == numpy.__version__


def test_importing_the_package_with_an_old_torch_stops_with_one_line(tmp_path: Path) -> None:
    """A fake torch 1.13.1 first on sys.path, with its metadata, as Debian installs it: the import fails before any
    torch code runs (the fake one would raise if imported)."""
    (tmp_path / "torch").mkdir()
    (tmp_path / "torch" / "__init__.py").write_text("raise RuntimeError('the old torch was imported')\n")
    info = tmp_path / "torch-1.13.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: torch\nVersion: 1.13.1\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    out = subprocess.run([sys.executable, "-c", "import rgbt_seg_core"], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode != 0
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("rgbt_seg_core.utils.versions.DependencyVersionError: rgbt-seg needs torch >= 2.5, "
                           f"found 1.13.1 in {tmp_path.resolve()}"), out.stderr
    assert "the old torch was imported" not in out.stderr
