"""Value policies: uncertain, missing, ignored sentinels, soft labels, --hard, --binarize."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bceweights import count
from bceweights.counts import Counts
from bceweights.errors import InputError, UsageError
from bceweights.policy import ValuePolicy, apply_policy

CHEXPERT = [
    "chexpert_jfhealthcare/train.csv",
    "chexpert_jfhealthcare/dev.csv",
    "chexpert_small_subset/train.csv",
    "chexpert_small_subset/valid.csv",
]


def pandas_counts(path, uncertain: str, missing: str) -> dict[str, list[float]]:
    """The reference: CheXpert's 14 label columns (after Path, Sex, Age, Frontal/Lateral, AP/PA)
    counted with pandas, one policy rule at a time."""
    df = pd.read_csv(path)
    labels = df[df.columns[5:]]
    known = labels.isin([0, 1, -1]) | labels.isna()
    assert known.all().all(), "the reference assumes CheXpert's values only"
    ones, zeros = (labels == 1).sum(), (labels == 0).sum()
    minus, blank = (labels == -1).sum(), labels.isna().sum()
    none = minus * 0
    pos = ones + (minus if uncertain == "positive" else none)
    neg = zeros + (minus if uncertain == "negative" else none) + (blank if missing == "negative" else none)
    ignored = (minus if uncertain == "ignore" else none) + (blank if missing == "ignore" else none)
    return {"classes": list(labels.columns), "pos": pos.tolist(), "neg": neg.tolist(),
            "ignored": ignored.tolist(), "missing": blank.tolist(), "uncertain": minus.tolist(),
            "samples": len(df)}


@pytest.mark.realdata
@pytest.mark.parametrize("path", CHEXPERT)
@pytest.mark.parametrize("uncertain,missing",
                         list(itertools.product(["ignore", "positive", "negative"], ["negative", "ignore"])))
def test_chexpert_policies_match_pandas(shared_data, path, uncertain, missing):
    expected = pandas_counts(shared_data / path, uncertain, missing)
    c = count(shared_data / path, policy=ValuePolicy(uncertain=uncertain, missing=missing))
    assert c.classes == expected["classes"]
    for key in ("pos", "neg", "ignored", "missing", "uncertain"):
        assert getattr(c, key).tolist() == expected[key], key
    assert c.samples == expected["samples"]
    # Every value is accounted for exactly once: positive, negative or ignored.
    assert (c.pos + c.neg + c.ignored).tolist() == [expected["samples"]] * len(c.classes)


@pytest.mark.realdata
def test_chexpert_policy_from_the_cli(shared_data, cli, tmp_path):
    path = shared_data / "chexpert_jfhealthcare/train.csv"
    expected = pandas_counts(path, "positive", "ignore")
    out = tmp_path / "w.pt"
    result = cli("compute", path, "--uncertain", "positive", "--missing", "ignore", "-o", out, "-q")
    assert result.exit_code == 0, result.stderr
    saved = torch.load(out, weights_only=True)
    assert saved["pos_count"].tolist() == expected["pos"]
    assert saved["neg_count"].tolist() == expected["neg"]
    assert saved["meta"]["options"]["policy"]["uncertain"] == "positive"
    assert saved["meta"]["counts"]["missing"] == expected["missing"]


# ------------------------------------------------------------------------------ brute-force reference


def brute_force(values: np.ndarray, policy: ValuePolicy) -> dict[str, list[float]]:
    """Element by element, the rules as the module docstring states them."""
    n, c = values.shape
    out = {k: [0.0] * c for k in ("pos", "neg", "ignored", "soft")}
    for i in range(n):
        for j in range(c):
            v = float(values[i, j])
            if math.isnan(v):
                y = None if policy.missing == "ignore" else 0.0
            elif v == -1:
                y = {"ignore": None, "positive": 1.0, "negative": 0.0}[policy.uncertain]
            elif v in policy.ignore_values:
                y = None
            elif policy.binarize is not None:
                y = 1.0 if v >= policy.binarize else 0.0
            else:
                y = v
            if v in policy.ignore_values:
                y = None
            if y is None:
                out["ignored"][j] += 1
            else:
                out["pos"][j] += y
                out["neg"][j] += 1 - y
                out["soft"][j] += 0 < y < 1
    return out


values = st.one_of(st.sampled_from([0.0, 1.0, -1.0, math.nan, 9.0]),
                   st.floats(0, 1, allow_nan=False))


@settings(max_examples=150, deadline=None)
@given(
    st.integers(1, 12).flatmap(lambda n: st.integers(1, 4).flatmap(
        lambda c: st.lists(st.lists(values, min_size=c, max_size=c), min_size=n, max_size=n))),
    st.sampled_from(["ignore", "positive", "negative"]),
    st.sampled_from(["negative", "ignore"]),
    st.sampled_from([None, 0.5, 0.3]),
)
def test_policy_and_counts_match_brute_force(rows, uncertain, missing, binarize):
    raw = np.array(rows, dtype=np.float64)
    policy = ValuePolicy(uncertain=uncertain, missing=missing, ignore_values=(9.0,), binarize=binarize)
    result = apply_policy(raw, policy, columns=[f"c{j}" for j in range(raw.shape[1])])
    counts = Counts([f"c{j}" for j in range(raw.shape[1])])
    counts.update(result.labels)
    expected = brute_force(raw, policy)
    for key in ("pos", "neg", "ignored", "soft"):
        np.testing.assert_allclose(getattr(counts, key), expected[key], rtol=1e-12, atol=1e-9, err_msg=key)
    assert result.missing.tolist() == np.isnan(raw).sum(axis=0).tolist()
    assert result.uncertain.tolist() == (raw == -1).sum(axis=0).tolist()


def test_soft_labels_add_y_and_one_minus_y():
    counts = Counts(["a", "b"])
    counts.update(apply_policy(np.array([[0.25, 1.0], [0.5, 0.0], [1.0, 0.9]]), ValuePolicy(),
                               columns=["a", "b"]).labels)
    np.testing.assert_allclose(counts.pos, [1.75, 1.9])
    np.testing.assert_allclose(counts.neg, [1.25, 1.1])
    assert counts.soft.tolist() == [2.0, 1.0]


# ----------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize("raw,policy,fragment", [
    ([[0, 1], [1, 2]], ValuePolicy(), "column 'b', row 2: value 2 is not a label"),
    ([[0, 0.5]], ValuePolicy(hard=True), "column 'b', row 1: value 0.5 is not a label"),
    ([[0, 1], [-2, 1]], ValuePolicy(), "column 'a', row 2: value -2 is not a label"),
    ([[np.inf, 1]], ValuePolicy(), "column 'a', row 1: value inf is not a label"),
])
def test_bad_values_name_column_row_and_value(raw, policy, fragment):
    with pytest.raises(InputError, match=fragment.replace("(", r"\(")):
        apply_policy(np.array(raw, dtype=float), policy, columns=["a", "b"])


def test_row_numbers_are_the_file_lines():
    with pytest.raises(InputError, match="column 'a', row 41: value 7"):
        apply_policy(np.array([[0.0], [7.0]]), ValuePolicy(), columns=["a"], row_numbers=np.array([40, 41]))


def write(tmp_path, text: str, name: str = "labels.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_cli_rejects_a_value_that_is_not_a_label(tmp_path, cli):
    path = write(tmp_path, "id,a,b\nx,0,1\ny,1,2\nz,0,0\n")
    result = cli("compute", path, "--columns", "a,b", "-o", tmp_path / "w.pt")
    assert result.exit_code == 1
    assert "column 'b', row 3: value 2 is not a label" in result.stderr
    assert not (tmp_path / "w.pt").exists()


def test_cli_rejects_text_in_a_label_column(tmp_path, cli):
    path = write(tmp_path, "id,a,b\nx,0,1\ny,1,yes\n")
    result = cli("compute", path, "--columns", "a,b", "-o", tmp_path / "w.pt")
    assert result.exit_code == 1
    assert "column 'b'" in result.stderr and "'yes'" in result.stderr


def test_cli_hard_and_binarize(tmp_path, cli):
    path = write(tmp_path, "id,a\nx,0.5\ny,0.75\nz,0\nw,1\n")
    out = tmp_path / "w.pt"
    hard = cli("compute", path, "--columns", "a", "--hard", "-o", out)
    assert hard.exit_code == 1
    assert "column 'a', row 2: value 0.5" in hard.stderr and "--binarize" in hard.stderr
    assert cli("compute", path, "--columns", "a", "--binarize", "0.6", "-o", out, "-q").exit_code == 0
    saved = torch.load(out, weights_only=True)
    assert saved["pos_count"].tolist() == [2.0] and saved["neg_count"].tolist() == [2.0]
    assert cli("compute", path, "--columns", "a", "-o", out, "-q").exit_code == 0
    saved = torch.load(out, weights_only=True)
    assert saved["pos_count"].tolist() == [2.25] and saved["neg_count"].tolist() == [1.75]


def test_cli_ignore_value_uncertain_and_missing(tmp_path, cli):
    path = write(tmp_path, "id,a,b\n1,1,9\n2,-1,\n3,0,1\n4,,0\n5,1,-1\n")
    out = tmp_path / "w.pt"
    result = cli("compute", path, "--columns", "a,b", "--ignore-value", "9", "--uncertain", "negative",
                 "--missing", "ignore", "-o", out, "-q")
    assert result.exit_code == 0, result.stderr
    saved = torch.load(out, weights_only=True)
    # a: 1, -1→0, 0, blank→ignored, 1; b: 9→ignored, blank→ignored, 1, 0, -1→0
    assert saved["pos_count"].tolist() == [2.0, 1.0]
    assert saved["neg_count"].tolist() == [2.0, 2.0]
    counts = saved["meta"]["counts"]
    assert counts["ignored"] == [1.0, 2.0]
    assert counts["missing"] == [1.0, 1.0] and counts["uncertain"] == [1.0, 1.0]


def test_cli_policy_options_are_documented(cli):
    text = cli("compute", "--help", env={"COLUMNS": "200"}).stdout
    for flag in ("--uncertain", "--missing", "--ignore-value", "--hard", "--binarize"):
        assert flag in text
    # --help has one line an option; docs/cli.md has the details.
    from bceweights import _docgen

    details = _docgen.cli_markdown()
    assert "U-Ones" in details and "CheXpert" in details


# ------------------------------------------------------------------------- a policy that cannot decide


@pytest.mark.parametrize("threshold", [math.nan, math.inf, -math.inf])
def test_binarize_needs_a_finite_threshold(threshold):
    # No comparison with NaN holds: every label would be counted negative, silently.
    with pytest.raises(UsageError, match="--binarize .*finite number"):
        ValuePolicy(binarize=threshold)


def test_ignore_value_nan_is_refused_with_the_missing_hint():
    with pytest.raises(UsageError, match="--ignore-value nan") as info:
        ValuePolicy(ignore_values=(9.0, math.nan))
    assert "--missing ignore" in info.value.hint


@pytest.mark.parametrize("field, value", [("uncertain", "maybe"), ("missing", "positive"),
                                          ("binarize", "0.5"), ("ignore_values", ("9",))])
def test_policy_choices_and_numbers_are_checked(field, value):
    with pytest.raises(UsageError):
        ValuePolicy(**{field: value})


def test_a_valid_policy_is_kept_as_given():
    policy = ValuePolicy(binarize=1, ignore_values=[9, -2.5])
    assert policy.binarize == 1.0 and policy.ignore_values == (9.0, -2.5)


@pytest.mark.parametrize("flags", [("--binarize", "nan"), ("--binarize", "inf"), ("--ignore-value", "nan")])
def test_cli_refuses_nan_where_a_number_is_required(tmp_path, cli, flags):
    path = write(tmp_path, "id,a\nx,0.2\ny,0.7\n")
    result = cli("compute", path, "--columns", "a", *flags, "-o", tmp_path / "w.pt")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {flags[0]} ")
    assert not (tmp_path / "w.pt").exists()
