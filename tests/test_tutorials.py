"""Execute the stored tutorials end to end, so that they cannot silently break."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
TUTORIALS = sorted((ROOT / "tutorials").glob("*.ipynb"))


def _bone_marrow() -> None:
    import pathreg

    pathreg.datasets.bone_marrow()


def _cmu_walks() -> None:
    import pathreg

    for trial in (1, 2, 9):
        pathreg.datasets.cmu_mocap(7, trial)


# tutorials on real data that must be in the cache or downloadable
DATA_NEEDED = {"bone_marrow_generalization": _bone_marrow, "motion_capture": _cmu_walks}


@pytest.mark.slow
@pytest.mark.parametrize("path", TUTORIALS, ids=[path.stem for path in TUTORIALS])
def test_tutorial_runs(path, tmp_path, monkeypatch):
    # the notebooks run in tmp_path; the kernel finds the repository's benchmarks/ folder on PYTHONPATH
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    if path.stem in DATA_NEEDED:
        try:
            DATA_NEEDED[path.stem]()
        except (OSError, RuntimeError) as error:
            pytest.skip(f"{path.stem} needs data that is neither cached nor downloadable: {error}")
    errors = _cell_errors(path, tmp_path)
    assert not errors, f"{len(errors)} cells of {path.name} raise:\n" + "\n".join(errors)


def _cell_errors(path: Path, workdir: Path, timeout: int = 600) -> list[str]:
    """Execute the notebook at ``path`` in ``workdir`` to the end; one line per cell that raised."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    notebook = nbformat.read(path, as_version=4)
    resources = {"metadata": {"path": str(workdir)}}
    client = nbclient.NotebookClient(  # allow_errors: run every cell and report them all here
        notebook, timeout=timeout, startup_timeout=120, kernel_name="python3", resources=resources, allow_errors=True
    )
    client.execute()
    return [
        f"cell {index}: {output.ename}: {output.evalue}"
        for index, cell in enumerate(notebook.cells)
        for output in cell.get("outputs", [])
        if output.output_type == "error"
    ]


def test_cell_errors_are_reported(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_code_cell("raise ValueError('boom')"),
        nbformat.v4.new_code_cell("x + 1"),
        nbformat.v4.new_code_cell("undefined_name"),
    ]
    path = tmp_path / "failing.ipynb"
    nbformat.write(notebook, path)
    assert _cell_errors(path, tmp_path, timeout=60) == [
        "cell 1: ValueError: boom",
        "cell 3: NameError: name 'undefined_name' is not defined",
    ]


def test_tutorials_are_stored_executed():
    assert TUTORIALS, "no tutorials found"
    nbformat = pytest.importorskip("nbformat")
    for path in TUTORIALS:
        notebook = nbformat.read(path, as_version=4)
        code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
        assert all(cell.get("execution_count") for cell in code_cells), f"{path.name} is not stored executed"
        images = sum("image/png" in output.get("data", {}) for cell in code_cells for output in cell.outputs)
        assert images >= 1, f"{path.name} has no figures"
