"""Nothing leaves the machine: the core's imports, an ONNX Runtime and an OpenVINO inference, and a node exchanging
messages over DDS, each run under strace, open no socket to an address off the loopback.

Why strace and not a mocked socket module: the reporting found before (ONNX Runtime's DNS lookups of
mobile.events.data.microsoft.com from a native thread, OpenVINO's of www.google-analytics.com at import) happens
in C++ threads and child processes that never touch Python's ``socket``. A DNS query goes to the resolver (often
off the loopback), so a lookup counts as traffic even when the name does not resolve. AF_UNIX and AF_NETLINK are
local; DDS on a loopback-only domain sends to 127.0.0.1 only.
"""

from __future__ import annotations

import ipaddress
import os
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import rgbt_seg_core

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
SUPPORT = HERE / "_support"
TRACED = "connect,sendto,sendmsg,sendmmsg"
_INET = re.compile(r'sa_family=AF_INET, sin_port=htons\((\d+)\), sin_addr=inet_addr\("([^"]+)"\)')
_INET6 = re.compile(r'sa_family=AF_INET6, sin6_port=htons\((\d+)\),[^}]*?inet_pton\(AF_INET6, "([^"]+)"')
_FAMILY = re.compile(r"sa_family=AF_INET6?\b")


# ----------------------------------------------------------------------------------------------- the parser
def off_loopback(strace_lines: list[str]) -> list[str]:
    """The traced lines that reach an address off the loopback (or an inet address this parser cannot read)."""
    bad = []
    for line in strace_lines:
        if not _FAMILY.search(line):
            continue
        addresses = [a for _, a in _INET.findall(line)] + [a for _, a in _INET6.findall(line)]
        if len(addresses) < len(_FAMILY.findall(line)) or not all(_is_loopback(a) for a in addresses):
            bad.append(line.rstrip())
    return bad


