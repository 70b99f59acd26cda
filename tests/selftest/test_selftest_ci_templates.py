"""docs/ci/: every `harness …` and `pytest --harness-…` command line names commands and options that exist."""

from __future__ import annotations

import re
import shlex

import click
import pytest
from selftest_helpers import ROOT

CI_DIR = ROOT / "docs" / "ci"
TEMPLATES = sorted(p for p in CI_DIR.iterdir() if p.suffix in (".yml", ".yaml"))


def command_texts(text: str) -> list[str]:
    """Shell texts of a YAML file: single lines, and folded (`>`) / literal (`|`) blocks joined."""
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        indent = len(line) - len(line.lstrip())
        if re.search(r"(run:|^\s*-)\s*[>|]-?\s*$", line):
            block = []
            i += 1
            while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
                block.append(lines[i].strip())
                i += 1
            out.append(" ".join(b.rstrip("\\") for b in block))
            continue
        out.append(line.strip())
        i += 1
    return [t for t in out if not t.startswith("#")]


def invocations(text: str, program: str) -> list[list[str]]:
    found = []
    for shell in command_texts(text):
        shell = re.sub(r"\$\{\{[^}]*\}\}", "X", shell)
        for part in re.split(r"\|\||&&|;|\|(?!\|)", shell):
            words = shlex.split(part.replace("$", "X"), comments=False) if program in part else []
            for start, word in enumerate(words):
                if word == program and start + 1 < len(words) and re.match(r"^[a-z]", words[start + 1]):
                    found.append(words[start + 1:])
                    break
    return found


def _harness_cli() -> click.Group:
    from harness.cli import cli

    cli.list_commands(click.Context(cli))  # loads the plugins' commands
    return cli


def _check_harness_line(args: list[str]) -> None:
    command: click.Command = _harness_cli()
    rest = list(args)
    while isinstance(command, click.Group):
        name = rest.pop(0)
        sub = command.get_command(click.Context(command), name)
        assert sub is not None, f"`harness {' '.join(args)}`: no command {name!r}"
        command = sub
    known = {opt for param in command.params for opt in getattr(param, "opts", [])}
    for word in rest:
        if word.startswith("-") and word != "-":
            option = word.split("=", 1)[0]
            assert option in known, f"`harness {' '.join(args)}`: {command.name} has no option {option}"


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.name)
def test_harness_command_lines_exist(template):
    text = template.read_text(encoding="utf-8")
    lines = invocations(text, "harness")
    assert lines, f"{template.name} runs no harness command"
    for args in lines:
        _check_harness_line(args)


@pytest.mark.parametrize("doc", TEMPLATES + [ROOT / "docs" / "selftest.md", CI_DIR / "README.md"],
                         ids=lambda p: p.name)
def test_pytest_harness_options_exist(doc):
    """Every --harness-… option the docs and templates mention (comments included) is declared."""
    source = (ROOT / "plugins" / "harness_plugins" / "selftest" / "pytest_plugin.py").read_text(encoding="utf-8")
    for option in set(re.findall(r"--harness-[a-z-]+", doc.read_text(encoding="utf-8"))):
        assert f'"{option}"' in source, f"{doc.name}: unknown pytest option {option}"


def test_templates_upload_scorecard_junit_and_sarif():
    github = (CI_DIR / "github-actions.yml").read_text(encoding="utf-8")
    assert "upload-sarif" in github and "out/results.sarif" in github and "out/junit.xml" in github
    assert "upload-artifact" in github and "harness diff" in github
    gitlab = (CI_DIR / "gitlab-ci.yml").read_text(encoding="utf-8")
    assert "junit: out/junit.xml" in gitlab and "- out/" in gitlab
    assert "matrix:" in (CI_DIR / "github-actions-fanout.yml").read_text(encoding="utf-8")
    assert "parallel:" in (CI_DIR / "gitlab-ci-fanout.yml").read_text(encoding="utf-8")
    readme = (CI_DIR / "README.md").read_text(encoding="utf-8")
    assert re.search(r"harness audit \S+\.toml \S+\.toml .*-j \d", readme)


def test_the_checker_catches_a_wrong_option():
    with pytest.raises(AssertionError):
        _check_harness_line(["diff", "a.json", "b.json", "--colour"])
    with pytest.raises(AssertionError):
        _check_harness_line(["nonesuch"])
