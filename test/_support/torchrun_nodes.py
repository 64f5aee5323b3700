"""Start torchrun "nodes" on loopback for the distributed training tests: each node is one ``torchrun`` process
(its own session, so a test can kill a whole node) joined by c10d rendezvous on 127.0.0.1 at a free port.

Nothing leaves loopback: the rendezvous endpoint and ``--local-addr`` are 127.0.0.1 (the workers' MASTER_ADDR
comes from it), gloo binds to ``lo`` (GLOO_SOCKET_IFNAME), and node 0 hosts the rendezvous store
(``is_host``), so the choice does not depend on how the machine's name resolves. One thing torch does would still
reach out: its TCP store formats every socket's peer with getnameinfo, and the IPv4-mapped ``::ffff:127.0.0.1``
is not in /etc/hosts, so glibc asks the DNS resolver for its name. Where a network namespace can be made (root,
as CI runs), the nodes therefore run in one that holds a loopback interface only (:func:`loopback_only_network`):
there the resolver cannot be reached, torch stops asking after the first failure, and nothing can leave.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[2]
TORCHRUN = [sys.executable, "-m", "torch.distributed.run"]


def free_port() -> int:
    """A port no one listens on now (the kernel's choice); the node that binds it next is torchrun's store."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def loopback_env(events: Path, **extra: str) -> dict[str, str]:
    """The nodes' environment: this source tree, loopback only, one thread per worker (both runs that a test
    compares compute alike), checkpoint writes recorded under ``events``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RGBT_TEST_")}
    env.update({"PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
                "GLOO_SOCKET_IFNAME": "lo", "MASTER_ADDR": "127.0.0.1", "OMP_NUM_THREADS": "1",
                "RGBT_TEST_EVENTS": str(events), **extra})
    return env


# run by `unshare --net`: bring the new namespace's loopback up (SIOCSIFFLAGS: IFF_UP | IFF_LOOPBACK | IFF_RUNNING),
# say so, and hold the namespace until the test closes stdin
_HOLD_LOOPBACK = (
    "import fcntl, socket, struct, sys\n"
    "fcntl.ioctl(socket.socket(socket.AF_INET, socket.SOCK_DGRAM), 0x8914, struct.pack('16sH22x', b'lo', 0x49))\n"
    "print('ready', flush=True)\n"
    "sys.stdin.read()\n"
)


@contextmanager
def loopback_only_network() -> Iterator[list[str]]:
    """The command prefix that runs a process in a network namespace of loopback only, or ``[]`` where no
    namespace can be made (no privileges, no util-linux), which the tests refuse to run without."""
    if not (shutil.which("unshare") and shutil.which("nsenter")):
        yield []
        return
    holder = subprocess.Popen(["unshare", "--net", sys.executable, "-c", _HOLD_LOOPBACK], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        ready = holder.stdout.readline().strip() == b"ready"
        yield ["nsenter", f"--net=/proc/{holder.pid}/ns/net", "--"] if ready else []
    finally:
        holder.stdin.close()
        try:
            holder.wait(timeout=30)
        except subprocess.TimeoutExpired:
            holder.kill()
            holder.wait()


@dataclass
class Node:
    proc: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """The node dies at once: its torchrun agent and every process under it. torchrun starts its workers in
        sessions of their own, so killing the agent's process group alone left a stalled worker behind, orphaned
        and holding a GB, once per run of the dead-node test."""
        if self.proc.poll() is None:
            tree = _descendants(self.proc.pid)  # before the agent dies: its orphans are re-parented to init
            for pid in [self.proc.pid, *tree]:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid``, from /proc's children lists (Linux)."""
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                kids = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            found += kids
            todo += kids
    return found


def start_nodes(nnodes: int, nproc: int, train_args: list[str], env: dict[str, str], logs: Path,
                prefix: list[str]) -> list[Node]:
    """``nnodes`` torchrun processes of ``nproc`` workers each, running ``rgbt-seg train train_args`` through
    test/_support/distributed_child.py; ``prefix`` (from :func:`loopback_only_network`) goes before each."""
    port = free_port()
    logs.mkdir(parents=True, exist_ok=True)
    nodes = []
    for n in range(nnodes):
        cmd = [*prefix, *TORCHRUN, "--nnodes", str(nnodes), "--nproc-per-node", str(nproc), "--rdzv-backend", "c10d",
               "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", f"test{port}",
               "--rdzv-conf", f"is_host={int(n == 0)}", "--local-addr", "127.0.0.1", "--max-restarts", "0",
               "--monitor-interval", "0.1", "--log-dir", str(logs / f"elastic{n}"),
               str(ROOT / "test" / "_support" / "distributed_child.py"), "train", *train_args]
        log = logs / f"node{n}.log"
        with open(log, "w") as f:
            proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=ROOT,
                                    start_new_session=True)
        nodes.append(Node(proc, log))
    return nodes


def finish(nodes: list[Node], timeout: float) -> list[int]:
    """Every node's exit status; a node still running after ``timeout`` seconds is killed and the test fails
    with the logs (a hang must never pass)."""
    deadline = time.monotonic() + timeout
    try:
        for node in nodes:
            node.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        logs = "\n".join(f"--- {n.log.name}\n{n.output()[-3000:]}" for n in nodes)
        raise AssertionError(f"torchrun nodes still running after {timeout} s\n{logs}") from None
    finally:
        for node in nodes:
            node.kill()
    return [n.proc.returncode for n in nodes]
