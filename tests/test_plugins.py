"""A third-party reader, installed as a package, is used by both engines, the checks and the per-sample
pass without any change to bceweights (issue 13): the example of docs/readers.md."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "docs" / "examples" / "bceweights-mxnet-lst"


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The example package pip-installed into a folder put on the path (and on the Dask workers')."""
    from bceweights import readers

    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(EXAMPLE)], check=True, capture_output=True)
    sys.path.insert(0, str(target))
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(target), old]))
    readers.clear()
    try:
        yield target
    finally:
        sys.path.remove(str(target))
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old
        readers.clear()
        sys.modules.pop("bceweights_mxnet_lst", None)


def _lst(path: Path, y: np.ndarray) -> Path:
    path.write_text("".join(f"{i}\t" + "\t".join(f"{v:g}" for v in row) + f"\timages/{i:05d}.jpg\n"
                            for i, row in enumerate(y)))
    return path


def test_the_docs_show_the_example_as_it_is():
    text = (ROOT / "docs" / "readers.md").read_text()
    for name in ("bceweights_mxnet_lst.py", "pyproject.toml"):
        assert (EXAMPLE / name).read_text() in text, name


def test_an_installed_reader_counts_on_both_engines(installed, tmp_path, cli):
    pytest.importorskip("distributed")
    import torch

    from bceweights import api, readers

    assert readers.get("mxnet-lst").description.startswith("MXNet")
    rng = np.random.default_rng(0)
    y = (rng.random((900, 4)) < [0.05, 0.2, 0.5, 0.9]).astype(int)
    path = _lst(tmp_path / "train.lst", y)
    names = tmp_path / "classes.txt"
    names.write_text("cat\ndog\nbird\nfish\n")
    local = api.compute(path, classes_file=names)
    assert local.classes == ["cat", "dog", "bird", "fish"]
    assert local.counts.pos.tolist() == y.sum(axis=0).tolist()
    assert local.counts.neg.tolist() == (1 - y).sum(axis=0).tolist()
    dask = api.compute(path, classes_file=names, engine="dask", workers=1)
    assert dask.counts.to_dict() == local.counts.to_dict()
    assert torch.equal(dask.payload()["pos_weight"], local.payload()["pos_weight"])

    out, sampler = tmp_path / "w.pt", tmp_path / "s.pt"
    result = cli("compute", path, "--classes-file", names, "-o", out, "--sample-weights", sampler)
    assert result.exit_code == 0, result.stderr
    assert "PASS  broadcast" in result.stdout and "PASS  numeric" in result.stdout
    rows = torch.load(sampler, weights_only=True)
    assert rows["ids"][:2] == ["images/00000.jpg", "images/00001.jpg"] and len(rows["weights"]) == 900
    refused = cli("compute", path, "--where", "split=train", "-o", out)
    assert refused.exit_code == 2
    assert refused.stderr.strip().startswith("Error: --where does not apply to mxnet-lst input")
