"""Every public function carries a runnable example, the examples pass, and so does every
Python block of the README and of the docs pages."""

from __future__ import annotations

import ast
import doctest
import importlib
import importlib.util
import inspect
import re
import sys
import types
from pathlib import Path

import pytest

import jaxpad
from jaxpad import _conv, _conv_transpose, _dilated, _layers, _pad, _padding, _pool
from jaxpad.bench import models as bench_models

# The submodules; the Flax and Equinox layers and the PyTorch converters need optional
# dependencies.
OPTIONAL = {"jaxpad.linen": ["flax"], "jaxpad.nnx": ["flax"], "jaxpad.equinox": ["equinox"],
            "jaxpad.interop": ["flax", "torch", "equinox"], "jaxpad.sharded": [],
            "jaxpad.streaming": []}


def _optional(name):
    for dependency in OPTIONAL[name]:
        pytest.importorskip(dependency, reason=f"{dependency} is not installed: {name} skipped")
    return importlib.import_module(name)


@pytest.mark.parametrize(
    "module", [_padding, _pad, _conv, _conv_transpose, _pool, _dilated, _layers, bench_models]
)
def test_doctests(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0


@pytest.mark.parametrize("name", list(OPTIONAL))
def test_doctests_of_the_optional_modules(name):
    module = _optional(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0


@pytest.mark.parametrize("name", [n for n in jaxpad.__all__ if callable(getattr(jaxpad, n))])
def test_public_functions_document_args_returns_and_an_example(name):
    doc = inspect.getdoc(getattr(jaxpad, name))
    assert ">>>" in doc and "Args:" in doc and "Returns:" in doc


@pytest.mark.parametrize("name", list(OPTIONAL))
def test_every_public_name_of_the_optional_modules_has_a_passing_example(name):
    module = _optional(name)
    finder, runner = doctest.DocTestFinder(), doctest.DocTestRunner(
        optionflags=doctest.NORMALIZE_WHITESPACE)
    for public in module.__all__:
        obj = getattr(module, public)
        doc = inspect.getdoc(obj)
        assert ">>>" in doc, public
        assert ("Args:" in doc or "Attributes:" in doc) and "Raises:" in doc, public
        if inspect.isfunction(obj):
            assert "Returns:" in doc, public
        tests = [t for t in finder.find(obj, public) if t.examples]
        assert tests, public
        for test in tests:
            runner.run(test)
    assert runner.summarize(verbose=False).failed == 0


# ------------------------------------------------------------------ README.md and docs/*.md

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
README_MAX_LINES = 200
_FENCE = re.compile(r"^```python[^\n]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
# Imported by `import jaxpad` itself, so never a reason to skip a page.
_CORE = {"jax", "jaxlib", "jaxpad", "numpy"}


def python_blocks(text: str) -> list[tuple[int, str]]:
    """Each ```python block of a Markdown text: the line its code starts on, and the code."""
    return [(text.count("\n", 0, m.start(1)) + 1, m.group(1)) for m in _FENCE.finditer(text)]


def optional_dependencies(code: str) -> set[str]:
    """The optional packages `code` needs: what it imports beyond the standard library and
    jax, and what the jaxpad submodules it names need."""
    names = set(re.findall(r"\bjaxpad\.(\w+)", code))
    modules = {f"jaxpad.{n}" for n in names}
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            modules.add(node.module)
    needs = set()
    for module in modules:
        top = module.split(".")[0]
        if module in OPTIONAL:
            needs |= set(OPTIONAL[module])
        elif top not in _CORE and top not in sys.stdlib_module_names:
            needs.add(top)
    return needs


def _page_id(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


@pytest.mark.parametrize(
    "page", [p for p in PAGES if python_blocks(p.read_text())], ids=_page_id
)
def test_the_python_blocks_of_each_page_run_top_to_bottom(page):
    blocks = python_blocks(page.read_text())
    for dependency in sorted(set().union(*(optional_dependencies(code) for _, code in blocks))):
        pytest.importorskip(dependency, reason=f"{dependency} is not installed: {_page_id(page)}"
                            " skipped")
    # One module per page, as a reader running the blocks one after another in one session;
    # flax's dataclasses look the module of a class up in sys.modules.
    module = types.ModuleType("_docs_" + re.sub(r"\W", "_", _page_id(page)))
    sys.modules[module.__name__] = module
    try:
        for line, code in blocks:
            # Padded so that a traceback names the Markdown file's own line.
            exec(compile("\n" * (line - 1) + code, str(page), "exec"), module.__dict__)
    finally:
        del sys.modules[module.__name__]


def test_the_block_finder_reads_only_python_blocks_with_their_lines():
    text = "# t\n\n```bash\npip install .\n```\n\n```python\nx = 1\ny = 2\n```\n" \
           "```text\nout\n```\n```python title=\"a\"\nz = 3\n```\n"
    assert python_blocks(text) == [(8, "x = 1\ny = 2\n"), (15, "z = 3\n")]


def test_optional_dependencies_of_a_block():
    code = "import torch, os\nfrom flax import nnx\nimport jax.numpy as jnp\njaxpad.equinox.Pad"
    assert optional_dependencies(code) == {"torch", "flax", "equinox"}


def test_the_readme_stays_short():
    lines = (ROOT / "README.md").read_text().count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; at most {README_MAX_LINES}"


# ------------------------------------------------------- the Performance page's mkdocs hook


def _results_hook():
    spec = importlib.util.spec_from_file_location("_results_hook", ROOT / "docs/hooks/results.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_performance_page_shows_every_results_file_by_platform(tmp_path):
    hook = _results_hook()
    (tmp_path / "cpu.md").write_text("# Per layer (CPU)\n\nOn x86_64.\n\n## Summary\n\n| a |\n")
    (tmp_path / "cpu.png").write_bytes(b"")
    (tmp_path / "gpu-2026-01-02.md").write_text("# Per layer (GPU)\n\nmachine: one H100\n")
    (tmp_path / "routes-cpu.md").write_text("no title\n\n```text\n# not a heading\n```\n")
    (tmp_path / "notes.md").write_text("# Notes\n")
    page = hook.results_markdown(tmp_path)
    prose = re.sub(r"^```.*?^```$", "", page, flags=re.MULTILINE | re.DOTALL)
    headings = [line for line in prose.splitlines() if line.startswith("#")]
    assert headings == [
        "## CPU", "### Per layer (CPU) {#results-cpu}", "#### Summary",
        "### routes-cpu {#results-routes-cpu}",
        "## GPU", "### Per layer (GPU) {#results-gpu-2026-01-02}",
        "## Other", "### Notes {#results-notes}",
    ]
    assert "![Per layer (CPU)](results/cpu.png)" in page
    assert "`benchmarks/results/gpu-2026-01-02.md` · 2026-01-02 · machine: one H100" in page
    assert "```text\n# not a heading\n```" in page  # code is left as it is


def test_the_performance_hook_refuses_an_empty_folder_and_a_page_without_its_marker(tmp_path):
    hook = _results_hook()
    with pytest.raises(ValueError, match=r"No results files \(\*\.md\) in .*nothing to show"):
        hook.results_markdown(tmp_path)
    page = types.SimpleNamespace(file=types.SimpleNamespace(src_uri="performance.md"))
    with pytest.raises(ValueError, match="must hold the line '<!-- results -->'"):
        hook.on_page_markdown("# Performance\n", page, None, None)
    other = types.SimpleNamespace(file=types.SimpleNamespace(src_uri="index.md"))
    assert hook.on_page_markdown("# Hi\n", other, None, None) == "# Hi\n"


def test_the_performance_page_has_a_section_for_each_committed_results_file():
    hook = _results_hook()
    page = hook.results_markdown()
    for path in sorted(hook.RESULTS.glob("*.md")):
        assert f"{{#{hook.anchor(path)}}}" in page, path.name


def test_the_readme_performance_section_is_the_committed_results():
    """Its figures come from the newest committed CPU model results (`benchmarks.readme`)."""
    from jaxpad.bench.models import README_BEGIN, newest_report, readme_section

    report, stem = newest_report(ROOT / "benchmarks" / "results")
    text = (ROOT / "README.md").read_text()
    section = text.split(README_BEGIN, 1)[1].split("<!--", 1)[0].strip()
    expected = readme_section(report, str(Path(stem).relative_to(ROOT)))
    assert section == expected, "run `python -m benchmarks.readme` after committing results"
    assert (ROOT / f"{Path(stem).relative_to(ROOT)}.png").is_file()