def _is_loopback(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if ip.version == 4:
        return ip in ipaddress.ip_network("127.0.0.0/8")
    return ip == ipaddress.IPv6Address("::1")


SAMPLES_OK = [
    '812 connect(5, {sa_family=AF_INET, sin_port=htons(7412), sin_addr=inet_addr("127.0.0.1")}, 16) = 0',
    '812 sendto(7, "RTPS"..., 72, 0, {sa_family=AF_INET, sin_port=htons(7400), sin_addr=inet_addr("127.0.0.1")}, 16) '
    '= 72',
    '813 connect(6, {sa_family=AF_INET6, sin6_port=htons(80), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "::1", '
    '&sin6_addr), sin6_scope_id=0}, 28) = -1 ECONNREFUSED (Connection refused)',
    '814 connect(3, {sa_family=AF_UNIX, sun_path="/var/run/nscd/socket"}, 110) = -1 ENOENT (No such file)',
    '815 sendto(4, [{nlmsg_len=20, nlmsg_type=RTM_GETADDR}], 20, 0, {sa_family=AF_NETLINK, nl_pid=0}, 12) = 20',
    '816 sendto(9, "\\1\\2", 2, MSG_NOSIGNAL, NULL, 0) = 2',
    '817 connect(5, {sa_family=AF_INET, sin_port=htons(0), sin_addr=inet_addr("127.0.0.53")}, 16) = 0',
]
SAMPLES_BAD = [
    '900 connect(8, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("10.0.0.1")}, 16) = 0',
    '901 connect(8, {sa_family=AF_INET, sin_port=htons(443), sin_addr=inet_addr("8.8.8.8")}, 16 <unfinished ...>',
    '902 connect(6, {sa_family=AF_INET6, sin6_port=htons(443), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, '
    '"::ffff:1.2.3.4", &sin6_addr), sin6_scope_id=0}, 28) = 0',
    '903 sendto(7, "RTPS"..., 72, 0, {sa_family=AF_INET, sin_port=htons(7400), sin_addr=inet_addr("239.255.0.1")}, '
    '16) = 72',
    '904 sendmsg(7, {msg_name={sa_family=AF_INET, sin_port=htons(7400), sin_addr=inet_addr("192.168.1.20")}, '
    'msg_namelen=16, msg_iov=[{iov_base="RTPS", iov_len=4}], msg_iovlen=1, msg_controllen=0, msg_flags=0}, 0) = 4',
    '905 sendmmsg(7, [{msg_hdr={msg_name={sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("127.0.0.1")}, '
    'msg_namelen=16}}, {msg_hdr={msg_name={sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("1.1.1.1")}, '
    'msg_namelen=16}}], 2, 0) = 2',
    '906 connect(6, {sa_family=AF_INET6, sin6_port=htons(443), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, '
    '"2001:db8::1", &sin6_addr), sin6_scope_id=0}, 28) = 0',
    '907 connect(6, {sa_family=AF_INET, sin_port=htons(53), ...}, 16) = 0',  # unreadable: fail closed
]


@pytest.mark.parametrize("line", SAMPLES_OK)
def test_parser_lets_loopback_and_local_sockets_pass(line: str) -> None:
    assert off_loopback([line]) == []


@pytest.mark.parametrize("line", SAMPLES_BAD)
def test_parser_catches_every_address_off_the_loopback(line: str) -> None:
    assert off_loopback([line]) == [line]


# ----------------------------------------------------------------------------------------------- the runs
def _strace() -> str:
    """strace's path, or a skip saying why it cannot trace here."""
    path = shutil.which("strace")
    if path is None:
        pytest.skip("strace is not installed (apt install strace)")
    probe = subprocess.run([path, "-f", "-qq", "-e", "trace=connect", "-o", os.devnull, sys.executable, "-c", "0"],
                           capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        pytest.skip(f"strace cannot trace here (ptrace not permitted?): {probe.stderr.strip()[-300:]}")
    return path


def _traced(cmd: list[str], log: Path, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    strace = _strace()
    full = [strace, "-f", "-qq", "-v", "-s", "64", "--seccomp-bpf", "-e", f"trace={TRACED}", "-e", "signal=none",
            "-o", str(log), *cmd]
    return subprocess.run(full, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def _env(tmp_path: Path) -> dict[str, str]:
    """The source tree the suite imports, a private cache, ROS confined to loopback on a random domain."""
    source = str(Path(rgbt_seg_core.__file__).resolve().parents[1])
    return {**os.environ, "PYTHONPATH": os.pathsep.join([source, str(HERE)]), "XDG_CACHE_HOME": str(tmp_path / "c"),
            "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST", "ROS_LOCALHOST_ONLY": "1",
            "ROS_DOMAIN_ID": str(random.randint(1, 100))}


def _assert_stayed_local(log: Path) -> None:
    lines = log.read_text(errors="replace").splitlines()
    bad = off_loopback(lines)
    assert not bad, f"{len(bad)} socket calls left the loopback, e.g.:\n" + "\n".join(bad[:10])


@pytest.mark.slow
def test_core_imports_and_onnxruntime_and_openvino_inference_stay_local(tmp_path: Path) -> None:
    pytest.importorskip("onnxscript")
    backends = [b for b in ("onnxruntime", "openvino") if _installed(b)]
    if not backends:
        pytest.skip("neither onnxruntime nor openvino is installed")
    log = tmp_path / "strace.log"
    out = _traced([sys.executable, str(SUPPORT / "no_traffic_child.py"), str(tmp_path), *backends], log,
                  _env(tmp_path), timeout=900)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"ran {', '.join(backends)}" in out.stdout, out.stdout
    _assert_stayed_local(log)


@pytest.mark.slow
@pytest.mark.ros
def test_node_exchanging_messages_over_dds_stays_local(tmp_path: Path) -> None:
    pytest.importorskip("rclpy")
    log = tmp_path / "strace.log"
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(ROOT),
           "-c", str(ROOT / "pytest.ini"), f"--basetemp={tmp_path / 'inner'}",
           str(ROOT / "test" / "ros" / "test_segmentation_node.py"), "-k", "synced_pair"]
    out = _traced(cmd, log, _env(tmp_path), timeout=900)
    assert out.returncode == 0 and " passed" in out.stdout, out.stdout[-3000:] + out.stderr[-3000:]
    _assert_stayed_local(log)


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None
