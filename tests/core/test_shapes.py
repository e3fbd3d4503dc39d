"""Output sizes and padding: the numbers every other part of cnnstudio takes from shapes.py.

Expected values come from published figures (LeNet, AlexNet, ResNet stems) and from
TensorFlow's documented "same" rule, written out by hand in the tables below.
"""

from __future__ import annotations

import pytest

from cnnstudio.core.shapes import pair, same_padding, window_2d, window_axis

# (N, F, S, P) -> out, by out = floor((N + 2P - F) / S) + 1, worked by hand.
VALID_TABLE = [
    (32, 5, 1, 0, 28),  # LeNet C1
    (28, 2, 2, 0, 14),  # LeNet S2
    (10, 5, 1, 0, 6),  # LeNet C3 on 14 -> 10, then 10 -> 6 with F=5
    (227, 11, 4, 0, 55),  # AlexNet conv1
    (224, 7, 2, 3, 112),  # ResNet stem with explicit padding 3
    (112, 3, 2, 1, 56),  # ResNet max pool
    (7, 3, 2, 0, 3),
    (10, 3, 2, 0, 4),  # (10-3)/2 = 3.5 -> floored
    (5, 2, 2, 0, 2),  # (5-2)/2 = 1.5 -> floored
    (4, 2, 1, 0, 3),  # even kernel, stride 1
    (6, 4, 2, 1, 3),  # even kernel with padding: (6+2-4)/2 + 1
    (3, 3, 1, 0, 1),  # kernel exactly the input
    (1, 1, 1, 0, 1),
]


@pytest.mark.parametrize(("n", "f", "s", "p", "out"), VALID_TABLE)
def test_output_size_formula(n: int, f: int, s: int, p: int, out: int) -> None:
    ax = window_axis(n, f, s, p, 0)
    assert ax.out == out
    assert (ax.pad_before, ax.pad_after) == (p, p)
    assert not ax.same


# TensorFlow "same": out = ceil(N/S); total = max((out-1)*S + F - N, 0); top = total // 2,
# bottom gets the odd pixel. Each row below is worked by hand: (N, F, S) -> (out, top, bottom).
SAME_TABLE = [
    (32, 3, 1, 32, 1, 1),
    (32, 5, 1, 32, 2, 2),
    (5, 3, 2, 3, 1, 1),  # (3-1)*2 + 3 - 5 = 2
    (6, 3, 2, 3, 0, 1),  # (3-1)*2 + 3 - 6 = 1: the odd pixel goes to the bottom
    (224, 7, 2, 112, 2, 3),  # the ResNet stem in TensorFlow pads 2 before, 3 after
    (7, 1, 2, 4, 0, 0),  # 1x1 stride 2: no padding needed
    (4, 2, 1, 4, 0, 1),  # even kernel: total 1, after only
    (5, 4, 1, 5, 1, 2),  # even kernel: total 3
    (8, 4, 2, 4, 1, 1),  # total (4-1)*2 + 4 - 8 = 2
    (9, 4, 2, 5, 1, 2),  # total (5-1)*2 + 4 - 9 = 3
    (1, 3, 1, 1, 1, 1),
]


@pytest.mark.parametrize(("n", "f", "s", "out", "top", "bottom"), SAME_TABLE)
def test_same_padding_follows_tensorflow(n: int, f: int, s: int, out: int, top: int,
                                         bottom: int) -> None:
    assert same_padding(n, f, s) == (top, bottom)
    ax = window_axis(n, f, s, "same", 0)
    assert ax.same
    assert ax.out == out
    assert (ax.pad_before, ax.pad_after, ax.pad_total) == (top, bottom, top + bottom)


