"""Class-weight schemes, normalisation, zero and rare classes, --smoothing, --clip, --min-count."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bceweights.counts import Counts
from bceweights.errors import InputError, OptionsError, UsageError, ZeroPositivesError
from bceweights.weights import (
    SCHEMES,
    WeightOptions,
    compute_weights,
    effective_number,
    enet,
    inverse_sqrt_frequency,
    median_frequency,
    parse_clip,
)


def weights_of(pos, neg, **options):
    counts = Counts([f"c{i}" for i in range(len(pos))], pos=pos, neg=neg)
    return compute_weights(counts, WeightOptions(**options))


# ------------------------------------------------------------------------------ hand-worked examples


def test_inverse_worked_example():
    # n = 100 for both, C = 2: 100 / (2·10) = 5, 100 / (2·40) = 1.25
    w = weights_of([10, 40], [90, 60], scheme="inverse")
    assert w.class_weight.tolist() == [5.0, 1.25]
    assert w.pos_weight.tolist() == [9.0, 1.5]


def test_inverse_sqrt_worked_example():
    # sqrt(100 / 4) = 5, sqrt(100 / 25) = 2
    w = weights_of([4, 25], [96, 75], scheme="inverse-sqrt")
    assert w.class_weight.tolist() == [5.0, 2.0]
    assert inverse_sqrt_frequency(pos=[1, 0], neg=[8, 5]).tolist()[0] == 3.0


def test_effective_number_worked_example():
    # β = 9/10, P = 1 and 10: (1-β)/(1-β^P) = 1 and (1/10)/(1-(9/10)^10); then mean 1 (sum C = 2).
    beta = Fraction(9, 10)
    raw = [(1 - beta) / (1 - beta ** p) for p in (1, 10)]
    expected = [float(r * 2 / sum(raw)) for r in raw]
    w = weights_of([1, 10], [99, 90], scheme="effective-number", beta=0.9)
    np.testing.assert_allclose(w.class_weight, expected, rtol=1e-12)
    assert w.class_weight.sum() == pytest.approx(2.0)
    assert expected[0] == pytest.approx(1.7338, abs=1e-4)


def test_effective_number_limits():
    # β = 0: every class with positives weighs the same; β → 1 tends to inverse frequency (∝ 1/P).
    assert effective_number(pos=[1, 7, 1000], beta=0.0).tolist() == [1.0, 1.0, 1.0]
    near = effective_number(pos=[10, 40], beta=1 - 1e-12)
    assert near[0] / near[1] == pytest.approx(4.0, rel=1e-6)
    # Huge counts at β close to 1 stay exact (expm1) and finite.
    assert np.isfinite(effective_number(pos=[1e12, 1], beta=0.9999)).all()


def test_median_frequency_worked_example():
    # f = [10/100, 30/100, 60/300] = [0.1, 0.3, 0.2]; median 0.2 → [2, 2/3, 1]; the 4th has no pixels.
    counts = Counts(["a", "b", "c", "d"], pos=[10, 30, 60, 0], neg=[990, 970, 940, 1000],
                    image_pixels=[100, 100, 300, 0])
    w = compute_weights(counts, WeightOptions(scheme="median-frequency"))
    np.testing.assert_allclose(w.class_weight, [2.0, 2 / 3, 1.0, 2.0])
    assert w.zero_positive == ["d"]
    assert median_frequency(pos=[5, 5], image_pixels=[10, 20]).tolist() == [0.75, 1.5]


def test_median_frequency_needs_image_pixels():
    with pytest.raises(OptionsError, match="median-frequency needs.*pixels of the images"):
        weights_of([1, 2], [3, 4], scheme="median-frequency")


def test_enet_worked_example():
    w = weights_of([50, 10], [50, 90], scheme="enet")
    np.testing.assert_allclose(w.class_weight, [1 / math.log(1.52), 1 / math.log(1.12)], rtol=1e-12)
    w = weights_of([50, 10], [50, 90], scheme="enet", enet_k=1.5)
    np.testing.assert_allclose(w.class_weight, [1 / math.log(2.0), 1 / math.log(1.6)], rtol=1e-12)
    # Bounded by 1 / ln(k) as p → 0.
    assert enet(pos=[1e-9], neg=[1e9])[0] == pytest.approx(1 / math.log(1.02))


@pytest.mark.parametrize("scheme", sorted(set(SCHEMES) - {"median-frequency"}))
@pytest.mark.parametrize("normalize", ["mean", "sum"])
def test_normalize_rescales_every_scheme(scheme, normalize):
    pos, neg = [5, 20, 60], [95, 80, 40]
    raw = weights_of(pos, neg, scheme=scheme).class_weight
    scaled = weights_of(pos, neg, scheme=scheme, normalize=normalize).class_weight
    target = raw / (raw.mean() if normalize == "mean" else raw.sum())
    np.testing.assert_allclose(scaled, target, rtol=1e-12)


@pytest.mark.parametrize("name,kwargs", [("beta", {"beta": 1.0}), ("beta", {"beta": -0.1}),
                                         ("enet-k", {"enet_k": 1.0}), ("min-count", {"min_count": -1}),
                                         ("smoothing", {"smoothing": -0.5}), ("scheme", {"scheme": "focal"})])
def test_bad_options_are_options_errors(name, kwargs):
    with pytest.raises(OptionsError, match=name):
        WeightOptions(**kwargs)


# ---------------------------------------------------------------------------- smoothing, clip, rare


def test_smoothing_adds_k_to_both_counts():
    w = weights_of([1, 4], [9, 6], smoothing=1)
    assert w.pos_weight.tolist() == [5.0, 1.4]  # (9+1)/(1+1), (6+1)/(4+1)
    assert w.class_weight.tolist() == [3.0, 1.2]  # 12/(2·2), 12/(2·5)


def test_smoothing_leaves_classes_without_positives_to_the_policy():
    w = weights_of([0, 2], [10, 8], smoothing=1)
    assert w.pos_weight.tolist() == [1.0, 3.0]
    assert w.class_weight.tolist() == [2.0, 2.0]  # (2+1+8+1)/(2·3); the absent class takes the largest
    assert w.zero_positive == ["c0"]


def test_min_count_warn_caps_rare_classes():
    pos, neg = [1, 50, 20, 0], [99, 50, 80, 100]
    w = weights_of(pos, neg, min_count=5)
    assert w.rare == ["c0"] and w.zero_positive == ["c3"]
    # pos_weight: own 99, capped at the largest unflagged (80/20 = 4); the absent class gets 1.
    assert w.pos_weight.tolist() == [4.0, 1.0, 4.0, 1.0]
    # inverse: [100/(4·1), 100/(4·50), 100/(4·20)] = [25, 0.5, 1.25]; cap 1.25.
    assert w.class_weight.tolist() == [1.25, 0.5, 1.25, 1.25]
    assert any("--min-count" in line and "c0" in line for line in w.warnings)


def test_min_count_skip_and_error():
    pos, neg = [1, 50, 20, 0], [99, 50, 80, 100]
    w = weights_of(pos, neg, min_count=5, zero_positives="skip")
    assert w.pos_weight.tolist() == [1.0, 1.0, 4.0, 1.0]
    assert w.class_weight.tolist() == [0.0, 0.5, 1.25, 0.0]
    with pytest.raises(ZeroPositivesError, match=r"fewer than 5 positives \(--min-count\): c0"):
        weights_of(pos, neg, min_count=5, zero_positives="error")
    # Off by default: one positive is enough.
    assert weights_of(pos, neg).rare == []


def test_min_count_counts_soft_positives():
    w = weights_of([0.5, 3.0], [9.5, 7.0], min_count=1)
    assert w.rare == ["c0"] and w.zero_positive == []


def test_clip_bounds_both_tensors_last():
    pos, neg = [1, 50, 0], [99, 50, 100]
    w = weights_of(pos, neg, clip=(0.5, 10))
    # pos_weight [99, 1, 1] → [10, 1, 1]; inverse [100/3, 100/150, fill 100/3] → [10, 2/3, 10]
    assert w.pos_weight.tolist() == [10.0, 1.0, 1.0]
    np.testing.assert_allclose(w.class_weight, [10.0, 2 / 3, 10.0])
    skipped = weights_of(pos, neg, clip=(2, None), zero_positives="skip")
    assert skipped.pos_weight.tolist() == [99.0, 2.0, 2.0]
    assert skipped.class_weight.tolist() == [100 / 3, 2.0, 0.0]  # a skipped class stays 0
    normalized = weights_of(pos, neg, clip=(None, 1.0), normalize="mean")
    assert normalized.class_weight.max() == 1.0  # clipped after normalising


@pytest.mark.parametrize("text,expected", [("0.1:50", (0.1, 50.0)), (":10", (None, 10.0)),
                                           ("2:", (2.0, None)), ("1:1", (1.0, 1.0))])
def test_parse_clip(text, expected):
    assert parse_clip(text) == expected


@pytest.mark.parametrize("text", ["10", "a:b", "5:1", "-1:3", "1:inf"])
def test_parse_clip_rejects(text):
    with pytest.raises(OptionsError, match="--clip"):
        parse_clip(text)


# ------------------------------------------------------------------- no inf or NaN, whatever the counts


count_values = st.one_of(st.just(0.0), st.integers(1, 10**9).map(float),
                         st.floats(1e-6, 1e6, allow_nan=False, allow_infinity=False))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(count_values, count_values), min_size=1, max_size=6),
    st.sampled_from(sorted(SCHEMES)),
    st.sampled_from(["none", "mean", "sum"]),
    st.sampled_from(["warn", "skip", "error"]),
    st.sampled_from([0.0, 1.0, 10.0]),
    st.sampled_from([0.0, 0.5]),
    st.sampled_from([None, (0.01, 100.0), (None, 5.0)]),
    st.sampled_from([0.0, 0.9, 0.9999]),
)
def test_weights_are_always_finite(pairs, scheme, normalize, zero, min_count, smoothing, clip, beta):
    pos = np.array([p for p, _ in pairs])
    neg = np.array([n for _, n in pairs])
    pixels = np.ceil(pos * 3 + neg).astype(np.int64)  # at least the class's own pixels
    counts = Counts([f"c{i}" for i in range(len(pos))], pos=pos, neg=neg, image_pixels=pixels)
    options = WeightOptions(scheme=scheme, normalize=normalize, zero_positives=zero, min_count=min_count,
                            smoothing=smoothing, clip=clip, beta=beta)
    flagged = (pos <= 0) | (pos < min_count)
    if zero == "error" and flagged.any():
        with pytest.raises(ZeroPositivesError):
            compute_weights(counts, options)
        return
    w = compute_weights(counts, options)
    for tensor in (w.pos_weight, w.class_weight):
        assert tensor.shape == pos.shape
        assert np.isfinite(tensor).all() and (tensor >= 0).all()
        assert torch.isfinite(torch.tensor(tensor, dtype=torch.float32)).all()
    if clip is not None:
        low, high = clip
        kept = ~flagged if zero == "skip" else np.ones(len(pos), bool)
        for tensor in (w.pos_weight, w.class_weight[kept]):
            assert (tensor <= high).all() and (low is None or (tensor >= low).all())
    if zero == "skip":
        assert (w.class_weight[flagged] == 0).all() and (w.pos_weight[flagged] == 1).all()
    elif clip is None:
        assert (w.pos_weight[pos <= 0] == 1).all()


# ------------------------------------------------- no pos_weight 0 for a class that is present

extreme_values = st.one_of(st.just(0.0), st.integers(1, 10**12).map(float),
                           st.floats(1e-300, 1e300, allow_nan=False, allow_infinity=False))


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.tuples(extreme_values, extreme_values), min_size=1, max_size=6),
    st.sampled_from(sorted(SCHEMES)),
    st.sampled_from(["none", "mean", "sum"]),
    st.sampled_from(["warn", "skip"]),
    st.sampled_from([0.0, 1.0, 10.0]),
    st.sampled_from([0.0, 0.5, 1e-300]),
    st.sampled_from([None, (0.0, None), (None, 1e-30), (0.01, 100.0), (None, 5.0), (3.0, 3.0)]),
    st.sampled_from([0.0, 0.9, 0.9999]),
)
def test_no_options_give_a_class_pos_weight_0(pairs, scheme, normalize, zero, min_count, smoothing, clip, beta):
    """Saved as float32, every pos_weight is positive: 0 would delete the class's positive loss term.
    Every class weight is positive too, but for the classes --zero-positives skip drops on purpose."""
    pos = np.array([p for p, _ in pairs])
    neg = np.array([n for _, n in pairs])
    pixels = np.minimum(np.ceil(pos * 3 + neg), 2.0**62)  # Counts holds them as int64
    counts = Counts([f"c{i}" for i in range(len(pos))], pos=pos, neg=neg, image_pixels=pixels)
    w = compute_weights(counts, WeightOptions(scheme=scheme, normalize=normalize, zero_positives=zero,
                                              min_count=min_count, smoothing=smoothing, clip=clip, beta=beta))
    saved_pw = torch.tensor(w.pos_weight, dtype=torch.float32)
    saved_cw = torch.tensor(w.class_weight, dtype=torch.float32)
    assert (saved_pw > 0).all() and torch.isfinite(saved_pw).all()
    skipped = ((pos <= 0) | (pos < min_count)) if zero == "skip" else np.zeros(len(pos), bool)
    assert (saved_cw[torch.from_numpy(~skipped)] > 0).all() and torch.isfinite(saved_cw).all()
    assert (saved_cw[torch.from_numpy(skipped)] == 0).all()


@pytest.mark.parametrize("smoothing", [0.0, 2.0])
def test_a_class_without_negatives_gets_pos_weight_1_and_a_warning(smoothing):
    w = weights_of([10, 5], [0, 15], smoothing=smoothing)
    assert w.pos_weight[0] == 1.0  # not 0 (N/P), nor (0 + K) / (10 + K)
    assert w.pos_weight[1] == pytest.approx((15 + smoothing) / (5 + smoothing))
    assert w.zero_negative == ["c0"]
    assert any(m.startswith("no negative example for c0: pos_weight set to 1") for m in w.warnings)


def test_skip_drops_only_the_flagged_classes_not_one_the_scheme_cannot_weigh():
    # c1 has positives but no pixels of its images: median-frequency cannot weigh it; skip must not
    # drop it as if it were absent (it takes the largest weight of the others, as under warn).
    counts = Counts(["c0", "c1", "c2"], pos=[10, 5, 0], neg=[90, 95, 100], image_pixels=[100, 0, 0])
    for zero in ("warn", "skip"):
        w = compute_weights(counts, WeightOptions(scheme="median-frequency", zero_positives=zero))
        assert w.class_weight[1] == w.class_weight[0] == 1.0
        assert w.class_weight[2] == (0.0 if zero == "skip" else 1.0)


@pytest.mark.parametrize("clip", [(None, 0.0), (0.0, 0.0)])
def test_a_clip_max_of_0_is_refused(clip):
    with pytest.raises(UsageError, match="--clip MAX must be above 0"):
        WeightOptions(clip=clip)
    with pytest.raises(UsageError, match="--clip MAX must be above 0"):
        parse_clip(":0")


def test_no_class_is_an_input_error():
    with pytest.raises(InputError, match="no class"):
        compute_weights(Counts([]))


@pytest.mark.parametrize("options", [dict(smoothing=math.inf), dict(smoothing=math.nan), dict(beta=math.nan),
                                     dict(min_count=math.nan), dict(enet_k=math.inf), dict(smoothing="1"),
                                     dict(normalize="max"), dict(clip=("a", None))])
def test_bad_weight_options_are_usage_errors(options):
    with pytest.raises(UsageError):
        WeightOptions(**options)


# ---------------------------------------------------------------------------------- Counts.image_pixels


def test_image_pixels_merge_reorder_and_round_trip():
    a = Counts(["x", "y"], pos=[1, 2], neg=[3, 4], samples=2, pixels=10, spatial_ndim=2,
               image_pixels=[10, 5])
    b = Counts(["y", "z"], pos=[1, 1], neg=[2, 2], samples=1, pixels=6, spatial_ndim=2,
               image_pixels=[6, 6])
    merged = a.copy().merge(b)
    assert merged.classes == ["x", "y", "z"]
    assert merged.image_pixels.tolist() == [10, 11, 6]
    assert merged.reorder(["z", "x", "y"]).image_pixels.tolist() == [6, 10, 11]
    assert Counts.from_dict(merged.to_dict()).image_pixels.tolist() == [10, 11, 6]
    assert Counts(["x"]).to_dict()["image_pixels"] is None
    c = Counts(["x"], pos=[1], neg=[1])
    c.add(pos=[1], neg=[0], image_pixels=[4])
    c.add(pos=[1], neg=[0], image_pixels=[2])
    assert c.image_pixels.tolist() == [6]


# -------------------------------------------------------------------------------------------- CLI


def test_cli_scheme_names_match_the_library():
    from bceweights.cli import Scheme

    assert [s.value for s in Scheme] == list(SCHEMES)


def write_table(tmp_path):
    path = tmp_path / "labels.csv"
    rows = ["id,a,b,c"] + [f"{i},{int(i < 2)},{int(i < 10)},{int(i % 2 == 0)}" for i in range(40)]
    path.write_text("\n".join(rows) + "\n")
    return path  # a: 2, b: 10, c: 20 positives of 40


@pytest.mark.parametrize("scheme,extra", [("inverse", []), ("inverse-sqrt", []), ("enet", ["--enet-k", "1.1"]),
                                          ("effective-number", ["--beta", "0.99"])])
def test_cli_scheme_options_reach_the_file(tmp_path, cli, scheme, extra):
    out = tmp_path / "w.pt"
    result = cli("compute", write_table(tmp_path), "--scheme", scheme, *extra, "--normalize", "mean",
                 "--smoothing", "0.5", "--clip", "0.1:20", "-o", out, "-q")
    assert result.exit_code == 0, result.stderr
    saved = torch.load(out, weights_only=True)
    options = WeightOptions(scheme=scheme, normalize="mean", smoothing=0.5, clip=(0.1, 20.0),
                            beta=0.99 if scheme == "effective-number" else 0.999,
                            enet_k=1.1 if scheme == "enet" else 1.02)
    expected = compute_weights(Counts(["a", "b", "c"], pos=[2, 10, 20], neg=[38, 30, 20]), options)
    np.testing.assert_allclose(saved["class_weight"].numpy(), expected.class_weight, rtol=1e-6)
    np.testing.assert_allclose(saved["pos_weight"].numpy(), expected.pos_weight, rtol=1e-6)
    meta = saved["meta"]["weights"]
    assert meta["scheme"] == scheme and meta["smoothing"] == 0.5 and meta["clip"] == [0.1, 20.0]


def test_cli_min_count_and_strict(tmp_path, cli):
    path = write_table(tmp_path)
    out = tmp_path / "w.pt"
    result = cli("compute", path, "--min-count", "5", "-o", out, "-q")
    assert result.exit_code == 0, result.stderr
    saved = torch.load(out, weights_only=True)
    assert saved["meta"]["weights"]["rare_classes"] == ["a"]
    assert saved["pos_weight"].tolist() == [3.0, 3.0, 1.0]  # a: 19 capped at b's 30/10
    strict = cli("compute", path, "--min-count", "5", "--strict", "-o", tmp_path / "x.pt")
    assert strict.exit_code == 1
    assert "fewer than 5 positives (--min-count): a" in strict.stderr
    assert not (tmp_path / "x.pt").exists()


@pytest.mark.parametrize("args", [["--clip", "5:1"], ["--clip", "x"], ["--beta", "1"], ["--enet-k", "0.9"],
                                  ["--scheme", "focal"], ["--smoothing", "-1"], ["--min-count", "-2"],
                                  ["--smoothing", "inf"], ["--clip", ":0"]])
def test_cli_bad_weight_options_are_usage_errors(tmp_path, cli, args):
    result = cli("compute", write_table(tmp_path), *args, "-o", tmp_path / "w.pt")
    assert result.exit_code == 2
    assert not (tmp_path / "w.pt").exists()


def test_cli_median_frequency_on_a_table_is_a_clear_error(tmp_path, cli):
    result = cli("compute", write_table(tmp_path), "--scheme", "median-frequency", "-o", tmp_path / "w.pt")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: --scheme median-frequency needs")


def test_saved_options_are_read_back(tmp_path):
    from bceweights import api, io

    result = api.compute(write_table(tmp_path), weight_options=WeightOptions(
        scheme="enet", enet_k=1.3, min_count=3, clip=(None, 7.0), smoothing=2.0, normalize="sum"))
    result.save(tmp_path / "w.pt")
    back = api.result_from_payload(io.load(tmp_path / "w.pt"))
    assert back.weights.options == result.weights.options
    assert back.weights.rare == ["a"]
