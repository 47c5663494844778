"""Nothing is lost (issue 9): outputs are written to a temp file beside the target and renamed, so a
failure, Ctrl-C or SIGTERM at any point leaves an earlier ``weights.pt`` byte for byte and no partial or
temp file. SIGKILL cannot be cleaned up after: it may leave ``.weights.pt.PID-XXXX.tmp``, which the next
write of the same path removes. Also: every ``.pt`` we write loads with ``weights_only=True``, and the code
never loads with ``weights_only=False``.
"""

from __future__ import annotations

import ast
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bceweights import io
from bceweights.errors import OutputError

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "bceweights"
OLD = b"an earlier weights file that must survive"


def temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def big_csv(path: Path, chunks: int = 40) -> Path:
    """~0.8 MB per chunk of 20 random 0/1 columns: 40 chunks take a second or more to scan."""
    rng = np.random.default_rng(0)
    lines = np.full((20000, 40), ord(","), np.uint8)
    lines[:, 0::2] = rng.integers(0, 2, (20000, 20)) + ord("0")
    lines[:, -1] = ord("\n")
    chunk = lines.tobytes()
    with open(path, "wb") as fh:
        fh.write((",".join(f"c{i}" for i in range(20)) + "\n").encode())
        for _ in range(chunks):
            fh.write(chunk)
    return path


# ------------------------------------------------------------------------------ in-process failures


def test_a_bad_value_at_the_end_keeps_the_old_file(cli, tmp_path):
    out = tmp_path / "weights.pt"
    out.write_bytes(OLD)
    labels = tmp_path / "labels.csv"
    labels.write_text("a,b\n" + "1,0\n0,1\n" * 500 + "1,7\n")
    result = cli("compute", labels, "-o", out)
    assert result.exit_code == 1 and "row 1002: value 7 is not a label" in result.stderr
    assert out.read_bytes() == OLD
    assert temps(tmp_path) == []


@pytest.mark.parametrize("failure", [KeyboardInterrupt, OSError])
def test_a_failure_mid_save_keeps_the_old_file(cli, tmp_path, monkeypatch, failure):
    import torch

    out = tmp_path / "weights.pt"
    out.write_bytes(OLD)
    labels = tmp_path / "labels.csv"
    labels.write_text("a,b\n1,0\n0,1\n")

    def half_save(obj, fh, *args, **kwargs):
        fh.write(b"PK\x03\x04 half a zip")
        assert temps(tmp_path), "torch.save writes into a temp file beside the target"
        raise failure(28, "No space left on device") if failure is OSError else failure()

    monkeypatch.setattr(torch, "save", half_save)
    result = cli("compute", labels, "-o", out)
    if failure is KeyboardInterrupt:
        assert result.exit_code == 130
        assert result.stderr.strip() == ("Interrupted: no partial file was written; files being written "
                                         "were left as they were.")
    else:
        assert result.exit_code == 1
        assert result.stderr.strip() == (f"Error: {out}: cannot write (No space left on device); any "
                                         "earlier file is unchanged")
    assert out.read_bytes() == OLD
    assert temps(tmp_path) == []


def test_atomic_write_replaces_only_on_success(tmp_path):
    target = tmp_path / "report.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), io.atomic_write(target, "w") as fh:
        fh.write("new, half")
        raise RuntimeError("boom")
    assert target.read_text() == "old" and temps(tmp_path) == []
    io.write_text(target, "new")
    assert target.read_text() == "new" and temps(tmp_path) == []


def test_output_errors_before_the_scan(tmp_path):
    with pytest.raises(OutputError, match="is a directory"):
        io.atomic_write(tmp_path, "w").__enter__()
    assert temps(tmp_path) == []


