"""``cnnstudio [gui] [FILE]``: the designer window (the default when no command is given)."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gui", help="open the designer window (the default command)",
                       description="Open the designer window on a model file, a template, or "
                       "(with neither) the default template.")
    p.add_argument("file", nargs="?", metavar="FILE", help="model file (.json) to open")
    p.add_argument("--template", metavar="NAME",
                   help="start from a built-in template (see `cnnstudio templates`)")
    p.add_argument("--screenshot", metavar="OUT.png",
                   help="render the whole window offscreen at 1400x900 into OUT.png and exit")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cnnstudio.core import modelfile
    from cnnstudio.core.templates import DEFAULT_TEMPLATE, load_template

    if args.screenshot and args.file:
        from cnnstudio.core.files import FileRefused, check_not_an_input

        try:
            check_not_an_input({"--screenshot": args.screenshot}, [args.file])
        except FileRefused as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    try:
        if args.file:
            graph, path = modelfile.load(args.file), args.file
        else:
            graph, path = load_template(args.template or DEFAULT_TEMPLATE), None
    except modelfile.ModelFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyError as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 2

    from cnnstudio.gui.document import too_large_to_show

    why = too_large_to_show(graph, str(path or args.template))
    if why:
        print(f"error: {why}", file=sys.stderr)
        return 2
    from cnnstudio.gui.app import create_application

    app = create_application(offscreen=bool(args.screenshot))
    if args.screenshot:
        return _screenshot(graph, path, args.screenshot)

    from cnnstudio.gui.document import Document
    from cnnstudio.gui.main_window import MainWindow

    window = MainWindow(Document(graph, path))
    if path:
        from cnnstudio.gui import settings as cfg

        cfg.remember_recent(window.settings, path)
    window.show()
    window.canvas.show_model()
    from PySide6.QtCore import QTimer

    from cnnstudio.gui.warmup import warm_up_soon

    QTimer.singleShot(0, window.offer_recovery)
    warm_up_soon()
    return app.exec()


def _save_png(pixmap, out: str) -> bool:  # noqa: ANN001
    """Encode in memory, then write through the one atomic writer (as every saved file)."""
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice

    from cnnstudio.core.atomic import atomic_write_bytes

    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if not pixmap.save(buffer, "PNG"):
        return False
    buffer.close()
    try:
        atomic_write_bytes(out, bytes(data.data()))
    except OSError:
        return False
    return True


def _screenshot(graph, path, out: str) -> int:  # noqa: ANN001
    """A reproducible picture: fixed size, default dock layout, settings in a throwaway folder."""
    import tempfile
    from pathlib import Path

    from PySide6.QtCore import QSettings

    from cnnstudio.gui.app import run_event_loop
    from cnnstudio.gui.document import Document
    from cnnstudio.gui.main_window import SCREENSHOT_SIZE, MainWindow

    with tempfile.TemporaryDirectory() as tmp:
        settings = QSettings(str(Path(tmp) / "screenshot.ini"), QSettings.Format.IniFormat)
        window = MainWindow(Document(graph, path), settings)
        window.resize(*SCREENSHOT_SIZE)
        window.show()
        run_event_loop()
        window.canvas.show_model()
        run_event_loop()
        ok = _save_png(window.grab(), out)
        window.files.shutdown()
        window.document.undo_stack.setClean()
        window.close()
    if not ok:
        print(f"error: cannot write {out}", file=sys.stderr)
        return 1
    print(out)
    return 0
