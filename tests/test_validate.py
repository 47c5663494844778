"""The loss checks: each proves what it claims and rejects the broken files it exists for."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bceweights.api import Result, compute
from bceweights.counts import Counts
from bceweights.errors import CheckFailed, InputError, OptionsError
from bceweights.validate import (
    CheckResult,
    TargetBatch,
    _fit_budget,
    _probe_shapes,
    align,
    check_balance,
    check_broadcast,
    check_numeric,
    check_sanity,
    optimal_constant_logit,
    reference_loss,
    resolve_device,
    validate,
)
from bceweights.weights import WeightOptions, compute_weights

# ----------------------------------------------------------------------------------------- fixtures


def table_counts(y: np.ndarray, classes=None) -> Counts:
    counts = Counts(classes or [f"c{i}" for i in range(y.shape[1])])
    counts.update(y)
    return counts


def mask_batch(c: int, h: int, w: int, n: int = 3, seed: int = 0) -> tuple[np.ndarray, Counts]:
    """One-hot index masks [n, c, h, w] with a void pixel, and their counts (spatial_ndim=2)."""
    rng = np.random.default_rng(seed)
    index = rng.integers(0, c, size=(n, h, w))
    index.reshape(n, -1)[:, :c] = np.arange(c)  # every class present
    y = np.stack([index == k for k in range(c)], axis=1).astype(np.float32)
    y[:, :, -1, -1] = np.nan
    valid = ~np.isnan(y[:, 0])
    counts = Counts([f"k{i}" for i in range(c)], spatial_ndim=2)
    counts.add(pos=np.nansum(y, axis=(0, 2, 3)), neg=[(valid & (y[:, k] == 0)).sum() for k in range(c)],
               ignored=[(~valid).sum()] * c, samples=n, pixels=n * h * w)
    return y, counts


def result_for(counts: Counts, options: WeightOptions | None = None) -> Result:
    return Result(counts, compute_weights(counts, options), {})


def labels_csv(tmp_path, name="labels.csv"):
    path = tmp_path / name
    rows = ["id,A,B,C,D"]
    for i in range(1000):
        rows.append(f"{i},{int(i < 600)},{int(i < 550)},{int(i < 200)},{int(i % 10 == 3)}")
    path.write_text("\n".join(rows) + "\n")
    return path


# ------------------------------------------------------------------------------- reference formulas


@settings(max_examples=40, deadline=None)
@given(c=st.integers(1, 5), spatial=st.lists(st.integers(1, 4), max_size=2), seed=st.integers(0, 2**16))
def test_reference_loss_is_torchs_loss_with_class_axis_weights(c, spatial, seed):
    rng = np.random.default_rng(seed)
    shape = [2, c, *spatial]
    x = rng.normal(0, 3, shape)
    y = rng.random(shape)  # soft labels too
    p = rng.uniform(0.1, 50, c)
    w = rng.uniform(0.1, 5, c)
    view = [c] + [1] * len(spatial)
    expected = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(p).reshape(view),
                                          weight=torch.tensor(w).reshape(view), reduction="none")(
        torch.tensor(x), torch.tensor(y)).numpy()
    np.testing.assert_allclose(reference_loss(x, y, p, w), expected, rtol=1e-10)


def test_reference_loss_worked_example():
    # x = 0: softplus(0) = log 2; y = 1 costs w·p·log 2, y = 0 costs w·log 2.
    got = reference_loss(np.zeros((1, 2)), np.array([[1.0, 0.0]]), np.array([3.0, 5.0]), np.array([2.0, 0.5]))
    np.testing.assert_allclose(got / math.log(2), [[6.0, 0.5]])


@settings(max_examples=60, deadline=None)
@given(pos=st.floats(1e-3, 1e9), neg=st.floats(1e-3, 1e9), p=st.floats(1e-3, 1e3))
def test_optimal_constant_logit_is_the_analytic_optimum(pos, neg, p):
    b = optimal_constant_logit([pos], [neg], [p])
    assert b[0] == pytest.approx(math.log(p * pos / neg), abs=1e-7)


def test_optimal_constant_logit_balance_worked_example():
    pos, neg = np.array([10.0, 1.0, 500.0]), np.array([990.0, 99999.0, 500.0])
    plain = optimal_constant_logit(pos, neg)
    np.testing.assert_allclose(plain, np.log(pos / neg), atol=1e-9)  # log(P/N) without weights
    np.testing.assert_allclose(optimal_constant_logit(pos, neg, neg / pos), 0.0, atol=1e-9)
    # No finite optimum without positives or without negatives.
    assert np.isnan(optimal_constant_logit([0.0, 5.0], [10.0, 0.0])).all()


# ------------------------------------------------------------------------------------------ broadcast


def test_flat_pos_weight_for_2d_masks_is_rejected_when_c_differs_from_w():
    y, counts = mask_batch(c=3, h=5, w=7)
    bad = result_for(counts).payload(flat=True)  # [3] against [N, 3, 5, 7]
    check = check_broadcast(bad, TargetBatch(y, counts.classes), "cpu")
    assert not check.passed
    assert "pos_weight shaped [3] does not broadcast over a target [3, 3, 5, 7]" in check.message
    assert "[3, 1, 1]" in check.hint
    good = check_broadcast(result_for(counts).payload(), TargetBatch(y, counts.classes), "cpu")
    assert good.passed, good.message
    assert good.details["probe_shapes"] == [[3, 3, 1, 1], [1, 3, 3, 1], [1, 3, 1, 3]]


def test_flat_pos_weight_is_rejected_when_c_equals_w_where_torch_broadcasts_silently():
    y, counts = mask_batch(c=4, h=6, w=4)
    bad = result_for(counts).payload(flat=True)
    loss = torch.nn.BCEWithLogitsLoss(pos_weight=bad["pos_weight"], reduction="none")(
        torch.zeros(y.shape), torch.ones(y.shape))
    assert loss.shape == y.shape  # torch raises nothing: the weights run along W
    check = check_broadcast(bad, TargetBatch(y, counts.classes), "cpu")
    assert not check.passed
    assert "varies along W" in check.message and "not along the class axis C" in check.message
    assert "element (0, 0, 0, 1) (class 'k0') gets the weight of class 'k1'" in check.message


def test_probe_shapes_put_c_on_each_other_axis():
    assert _probe_shapes([16, 5, 40, 30], 10**6) == [[5, 5, 1, 1], [1, 5, 5, 1], [1, 5, 1, 5]]
    assert _probe_shapes([100, 7], 10**6) == [[7, 7]]
    assert _probe_shapes([100, 1], 10**6) == []  # one class cannot go wrong
    assert _probe_shapes([2, 5000], 10**6) == []  # over budget


def test_extra_axes_in_the_weight_are_rejected():
    counts = table_counts(np.eye(3, dtype=np.float32)[[0, 1, 2, 0, 1]])
    payload = result_for(counts).payload()
    payload["pos_weight"] = payload["pos_weight"].reshape(3, 1, 1)  # a mask shape for a table
    check = check_broadcast(payload, TargetBatch(np.eye(3, dtype=np.float32)[[0, 1, 2, 0, 1]], counts.classes),
                            "cpu")
    assert not check.passed and "pos_weight shaped [3, 1, 1]" in check.message


# -------------------------------------------------------------------------------------------- numeric


def test_numeric_passes_and_masks_ignored_targets():
    y, counts = mask_batch(c=3, h=5, w=7)
    check = check_numeric(result_for(counts).payload(), TargetBatch(y, counts.classes), "cpu")
    assert check.passed, check.message
    # One void pixel per mask, every class; the check runs the targets and their complement.
    assert check.details["ignored"] == 2 * 3 * 3
    assert check.details["elements"] == 2 * (y.size - 9)
    assert check.details["max_relative_error"] < 1e-10


def test_numeric_rejects_an_inf_weight_naming_the_class():
    y = np.array([[1, 0], [0, 1], [0, 0]], dtype=np.float32)
    counts = table_counts(y, ["cat", "dog"])
    payload = result_for(counts).payload()
    payload["pos_weight"] = torch.tensor([2.0, math.inf])
    check = check_numeric(payload, TargetBatch(y, counts.classes), "cpu")
    assert not check.passed
    assert "not finite for classes 'dog'" in check.message


def test_numeric_catches_a_weight_not_applied_per_class():
    y, counts = mask_batch(c=3, h=4, w=3)
    payload = result_for(counts).payload(flat=True)  # broadcasts silently along W = 3
    check = check_numeric(payload, TargetBatch(y, counts.classes), "cpu")
    assert not check.passed and "elements differ by more than 1e-06 relative" in check.message


# --------------------------------------------------------------------------------------------- sanity


def test_swapped_class_order_is_rejected_naming_the_classes():
    y = (np.random.default_rng(0).random((200, 3)) < [0.5, 0.2, 0.1]).astype(np.float32)
    counts = table_counts(y, ["cat", "dog", "eel"])
    swapped = result_for(counts.reorder(["dog", "cat", "eel"])).payload()
    check = check_sanity(swapped, counts)
    assert not check.passed
    assert check.message.startswith("class order differs: the file lists 'dog', 'cat', 'eel', the labels 'cat', "
                                    "'dog', 'eel' (first difference at position 0: 'dog' in the file, 'cat'")
    assert "2 classes moved: 'dog', 'cat'" in check.message


def test_other_classes_are_rejected_naming_both_sides():
    counts = table_counts(np.eye(2, dtype=np.float32), ["cat", "dog"])
    other = result_for(table_counts(np.eye(2, dtype=np.float32), ["cat", "owl"])).payload()
    check = check_sanity(other, counts)
    assert not check.passed
    assert "only in the file: 'owl'; only in the labels: 'dog'" in check.message


def test_sanity_fails_on_inf_negative_and_stale_counts_and_warns_on_extremes():
    y = np.zeros((3000, 4), dtype=np.float32)
    y[:1500, 0] = 1
    y[:2, 1] = 1  # 2 positives: pos_weight 1499
    y[:4, 2] = 1
    y[:600, 3] = 1
    counts = table_counts(y, ["a", "rare", "few", "d"])
    payload = result_for(counts).payload()
    ok = check_sanity(payload, counts)
    assert ok.passed, ok.message
    assert any("pos_weight above 1,000 for 'rare' (1,499)" in w for w in ok.warnings)
    assert any("fewer than 10 positives (rare) for 'rare' (2), 'few' (4)" in w for w in ok.warnings)
    bad = dict(payload, pos_weight=torch.tensor([1.0, math.inf, math.nan, 1.0]),
               class_weight=torch.tensor([1.0, 1.0, 1.0, -2.0]))
    check = check_sanity(bad, counts)
    assert not check.passed
    assert "pos_weight is not finite for 2 classes: 'rare' (inf), 'few' (nan)" in check.message
    assert "class_weight is negative for 'd'" in check.message
    stale = dict(payload, pos_count=payload["pos_count"] + 1)
    check = check_sanity(stale, counts)
    assert not check.passed and "counts differ from the labels' for 4 classes" in check.message


def test_wrong_number_of_weights_skips_the_loss_checks():
    counts = table_counts(np.eye(3, dtype=np.float32))
    payload = dict(result_for(counts).payload(), pos_weight=torch.ones(2))
    report = validate(payload, np.eye(3, dtype=np.float32), counts)
    assert not report.passed
    assert "pos_weight has 2 values for 3 classes" in report["sanity"].message
    assert [c.status for c in report.checks] == ["fail", "skip", "skip", "skip"]


# -------------------------------------------------------------------------------------------- balance


def test_balance_reports_both_optima_and_equal_weighted_positives():
    # Ignored values make n_c differ per class: w·P is then not constant, w·P/n is.
    y = (np.random.default_rng(1).random((5000, 3)) < [0.3, 0.05, 0.01]).astype(np.float32)
    y[:700, 1] = np.nan
    counts = table_counts(y)
    check = check_balance(result_for(counts).payload(), counts, "cpu")
    assert check.passed, check.message
    np.testing.assert_allclose(check.details["b_weighted"], 0.0, atol=1e-6)
    np.testing.assert_allclose(check.details["b_unweighted"], np.log(counts.pos / counts.neg), atol=1e-8)
    np.testing.assert_allclose(check.details["positive_mass"], check.details["negative_mass"], rtol=1e-6)
    assert check.details["class_weight_invariant"]["relative_spread"] < 1e-5


def test_balance_fails_for_weights_of_other_counts_or_swapped_tensors():
    y = (np.random.default_rng(2).random((2000, 2)) < [0.3, 0.05]).astype(np.float32)
    counts = table_counts(y, ["a", "b"])
    payload = result_for(counts).payload()
    swapped = dict(payload, pos_weight=payload["class_weight"], class_weight=payload["pos_weight"])
    check = check_balance(swapped, counts, "cpu")
    assert not check.passed
    assert "pos_weight does not balance 2 classes" in check.message
    inverted = dict(payload, pos_weight=1 / payload["pos_weight"])
    b = check_balance(inverted, counts, "cpu").details["b_weighted"]
    np.testing.assert_allclose(b, 2 * np.log(counts.pos / counts.neg), atol=1e-5)  # log(P/N · P/N)


def test_balance_checks_only_what_the_options_promise():
    y = (np.random.default_rng(3).random((4000, 3)) < [0.4, 0.02, 0.001]).astype(np.float32)
    counts = table_counts(y)
    clipped = check_balance(result_for(counts, WeightOptions(clip=(None, 20.0))).payload(), counts, "cpu")
    assert clipped.passed, clipped.message
    assert clipped.details["adjusted_by_design"]["--clip"] == ["c1", "c2"]
    assert abs(clipped.details["b_weighted"][0]) < 1e-6
    smoothed = check_balance(result_for(counts, WeightOptions(smoothing=1.0)).payload(), counts, "cpu")
    assert smoothed.passed and "moved by --smoothing by design" in smoothed.message
    other = check_balance(result_for(counts, WeightOptions(scheme="inverse-sqrt")).payload(), counts, "cpu")
    assert other.passed
    assert "scheme 'inverse-sqrt' does not equalise the classes' weighted totals: not checked" in other.message


def test_balance_detects_class_weights_that_do_not_follow_the_scheme():
    y = (np.random.default_rng(4).random((3000, 3)) < [0.4, 0.1, 0.02]).astype(np.float32)
    counts = table_counts(y)
    payload = result_for(counts).payload()
    payload["class_weight"] = torch.ones(3)
    check = check_balance(payload, counts, "cpu")
    assert not check.passed and "does not make w_c·P_c/n_c equal across classes" in check.message


# ------------------------------------------------------------------------------ batches and drivers


def test_align_reorders_and_keeps_void():
    values = np.array([[1, 0], [np.nan, np.nan], [0, 1]], dtype=np.float32)
    out = align(TargetBatch(values, ["b", "a"]), ["a", "b", "z"]).values
    np.testing.assert_array_equal(out[[0, 2]], [[0, 1, 0], [1, 0, 0]])
    assert np.isnan(out[1]).all()  # a void row stays void for the class the sample never met
    with pytest.raises(CheckFailed, match="'q'"):
        align(TargetBatch(values, ["q", "a"]), ["a", "b"])


def test_fit_budget_crops_but_keeps_sizes_equal_to_c():
    values = np.zeros((4, 5, 300, 5), dtype=np.float32)
    out, cropped = _fit_budget(values, budget=1000)
    assert cropped and out.shape == (1, 5, 32, 5)
    out, cropped = _fit_budget(np.zeros((50, 3), np.float32), budget=30)
    assert not cropped and out.shape == (10, 3)


def test_sample_targets_for_tables_follow_the_counted_classes(tmp_path):
    path = tmp_path / "lists.csv"
    path.write_text("id,tags\n1,b|a\n2,c\n3,\n4,a\n")
    from bceweights.spec import InputSpec
    from bceweights.targets import sample_targets_of

    batch = sample_targets_of(path, InputSpec(list_column="tags"), classes=["a", "b", "c"], limit=3)
    assert batch.classes == ["a", "b", "c"]
    np.testing.assert_array_equal(batch.values, [[1, 1, 0], [0, 0, 1], [0, 0, 0]])


def test_validate_library_entry_point_on_a_result(tmp_path):
    result = compute(labels_csv(tmp_path))
    report = validate(result)  # synthetic targets, the result's own counts
    assert report.passed, [c.message for c in report.failures]
    assert [c.name for c in report.checks] == ["sanity", "broadcast", "numeric", "balance"]
    doc = report.to_dict()
    assert doc["passed"] and doc["checks"][0]["status"] == "pass"
    json.dumps(doc)


def test_cuda_is_refused_clearly_without_a_gpu():
    if torch.cuda.is_available():
        assert resolve_device("cuda") == "cuda"
        return
    with pytest.raises(OptionsError, match="--device cuda: torch .* cannot use a GPU here"):
        resolve_device("cuda")
    with pytest.raises(OptionsError, match="unknown --device 'tpu'"):
        resolve_device("tpu")


def test_raise_if_failed_names_the_first_failure_and_the_rest():
    from bceweights.validate import ValidationReport

    report = ValidationReport([CheckResult("sanity", True, "ok"), CheckResult("broadcast", False, "bad axis"),
                               CheckResult("numeric", False, "off")])
    with pytest.raises(CheckFailed, match=r"^broadcast check failed: bad axis \(also failed: numeric\); x$"):
        report.raise_if_failed("; x")


# ------------------------------------------------------------------------------------------------ CLI


def test_compute_prints_one_line_per_check_and_saves(tmp_path, cli):
    out = tmp_path / "w.pt"
    result = cli("compute", labels_csv(tmp_path), "-o", out)
    assert result.exit_code == 0, result.stderr
    for name in ("sanity", "broadcast", "numeric", "balance"):
        assert f"PASS  {name}" in result.stdout
    assert out.is_file()
    skipped = cli("compute", labels_csv(tmp_path), "-o", tmp_path / "n.pt", "--no-validate")
    assert skipped.exit_code == 0 and "PASS" not in skipped.stdout


def test_compute_json_to_stdout_carries_the_checks(tmp_path, cli):
    result = cli("compute", labels_csv(tmp_path), "-o", tmp_path / "w.pt", "--json", "-")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["validation"]["passed"] is True
    assert [c["name"] for c in doc["validation"]["checks"]] == ["sanity", "broadcast", "numeric", "balance"]
    assert "PASS  sanity" in result.stderr


def test_compute_with_a_failing_check_exits_1_and_writes_nothing(tmp_path, cli, monkeypatch):
    import sys

    # The module itself: ``bceweights.validate`` the package attribute is the function of that name.
    module = sys.modules["bceweights.validate"]
    monkeypatch.setattr(module, "check_numeric",
                        lambda *a, **k: CheckResult("numeric", False, "torch gives 1 where the formula gives 2"))
    out = tmp_path / "w.pt"
    result = cli("compute", labels_csv(tmp_path), "-o", out)
    assert result.exit_code == 1
    assert "FAIL  numeric" in result.stdout
    assert "Error: numeric check failed: torch gives 1 where the formula gives 2" in result.stderr
    assert f"{out} was not written" in result.stderr
    assert not out.exists()


def test_validate_command_passes_on_computed_weights(tmp_path, cli):
    labels = labels_csv(tmp_path)
    out = tmp_path / "w.pt"
    assert cli("compute", labels, "-o", out, "-q").exit_code == 0
    result = cli("validate", out, labels)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.count("PASS") == 4


def test_validate_command_rejects_swapped_class_order(tmp_path, cli):
    labels = labels_csv(tmp_path)
    out = tmp_path / "w.pt"
    assert cli("compute", labels, "-o", out, "-q").exit_code == 0
    data = torch.load(out, weights_only=True)
    order = [1, 0, 2, 3]
    for key in ("pos_count", "neg_count", "pos_weight", "class_weight"):
        data[key] = data[key][order]
    data["classes"] = [data["classes"][i] for i in order]
    torch.save(data, out)
    result = cli("validate", out, labels)
    assert result.exit_code == 1
    assert "Error: sanity check failed: class order differs: the file lists 'B', 'A', 'C', 'D'" in result.stderr
    assert "FAIL  sanity" in result.stdout and "SKIP  broadcast" in result.stdout


def test_validate_command_rejects_an_inf_weight(tmp_path, cli):
    labels = labels_csv(tmp_path)
    out = tmp_path / "w.pt"
    assert cli("compute", labels, "-o", out, "-q").exit_code == 0
    data = torch.load(out, weights_only=True)
    data["pos_weight"][2] = math.inf
    torch.save(data, out)
    result = cli("validate", out, labels)
    assert result.exit_code == 1
    assert "Error: sanity check failed: pos_weight is not finite for 1 classes: 'C' (inf)" in result.stderr
    assert "FAIL  numeric" in result.stdout


def test_validate_command_rejects_weights_of_other_labels(tmp_path, cli):
    labels = labels_csv(tmp_path)
    out = tmp_path / "w.pt"
    assert cli("compute", labels, "-o", out, "-q", "--columns", "A,B,C,D", "--where", "D=0").exit_code == 0
    result = cli("validate", out, labels)
    assert result.exit_code == 1
    assert "counts differ from the labels'" in result.stderr and "where" in result.stderr


def test_validate_command_rejects_a_flat_weight_for_png_masks(tmp_path, cli):
    from PIL import Image

    folder = tmp_path / "masks"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 3, size=(6, 8)).astype(np.uint8)).save(folder / f"{i}.png")
    out = tmp_path / "m.pt"
    ok = cli("compute", folder, "-o", out, "--mask-mode", "index")
    assert ok.exit_code == 0, ok.stderr
    assert "PASS  broadcast" in ok.stdout
    data = torch.load(out, weights_only=True)
    assert list(data["pos_weight"].shape) == [3, 1, 1]
    data["pos_weight"] = data["pos_weight"].reshape(-1)
    torch.save(data, out)
    result = cli("validate", out, folder, "--mask-mode", "index")
    assert result.exit_code == 1
    assert "pos_weight shaped [3] does not broadcast over a target [1, 3, 6, 8]" in result.stderr
    assert "store each weight as [3, 1, 1]" in result.stderr
    # Saved flat on purpose (--flat): checked as io.load(path, ndim=4) reshapes it, with a warning.
    flat = cli("compute", folder, "-o", out, "--mask-mode", "index", "--flat")
    assert flat.exit_code == 0, flat.stderr
    assert list(torch.load(out, weights_only=True)["pos_weight"].shape) == [3]
    assert "the file is flat (--flat)" in flat.stdout
    assert cli("validate", out, folder, "--mask-mode", "index").exit_code == 0


def test_validate_command_device_cuda_without_gpu(tmp_path, cli):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    labels = labels_csv(tmp_path)
    result = cli("compute", labels, "-o", tmp_path / "w.pt", "--device", "cuda")
    assert result.exit_code == 1
    assert "Error: --device cuda: torch" in result.stderr and "--device cpu" in result.stderr
    assert not (tmp_path / "w.pt").exists()


# ------------------------------------------------------------------------------------------ real data


REAL_TABLES = [
    ("chexnet_cxr14_multihot/train_list.txt", ["--no-header", "--classes-file",
                                               "{d}/chexnet_cxr14_multihot/CLASS_ORDER.txt"]),
    ("nih_cxr14_capstone/Data_Entry_2017.csv", ["--list-column", "Finding Labels"]),
    ("chexpert_jfhealthcare/train.csv", ["--uncertain", "ignore", "--missing", "ignore"]),
    ("chexpert_jfhealthcare/dev.csv", []),  # Fracture has no positives
    ("planet_amazon/train_v2.csv", ["--list-column", "tags", "--separator", " "]),
]


@pytest.mark.realdata
@pytest.mark.parametrize("path,options", REAL_TABLES, ids=[p.split("/")[0] + "-" + p.split("/")[1] for p, _ in
                                                              REAL_TABLES])
def test_compute_and_validate_pass_on_real_tables(shared_data, tmp_path, cli, path, options):
    options = [o.replace("{d}", str(shared_data)) for o in options]
    out = tmp_path / "w.pt"
    computed = cli("compute", shared_data / path, "-o", out, *options)
    assert computed.exit_code == 0, computed.stderr
    assert computed.stdout.count("PASS  ") == 4
    checked = cli("validate", out, shared_data / path, *options)
    assert checked.exit_code == 0, checked.stderr
    assert checked.stdout.count("PASS  ") == 4


@pytest.mark.realdata
def test_compute_and_validate_pass_on_real_masks(shared_data, tmp_path, cli):
    folder = shared_data / "isbi2012_membrane_unet"
    out = tmp_path / "w.pt"
    computed = cli("compute", folder, "-o", out)
    assert computed.exit_code == 0, computed.stderr
    assert computed.stdout.count("PASS  ") == 4
    checked = cli("validate", out, folder)
    assert checked.exit_code == 0, checked.stderr
    assert "target [1, 1, 512, 512]" in checked.stdout or "centre crop" in checked.stdout


def test_compute_and_validate_with_a_file_list_of_mask_ids(tmp_path, cli):
    # The checks re-read a sample of the masks: the --file-list must be resolved once, not again on
    # the already listed files.
    from PIL import Image

    folder = tmp_path / "SegmentationClass"
    folder.mkdir()
    rng = np.random.default_rng(3)
    for name in ("a", "b", "c"):
        mask = rng.integers(0, 3, size=(6, 5)).astype(np.uint8)
        mask[0, 0] = 255
        Image.fromarray(mask).save(folder / f"{name}.png")
    listing = tmp_path / "train.txt"
    listing.write_text("a\nc\n")
    out = tmp_path / "w.pt"
    args = [folder, "--file-list", listing, "--ignore-index", "255", "--workers", "1"]
    result = cli("compute", *args, "-o", out, "-q")
    assert result.exit_code == 0, result.stderr
    assert torch.load(out, weights_only=True)["meta"]["samples"] == 2
    checked = cli("validate", out, *args, "-q")
    assert checked.exit_code == 0, checked.stderr


# ------------------------------------------------------------------ weights files that cannot be read


def _broken_payloads():
    """(name, change to a real payload, what the error says): each used to raise a traceback in
    report or validate (sparse, meta, complex, float8, nested ...) or be read as something else."""
    return [
        ("sparse", lambda p: p.update(pos_weight=p["pos_weight"].to_sparse()), "'pos_weight' is a sparse_coo tensor"),
        ("meta", lambda p: p.update(pos_weight=torch.empty(4, device="meta")), "'pos_weight' is a meta tensor"),
        ("complex", lambda p: p.update(class_weight=p["class_weight"].to(torch.complex64)),
         "'class_weight' is of dtype complex64, not real numbers"),
        ("float8", lambda p: p.update(pos_weight=p["pos_weight"].to(torch.float8_e4m3fn)),
         "'pos_weight' is of dtype float8_e4m3fn"),
        ("float8 counts", lambda p: p.update(neg_count=p["neg_count"].to(torch.float8_e5m2)),
         "'neg_count' is of dtype float8_e5m2"),
        ("bool", lambda p: p.update(class_weight=torch.ones(4, dtype=torch.bool)), "'class_weight' is of dtype bool"),
        ("list", lambda p: p.update(pos_count=[1.0, 2.0, 3.0, 4.0]), "'pos_count' is a list, not a tensor"),
        ("sparse pairs", lambda p: p.update(cooccurrence=torch.eye(4).to_sparse()), "'cooccurrence' is a sparse_coo"),
        ("zero classes", lambda p: p.update(classes=[], **{k: torch.zeros(0) for k in
                                                           ("pos_count", "neg_count", "pos_weight", "class_weight")}),
         "it holds no class"),
        ("edited meta", lambda p: p["meta"].update(counts={"classes": ["A"], "pos": [1, 2]}),
         "its meta cannot be read back"),
    ]


@pytest.mark.parametrize("name, change, message", _broken_payloads(), ids=[c[0] for c in _broken_payloads()])
def test_a_weights_file_with_unreadable_tensors_is_one_line(tmp_path, cli, name, change, message):
    from bceweights import io

    csv = labels_csv(tmp_path)
    payload = compute(csv).payload()
    payload["meta"] = dict(payload["meta"])
    change(payload)
    path = tmp_path / "w.pt"
    torch.save(payload, path)
    with pytest.raises(InputError) as info:
        io.load(path)
    assert info.value.message == f"{path}: not a weights file written by bceweights ({message}" + \
        info.value.message.split(message, 1)[1]
    for args in (["report", path], ["validate", path, csv]):
        result = cli(*args)
        lines = result.stderr.strip().splitlines()
        assert result.exit_code == 1 and len(lines) == 1, result.stderr
        assert lines[0].startswith(f"Error: {path}: not a weights file written by bceweights ({message}")


def test_a_weights_file_written_by_compute_passes_the_loading_checks(tmp_path):
    from bceweights import io
    from bceweights.payload import problem

    result = compute(labels_csv(tmp_path))
    result.save(tmp_path / "w.pt")
    assert problem(result.payload()) is None
    assert io.load(tmp_path / "w.pt")["classes"] == ["A", "B", "C", "D"]


def test_optimal_constant_logit_of_no_class_is_empty():
    assert optimal_constant_logit([], []).shape == (0,)
