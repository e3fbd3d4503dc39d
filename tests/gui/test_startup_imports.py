"""The window starts without the plotting library: the views that need it make their plots on
first use, look exactly as if made at start, and the library is loaded right after the window
is shown."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from cnnstudio.gui.training.curves import CurvesWidget
from cnnstudio.gui.training.imaging import viridis_lut
from cnnstudio.gui.training.progress import BatchPoint, EpochPoint
from cnnstudio.gui.warmup import LOADED_LATER


def _run(code: str) -> str:
    """Run ``code`` in a fresh interpreter (offscreen Qt); its stdout."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, timeout=120,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_importing_the_window_loads_no_plotting_library():
    out = _run(f"""
        import sys
        import cnnstudio.gui.main_window
        print(sorted(m for m in {LOADED_LATER!r} if m in sys.modules))
    """)
    assert out.strip() == "[]"


def test_the_shown_window_loads_it_only_when_curves_come_to_the_front():
    out = _run("""
        import sys
        from PySide6.QtCore import QSettings
        from cnnstudio.core.templates import DEFAULT_TEMPLATE, load_template
        from cnnstudio.gui.app import create_application
        from cnnstudio.gui.document import Document
        from cnnstudio.gui.main_window import MainWindow
        import tempfile, os

        app = create_application()
        ini = os.path.join(tempfile.mkdtemp(), "s.ini")
        window = MainWindow(Document(load_template(DEFAULT_TEMPLATE)),
                            QSettings(ini, QSettings.Format.IniFormat))
        window.show()
        for _ in range(5):
            app.processEvents()
        print("shown", "pyqtgraph" in sys.modules, window.training.curves._plots is not None)
        window.docks["curves"].raise_()
        app.processEvents()
        print("curves", "pyqtgraph" in sys.modules, window.training.curves._plots is not None)
        os._exit(0)
    """)
    assert out.split("\n")[:2] == ["shown False False", "curves True True"]


def test_warm_up_loads_what_start_up_left_out():
    out = _run(f"""
        import sys
        from cnnstudio.gui.warmup import warm_up
        warm_up()
        print(all(m in sys.modules for m in {LOADED_LATER!r}))
    """)
    assert out.strip() == "True"


def test_viridis_without_pyqtgraph_is_pyqtgraphs_viridis():
    import pyqtgraph as pg

    lut = pg.colormap.get("viridis").getLookupTable(nPts=256, mode="byte", alpha=False)
    np.testing.assert_array_equal(viridis_lut(), lut[:, :3])


def _batches(n: int, start: float) -> list[BatchPoint]:
    return [BatchPoint(1, 3, i + 1, n, start * (1 + i), None, 100.0, 1.0) for i in range(n)]


def _feed(curves: CurvesWidget) -> None:
    """Two runs (the first kept in grey), epochs with and without validation figures."""
    curves.keep_previous.setChecked(True)
    curves.reset(2)
    curves.add_batches(_batches(12, 0.2))
    curves.add_epoch(EpochPoint(1, 2, 0.9, 0.5, 0.8, 0.55, 100.0))
    curves.add_epoch(EpochPoint(2, 2, 0.7, None, None, None, 100.0))
    curves.flush()
    curves.reset(3)
    curves.add_batches(_batches(7, 0.3))
    curves.add_epoch(EpochPoint(1, 3, 1.1, 0.4, 1.0, 0.45, 100.0))
    curves.flush()


def _picture(curves: CurvesWidget) -> dict:
    plots = curves.plots()
    box = curves.loss_plot.getViewBox()
    box.updateAutoRange()  # as painting does: an axis following the data fits it now
    return {
        "data": {k: (x.tolist(), y.tolist()) for k, (x, y) in curves.curve_data().items()},
        "auto": box.autoRangeEnabled(),
        "x": box.viewRange()[0],
        "y": box.viewRange()[1],
        "log": curves.is_log_scale(),
        "legend": plots.legend_prev,
        "side": plots.side_by_side,
    }


@pytest.mark.parametrize("log", ["off", "on from the start", "switched on after a run",
                                 "switched on and off"])
def test_curves_made_late_look_as_if_made_at_start(qtbot, log):
    early, late = CurvesWidget(), CurvesWidget()
    for curves in (early, late):
        qtbot.addWidget(curves)
        curves.resize(900, 300)  # a wide, low dock: plots side by side
        curves.log_scale.setChecked(log == "on from the start")
    early.plots()
    for curves in (early, late):
        _feed(curves)
        if log.startswith("switched"):
            curves.log_scale.setChecked(True)
            curves.add_batches(_batches(3, 0.05))
            curves.flush()
        if log.endswith("off"):
            curves.log_scale.setChecked(False)
    assert late._plots is None  # nothing asked for the plots yet
    assert _picture(late) == _picture(early)


def test_curves_ask_the_docks_for_the_same_room_as_if_made_at_start(qtbot):
    """The docks around the curves settle where they did when the plots were made at start:
    a widget whose plots are made once it is on screen asks for the same room as one made with
    them, as the view is resized and the read-out changes."""
    early, late = CurvesWidget(), CurvesWidget()
    early.plots()
    for curves in (early, late):
        qtbot.addWidget(curves)
        curves.resize(700, 300)
        curves.show()
        qtbot.waitExposed(curves)
    late.plots()

    def hints(curves: CurvesWidget) -> tuple:
        return curves.sizeHint().toTuple(), curves.minimumSizeHint().toTuple()

    assert hints(late) == hints(early)
    for i, size in enumerate(((900, 250), (500, 420), (640, 200))):
        for curves in (early, late):
            curves.resize(*size)
            curves.readout.setText("Training" + "." * i)
        qtbot.wait(20)
        assert hints(late) == hints(early), size
