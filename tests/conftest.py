"""Suite-wide set-up: bugs fail loudly, and CI draws the same random examples every run.

The ``cnnstudio`` command turns an uncaught exception into one line and a hint for users; the
tests switch that off (``CNNSTUDIO_DEBUG``), also for the commands they run in subprocesses, so
a bug shows its traceback and fails the test instead of passing as a tidy message.
"""

from __future__ import annotations

import os

from hypothesis import settings

from cnnstudio import DEBUG_ENV

os.environ[DEBUG_ENV] = "1"

# A gate must not pass or fail by chance: in CI (``.ci/run`` sets CI) hypothesis draws the same
# examples every run; on a developer's machine it keeps drawing new ones, to find new bugs.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
