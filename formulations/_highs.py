"""A quiet ``highspy.Highs``: its C++ constructor prints a banner once per process."""

from __future__ import annotations

import os
import sys

_quiet = False


def new_highs():
    """A ``highspy.Highs`` with logging off (the one-time banner sent to /dev/null)."""
    global _quiet
    import highspy

    if _quiet:
        h = highspy.Highs()
    else:
        sys.stdout.flush()
        saved = os.dup(1)
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 1)
            h = highspy.Highs()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
            os.close(devnull)
        _quiet = True
    h.setOptionValue("output_flag", False)
    return h