# ------------------------------------------------------------------------------------ stale temps


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_temp_files_of_ours_are_removed(tmp_path):
    target = tmp_path / "weights.pt"
    dead = _dead_pid()
    old, recent = time.time() - 120, time.time() - 1
    cases = {
        f".weights.pt.{dead}-abc.tmp": (old, True),       # writer gone: a SIGKILL leftover
        f".weights.pt.{dead}-new.tmp": (recent, False),   # too fresh to judge (another host?)
        ".weights.pt.1-live.tmp": (old, False),           # pid 1 is alive: its write may be going on
        ".weights.pt.1-ancient.tmp": (time.time() - 7200, True),  # nothing writes for two hours
        f".other.pt.{dead}-abc.tmp": (old, False),        # another output's temp
        f"weights.pt.{dead}-abc.tmp": (old, False),       # not our naming
    }
    for name, (mtime, _) in cases.items():
        (tmp_path / name).write_bytes(b"partial")
        os.utime(tmp_path / name, (mtime, mtime))
    removed = {p.name for p in io.remove_stale_temps(target)}
    assert removed == {name for name, (_, gone) in cases.items() if gone}
    assert {p.name for p in tmp_path.iterdir()} == {n for n, (_, gone) in cases.items() if not gone}


# -------------------------------------------------------------------------------- the real CLI, killed


def _default_signals() -> None:
    # A background job of a non-interactive shell (CI) inherits SIGINT ignored; a user's terminal
    # does not.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to see the scan start")
@pytest.mark.parametrize("sig, code, message", [
    (signal.SIGINT, 130, "Interrupted: no partial file was written; files being written were left as "
                         "they were."),
    # Mid-scan there is no temp file yet: SIGTERM keeps its default and ends the process at once.
    (signal.SIGTERM, -signal.SIGTERM, ""),
])
def test_killed_mid_scan_keeps_the_old_file(tmp_path, sig, code, message):
    labels = big_csv(tmp_path / "labels.csv")
    out = tmp_path / "weights.pt"
    out.write_bytes(OLD)
    proc = _spawn_slow_scan(tmp_path, ["compute", str(labels), "-o", str(out), "--json", str(tmp_path / "r.json")])
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, (stdout, stderr)
    assert stderr.strip() == message and "Traceback" not in stderr
    assert out.read_bytes() == OLD
    assert not (tmp_path / "r.json").exists()
    assert temps(tmp_path) == []


SLOW_SCAN_DRIVER = """
import sys, time, pathlib
ready = pathlib.Path(sys.argv[1])
from bceweights.counts import Counts
update = Counts.update
def slow_update(self, labels):
    # A fast reader finishes a test-sized file before a signal lands; this keeps it mid-scan.
    update(self, labels)
    ready.touch()
    time.sleep(0.05)
Counts.update = slow_update
sys.argv = ["bceweights", *sys.argv[2:]]
from bceweights.cli import main
main()
"""


def _spawn_slow_scan(tmp_path: Path, args: list[str]) -> subprocess.Popen:
    """The real CLI, known to be mid-scan (some batches counted, more to come) when this returns."""
    ready = tmp_path / "scanning"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.pop("BCEWEIGHTS_DEBUG", None)
    proc = subprocess.Popen([sys.executable, "-c", SLOW_SCAN_DRIVER, str(ready), *args], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_default_signals)
    deadline = time.monotonic() + 60
    while not ready.exists():
        if proc.poll() is not None:
            pytest.fail(f"finished before it could be interrupted: {proc.communicate()}")
        assert time.monotonic() < deadline, "the scan never started"
        time.sleep(0.005)
    return proc


DRIVER = """
import sys, time, pathlib, torch
ready = pathlib.Path(sys.argv[1])
def stuck_save(obj, fh, *a, **k):
    fh.write(b"PK\\x03\\x04 the first bytes of a zip")
    fh.flush()
    ready.write_text("saving")
    time.sleep(600)
torch.save = stuck_save
sys.argv = ["bceweights", *sys.argv[2:]]
from bceweights.cli import main
main()
"""


