"""Command-line interface: ``probcascade {demo,calibrate,tune,gof}`` (also ``python -m probcascade``)."""

from .main import build_parser, main

__all__ = ["main", "build_parser"]
