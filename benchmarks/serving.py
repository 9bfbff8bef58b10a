"""``python -m benchmarks.serving --calibrate``: the calibration of the inference presets
(:mod:`benchmarks.serving_calibration`; docs/serving.md, "Calibration")."""

from __future__ import annotations

import sys

from benchmarks import serving_calibration


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    return serving_calibration.main(argv)


if __name__ == "__main__":
    sys.exit(main())
