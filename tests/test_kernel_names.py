"""The kernel (steward/) and the server (server/) serve any workflow: they name none of a workflow's things."""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

from graphs import WORKFLOWS

PROJECT = Path(__file__).resolve().parent.parent


def workflow_words() -> set[str]:
    """Every name the workflows define: workflow, tool and table names, and their domain nouns."""
    words = {"refund", "invoice", "ticket"}
    for workflow in WORKFLOWS.values():
        words.add(workflow.name)
        words.update(spec.name for spec in workflow.tools)
        words.update(table.name for system in workflow.systems for table in system.tables)
    words.discard("ping")  # the smoke-test workflow's name is also sse-starlette's keep-alive keyword
    return {w.lower() for w in words}


def doc_lines(source: str) -> set[int]:
    """Lines of docstrings and bare string statements (documentation, not code)."""
    lines: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            lines.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    return lines


def code_hits(path: Path, words: set[str]) -> list[str]:
    source = path.read_text()
    docs = doc_lines(source)
    alternatives = "|".join(sorted(map(re.escape, words), key=len, reverse=True))
    pattern = re.compile(rf"(?<![a-z])({alternatives})s?(?![a-z])", re.I)
    hits = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE) or token.start[0] in docs:
            continue
        if token.type in (tokenize.NAME, tokenize.STRING) and pattern.search(token.string):
            hits.append(f"{path.relative_to(PROJECT)}:{token.start[0]}: {token.string[:60]}")
    return hits


def test_kernel_and_server_name_no_workflow():
    words = workflow_words()
    assert {"refund", "create_refund", "invoices"} <= words
    files = sorted((PROJECT / "steward").rglob("*.py")) + sorted((PROJECT / "server").rglob("*.py"))
    hits = [hit for path in files for hit in code_hits(path, words)]
    assert hits == [], "\n".join(hits)


def test_the_check_sees_a_name_in_code_but_not_in_docs(tmp_path):
    sample = PROJECT / "steward" / "_names_probe.py"
    sample.write_text('"""Docs may say refund."""\n# so may comments: refund\nLIMIT = "create_refund"\n')
    try:
        assert [h.split(": ", 1)[1] for h in code_hits(sample, workflow_words())] == ['"create_refund"']
    finally:
        sample.unlink()


FORBIDDEN_IMPORTS = {
    "steward": {"graphs", "tools", "server", "evals"},
    "server": {"graphs", "tools", "evals"},
    "tools": {"graphs", "evals", "server"},
    "graphs": {"evals", "server"},
}
"""Dependencies run one way: graphs -> tools -> steward (the kernel); the server and the CLI get the workflows
from the catalog. (The CLI in steward/ adds the eval commands from evals/, which depends on the kernel.)"""


def imported_packages(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_dependencies_run_one_way():
    wrong = []
    for package, forbidden in FORBIDDEN_IMPORTS.items():
        for path in sorted((PROJECT / package).rglob("*.py")):
            allowed = {"evals"} if path == PROJECT / "steward" / "cli.py" else set()
            if bad := (imported_packages(path) & forbidden) - allowed:
                wrong.append(f"{path.relative_to(PROJECT)} imports {sorted(bad)}")
    assert wrong == [], "\n".join(wrong)
