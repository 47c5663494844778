"""Labels in object storage: every format read from ``s3://`` (a moto S3 server in its own process,
reached through ``AWS_ENDPOINT_URL``) gives the local file's tensors bit for bit; prefixes and globs
expand on the store; ``.npy`` rows are ranged reads; errors are one line naming the URL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bceweights import api, locations
from bceweights.errors import InputError, MissingDependency, UsageError

pytest.importorskip("moto")
pytest.importorskip("s3fs")

from sample_inputs import KINDS, write_csv, write_lists, write_npy, write_parquet, write_png_masks  # noqa: E402
from services import S3Server, assert_same, child_env, s3_server  # noqa: E402

pytestmark = pytest.mark.cloud

RNG = np.random.default_rng(16)


@pytest.fixture(scope="module")
def s3(tmp_path_factory) -> S3Server:
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with s3_server(log) as server, pytest.MonkeyPatch.context() as patch:
        for name, value in server.env.items():
            patch.setenv(name, value)
        yield server


@pytest.fixture
def prefix(request, s3) -> str:
    """A fresh key prefix per test (bucket ``labels``)."""
    return f"labels/{request.node.name.replace('[', '-').replace(']', '')}"


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_format_from_s3_equals_the_local_file(kind, tmp_path, s3, prefix, monkeypatch):
    write, options = KINDS[kind]
    if options.get("workers", 1) > 1:
        # Pool workers open the URLs themselves, with their environment: a forkserver that an earlier
        # test started has the one from before the S3 server's variables were set.
        monkeypatch.setenv("BCEWEIGHTS_START_METHOD", "spawn")
    local = write(tmp_path)
    address = s3.upload(local, prefix)
    expected = api.compute(local, **options)
    got = api.compute(address, **options)
    assert_same(expected, got)
    inputs = got.meta["inputs"]
    # Files under the prefix, or the prefix itself where a reader takes a folder whole (YOLO labels).
    assert all(i.startswith(f"s3://{prefix}/") or i == f"s3://{prefix}" for i in inputs)
    assert len(inputs) == len(expected.meta["inputs"])


def test_wide_csv_from_s3_matches_numpy(tmp_path, s3, prefix):
    local = write_csv(tmp_path)
    rows = np.array([line.split(",")[1:] for line in local.read_text().splitlines()[1:]], dtype=object)
    address = s3.upload(local, prefix)
    counts = api.count(address)
    assert counts.pos.tolist() == (rows == "1").sum(axis=0).tolist()
    # Blanks are negatives, -1 ignored (the default value policy).
    assert counts.neg.tolist() == ((rows == "0") | (rows == "")).sum(axis=0).tolist()
    assert counts.ignored.tolist() == (rows == "-1").sum(axis=0).tolist()


# ---------------------------------------------------------------------------------------- expansion


def test_prefixes_and_globs_are_listed_on_the_store(tmp_path, s3, prefix):
    masks = write_png_masks(tmp_path)
    s3.upload(masks, prefix)
    names = sorted(f"s3://{prefix}/{p.relative_to(masks).as_posix()}" for p in masks.rglob("*.png"))
    from bceweights.inputs import expand_paths
    from bceweights.spec import InputSpec

    spec = InputSpec(num_classes=4)
    # A prefix: every label file under it, sorted, other objects left out; with or without "/".
    assert [str(p) for p in expand_paths(f"s3://{prefix}/", spec)] == names
    assert [str(p) for p in expand_paths(f"s3://{prefix}", spec)] == names
    assert [str(p) for p in expand_paths(f"s3://{prefix}/*.png", spec)] == [n for n in names if "part2" not in n]
    assert [str(p) for p in expand_paths(f"s3://{prefix}/**/m*.png", spec)] == names
    assert all(isinstance(p, locations.RemotePath) for p in expand_paths(f"s3://{prefix}/", spec))
    options = {"num_classes": 4, "ignore_index": (255,), "workers": 1}
    assert_same(api.compute(masks, **options), api.compute(f"s3://{prefix}/**/*.png", **options))

    with pytest.raises(InputError, match=rf"s3://{prefix}/\*\.tif: the pattern matches no object"):
        expand_paths(f"s3://{prefix}/*.tif", spec)
    with pytest.raises(InputError, match=rf"s3://{prefix}/nope.csv: no such file, object or prefix"):
        expand_paths(f"s3://{prefix}/nope.csv", spec)
    s3.filesystem().pipe(f"{prefix}-other/readme.md", b"hello")
    with pytest.raises(InputError, match="the prefix holds no label file"):
        expand_paths(f"s3://{prefix}-other/", spec)


def test_a_remote_path_keeps_its_url_through_path_operations():
    path = locations.as_path("s3://bucket/dir/labels.csv.gz")
    assert str(path) == os.fspath(path) == "s3://bucket/dir/labels.csv.gz"
    assert (path.name, path.suffix, str(path.parent)) == ("labels.csv.gz", ".gz", "s3://bucket/dir")
    # A plain Path collapses the "//": every function of locations reads it as the URL again.
    collapsed = Path(str(path))
    assert str(collapsed) == "s3:/bucket/dir/labels.csv.gz"
    assert locations.url(collapsed) == str(path) and locations.as_path(collapsed) == path
    assert str(locations.as_path(collapsed)) == str(path)
    assert locations.url("data/labels.csv") is None and locations.url("C://labels.csv") is None
    # A presigned URL's query is not part of the name the reader is picked by.
    signed = locations.as_path("https://host/b/labels.parquet?X-Amz-Signature=ab%2Fcd&X-Amz-Expires=60")
    assert signed.name == "labels.parquet" and signed.suffix == ".parquet"
    assert str(signed).endswith("X-Amz-Expires=60")


# ------------------------------------------------------------------------------------------ reading


def test_npy_rows_are_ranged_reads(tmp_path, s3, prefix, monkeypatch):
    local = write_npy(tmp_path)
    array = np.load(local)
    remote = locations.load_npy(s3.upload(local, prefix))
    assert isinstance(remote, locations.RangedArray)
    assert remote.shape == array.shape and remote.dtype == array.dtype
    fetched = []
    real = locations.read_range
    monkeypatch.setattr(locations, "read_range", lambda loc, a, b: fetched.append(b - a) or real(loc, a, b))
    part = remote[1000:1010]
    assert fetched == []  # slicing reads nothing
    assert np.array_equal(np.asarray(part), array[1000:1010])
    assert fetched == [10 * array.shape[1] * array.itemsize]
    # np.moveaxis keeping the first axis first stays ranged; a 1-D array gets its class axis.
    moved = np.moveaxis(remote, 1, -1)
    assert moved is remote
    one = s3.upload(_save(tmp_path / "one.npy", array[:, 0]), prefix)
    column = locations.load_npy(one)[:, None]
    assert column.shape == (len(array), 1)
    assert np.array_equal(np.asarray(column[5:9]), array[5:9, :1])


def test_class_axis_first_is_read_whole_with_the_same_counts(tmp_path, s3, prefix):
    local = _save(tmp_path / "cn.npy", (RNG.random((4, 500)) < 0.3).astype(np.uint8))
    assert_same(api.compute(local, class_axis=0), api.compute(s3.upload(local, prefix), class_axis=0))


def _save(path: Path, array: np.ndarray) -> Path:
    np.save(path, array)
    return path


def test_a_presigned_https_url_reads_like_the_object(tmp_path, s3, prefix):
    pytest.importorskip("aiohttp")
    local = write_parquet(tmp_path)
    s3.upload(local, prefix)
    signed = s3.filesystem().sign(f"{prefix}/{local.name}", expiration=600)
    assert signed.startswith("http://127.0.0.1:") and "?" in signed
    assert_same(api.compute(local), api.compute(signed))


def test_the_cli_writes_the_same_pt_from_s3(tmp_path, s3, prefix, cli):
    import torch

    local = write_lists(tmp_path)
    address = s3.upload(local, prefix)
    common = ["--list-column", "Finding Labels", "-q"]
    assert cli("compute", local, *common, "-o", tmp_path / "local.pt").exit_code == 0
    result = cli("compute", address, *common, "-o", tmp_path / "s3.pt")
    assert result.exit_code == 0, result.stderr
    a = torch.load(tmp_path / "local.pt", weights_only=True)
    b = torch.load(tmp_path / "s3.pt", weights_only=True)
    for key in ("pos_count", "neg_count", "pos_weight", "class_weight"):
        assert torch.equal(a[key], b[key]), key
    assert a["classes"] == b["classes"] and b["meta"]["inputs"] == [address]


def test_per_sample_weights_and_validate_read_urls(tmp_path, s3, prefix, cli):
    import torch

    local = write_csv(tmp_path)
    address = s3.upload(local, prefix)
    for source, name in ((local, "local"), (address, "s3")):
        result = cli("compute", source, "-q", "--sample-weights", tmp_path / f"{name}-sw.pt",
                     "-o", tmp_path / f"{name}.pt")
        assert result.exit_code == 0, result.stderr
    a = torch.load(tmp_path / "local-sw.pt", weights_only=True)
    b = torch.load(tmp_path / "s3-sw.pt", weights_only=True)
    assert torch.equal(a["weights"], b["weights"]) and torch.equal(a["rows"], b["rows"])
    assert b["files"] == [address]
    assert cli("validate", tmp_path / "s3.pt", address, "-q").exit_code == 0


# ------------------------------------------------------------------------------------------- errors


def test_a_missing_object_is_one_line_naming_it(tmp_path, s3, prefix, cli):
    result = cli("compute", f"s3://{prefix}/missing.csv", "-o", tmp_path / "w.pt")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        f"Error: s3://{prefix}/missing.csv: no such file, object or prefix"]
    with pytest.raises(InputError, match="no such file or object"):
        locations.open(f"s3://{prefix}/missing.csv", "rb")


def test_unknown_schemes_and_missing_file_systems_are_named(monkeypatch):
    with pytest.raises(UsageError, match=r"nosuch://b/x.csv: nosuch:// is not a kind of location"):
        api.compute("nosuch://b/x.csv")
    # A scheme whose file system is not installed names the package to install.
    import fsspec.core

    def missing(url, **options):
        raise ImportError("Please install gcsfs to access Google Storage")

    monkeypatch.setattr(fsspec.core, "url_to_fs", missing)
    with pytest.raises(MissingDependency) as info:
        api.compute("gs://bucket/labels.csv")
    assert info.value.message == ("gs://bucket/labels.csv: reading gs:// URLs needs the optional package "
                                  "'gcsfs'")
    assert 'bceweights[cloud]' in info.value.hint


def test_no_credentials_is_one_line_with_a_hint(tmp_path, s3, prefix):
    address = s3.upload(write_csv(tmp_path), prefix)
    env = child_env({"AWS_ENDPOINT_URL": s3.endpoint, "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
                     "AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_EC2_METADATA_DISABLED": "true"})
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        env.pop(name, None)
    run = subprocess.run([sys.executable, "-m", "bceweights", "compute", address, "-o", str(tmp_path / "w.pt")],
                         env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {address}: no credentials found"), run.stderr
    assert "AWS_ACCESS_KEY_ID" in lines[0] and "AWS_ENDPOINT_URL" in lines[0]
    assert not (tmp_path / "w.pt").exists()
