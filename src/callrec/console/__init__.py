"""The web console at /console/: calls and recordings for people — a recording's waveform with its
pauses drawn where they happened, its timeline, its audio and its callbacks (docs/ARCHITECTURE.md,
"The console"). Server-rendered pages (Jinja2) and one small script; no build step."""

from __future__ import annotations

from callrec.console.app import routes

__all__ = ["routes"]
