"""Suite-wide set-up: bugs fail loudly.

The ``cnnstudio`` command turns an uncaught exception into one line and a hint for users; the
tests switch that off (``CNNSTUDIO_DEBUG``), also for the commands they run in subprocesses, so
a bug shows its traceback and fails the test instead of passing as a tidy message.
"""

from __future__ import annotations

import os

from cnnstudio import DEBUG_ENV

os.environ[DEBUG_ENV] = "1"
