"""OpenBLAS runs on one thread during every engine pass, on whichever thread the pass runs (the
GUI thread draws feature maps, a worker thread trains), and gets its thread count back after.

threadpoolctl, which finds the library, is also the independent observer of its thread count."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from cnnstudio.core.templates import load_template
from cnnstudio.engine.kernels import _blas
from cnnstudio.engine.kernels._blas import (
    blas_controllable,
    blas_is_single_threaded,
    single_threaded_blas,
)
from cnnstudio.engine.network import Network

threadpoolctl = pytest.importorskip("threadpoolctl")


def openblas_threads() -> list[int]:
    return [i["num_threads"] for i in threadpoolctl.threadpool_info()
            if i["internal_api"] == "openblas"]


@pytest.fixture
def two_blas_threads():
    """OpenBLAS set to 2 threads (so "1 inside a pass" means a switch), restored after."""
    if not openblas_threads():
        pytest.skip("NumPy's BLAS here is not OpenBLAS")
    assert blas_controllable()
    get, set_ = _blas._get_controls()
    before = get()
    set_(2)
    yield
    set_(before)


def test_openblas_is_single_threaded_inside_and_restored_after(two_blas_threads):
    assert not blas_is_single_threaded()
    with single_threaded_blas():
        assert openblas_threads() == [1]
        assert blas_is_single_threaded()
    assert openblas_threads() == [2]
    assert not blas_is_single_threaded()


def test_passes_on_another_thread_switch_too(two_blas_threads):
    # threadpoolctl's own set_num_threads obeys only the first thread that used it: a training
    # thread after a GUI-thread pass must still get a single-threaded BLAS.
    with single_threaded_blas():
        pass
    seen = []

    def other() -> None:
        with single_threaded_blas():
            seen.append(openblas_threads())

    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert seen == [[1]]
    assert openblas_threads() == [2]


def test_overlapping_passes_restore_only_when_the_last_one_ends(two_blas_threads):
    entered, release = threading.Event(), threading.Event()

    def other() -> None:
        with single_threaded_blas():
            entered.set()
            release.wait(10)

    t = threading.Thread(target=other)
    with single_threaded_blas():
        t.start()
        assert entered.wait(10)
    assert openblas_threads() == [1]  # the other thread's pass is still running
    release.set()
    t.join()
    assert openblas_threads() == [2]


def test_a_network_pass_on_a_worker_thread_runs_blas_single_threaded(two_blas_threads):
    net = Network(load_template("lenet5"), np.random.default_rng(0))
    x = np.zeros((2, *net.input_shape), np.float32)
    net.forward(x)  # a pass on this thread first, as the window's views do
    seen = []
    conv = net.layers["c1"]
    forward = conv.forward

    def observed(*args, **kwargs):
        seen.append(openblas_threads())
        return forward(*args, **kwargs)

    conv.forward = observed
    t = threading.Thread(target=lambda: net.forward(x, training=True))
    t.start()
    t.join()
    assert seen == [[1]]
    assert openblas_threads() == [2]
