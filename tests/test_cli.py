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


def test_demo_help_through_the_command():
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "pathreg", "demo", "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    assert "--output-dir" in result.stdout


@pytest.mark.slow
def test_demo_writes_its_files_and_scores(tmp_path):
    from pathreg._demo import run

    result = run(tmp_path, progress=False)
    table = result["table"].set_index("method")
    assert set(table.index) == {"pathreg", "|pearson|", "random forest (GENIE3-style)"}
    assert table.loc["|pearson|", "auprc"] == pytest.approx(0.414, abs=0.01)
    # PathReg ranks edges clearly better than correlation (0.491 vs 0.414 with seed 0; random 0.236)
    assert table.loc["pathreg", "auprc"] >= table.loc["|pearson|", "auprc"] + 0.05
    assert result["h5ad"].exists()
    assert result["png"].exists()
