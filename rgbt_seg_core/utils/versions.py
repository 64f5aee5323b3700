"""The oldest torch, torchvision, NumPy and OpenCV rgbt-seg works with, checked before anything imports them.

On a robot the first torch on ``sys.path`` is often not pip's: Ubuntu 22.04 (Humble) ships python3-torch 1.13
through apt, and rosdep installs it for the ``python3-torch`` key. Such a torch imports fine and then fails deep
inside an export or a model build with an error that names neither torch nor its version. So the package's
``__init__`` calls :func:`check_dependencies` first, which reads the installed versions from the packages'
metadata (without importing them: an old torch can fail to import against a new NumPy) and stops with one line
that names what was found, what is needed and how to fix it.

The floors are the versions the test suite was run with (docs/install.md, "Oldest supported dependencies");
setup.py's ``install_requires`` states the same ones.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["MINIMUM", "DependencyVersionError", "Found", "check_dependencies", "find", "parse_version"]


@dataclass(frozen=True)
class Requirement:
    module: str  # the import name
    distributions: tuple[str, ...]  # pip names that provide it, the one to install first
    minimum: tuple[int, ...]

    @property
    def pip_spec(self) -> str:
        return f"'{self.distributions[0]}>={_dotted(self.minimum)}'"


MINIMUM = (
    Requirement("torch", ("torch",), (2, 5)),
    Requirement("torchvision", ("torchvision",), (0, 20)),
    Requirement("numpy", ("numpy",), (1, 23)),
    Requirement("cv2", ("opencv-contrib-python-headless", "opencv-contrib-python", "opencv-python-headless",
                        "opencv-python"), (4, 8)),
)


@dataclass(frozen=True)
class Found:
    version: str
    location: str  # the folder it was installed into, to tell apt's from pip's


class DependencyVersionError(ImportError):
    """A dependency older than rgbt-seg supports; an ImportError, so ``try: import rgbt_seg_core`` sees it."""


def parse_version(text: str) -> tuple[int, ...]:
    """The release numbers of a version string: NVIDIA's Jetson builds (``2.5.0a0+872d972e41.nv24.08``) and
    Debian's (``1.13.1+dfsg``) count as the release they are built from."""
    match = re.match(r"\s*v?(\d+(?:\.\d+)*)", text)
    return tuple(int(p) for p in match.group(1).split(".")) if match else ()


def find(req: Requirement) -> Found | None:
    """The installed version, from metadata; modules without metadata (a source build) are imported for it."""
    for name in req.distributions:
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        return Found(dist.version, str(Path(str(dist.locate_file(""))).resolve()))
    try:
        module = importlib.import_module(req.module)
    except ImportError:
        return None
    origin = getattr(module, "__file__", None) or ""
    return Found(str(getattr(module, "__version__", "0")), str(Path(origin).parent.parent) if origin else "")


def check_dependencies(found: dict[str, Found | None] | None = None) -> None:
    """Raise :class:`DependencyVersionError` (one line) if a dependency is missing or older than its floor.

    Args:
        found: installed versions by module name (for tests); read from this environment when omitted.
    """
    found = {r.module: find(r) for r in MINIMUM} if found is None else found
    stale = [r for r in MINIMUM if not _new_enough(found.get(r.module), r)]
    if stale:
        raise DependencyVersionError(_message(stale, found))


def _new_enough(found: Found | None, req: Requirement) -> bool:
    return found is not None and parse_version(found.version) >= req.minimum


def _message(stale: list[Requirement], found: dict[str, Found | None]) -> str:
    needs = "; ".join(f"{r.distributions[0] if r.module == 'cv2' else r.module} >= {_dotted(r.minimum)}, "
                      f"found {_describe(found.get(r.module), r)}" for r in stale)
    specs = [r.pip_spec for r in stale]
    if any(r.module in ("torch", "torchvision") for r in stale):
        specs = list(dict.fromkeys([*specs, *(r.pip_spec for r in MINIMUM if r.module in ("torch", "torchvision"))]))
        return f"rgbt-seg needs {needs}: pip install {' '.join(specs)}, or on Jetson NVIDIA's wheels for JetPack 6"
    return f"rgbt-seg needs {needs}: pip install {' '.join(specs)}"


def _describe(found: Found | None, req: Requirement) -> str:
    if found is None:
        return "none"
    if found.location.startswith("/usr/lib/python3"):
        apt = {"torch": "python3-torch", "torchvision": "python3-torchvision", "numpy": "python3-numpy",
               "cv2": "python3-opencv"}[req.module]
        return f"{found.version} in {found.location} (Debian's {apt}?)"
    return f"{found.version} in {found.location}" if found.location else found.version


def _dotted(version: tuple[int, ...]) -> str:
    return ".".join(str(v) for v in version)
