"""The README and `ingest run --help` say the same: every option in the options table, every table row an option,
and the environment variables as the README describes them."""

from __future__ import annotations

import re

import click

from conftest import ROOT
from ingest.cli import cli

RUN = cli.commands["run"]
WITHOUT_ENVVAR = {"--dry-run", "--verbose", "--version", "--help"}


def table_flags() -> set[str]:
    """The option names in the first column of the README's options table."""
    section = ROOT.joinpath("README.md").read_text().split("### Main options", 1)[1]
    rows = [line for line in section.split("\n\n", 2)[1].splitlines() if line.startswith("| `")]
    names = set()
    for row in rows:
        for code in re.findall(r"`([^`]+)`", row.split(" | ", 1)[0]):
            names |= {"-v" if name == "-vv" else name for name in re.findall(r"--?[a-z][\w-]*", code)}
    return names


def run_options() -> list[click.Option]:
    return [param for param in RUN.params if isinstance(param, click.Option) and "--help" not in param.opts]


def test_every_option_of_ingest_run_is_in_the_readme_table_and_nothing_else():
    documented = table_flags()
    options = [option for option in run_options() if "--version" not in option.opts]
    missing = [option.opts[-1] for option in options if not documented & {*option.opts, *option.secondary_opts}]
    known = {name for option in options for name in (*option.opts, *option.secondary_opts)}
    assert missing == [], "options missing from the README's options table"
    assert documented - known == set(), "README rows for options that `ingest run` does not have"


def test_options_read_their_environment_variable_as_the_readme_says():
    for option in run_options():
        long_name = max(option.opts, key=len)
        if long_name in WITHOUT_ENVVAR:
            assert option.envvar is None, long_name
        else:
            assert option.envvar == "INGEST_" + long_name[2:].upper().replace("-", "_"), long_name
            assert option.show_envvar, long_name
    readme = " ".join(ROOT.joinpath("README.md").read_text().split())
    assert (
        "Every option of `ingest run` but `--dry-run` and `-v` also reads an `INGEST_*` environment variable" in readme
    )


def test_the_failure_stages_in_the_readme_are_those_the_code_names():
    readme = ROOT.joinpath("README.md").read_text()
    listed = re.search(r"\(stages:\s*(.*?)\)", readme, re.S).group(1)
    assert set(re.findall(r"`(\w+)`", listed)) == {"plan", "fetch", "partition", "chunk", "write", "index", "delete"}
