#!/usr/bin/env python3
"""Run localstripe (a stateful Stripe-compatible server) with its own state file.

localstripe saves its whole state to the hard-coded /tmp/localstripe.pickle and reloads it
at start (localstripe/resources.py, Store.try_load_from_disk / dump_to_disk), so two
instances on one machine would share and corrupt that file. This launcher redirects the
store's load/save to `--state` before starting the server: `make run` uses
instance/localstripe.pickle, each test session a temporary file.

    .venv/bin/python scripts/localstripe_peer.py --port 8420 --state instance/localstripe.pickle
    [--from-scratch]   ignore (and overwrite) the saved state
"""

from __future__ import annotations

import argparse
import os
import pickle  # noqa: S403 - our own state file, written by this process
import sys
import tempfile
from pathlib import Path


def patch_store(state_path: Path) -> None:
    from localstripe import resources

    store_cls = type(resources.store)

    def try_load_from_disk(self) -> None:
        try:
            with open(state_path, "rb") as f:
                old = pickle.load(f)  # noqa: S301 - our own file
        except (FileNotFoundError, EOFError, pickle.UnpicklingError):
            return
        self.clear()
        self.update(old)

    def dump_to_disk(self) -> None:
        state_path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=state_path.parent, prefix=".localstripe-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                pickle.dump(dict(self), f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, state_path)  # atomic: a crash never leaves a half-written file
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    store_cls.try_load_from_disk = try_load_from_disk
    store_cls.dump_to_disk = dump_to_disk


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8420)
    parser.add_argument("--state", required=True, help="pickle file holding this instance's state")
    parser.add_argument("--from-scratch", action="store_true")
    args = parser.parse_args(argv)

    state = Path(args.state).resolve()
    if state == Path("/tmp/localstripe.pickle"):  # noqa: S108 - refusing the shared default
        parser.error("use a state file of your own, not localstripe's shared default")
    patch_store(state)

    from localstripe import server

    # server.start() parses sys.argv itself.
    sys.argv = [sys.argv[0], "--port", str(args.port)] + (["--from-scratch"] if args.from_scratch else [])
    server.start()
    return 0


if __name__ == "__main__":
    sys.exit(main())
