"""`manage.py split_sheet IMAGE`: run panel detection on any sheet image and print the boxes.

For checking detection on a provider's real output, or on a sheet someone reports as cut wrong,
without going through the app. Prints a table, or JSON with --json.
"""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from characters.imaging import ImageRejected, inspect_image, split_sheet
from characters.layouts import DEFAULT_PRESET, PRESETS, UnknownPreset, get_preset


class Command(BaseCommand):
    help = "Find the panel boxes on a turnaround sheet image and print them."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("image", help="path to a PNG, JPEG or WebP sheet")
        parser.add_argument(
            "--preset",
            default=DEFAULT_PRESET,
            help=f"layout preset ({', '.join(sorted(PRESETS))}); default {DEFAULT_PRESET}",
        )
        parser.add_argument("--json", action="store_true", help="print JSON instead of a table")

    def handle(self, *args, **options) -> None:
        path = Path(options["image"])
        try:
            preset = get_preset(options["preset"])
        except UnknownPreset as exc:
            raise CommandError(str(exc)) from exc
        try:
            data = path.read_bytes()
        except FileNotFoundError as exc:
            raise CommandError(f"There is no file at {path}.") from exc
        except OSError as exc:
            raise CommandError(f"{path} could not be read: {exc.strerror or exc}.") from exc
        try:
            # The guarded check first: this command reads files from anywhere.
            inspect_image(data)
            result = split_sheet(data, preset.name, previews=False)
        except ImageRejected as exc:
            raise CommandError(f"{path}: {exc}") from exc

        rows = [
            {
                "kind": p.kind,
                "x": p.x,
                "y": p.y,
                "w": p.w,
                "h": p.h,
                "detected": p.detected,
                "confidence": p.confidence,
            }
            for p in result.panels
        ]
        if options["json"]:
            payload = {
                "image": str(path),
                "width": result.width,
                "height": result.height,
                "preset": result.preset,
                "method": result.method,
                "review": result.review,
                "reasons": list(result.reasons),
                "panels": rows,
            }
            self.stdout.write(json.dumps(payload, indent=2))
            return
        self.stdout.write(
            f"{path}: {result.width}x{result.height}, preset {result.preset}, method {result.method}"
        )
        header = f"{'kind':<22}{'x':>7}{'y':>7}{'w':>7}{'h':>7}{'sure':>6}  source"
        self.stdout.write(header)
        self.stdout.write("-" * len(header))
        for r in rows:
            source = "detected" if r["detected"] else "fallback (nominal)"
            self.stdout.write(
                f"{r['kind']:<22}{r['x']:>7}{r['y']:>7}{r['w']:>7}{r['h']:>7}"
                f"{round(r['confidence'] * 100):>5}%  {source}"
            )
        if result.review:
            self.stdout.write("Check this split:")
            for reason in result.reasons:
                self.stdout.write(f"  - {reason}")
