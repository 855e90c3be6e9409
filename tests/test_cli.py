"""The CLI: every subcommand has --help; the installed console script works from a plain shell."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from parse_vos_ros.cli import SUBCOMMANDS, build_parser, main


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_every_subcommand_has_help(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([name, "--help"])
    assert info.value.code == 0
    assert "usage: parse-vos " + name in capsys.readouterr().out


def test_parser_lists_all_subcommands() -> None:
    help_text = build_parser().format_help()
    for name in SUBCOMMANDS:
        assert name in help_text


def test_console_script_runs_from_a_plain_environment() -> None:
    script = shutil.which("parse-vos", path=os.path.dirname(sys.executable))
    assert script is not None, "parse-vos is not installed next to the test interpreter"
    env = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp")}
    out = subprocess.run([script, "--help"], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "segment" in out.stdout
