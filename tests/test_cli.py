from __future__ import annotations

import pytest

import pathreg
from pathreg import cli


def test_version(capsys):
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"pathreg {pathreg.__version__}"


def test_benchmark_dispatches_options_to_the_benchmark(monkeypatch):
    from pathreg.benchmarks import synthetic

    received = {}
    monkeypatch.setattr(synthetic, "main", lambda argv: received.setdefault("argv", argv) and 0)
    cli.main(["benchmark", "synthetic", "--seeds", "3"])
    assert received["argv"] == ["--seeds", "3"]


def test_unknown_benchmark_is_an_error():
    with pytest.raises(SystemExit):
        cli.main(["benchmark", "nonexistent"])
