"""Nothing leaves the machine: one pytest run under ``strace -f`` collects the whole suite and runs a few tests that
between them take every way out the project has; no socket call in it may reach an address off the loopback, and
none may ask a DNS server anything.

Why strace and not a mocked socket module: the reporting found before (ONNX Runtime's DNS lookups of
mobile.events.data.microsoft.com from a native thread, OpenVINO's of www.google-analytics.com at import) happens
in C++ threads and child processes that never touch Python's ``socket``. A DNS query goes to the resolver (often
off the loopback), so a lookup counts as traffic even when the name does not resolve; a query to a resolver on the
loopback (systemd-resolved's 127.0.0.53) is forwarded off the machine, so port 53 counts on any address. AF_UNIX
and AF_NETLINK are local; DDS on a loopback-only domain sends to 127.0.0.1 only.

Why the whole suite is collected: test modules import onnxruntime and openvino while pytest collects them
(``pytest.importorskip`` at module level), before any test runs, so the telemetry has to be off before the first
test module loads (test/conftest.py does it first of all). ONNX Runtime's uploader resolves its collector about ten
seconds after the import, so the traced process must live that long; collecting the suite alone takes longer. Both
runtimes also write their telemetry state into the home folder at once (a device id, a client id), so the run gets
a fresh ``HOME`` and must leave neither there: that catches the reporting even where the lookup would come later.
The run's environment drops what would switch the telemetry off for it alone (``CI``, which ONNX Runtime and
OpenVINO's converter both honour, and ``ORT_DISABLE_TELEMETRY``): the suite must switch it off by itself.

Why these tests (``RUN``) and no more: each takes one way out, at the lowest cost found.
* deploy/onnx/test_export.py: the onnxruntime runner, through the engine a node uses. The float graph of the
  session's checkpoint is copied into the fresh home's cache where this session has exported it already: the
  exporter (torch and onnxscript) loads no runtime and was most of the run's time (``make trace-test-fast`` traces
  it too, exporting from nothing);
* deploy/test_backends.py TestOpenVino: the OpenVINO IR conversion (OpenVINO's converter is what carries its
  telemetry) and the openvino runner;
* deploy/test_backends.py's TensorRT test: the tensorrt runner, which skips without a GPU (TensorRT has no
  telemetry to switch off, so CPU-only CI loses nothing);
* ros/test_segmentation_node.py's synced-pair test: the node and a test harness exchanging every output over real
  DDS (FastDDS discovery and data on a loopback-only domain), the only traffic the project makes on purpose.
* models/encoders/test_mit.py's pretrained-errors test: MiT weights asked for by their Hugging Face name and not in
  the local cache (``from_pretrained`` with ``local_files_only`` still looked huggingface.co up; an strace of the
  whole ``make test-fast`` found it).
* fleet/test_dask_executor.py's loopback-workers test: a Dask LocalCluster's start, its shards over TCP on
  127.0.0.1 and its shut-down (``bag-eval --workers N``).
The torchrun tests (training/test_distributed_train.py) run their nodes in a network namespace of loopback only,
where nothing can leave (torch's store looks up ``::ffff:127.0.0.1``'s name otherwise), so they are not traced.
The other ROS tests use the same DDS set-up and the other backend tests the same runners, so tracing them would
cost minutes and find no new way out. Import-time side effects get no test of their own (a child process importing
every core module cost 20 s more): collecting the suite imports all but ten core modules, the backend tests import
the deploy runners and exports among them, and utils/test_optional.py checks that importing any core module loads
no runtime. Where strace is missing or may not trace, the check fails in CI (``CI`` set to anything but a false
word: a skip there would be a silent pass) and is skipped elsewhere, saying why.
"""

from __future__ import annotations

import ipaddress
import os
import random
import re
import shutil
import site
import subprocess
import sys
from pathlib import Path
from typing import NoReturn

import pytest
from hypothesis import given
from hypothesis import strategies as st

import rgbt_seg_core
from rgbt_seg_core.utils.booleans import FALSE_WORDS

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
TRACED = "connect,sendto,sendmsg,sendmmsg"
DNS_PORT = 53
_INET = re.compile(r'sa_family=AF_INET, sin_port=htons\((\d+)\), sin_addr=inet_addr\("([^"]+)"\)')
_INET6 = re.compile(r'sa_family=AF_INET6, sin6_port=htons\((\d+)\),[^}]*?inet_pton\(AF_INET6, "([^"]+)"')
_FAMILY = re.compile(r"sa_family=AF_INET6?\b")

