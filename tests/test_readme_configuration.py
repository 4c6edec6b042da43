"""Every variable in the README's configuration table is read by the code: a documented setting
that nothing reads is a promise that does nothing (issue 16 found three)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Where the environment is read: the settings, the app, the commands, and the Makefile (PORT).
SOURCES = [ROOT / "Makefile", ROOT / "manage.py", *sorted((ROOT / "studio").rglob("*.py"))]
SOURCES += sorted((ROOT / "characters").rglob("*.py"))


def documented(readme: str) -> list[str]:
    """The variable names in the first column of the table under "## Configuration"; a name
    with a placeholder (`TURNAROUND_ROUTE_<STAGE>`) keeps the part before it plus "{"."""
    section = readme.split("\n## Configuration", 1)[1].split("\n## ", 1)[0]
    names = []
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        first_cell = line.split("|")[1]
        for name in re.findall(r"`([A-Z][A-Z0-9_<>]+)`", first_cell):
            names.append(re.sub(r"<[A-Z]+>$", "{", name))
    return names


def reads(name: str, source: str) -> bool:
    """Whether the source reads the variable from the environment (Python or make)."""
    quoted = re.escape(name)
    python = rf"""(env|env_bool|env_list|environ\.get|getenv)\(\s*f?["']{quoted}"""
    return bool(
        re.search(python, source)
        or re.search(rf"""environ\[\s*["']{quoted}["']\s*\]""", source)
        or (not name.endswith("{") and re.search(rf"\$[({{]{quoted}[)}}]", source))
    )


def unread(readme: str, sources: list[str]) -> list[str]:
    return [name for name in documented(readme) if not any(reads(name, s) for s in sources)]


def test_every_variable_in_the_readme_table_is_read():
    readme = (ROOT / "README.md").read_text()
    sources = [path.read_text() for path in SOURCES]
    names = documented(readme)
    assert len(names) >= 40  # the whole table was parsed, not one row
    assert "TURNAROUND_PROVIDER_READ_TIMEOUT" in names and "TURNAROUND_ROUTE_{" in names
    assert unread(readme, sources) == []


def test_a_documented_variable_nobody_reads_is_caught():
    readme = (ROOT / "README.md").read_text()
    sources = [path.read_text() for path in SOURCES]
    marker = "\n## Configuration"
    head, tail = readme.split(marker, 1)
    table_row = "| `TURNAROUND_NOT_READ_ANYWHERE` | 1 | documented, never read |\n"
    rows_start = tail.index("| `")
    doctored = head + marker + tail[:rows_start] + table_row + tail[rows_start:]
    assert unread(doctored, sources) == ["TURNAROUND_NOT_READ_ANYWHERE"]
    # A variable that only appears in a comment or a docstring does not count as read.
    assert not reads("TURNAROUND_X", '# TURNAROUND_X is documented\n"""TURNAROUND_X"""')
    assert reads("TURNAROUND_X", 'int(env("TURNAROUND_X", "1"))')
