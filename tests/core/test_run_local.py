"""scripts/run_local.py: the commands it starts and the supervisor that stops them together."""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _module():
    spec = importlib.util.spec_from_file_location("run_local", ROOT / "scripts" / "run_local.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["run_local"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_worker_is_the_huey_consumer_of_worker_py_with_two_threads():
    cmd = _module().worker_command()
    assert Path(cmd[0]).name == "huey_consumer"
    assert cmd[1] == "worker.huey"
    assert cmd[cmd.index("-w") + 1] == "2"
    assert cmd[cmd.index("-k") + 1] == "thread"
    assert (ROOT / "worker.py").exists()


def test_web_server_is_threaded_on_localhost_without_debug_by_default():
    cmd = _module().web_command("127.0.0.1", 5000, debug=False)
    assert cmd[cmd.index("--host") + 1] == "127.0.0.1"
    assert cmd[cmd.index("--port") + 1] == "5000"
    assert "--with-threads" in cmd and "--debug" not in cmd


def test_peers_hook_exists_for_local_stand_ins():
    module = _module()
    assert isinstance(module.PEERS, list)
    peer = module.Peer("fake", ["true"], env={"X": "1"})
    assert peer.when() is True


def test_supervisor_stops_every_child_and_reports_the_first_that_exits(tmp_path):
    module = _module()
    sup = module.Supervisor()
    env = {"PATH": "/usr/bin:/bin"}
    long = sup.start("worker", [sys.executable, "-c", "import time; time.sleep(60)"], env)
    short = sup.start("web", [sys.executable, "-c", "raise SystemExit(3)"], env)
    deadline = time.monotonic() + 20
    while sup.first_exited() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sup.first_exited() == ("web", 3)
    sup.stop(timeout=10)
    assert long.poll() is not None and short.poll() is not None