# The traced run's tests, by node id (the module docstring says why these); -k selects them from the whole suite.
NEEDS_GPU = "test/core/deploy/test_backends.py::test_tensorrt_engine_matches_torch_and_checks_its_record"
RUN = (
    "test/core/deploy/onnx/test_export.py::test_onnxruntime_backend_gives_torch_fp32_labels",
    "test/core/deploy/test_backends.py::TestOpenVino::test_fp32_labels_equal_torch_fp32",
    NEEDS_GPU,
    "test/ros/test_segmentation_node.py::test_synced_pair_produces_every_output_with_rgb_header",
    "test/core/models/encoders/test_mit.py::test_pretrained_errors_name_the_problem",
    "test/core/fleet/test_dask_executor.py::test_two_loopback_workers_equal_in_process_loading_the_model_once",
)
# Variables that would switch the telemetry off for the traced run only, hiding a suite that does not.
TELEMETRY_SWITCHES = ("CI", "ORT_DISABLE_TELEMETRY", "ORT_RUNNING_UNIT_TESTS", "TF_BUILD", "JENKINS_URL")
# What the runtimes write into the home folder as soon as their telemetry starts.
TELEMETRY_STATE = (".cache/Microsoft/DeveloperTools", "intel")


# ----------------------------------------------------------------------------------------------- the parser
def off_loopback(strace_lines: list[str]) -> list[str]:
    """The traced lines that reach an address off the loopback, ask a DNS server (port 53, on any address), or
    name an inet address this parser cannot read (it fails closed)."""
    bad = []
    for line in strace_lines:
        if not _FAMILY.search(line):
            continue
        peers = [(int(port), a) for port, a in _INET.findall(line)] + [(int(p), a) for p, a in _INET6.findall(line)]
        unread = len(peers) < len(_FAMILY.findall(line))
        if unread or any(port == DNS_PORT or not _is_loopback(address) for port, address in peers):
            bad.append(line.rstrip())
    return bad


