"""Reading only regular files up to a limit, never writing over an input, and the atomic writer
cleaning up after a save that was killed (issue 9, cases 3, 8 and 10)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cnnstudio.core.atomic import atomic_append_text, atomic_write_text, remove_stale_temps
from cnnstudio.core.files import FileRefused, check_not_an_input, read_limited

posix_only = pytest.mark.skipif(not hasattr(os, "mkfifo") or not Path("/dev/zero").exists(),
                                reason="needs FIFOs and /dev/zero")


@posix_only
def test_fifo_and_device_are_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    zero = tmp_path / "zero.json"
    zero.symlink_to("/dev/zero")
    with pytest.raises(FileRefused, match="it is a pipe \\(FIFO\\), not a regular file"):
        read_limited(fifo, 100, "model file")
    with pytest.raises(FileRefused, match="it is a device, not a regular file"):
        read_limited(zero, 100, "model file")


def test_read_limited_reads_at_most_the_limit(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"x" * 101)
    with pytest.raises(FileRefused, match="file is 101 bytes; a model file is at most 100"):
        read_limited(path, 100, "model file")
    assert read_limited(path, 101) == b"x" * 101


def test_outputs_naming_an_input_are_refused_through_links_and_dots(tmp_path):
    model = tmp_path / "m.json"
    model.write_text("{}")
    link = tmp_path / "link.json"
    link.symlink_to(model)
    for alias in (model, link, tmp_path / "sub" / ".." / "m.json"):
        with pytest.raises(FileRefused, match="--weights-out names the input file"):
            check_not_an_input({"--weights-out": alias}, [model, None])
    check_not_an_input({"--weights-out": tmp_path / "w.npz", "--log-json": None}, [model])


_KILLED_SAVE = textwrap.dedent("""
    import os, signal, sys
    from cnnstudio.core.atomic import atomic_open
    with atomic_open(sys.argv[1]) as fh:
        fh.write(b"half a file")
        fh.flush()
        os.kill(os.getpid(), signal.SIGKILL)
""")


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_a_killed_save_leaves_its_temp_file_which_the_next_save_removes(tmp_path):
    target = tmp_path / "model.json"
    target.write_text("old")
    proc = subprocess.run([sys.executable, "-c", _KILLED_SAVE, str(target)], timeout=60)
    assert proc.returncode == -signal.SIGKILL
    left = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert len(left) == 1 and left[0].name.startswith(".model.json.")
    assert target.read_text() == "old"  # the killed save changed nothing
    other = tmp_path / ".other.json.1.x.tmp"  # another file's temp is not ours to remove
    other.write_text("")
    fresh = tmp_path / f".model.json.{os.getpid()}.busy.tmp"  # a save still going on
    fresh.write_text("")
    atomic_write_text(target, "new")
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["model.json", other.name, fresh.name])
    assert remove_stale_temps(target) == []


def test_append_is_atomic_and_keeps_what_was_there(tmp_path):
    log = tmp_path / "log.jsonl"
    atomic_append_text(log, "1\n")
    atomic_append_text(log, "2\n")
    assert log.read_text() == "1\n2\n"
    assert [p.name for p in tmp_path.iterdir()] == ["log.jsonl"]
