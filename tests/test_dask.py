"""The Dask engine gives the local engine's counts and .pt tensors exactly, on every input kind."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bceweights import api, readers
from bceweights.counts import merge_all
from bceweights.engines import dask as dask_engine
from bceweights.errors import BceWeightsError, InputError, UsageError
from bceweights.readers.base import PlanHints
from bceweights.spec import InputSpec

distributed = pytest.importorskip("distributed")
torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                       dashboard_address=None, silence_logs=50)
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


@pytest.fixture
def small_blocks(monkeypatch):
    """Partitions of about 2 kB, so small files split into many blocks."""
    monkeypatch.setattr(dask_engine, "MIN_BLOCK", 2000)
    monkeypatch.setattr(dask_engine, "MAX_BLOCK", 2000)


def _plan(path, spec=None):
    """The partitions the Dask engine would count (on 2 threads)."""
    from bceweights import inputs
    from bceweights.readers.base import PlanHints

    spec = spec or InputSpec()
    files = inputs.expand_paths([path], spec)
    (group,) = inputs.group_by_reader(files, spec)
    hints = PlanHints(split=True, block=dask_engine.block_size(sum(f.stat().st_size for f in files), 2), workers=2)
    return group.reader.plan(group.files, spec, hints).partitions


def _count_alone(part, spec):
    """A partition counted as a Dask worker counts it (None: no sample in it)."""
    from bceweights import readers

    partial = readers.get(part.reader).count(part, spec)
    return getattr(partial, "counts", partial)


def assert_same(local, dask):
    assert dask.counts.to_dict() == local.counts.to_dict()
    a, b = local.payload(), dask.payload()
    assert a.keys() == b.keys()
    for key, value in a.items():
        if isinstance(value, torch.Tensor):
            assert value.dtype == b[key].dtype and value.shape == b[key].shape, key
            assert torch.equal(value, b[key]), key
    assert a["classes"] == b["classes"]


def _wide_csv(path: Path, n: int = 3000, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    values = (rng.random((n, 4)) < [0.05, 0.3, 0.5, 0.9]).astype(int).astype(object)
    values[rng.random((n, 4)) < 0.02] = ""
    values[rng.random((n, 4)) < 0.02] = -1
    lines = ["patient_id,Atelectasis,Edema,Effusion,Other,split"]
    lines += [f"{i},{','.join(map(str, row))},{'train' if i % 3 else 'val'}" for i, row in enumerate(values)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _list_csv(path: Path, n: int = 2000, seed: int = 1) -> Path:
    rng = np.random.default_rng(seed)
    names = ["Mass", "Nodule", "Hernia", "Edema", "Zeta"]
    lines = ["Image Index,Finding Labels"]
    for i in range(n):
        # Later rows bring classes the first blocks never see: they must merge by name.
        pool = names[: 2 + (3 * i) // n]
        picked = [c for c in pool if rng.random() < 0.3] or ["No Finding"]
        lines.append(f"img_{i}.png,{'|'.join(picked)}")
    path.write_text("\n".join(lines) + "\n")
    return path


# ------------------------------------------------------------------------------ tables on a cluster


def test_wide_csv_in_many_blocks_equals_local(tmp_path, client, small_blocks):
    path = _wide_csv(tmp_path / "labels.csv")
    parts = _plan(path)
    assert len(parts) > 10 and all(p.part is not None and p.label.startswith("block ") for p in parts)
    assert_same(api.compute(path), api.compute(path, engine="dask", scheduler=client))
    # Explicit columns, --where and an uncertain policy take the same path.
    options = dict(columns=("Edema", "Effusion"), where=(("split", "train"),))
    assert_same(api.compute(path, **options), api.compute(path, engine="dask", scheduler=client, **options))


def test_label_lists_and_class_column_in_blocks_equal_local(tmp_path, client, small_blocks):
    path = _list_csv(tmp_path / "findings.csv")
    assert len(_plan(path, InputSpec(list_column="Finding Labels"))) > 5
    local = api.compute(path, list_column="Finding Labels")
    dask = api.compute(path, list_column="Finding Labels", engine="dask", scheduler=client)
    assert_same(local, dask)
    assert dask.classes == sorted(["Mass", "Nodule", "Hernia", "Edema", "No Finding"])
    one = tmp_path / "one.csv"
    one.write_text("file,diagnosis\n" + "".join(f"x{i},{'ABCD'[i * i % 7 % 4]}\n" for i in range(900)))
    assert_same(api.compute(one, class_column="diagnosis"),
                api.compute(one, class_column="diagnosis", engine="dask", scheduler=client))


def test_headerless_csv_with_classes_file(tmp_path, client, small_blocks):
    path = tmp_path / "labels.txt"
    rng = np.random.default_rng(3)
    path.write_text("".join(" ".join(map(str, row)) + "\n" for row in (rng.random((1500, 3)) < 0.2).astype(int)))
    names = tmp_path / "classes.txt"
    names.write_text("cat\ndog\nbird\n")
    options = dict(no_header=True, classes_file=names, delimiter=" ")
    local = api.compute(path, **options)
    assert local.classes == ["cat", "dog", "bird"]
    assert_same(local, api.compute(path, engine="dask", scheduler=client, **options))


def test_parquet_row_groups_equal_local(tmp_path, client, small_blocks):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(4)
    data = (rng.random((4000, 3)) < [0.1, 0.5, 0.7]).astype(np.int8)
    table = pa.table({"id": np.arange(4000), **{f"c{j}": data[:, j] for j in range(3)}})
    path = tmp_path / "labels.parquet"
    pq.write_table(table, path, row_group_size=500)
    parts = _plan(path)
    assert len(parts) > 1 and all("row group" in p.label for p in parts)
    local = api.compute(path)
    assert local.counts.pos.tolist() == data.sum(axis=0).tolist()
    assert_same(local, api.compute(path, engine="dask", scheduler=client))


def test_gzip_is_one_partition_per_file(tmp_path, client, small_blocks):
    plain = _wide_csv(tmp_path / "a.csv")
    packed = tmp_path / "b.csv.gz"
    packed.write_bytes(gzip.compress(_wide_csv(tmp_path / "b.csv", seed=5).read_bytes()))
    assert [(p.paths, p.part) for p in _plan(packed)] == [((str(packed),), None)]
    paths = [plain, packed]
    assert_same(api.compute(paths), api.compute(paths, engine="dask", scheduler=client))


def test_files_with_other_columns_fail_as_locally(tmp_path, client):
    a = _wide_csv(tmp_path / "a.csv")
    b = tmp_path / "b.csv"
    b.write_text("id,Edema\n1,0\n2,1\n")
    with pytest.raises(InputError) as local:
        api.compute([a, b])
    with pytest.raises(InputError) as dask:
        api.compute([a, b], engine="dask", scheduler=client)
    assert str(dask.value) == str(local.value)


# ------------------------------------------------------------------------------- masks and arrays


@pytest.fixture
def small_mask_groups(monkeypatch, small_blocks):
    """Mask partitions of about 2 kB and at most 2 files."""
    from bceweights.readers import masks

    monkeypatch.setattr(masks, "MAX_FILES", 2)


def test_masks_equal_local_with_auto_mode_over_the_whole_set(tmp_path, client, small_mask_groups):
    from PIL import Image

    rng = np.random.default_rng(6)
    for i in range(10):
        # The first masks hold only {0, 1}: decided per partition they would be "binary"; over the
        # whole set the ids go to 2 and 255 is VOC's void, so the mode is index.
        top = 2 if i < 6 else 3
        mask = rng.integers(0, top, size=(12, 16)).astype(np.uint8)
        if i >= 6:
            mask[0, :4] = 255
        Image.fromarray(mask).save(tmp_path / f"m{i:02d}.png")
    assert len(_plan(tmp_path)) == 5
    local = api.compute(tmp_path)
    assert local.classes == ["0", "1", "2"]
    dask = api.compute(tmp_path, engine="dask", scheduler=client)
    assert_same(local, dask)
    assert local.payload()["pos_weight"].shape == (3, 1, 1)


def test_channel_masks_and_median_frequency_equal_local(tmp_path, client, small_mask_groups):
    rng = np.random.default_rng(8)
    for i in range(7):
        soft = rng.random((3, 9, 8)).astype(np.float32)
        soft[soft < 0.4] = 0
        soft[:, 0, 0] = 255
        np.save(tmp_path / f"c{i}.npy", soft)
    options = dict(mask_mode="channels", ignore_index=(255,))
    assert len(_plan(tmp_path, InputSpec(**options))) == 4
    weights = api.WeightOptions(scheme="median-frequency")
    local = api.compute(tmp_path, weight_options=weights, **options)
    dask = api.compute(tmp_path, weight_options=weights, engine="dask", scheduler=client, **options)
    assert_same(local, dask)
    assert dask.counts.image_pixels.tolist() == [7 * (72 - 1)] * 3


def test_a_bad_mask_fails_as_locally(tmp_path, client, small_mask_groups):
    from PIL import Image

    for i in range(9):
        mask = np.full((6, 7), i % 3, np.uint8)
        Image.fromarray(mask if i != 5 else np.full((6, 7, 3), 9, np.uint8)).save(tmp_path / f"m{i}.png")
    with pytest.raises(InputError) as local:
        api.compute(tmp_path, workers=2)
    with pytest.raises(InputError) as dask:
        api.compute(tmp_path, engine="dask", scheduler=client)
    assert "m5.png: a colour (RGB) image" in local.value.message
    assert str(dask.value) == str(local.value)


def test_arrays_in_runs_of_samples_equal_local(tmp_path, client, small_blocks):
    pytest.importorskip("bceweights.readers.arrays")
    rng = np.random.default_rng(7)
    big = (rng.random((3000, 4)) < 0.3).astype(np.float32)
    big[rng.random(big.shape) < 0.01] = -1
    big[rng.random(big.shape) < 0.01] = np.nan
    np.save(tmp_path / "a.npy", big)
    for i in range(2):
        np.save(tmp_path / f"b{i}.npy", (rng.random((100, 4)) < 0.3).astype(np.uint8))
    files = sorted(tmp_path.glob("*.npy"))
    hints = PlanHints(split=True, block=dask_engine.block_size(sum(f.stat().st_size for f in files), 2))
    parts = readers.get("npy").plan(files, InputSpec(), hints).partitions
    assert sum(p.part is not None for p in parts) > 3  # runs of samples of a.npy
    local = api.compute(tmp_path)
    assert local.counts.samples == 3200
    assert_same(local, api.compute(tmp_path, engine="dask", scheduler=client))

    big[2222, 1] = 3
    np.save(tmp_path / "a.npy", big)
    with pytest.raises(InputError) as want:
        api.compute(tmp_path)
    with pytest.raises(InputError) as got:
        api.compute(tmp_path, engine="dask", scheduler=client)
    assert "2223" in want.value.message  # the sample's number in the whole file, not in its block
    assert got.value.message.startswith(want.value.message + " [block ")


def test_npz_pt_and_arff_in_file_groups_equal_local(tmp_path, client, small_blocks):
    rng = np.random.default_rng(8)
    y = (rng.random((400, 3)) < 0.3).astype(np.uint8)
    for i in range(3):
        np.savez_compressed(tmp_path / f"z{i}.npz", labels=y[i * 100:(i + 1) * 100], classes=np.array(["a", "b", "c"]))
    torch.save({"labels": torch.from_numpy(y.astype(np.float32)), "classes": ["a", "b", "c"]}, tmp_path / "t.pt")
    head = ["@relation 'r: -C -3'", "@attribute f numeric"] + [f"@attribute {c} {{0,1}}" for c in "abc"]
    rows = [f"0.5,{','.join(map(str, row))}" for row in y]
    (tmp_path / "l.arff").write_text("\n".join([*head, "@data", *rows]) + "\n")
    cases = ((sorted(tmp_path.glob("*.npz")), {}, 300), (tmp_path / "t.pt", {"key": "labels"}, 400),
             (tmp_path / "l.arff", {}, 400))
    for paths, options, n in cases:
        local = api.compute(paths, **options)
        assert local.classes == ["a", "b", "c"] and local.counts.pos.tolist() == y[:n].sum(0).tolist()
        assert_same(local, api.compute(paths, engine="dask", scheduler=client, **options))


def test_arrays_with_other_classes_fail_as_locally(tmp_path, client, small_blocks):
    rng = np.random.default_rng(9)
    np.save(tmp_path / "a.npy", (rng.random((900, 3)) < 0.3).astype(np.uint8))
    np.save(tmp_path / "b.npy", (rng.random((10, 3)) < 0.3).astype(np.uint8))
    np.save(tmp_path / "c.npy", (rng.random((10, 4)) < 0.3).astype(np.uint8))
    with pytest.raises(InputError) as local:
        api.compute(tmp_path)
    with pytest.raises(InputError) as dask:
        api.compute(tmp_path, engine="dask", scheduler=client)
    assert str(dask.value) == str(local.value)
    assert local.value.message.startswith(f"{tmp_path / 'c.npy'}: classes [0, 1, 2, 3] (4) differ from those of")


# --------------------------------------------------------------------------------- errors and URLs


def test_a_bad_block_is_one_error_naming_file_row_and_block(tmp_path, client, small_blocks, cli):
    path = _wide_csv(tmp_path / "bad.csv")
    lines = path.read_text().splitlines()
    lines[2500] = "2499,0,7,1,0,train"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(BceWeightsError) as local:
        api.compute(path)
    with pytest.raises(InputError) as dask:
        api.compute(path, engine="dask", scheduler=client)
    assert "row 2501" in local.value.message  # the absolute row, though the block starts mid-file
    assert dask.value.message.startswith(local.value.message + " [block ")
    assert "rows in bytes" in dask.value.message

    out = tmp_path / "w.pt"
    result = cli("compute", path, "--engine", "dask", "--scheduler", client.scheduler.address, "-o", out)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {path}: column 'Edema', row 2501")
    assert "block" in lines[0] and not out.exists()


def test_file_urls_and_local_paths_agree(tmp_path, client):
    path = _wide_csv(tmp_path / "labels.csv")
    by_url = api.compute(path.as_uri(), engine="dask", scheduler=client)
    assert_same(api.compute(path), by_url)
    assert by_url.meta["inputs"] == [str(path)]
    # URLs of stores are read (tests/test_cloud.py); a scheme no file system reads is a usage error.
    with pytest.raises(UsageError, match="nosuchscheme:// is not a kind of location"):
        api.compute("nosuchscheme://bucket/labels.csv", engine="dask", scheduler=client)


def test_cli_writes_the_same_pt_on_a_cluster(tmp_path, client, cli, small_blocks):
    path = _list_csv(tmp_path / "findings.csv")
    common = ["--list-column", "Finding Labels", "-q"]
    assert cli("compute", path, *common, "-o", tmp_path / "local.pt").exit_code == 0
    result = cli("compute", path, *common, "-o", tmp_path / "dask.pt", "--engine", "dask",
                 "--scheduler", client.scheduler.address)
    assert result.exit_code == 0, result.stderr
    a = torch.load(tmp_path / "local.pt", weights_only=True)
    b = torch.load(tmp_path / "dask.pt", weights_only=True)
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], torch.Tensor):
            assert torch.equal(a[key], b[key]), key
    assert a["classes"] == b["classes"] and b["meta"]["engine"] == "dask"
    checked = cli("validate", tmp_path / "dask.pt", path, *common, "--engine", "dask",
                  "--scheduler", client.scheduler.address)
    assert checked.exit_code == 0, checked.stderr


def test_scheduler_needs_the_dask_engine(tmp_path, cli):
    path = _wide_csv(tmp_path / "labels.csv", n=10)
    result = cli("compute", path, "--scheduler", "tcp://127.0.0.1:8786", "-o", tmp_path / "w.pt")
    assert result.exit_code == 2 and "--engine dask" in result.stderr


def test_own_local_cluster_when_no_scheduler_is_given(tmp_path):
    path = _wide_csv(tmp_path / "labels.csv", n=50)
    assert_same(api.compute(path), api.compute(path, engine="dask", workers=1))


# ------------------------------------------------------------- block boundaries, without a cluster


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(st.tuples(st.sampled_from(["0", "1", "", "-1", "0.25"]), st.sampled_from(["0", "1"])),
                  min_size=1, max_size=120),
    blank_every=st.integers(0, 7),
    crlf=st.booleans(),
    block=st.integers(8, 200),
)
def test_blocks_cover_every_row_exactly_once(tmp_path_factory, rows, blank_every, crlf, block):
    """Whatever the block size, line endings or blank lines, the blocks' counts add up to the file's."""
    end = "\r\n" if crlf else "\n"
    lines = ["a,b"]
    for i, (a, b) in enumerate(rows):
        lines.append(f"{a},{b}")
        if blank_every and i % blank_every == 0:
            lines.append("")
    path = tmp_path_factory.mktemp("blocks") / "t.csv"
    path.write_text(end.join(lines) + end, newline="")
    old = dask_engine.MIN_BLOCK, dask_engine.MAX_BLOCK
    dask_engine.MIN_BLOCK = dask_engine.MAX_BLOCK = block
    try:
        spec = InputSpec(columns=("a", "b"))
        parts = _plan(path, spec)
        got = merge_all(c for c in (_count_alone(p, spec) for p in parts) if c is not None)
    finally:
        dask_engine.MIN_BLOCK, dask_engine.MAX_BLOCK = old
    want = api.count(path, spec)
    assert got.samples == len(rows)
    # Soft values sum in another order across blocks: equal to the last bit is not promised for them.
    assert np.allclose(got.pos, want.pos, rtol=0, atol=1e-9)
    assert np.allclose(got.neg, want.neg, rtol=0, atol=1e-9)
    assert got.ignored.tolist() == want.ignored.tolist()
    assert got.missing.tolist() == want.missing.tolist()
    assert got.no_positive == want.no_positive