def _stuck_in_save(tmp_path: Path, labels: Path, out: Path) -> subprocess.Popen:
    """The real CLI, stopped inside torch.save with a partial temp file on disk."""
    ready = tmp_path / "ready"
    proc = subprocess.Popen([sys.executable, "-c", DRIVER, str(ready), "compute", str(labels), "-o", str(out),
                             "-q"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=_default_signals)
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the save never started"
        time.sleep(0.01)
    assert len(temps(tmp_path)) == 1
    return proc


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupted_mid_save_keeps_the_old_file_and_no_temp(tmp_path, sig, code):
    labels = tmp_path / "labels.csv"
    labels.write_text("a,b\n1,0\n0,1\n1,1\n")
    out = tmp_path / "weights.pt"
    out.write_bytes(OLD)
    proc = _stuck_in_save(tmp_path, labels, out)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, stderr
    assert b"Traceback" not in stderr
    assert out.read_bytes() == OLD
    assert temps(tmp_path) == []


def test_sigkill_mid_save_keeps_the_old_file_and_the_next_run_cleans_up(tmp_path, cli):
    labels = tmp_path / "labels.csv"
    labels.write_text("a,b\n1,0\n0,1\n1,1\n")
    out = tmp_path / "weights.pt"
    out.write_bytes(OLD)
    proc = _stuck_in_save(tmp_path, labels, out)
    proc.kill()
    proc.wait(timeout=30)
    assert out.read_bytes() == OLD
    # SIGKILL gives no chance to clean up: the temp file stays, named after the dead writer ...
    leftovers = temps(tmp_path)
    assert leftovers == [f".weights.pt.{proc.pid}-{leftovers[0].split('-', 1)[1]}"]
    stale = tmp_path / leftovers[0]
    os.utime(stale, (time.time() - 60, time.time() - 60))
    # ... and the next write of the same file removes it.
    result = cli("compute", labels, "-o", out, "-q")
    assert result.exit_code == 0, result.stderr
    assert temps(tmp_path) == []
    assert io.load(out)["classes"] == ["a", "b"]


# ------------------------------------------------------------------------------------ loading safety


def test_every_pt_we_write_loads_with_weights_only(cli, tmp_path):
    import torch

    labels = tmp_path / "labels.csv"
    labels.write_text("a,b,c\n1,0,-1\n0,0.5,1\n1,,0\n")
    out = tmp_path / "w.pt"
    # Soft labels are counted in named columns only (detection takes 0/1, -1 and blanks).
    assert cli("compute", labels, "--columns", "a,b,c", "-o", out, "-q").exit_code == 0
    data = torch.load(out, weights_only=True)
    assert data["classes"] == ["a", "b", "c"]
    assert data["pos_count"].dtype == torch.float64 and data["pos_weight"].dtype == torch.float32
    assert data["pos_count"].tolist() == [2.0, 0.5, 1.0]
    assert data["neg_count"].tolist() == [1.0, 2.5, 1.0]


def test_every_pt_we_write_for_masks_loads_with_weights_only(cli, tmp_path):
    pytest.importorskip("bceweights.readers.masks")
    import torch
    from PIL import Image

    for i in range(2):
        mask = np.zeros((4, 5), np.uint8)
        mask[i, :] = 1
        mask[3, 4] = 2
        Image.fromarray(mask).save(tmp_path / f"m{i}.png")
    out = tmp_path / "m.pt"
    result = cli("compute", tmp_path / "m0.png", tmp_path / "m1.png", "-o", out, "-q")
    assert result.exit_code == 0, result.stderr
    data = torch.load(out, weights_only=True)
    assert data["pos_count"].tolist() == [28.0, 10.0, 2.0]
    assert list(data["pos_weight"].shape) == [3, 1, 1]


def _keyword_false(path: Path) -> list[int]:
    """Lines where code (not a string or a comment) passes ``weights_only`` anything but ``True``."""
    import tokenize

    with open(path, "rb") as fh:
        tokens = [t for t in tokenize.tokenize(fh.readline)
                  if t.type not in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT)]
    return [a.start[0] for a, b, c in zip(tokens, tokens[1:], tokens[2:])
            if a.string == "weights_only" and b.string == "=" and c.string != "True"]


