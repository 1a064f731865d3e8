from __future__ import annotations

import pytest

import pathreg
from pathreg import cli


def test_version(capsys):
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"pathreg {pathreg.__version__}"


def test_there_is_no_benchmark_subcommand(capsys):
    # the benchmarks are scripts of the repository (python -m benchmarks.<name>), not part of the wheel
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["benchmark", "synthetic"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'benchmark'" in capsys.readouterr().err


def test_no_command_prints_help_naming_the_benchmark_scripts(capsys):
    assert cli.main([]) == 0
    printed = capsys.readouterr().out
    assert "demo" in printed
    assert "python -m benchmarks.<name>" in printed


def test_unknown_arguments_are_an_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--seeds=3"])
    assert exit_info.value.code == 2
    assert "unrecognized arguments: --seeds=3" in capsys.readouterr().err


@pytest.mark.parametrize("below_a_file", [True, False])
def test_demo_output_dir_that_cannot_be_created_is_a_one_line_error(tmp_path, capsys, monkeypatch, below_a_file):
    import pathreg._demo

    def no_demo(*args, **kwargs):
        raise AssertionError("the demo ran although its output folder cannot be created")

    monkeypatch.setattr(pathreg._demo, "run", no_demo)
    existing_file = tmp_path / "results.txt"
    existing_file.write_text("a file, not a folder")
    output_dir = existing_file / "demo" if below_a_file else existing_file
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["demo", "--output-dir", str(output_dir)])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert error.startswith(f"pathreg demo: error: --output-dir {output_dir}: cannot create the folder (")
    assert "Traceback" not in error


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
