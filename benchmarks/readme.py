"""Writes the README's performance section from the newest committed CPU model results.

`python -m benchmarks.readme` (after committing a `benchmarks/results/cpu-*-models.json`);
`tests/test_docs.py` checks that the README holds what this writes.
"""

from __future__ import annotations

from pathlib import Path

from jaxpad.bench.models import newest_report, readme_section, with_readme_section

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    found = newest_report(ROOT / "benchmarks" / "results")
    if found is None:
        raise SystemExit("no benchmarks/results/cpu-*-models.json to write the README from")
    report, stem = found
    readme = ROOT / "README.md"
    stem = str(Path(stem).relative_to(ROOT))
    readme.write_text(with_readme_section(readme.read_text(), readme_section(report, stem)))
    print(f"README.md: performance section from {stem}.json")


if __name__ == "__main__":
    main()