def _is_loopback(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is IPv4's loopback on a dual-stack socket
    if ip.version == 4:
        return ip in ipaddress.ip_network("127.0.0.0/8")
    return ip == ipaddress.IPv6Address("::1")


def _connect4(address: str, port: int) -> str:
    return f'812 connect(5, {{sa_family=AF_INET, sin_port=htons({port}), sin_addr=inet_addr("{address}")}}, 16) = 0'


def _sendto6(address: str, port: int) -> str:
    return (f'813 sendto(6, "x", 1, 0, {{sa_family=AF_INET6, sin6_port=htons({port}), sin6_flowinfo=htonl(0), '
            f'inet_pton(AF_INET6, "{address}", &sin6_addr), sin6_scope_id=0}}, 28) = 1')


SAMPLES_OK = [
    _connect4("127.0.0.1", 7412),
    '812 sendto(7, "RTPS"..., 72, 0, {sa_family=AF_INET, sin_port=htons(7400), sin_addr=inet_addr("127.0.0.1")}, 16) '
    '= 72',
    _sendto6("::1", 80),
    _sendto6("::ffff:127.0.0.1", 7410),
    '814 connect(3, {sa_family=AF_UNIX, sun_path="/var/run/nscd/socket"}, 110) = -1 ENOENT (No such file)',
    '815 sendto(4, [{nlmsg_len=20, nlmsg_type=RTM_GETADDR}], 20, 0, {sa_family=AF_NETLINK, nl_pid=0}, 12) = 20',
    '816 sendto(9, "\\1\\2", 2, MSG_NOSIGNAL, NULL, 0) = 2',
    _connect4("127.0.0.53", 0),  # getaddrinfo's source-address probe: no packet is sent
    '817 <... connect resumed>) = 0',
]
SAMPLES_BAD = [
    # a DNS query to a public resolver, the shape of ONNX Runtime's lookups
    '900 sendto(5, "\\27\\224\\1\\0\\0\\1\\0\\0\\0\\0\\0\\0\\6mobile\\6events"..., 50, MSG_NOSIGNAL, '
    '{sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("8.8.8.8")}, 16) = 50',
    _connect4("239.255.0.1", 7400),  # DDS multicast discovery
    _connect4("10.0.0.1", 7410),
    _connect4("10.255.255.53", 53),  # the resolver in resolv.conf, before the query goes out on that socket
    _connect4("127.0.0.53", 53),  # a loopback stub resolver forwards the name off the machine
    '901 connect(8, {sa_family=AF_INET, sin_port=htons(443), sin_addr=inet_addr("8.8.8.8")}, 16 <unfinished ...>',
    _sendto6("::ffff:1.2.3.4", 443),
    '903 sendto(7, "RTPS"..., 72, 0, {sa_family=AF_INET, sin_port=htons(7400), sin_addr=inet_addr("239.255.0.1")}, '
    '16) = 72',
    '904 sendmsg(7, {msg_name={sa_family=AF_INET, sin_port=htons(7400), sin_addr=inet_addr("192.168.1.20")}, '
    'msg_namelen=16, msg_iov=[{iov_base="RTPS", iov_len=4}], msg_iovlen=1, msg_controllen=0, msg_flags=0}, 0) = 4',
    '905 sendmmsg(7, [{msg_hdr={msg_name={sa_family=AF_INET, sin_port=htons(7400), sin_addr=inet_addr("127.0.0.1")}, '
    'msg_namelen=16}}, {msg_hdr={msg_name={sa_family=AF_INET, sin_port=htons(7400), sin_addr=inet_addr("1.1.1.1")}, '
    'msg_namelen=16}}], 2, 0) = 2',
    _sendto6("2001:db8::1", 443),
    '907 connect(8, {sa_family=AF_INET, sin_port=htons(53), ...}, 16) = 0',  # unreadable: fail closed
]


@pytest.mark.parametrize("line", SAMPLES_OK)
def test_parser_lets_loopback_and_local_sockets_pass(line: str) -> None:
    assert off_loopback([line]) == []


@pytest.mark.parametrize("line", SAMPLES_BAD)
def test_parser_catches_every_lookup_and_address_off_the_loopback(line: str) -> None:
    assert off_loopback([line]) == [line]


@given(st.ip_addresses(v=4), st.integers(0, 65535))
def test_an_ipv4_peer_passes_only_on_the_loopback_and_off_port_53(ip: ipaddress.IPv4Address, port: int) -> None:
    line = _connect4(str(ip), port)
    assert (off_loopback([line]) == [line]) == (ip not in ipaddress.ip_network("127.0.0.0/8") or port == DNS_PORT)


@given(st.ip_addresses(v=6), st.integers(0, 65535))
def test_an_ipv6_peer_passes_only_on_the_loopback_and_off_port_53(ip: ipaddress.IPv6Address, port: int) -> None:
    line = _sendto6(str(ip), port)
    mapped = ip.ipv4_mapped
    loopback = ip == ipaddress.IPv6Address("::1") or (mapped is not None and mapped.packed[0] == 127)
    assert (off_loopback([line]) == [line]) == (not loopback or port == DNS_PORT)


@given(st.text(max_size=300))
def test_the_parser_never_raises_and_flags_only_inet_lines(text: str) -> None:
    lines = text.splitlines()
    assert set(off_loopback(lines)) <= {line.rstrip() for line in lines if _FAMILY.search(line)}


# ----------------------------------------------------------------------------------------------- where it can run
def _in_ci() -> bool:
    """CI services set ``CI`` (``true`` mostly, some their own name); only a false word or nothing means not CI."""
    value = os.environ.get("CI", "").strip().lower()
    return bool(value) and value not in FALSE_WORDS


def _cannot_trace(reason: str) -> NoReturn:
    if _in_ci():
        pytest.fail(f"{reason}; CI={os.environ.get('CI')!r}, and in CI this check may not be skipped "
                    "(.ci/run installs strace when it runs as root)")
    pytest.skip(reason)


def _strace() -> str:
    """strace's path, once a probe with the run's own options has traced a process here."""
    path = shutil.which("strace")
    if path is None:
        _cannot_trace("strace is not installed (apt-get install strace)")
    try:
        probe = subprocess.run([path, "-f", "-qq", "--seccomp-bpf", "-e", "trace=connect", "-o", os.devnull,
                                sys.executable, "-c", "0"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        _cannot_trace(f"strace ({path}) did not run: {exc}")
    if probe.returncode != 0:
        _cannot_trace(f"strace ({path}) cannot trace here (ptrace not permitted?): {probe.stderr.strip()[-300:]}")
    return path


@pytest.mark.parametrize(("value", "ci"), [("true", True), ("1", True), ("TRUE", True), ("woodpecker", True),
                                           ("", False), ("0", False), ("false", False), (None, False)])
def test_ci_is_any_value_but_a_false_word(monkeypatch: pytest.MonkeyPatch, value: str | None, ci: bool) -> None:
    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)
    assert _in_ci() is ci


def test_missing_strace_fails_in_ci_and_skips_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"strace is not installed.*may not be skipped"):
        _strace()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="strace is not installed"):
        _strace()


def test_refused_ptrace_fails_in_ci_and_skips_elsewhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    refusing = tmp_path / "strace"
    refusing.write_text("#!/bin/sh\necho 'strace: attach: ptrace(PTRACE_SEIZE, 42): Operation not permitted' >&2\n"
                        "exit 1\n")
    refusing.chmod(0o755)
    monkeypatch.setattr(shutil, "which", lambda name: str(refusing))
    monkeypatch.setenv("CI", "1")
    with pytest.raises(pytest.fail.Exception, match="cannot trace here.*Operation not permitted"):
        _strace()
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match="cannot trace here.*Operation not permitted"):
        _strace()