@pytest.mark.parametrize("n", range(1, 40))
@pytest.mark.parametrize(("f", "s"), [(1, 1), (3, 1), (3, 2), (2, 2), (5, 3), (4, 4), (7, 2)])
def test_same_output_is_ceil_of_n_over_s(n: int, f: int, s: int) -> None:
    ax = window_axis(n, f, s, "same", 1)
    assert ax.out == -(-n // s)
    assert 0 <= ax.pad_after - ax.pad_before <= 1


def test_valid_padding_is_zero() -> None:
    ax = window_axis(10, 3, 1, "valid", 0)
    assert (ax.pad_before, ax.pad_after, ax.out) == (0, 0, 8)


def test_hw_params_apply_per_axis() -> None:
    """[h, w] kernel, stride and padding: height uses the first number, width the second."""
    h, w = window_2d((32, 20), [5, 3], [1, 2], [2, 0])
    assert (h.f, h.s, h.pad_before, h.out) == (5, 1, 2, (32 + 4 - 5) // 1 + 1)
    assert (w.f, w.s, w.pad_before, w.out) == (3, 2, 0, (20 - 3) // 2 + 1)


def test_same_with_hw_kernel() -> None:
    h, w = window_2d((9, 9), [1, 4], 2, "same")
    assert (h.out, h.pad_before, h.pad_after) == (5, 0, 0)
    assert (w.out, w.pad_before, w.pad_after) == (5, 1, 2)


def test_pair() -> None:
    assert pair(3) == (3, 3)
    assert pair([3, 5]) == (3, 5)
    assert pair((2, 1)) == (2, 1)


# Fractional tiling: (N, F, S, P) -> (remainder, uncovered real rows, real rows lost to the
# floor, i.e. those the validator warns about).
FRACTION_TABLE = [
    (10, 3, 2, 0, 1, (9,), (9,)),  # windows at 0,2,4,6 reach row 8; row 9 is never seen
    (5, 2, 2, 0, 1, (4,), (4,)),
    (11, 3, 3, 0, 2, (9, 10), (9, 10)),  # (11-3)/3 = 2.67: windows 0-2, 3-5, 6-8
    (7, 3, 2, 1, 0, (), ()),  # (7+2-3)/2 = 3: whole
    (8, 3, 2, 1, 1, (), ()),  # the one uncovered index is padding (index 8), not a real row
    (9, 3, 3, 1, 2, (8,), (8,)),  # windows -1..1, 2..4, 5..7: real row 8 and padding 9
    (32, 5, 1, 0, 0, (), ()),
    (224, 7, 2, 3, 1, (), ()),  # ResNet's stem: only the last padded row is left over
    # ResNet's 1x1 stride-2 projection: odd rows are skipped by design; row 7 is one of them,
    # not lost to the floor (a 9th row would be covered by the next window).
    (8, 1, 2, 0, 1, (1, 3, 5, 7), ()),
    (9, 1, 2, 0, 0, (1, 3, 5, 7), ()),
]


@pytest.mark.parametrize(("n", "f", "s", "p", "rem", "rows", "lost"), FRACTION_TABLE)
def test_remainder_and_uncovered_rows(n: int, f: int, s: int, p: int, rem: int,
                                      rows: tuple[int, ...], lost: tuple[int, ...]) -> None:
    ax = window_axis(n, f, s, p, 0)
    assert ax.remainder == rem
    assert ax.uncovered_real == rows
    assert ax.floored_away == lost
    # Independently: mark every index some window position reads.
    covered = {-p + o * s + k for o in range(ax.out) for k in range(f)}
    assert set(ax.uncovered) == set(range(-p, n + p)) - covered


def test_kernel_larger_than_input_gives_no_positions() -> None:
    ax = window_axis(10, 12, 1, 0, 0)
    assert ax.span == 10 - 12
    assert ax.out < 1
    assert ax.remainder == 0


def test_padding_rescues_a_large_kernel() -> None:
    ax = window_axis(10, 12, 1, 1, 0)
    assert ax.out == 1


def test_stride_larger_than_window_lists_the_gaps_too() -> None:
    """A 1-wide window with stride 2 over 6 rows covers rows 0, 2, 4: rows 1, 3, 5 are skipped."""
    ax = window_axis(6, 1, 2, "valid", 0)
    assert ax.out == 3
    assert ax.uncovered_real == (1, 3, 5)
