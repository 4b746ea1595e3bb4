"""mkdocs hook: the Performance page's results, read from the repository at build time.

The committed results files (`benchmarks/results/*.md`) are the only source of the page's
numbers: each becomes a section of `performance.md`, where the page says `<!-- results -->`,
grouped by platform, with its date and, beside it, the chart of the same name. The images
of `benchmarks/results/` and `examples/` are copied into the site, so that pages can show
them without a second copy under `docs/`.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"
PAGE = "performance.md"
MARKER = "<!-- results -->"
# Site folder -> repository folder whose PNG files it serves.
IMAGES = {"results": RESULTS, "examples": ROOT / "examples"}
# A results file's platform is the first of these words in its name.
PLATFORMS = {"cpu": "CPU", "gpu": "GPU", "cuda": "GPU", "rocm": "GPU", "tpu": "TPU"}
_DATE = re.compile(r"\b(\d{4}-\d{2}-\d{2})\b")
_MACHINE = re.compile(r"^[\s*_-]*machine[\s*_]*:\s*(.+?)\s*$", re.IGNORECASE | re.MULTILINE)
_HEADING = re.compile(r"^(#{1,6})(\s)", re.MULTILINE)


def platform(stem: str) -> str:
    """The platform a results file is for, from the words of its name."""
    words = re.split(r"[-_.]", stem.lower())
    return next((PLATFORMS[w] for w in words if w in PLATFORMS), "Other")


def _git_date(path: Path) -> str | None:
    try:
        out = subprocess.run(["git", "log", "-1", "--format=%cs", "--", path.name],
                             cwd=path.parent, capture_output=True, text=True, check=False)
    except OSError:  # no git: the date is left out rather than guessed
        return None
    return out.stdout.strip() or None


def dated(path: Path, text: str) -> str:
    """When the results were made: a date in the file's name or opening lines if it has
    one, else the date of the commit that last changed the file."""
    head = "\n".join(text.splitlines()[:10])
    found = _DATE.search(path.stem) or _DATE.search(head)
    if found:
        return found.group(1)
    committed = _git_date(path)
    return f"committed {committed}" if committed else "date not recorded"


def demote(markdown: str, levels: int) -> str:
    """Every heading outside code fences `levels` deeper (capped at level 6)."""
    parts = re.split(r"(^```.*?^```[ \t]*$)", markdown, flags=re.MULTILINE | re.DOTALL)
    for i in range(0, len(parts), 2):  # the odd parts are fenced code
        parts[i] = _HEADING.sub(
            lambda m: "#" * min(len(m.group(1)) + levels, 6) + m.group(2), parts[i])
    return "".join(parts)


def anchor(path: Path) -> str:
    """The id of a results file's section: pages link to `performance.md#results-<name>`."""
    return "results-" + re.sub(r"[^a-z0-9]+", "-", path.stem.lower()).strip("-")


def section(path: Path) -> str:
    """One results file as a level-3 section: title, file, date, machine, chart, content."""
    text = path.read_text()
    first, _, rest = text.partition("\n")
    if first.startswith("# "):
        title, body = first[2:].strip(), rest
    else:
        title, body = path.stem, text
    facts = [f"`benchmarks/results/{path.name}`", dated(path, text)]
    machine = _MACHINE.search(text)
    if machine:
        facts.append(f"machine: {machine.group(1)}")
    lines = [f"### {title} {{#{anchor(path)}}}", "", " · ".join(facts), ""]
    chart = path.with_suffix(".png")
    if chart.exists():
        lines += [f"![{title}](results/{chart.name})", ""]
    return "\n".join(lines) + "\n" + demote(body.strip(), 2) + "\n"


def results_markdown(folder: Path = RESULTS) -> str:
    """Every results file of `folder`, as sections under one heading per platform."""
    files = sorted(folder.glob("*.md"))
    if not files:
        raise ValueError(f"No results files (*.md) in {folder}: the Performance page has "
                         "nothing to show.")
    by_platform: dict[str, list[Path]] = {}
    for path in files:
        by_platform.setdefault(platform(path.stem), []).append(path)
    order = [*dict.fromkeys(PLATFORMS.values()), "Other"]
    out = []
    for name in sorted(by_platform, key=order.index):
        out += [f"## {name}", ""] + [section(p) for p in by_platform[name]]
    return "\n".join(out)


def on_files(files, config):
    """Adds the repository's images under the site folders of `IMAGES`."""
    from mkdocs.structure.files import File

    for site_folder, folder in IMAGES.items():
        for image in sorted(folder.glob("*.png")):
            files.append(File.generated(config, f"{site_folder}/{image.name}",
                                        abs_src_path=str(image)))
    return files


def on_page_markdown(markdown, page, config, files):
    """Puts the results sections in the Performance page, where it says `MARKER`."""
    if page.file.src_uri != PAGE:
        return markdown
    if MARKER not in markdown:
        raise ValueError(f"docs/{PAGE} must hold the line {MARKER!r}, where the results go.")
    return markdown.replace(MARKER, results_markdown())
