"""Small files that claim to be huge: the hostile inputs of issue 9, made in well under a second.

Each helper writes a genuine file (every byte valid for its format) whose declared content is
far larger than the file: a zip member whose deflate stream really does expand to 4 GiB of
zeros, a gzip stream whose IDX header says 40000x40000. Readers must refuse them from their
headers, before allocating anything. ``peak_rss_mb`` runs code in a fresh interpreter and
reports its peak resident memory, so tests can state the bound a refusal stays under.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np

_CHUNK = 1 << 24  # 16 MiB of zeros, deflated once and repeated


def _deflate_zeros(prefix: bytes, zeros: int) -> tuple[bytes, int]:
    """A raw deflate stream of ``prefix`` then ``zeros`` zero bytes, and its CRC-32.

    After a full flush the compressor starts from an empty history, so every whole chunk of
    zeros compresses to the same bytes: compress one and repeat it (a 4 GiB stream in ~10 ms).
    """
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    parts = [comp.compress(prefix) + comp.flush(zlib.Z_FULL_FLUSH)]
    whole, rest = divmod(zeros, _CHUNK)
    if whole:
        block = comp.compress(bytes(_CHUNK)) + comp.flush(zlib.Z_FULL_FLUSH)
        parts.append(block * whole)
    parts.append(comp.compress(bytes(rest)) + comp.flush(zlib.Z_FINISH))
    crc = zlib.crc32(prefix)
    chunk = bytes(_CHUNK)
    for _ in range(whole):
        crc = zlib.crc32(chunk, crc)
    crc = zlib.crc32(bytes(rest), crc)
    return b"".join(parts), crc


def _zip64(members: list[tuple[str, bytes, int, int]]) -> bytes:
    """A zip archive (zip64 records throughout) of already-deflated members:
    ``(name, deflated bytes, uncompressed size, crc)``."""
    out = bytearray()
    central = bytearray()
    for name, data, size, crc in members:
        raw_name = name.encode()
        offset = len(out)
        extra = struct.pack("<HHQQ", 1, 16, size, len(data))
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 8, 0, 0, crc, 0xFFFFFFFF,
                           0xFFFFFFFF, len(raw_name), len(extra)) + raw_name + extra + data
        cextra = struct.pack("<HHQQQ", 1, 24, size, len(data), offset)
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 8, 0, 0, crc,
                               0xFFFFFFFF, 0xFFFFFFFF, len(raw_name), len(cextra), 0, 0, 0, 0,
                               0xFFFFFFFF) + raw_name + cextra
    cd_offset = len(out)
    out += central
    eocd64 = len(out)
    n = len(members)
    out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, n, n, len(central),
                       cd_offset)
    out += struct.pack("<IIQI", 0x07064B50, 0, eocd64, 1)
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    return bytes(out)


def npy_header(shape: tuple[int, ...], dtype: str = "<f4") -> bytes:
    """The header NumPy writes before an array of ``shape`` (format 1.0 or 2.0 as needed)."""
    import io

    buf = io.BytesIO()
    d = {"descr": dtype, "fortran_order": False, "shape": tuple(shape)}
    try:
        np.lib.format.write_array_header_1_0(buf, d)
    except ValueError:  # a header too long for format 1.0
        np.lib.format.write_array_header_2_0(buf, d)
    return buf.getvalue()


def zero_bomb_npz(path: Path, arrays: dict[str, tuple[tuple[int, ...], str]],
                  plain: dict[str, np.ndarray] | None = None) -> Path:
    """An .npz whose members are all-zero arrays of the given shapes and dtypes, deflated; plus
    ``plain`` small arrays stored as usual."""
    members = []
    for key, (shape, dtype) in arrays.items():
        header = npy_header(shape, dtype)
        nbytes = int(np.prod(shape, dtype=object)) * np.dtype(dtype).itemsize
        data, crc = _deflate_zeros(header, nbytes)
        members.append((key + ".npy", data, len(header) + nbytes, crc))
    for key, arr in (plain or {}).items():
        import io

        buf = io.BytesIO()
        np.lib.format.write_array(buf, np.asarray(arr), allow_pickle=False)
        raw = buf.getvalue()
        comp = zlib.compressobj(9, zlib.DEFLATED, -15)
        members.append((key + ".npy", comp.compress(raw) + comp.flush(), len(raw),
                        zlib.crc32(raw)))
    path.write_bytes(_zip64(members))
    return path


def gzip_idx_bomb(path: Path, dims: tuple[int, ...]) -> Path:
    """A gzip'd IDX (uint8) file whose header declares ``dims`` and whose data are zeros."""
    header = struct.pack(">HBB", 0, 0x08, len(dims)) + b"".join(struct.pack(">I", d)
                                                               for d in dims)
    nbytes = int(np.prod(dims, dtype=object))
    data, crc = _deflate_zeros(header, nbytes)
    size = (len(header) + nbytes) & 0xFFFFFFFF
    path.write_bytes(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + data
                     + struct.pack("<II", crc, size))
    return path


def model_doc(layers: list[dict], name: str = "hostile") -> dict:
    return {"format": "cnnstudio.model", "version": 1, "name": name, "layers": layers}


def write_model(path: Path, layers: list[dict]) -> Path:
    path.write_text(json.dumps(model_doc(layers)), encoding="utf-8")
    return path


def dense_model(path: Path, units: int, size: int = 8, channels: int = 1) -> Path:
    """Input -> Flatten -> Dense(units): a 1 KB file whose weights can be any size."""
    return write_model(path, [
        {"id": "in", "type": "Input", "params": {"channels": channels, "height": size,
                                                  "width": size}},
        {"id": "flat", "type": "Flatten"},
        {"id": "d", "type": "Dense", "params": {"units": units}},
    ])


#: Peak resident memory of this process in KB. Linux's VmHWM belongs to the process's own
#: address space; ``getrusage``'s ru_maxrss also counts the parent's peak at fork time (it
#: survives exec), so a child of a big pytest process would report the parent's size.
PEAK_KB = """
def peak_kb():
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
"""

_PEAK = PEAK_KB + """
import sys
sys.argv = {argv!r}
code = 0
try:
    {body}
except SystemExit as exc:
    code = exc.code if isinstance(exc.code, int) else 1
finally:
    print("PEAK_KB", peak_kb(), file=sys.stderr)
sys.exit(code)
"""


def run_measured(argv: list[str], env: dict[str, str] | None = None, timeout: float = 120,
                 cwd: Path | None = None) -> tuple[subprocess.CompletedProcess, float]:
    """Run ``cnnstudio *argv`` in a fresh interpreter: (the finished process with the peak line
    removed from stderr, peak resident memory in MB)."""
    body = "from cnnstudio.cli import main; code = main(sys.argv[1:])"
    script = _PEAK.format(argv=["cnnstudio", *argv], body=body)
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=full_env, timeout=timeout, cwd=cwd)
    lines = proc.stderr.splitlines()
    peak = [int(line.split()[1]) for line in lines if line.startswith("PEAK_KB")]
    proc.stderr = "\n".join(line for line in lines if not line.startswith("PEAK_KB"))
    return proc, (peak[-1] / 1024 if peak else float("nan"))