# ----------------------------------------------------------------------------------------------- the run
def _selection() -> str:
    """A -k expression for RUN: module, class and test name together, so that no namesake elsewhere comes along."""
    return " or ".join("(" + " and ".join([Path(n.split("::")[0]).stem, *n.split("::")[1:]]) + ")" for n in RUN)


def _env(home: Path) -> dict[str, str]:
    """The source tree the suite imports, a fresh home and cache, ROS confined to loopback on a random domain, and
    nothing that would switch the telemetry off or change the run (the outer pytest's options) from outside."""
    source = str(Path(rgbt_seg_core.__file__).resolve().parents[1])
    env = {k: v for k, v in os.environ.items() if k not in TELEMETRY_SWITCHES and not k.startswith("PYTEST_")}
    return {**env, "HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache"), "PYTHONUSERBASE": site.getuserbase(),
            "PYTHONPATH": os.pathsep.join([source, str(HERE)]), "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
            "ROS_LOCALHOST_ONLY": "1", "ROS_DOMAIN_ID": str(random.randint(1, 100))}


def _seed_float_graphs(checkpoint: Path, folder: Path) -> None:
    """The traced run makes the same varied checkpoint (save_varied_checkpoint is deterministic), so its cached
    float graphs are named by the same checksum; none cached yet, the traced run exports them itself."""
    from rgbt_seg_core.models.checkpoint import load_checkpoint
    from rgbt_seg_core.utils.cache_dir import default_cache_dir

    folder.mkdir(parents=True, exist_ok=True)
    for graph in (default_cache_dir() / "onnx").glob(f"{load_checkpoint(checkpoint).sha256[:24]}_*.onnx"):
        shutil.copyfile(graph, folder / graph.name)


def _outcomes(stdout: str) -> dict[str, str]:
    """Each run test's outcome, from pytest -v's lines (``<node id> PASSED [ 40%]``)."""
    return dict(re.findall(r"^(test/\S+::\S+) (PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)\b", stdout, re.MULTILINE))


@pytest.mark.slow
@pytest.mark.ros
def test_collecting_the_suite_and_running_each_way_out_stays_local(tmp_path: Path, varied_checkpoint: Path) -> None:
    strace = _strace()
    home, log = tmp_path / "home", tmp_path / "strace.log"
    home.mkdir()
    _seed_float_graphs(varied_checkpoint, home / ".cache" / "rgbt_seg" / "onnx")
    cmd = [sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", "--rootdir", str(ROOT),
           "-c", str(ROOT / "pytest.ini"), f"--basetemp={tmp_path / 'inner'}", "-k", _selection(), str(ROOT / "test")]
    traced = [strace, "-f", "-qq", "-v", "-s", "64", "--seccomp-bpf", "-e", f"trace={TRACED}", "-e", "signal=none",
              "-o", str(log), *cmd]
    out = subprocess.run(traced, cwd=ROOT, env=_env(home), capture_output=True, text=True, timeout=900)

    bad = off_loopback(log.read_text(errors="replace").splitlines())  # first: reported even if a test failed
    written = [p for p in TELEMETRY_STATE if (home / p).exists()]
    assert not bad and not written, (f"{len(bad)} socket calls looked a name up or left the loopback, e.g.:\n"
                                     + "\n".join(bad[:10]) + f"\ntelemetry state written under {home}: {written}")
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-3000:]
    outcomes = _outcomes(out.stdout)
    may_skip = {NEEDS_GPU} if _in_ci() else set(RUN)  # outside CI a runtime or rclpy may be missing
    wrong = {n: outcomes.get(n, "not run") for n in RUN
             if outcomes.get(n) != "PASSED" and not (n in may_skip and outcomes.get(n) == "SKIPPED")}
    assert not wrong, f"RUN names tests that did not pass (renamed? update RUN): {wrong}\n{out.stdout[-3000:]}"


def main(argv: list[str]) -> int:
    """``make trace-test-fast``: judge an strace log of a whole run (and its fresh home) by the rules above."""
    log, home = Path(argv[0]), Path(argv[1])
    lines = log.read_text(errors="replace").splitlines()
    bad = off_loopback(lines)
    written = [p for p in TELEMETRY_STATE if (home / p).exists()]
    print(f"{len(lines)} socket calls traced; {len(bad)} looked a name up or left the loopback; telemetry state "
          f"written: {written or 'none'}")
    print("\n".join(bad[:20]))
    return 1 if bad or written else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
