"""The local engine's worker pool ends with its run (issue 14): SIGTERM to the main process during a
mask scan leaves no worker behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

DRIVER = """
import sys, time, pathlib
ready = pathlib.Path(sys.argv[1])
from bceweights.readers import maskfiles
histogram = maskfiles.file_histogram
def slow(*args, **kwargs):
    ready.touch()
    time.sleep(0.3)
    return histogram(*args, **kwargs)
maskfiles.file_histogram = slow
sys.argv = ["bceweights", *sys.argv[2:]]
from bceweights.cli import main
main()
"""


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_sigterm_during_a_mask_scan_ends_every_worker(tmp_path):
    from PIL import Image

    masks = tmp_path / "masks"
    masks.mkdir()
    for i in range(64):
        Image.fromarray(np.full((8, 8), i % 3, np.uint8)).save(masks / f"m{i:02d}.png")
    ready = tmp_path / "decoding"
    env = dict(os.environ, BCEWEIGHTS_START_METHOD="fork")
    proc = subprocess.Popen([sys.executable, "-c", DRIVER, str(ready), "compute", str(masks), "--workers", "2",
                             "-o", str(tmp_path / "w.pt"), "-q"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    workers: set[int] = set()
    while not ready.exists() or len(workers) < 2:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the workers never started"
        workers |= _children(proc.pid)
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode != 0 and not (tmp_path / "w.pt").exists()
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [pid for pid in workers if _alive(pid)] == []