def test_no_code_loads_with_weights_only_false():
    offenders = []
    for path in sorted(ROOT.rglob("*.py")):
        if any(part.startswith(".") or part in ("build", "dist") for part in path.relative_to(ROOT).parts):
            continue
        offenders += [f"{path.relative_to(ROOT)}:{line}" for line in _keyword_false(path)]
    assert offenders == []


def test_the_weights_only_check_catches_it(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text('import torch\nx = torch.load("w.pt",\n   weights_only = False)  # unsafe\n'
                   'y = torch.load(p, weights_only=flag)\n"""weights_only=False in a string is fine"""\n')
    assert _keyword_false(bad) == [3, 4]


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node


def _name(func: ast.AST) -> str:
    if isinstance(func, ast.Attribute):
        return f"{_name(func.value)}.{func.attr}"
    return func.id if isinstance(func, ast.Name) else ""


def test_every_torch_load_in_the_package_passes_weights_only_true():
    loads = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for call in _calls(ast.parse(path.read_text(encoding="utf-8"))):
            if _name(call.func).endswith("torch.load"):
                keyword = {k.arg: k.value for k in call.keywords}.get("weights_only")
                safe = isinstance(keyword, ast.Constant) and keyword.value is True
                loads.append((f"{path.relative_to(ROOT)}:{call.lineno}", safe))
    assert loads, "io.load uses torch.load"
    assert [where for where, safe in loads if not safe] == []


# ------------------------------------------------------------------- every output goes through io


# Calls that create or overwrite a file. Outside io.py each must write into a handle from
# io.atomic_write / io.write_with / io.write_text, never to a path.
_WRITERS = ("torch.save", "np.save", "np.savez", "np.savez_compressed", "numpy.save", "savefig",
            "to_csv", "to_parquet", "to_json", "write_table", "write_text", "write_bytes", "tofile")


def _writes_to_a_path(call: ast.Call) -> bool:
    name = _name(call.func)
    if name == "open" or name.endswith(".open") and not name.endswith(("gzip.open", "bz2.open")):
        mode = call.args[1] if len(call.args) > 1 else {k.arg: k.value for k in call.keywords}.get("mode")
        return isinstance(mode, ast.Constant) and isinstance(mode.value, str) and any(
            c in mode.value for c in "wax+")
    if not name.endswith(_WRITERS) or name.startswith(("io.", "bceweights.io.")):
        return False
    if name.endswith(("write_text", "write_bytes")):
        return True  # Path.write_text: never atomic
    target = call.args[0] if call.args else None
    if name.endswith("torch.save"):
        target = call.args[1] if len(call.args) > 1 else None
    # Writing into a handle (a plain name such as fh, or a buffer) is what atomic_write hands out.
    return not isinstance(target, ast.Name) or target.id in ("path", "out", "output", "dest", "target")


def test_every_output_file_is_written_atomically():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name in ("io.py", "_docgen.py"):  # io holds atomic_write; _docgen writes the docs/ tree
            continue
        for call in _calls(ast.parse(path.read_text(encoding="utf-8"))):
            if _writes_to_a_path(call):
                offenders.append(f"{path.relative_to(ROOT)}:{call.lineno} {_name(call.func)}")
    assert offenders == [], "write outputs with bceweights.io.atomic_write / write_with / write_text"


def test_the_writer_check_catches_a_direct_write():
    bad = ast.parse("torch.save(payload, 'w.pt')\nfig.savefig(path)\nopen(p, 'w')\nPath(p).write_text(t)")
    good = ast.parse("torch.save(payload, fh)\nfig.savefig(fh, format='png')\nopen(p, 'rb')\n"
                     "io.write_text(p, t)")
    assert [_name(c.func) for c in _calls(bad) if _writes_to_a_path(c)] == [
        "torch.save", "fig.savefig", "open", ".write_text"]
    assert not any(_writes_to_a_path(c) for c in _calls(good))
