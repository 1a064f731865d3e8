"""The ``pathreg`` logger: warnings visible by default (as in scanpy), information only when asked."""

import subprocess
import sys

import pytest


def _stderr_of(code: str) -> str:
    completed = subprocess.run(
        [sys.executable, "-c", f"import logging, pathreg\n{code}"], capture_output=True, text=True, check=True
    )
    return completed.stderr


def test_warnings_reach_standard_error_at_the_default_verbosity_and_information_does_not():
    stderr = _stderr_of("pathreg.logger.warning('a visible warning'); pathreg.logger.info('hidden information')")
    assert "WARNING:pathreg: a visible warning" in stderr
    assert "hidden information" not in stderr


def test_set_verbosity_shows_information_and_can_silence_warnings():
    stderr = _stderr_of("pathreg.set_verbosity('INFO'); pathreg.logger.info('now shown')")
    assert "INFO:pathreg: now shown" in stderr
    stderr = _stderr_of("pathreg.set_verbosity('ERROR'); pathreg.logger.warning('silenced')")
    assert "silenced" not in stderr


def test_an_application_that_configures_logging_gets_each_warning_once():
    stderr = _stderr_of("logging.basicConfig(format='ROOT %(message)s'); pathreg.logger.warning('once')")
    assert stderr.count("once") == 1
    assert "ROOT once" in stderr


def test_warnings_of_a_library_call_are_visible():
    # a partial overlap of the given regulators with var_names is a warning the user must see
    code = (
        "import numpy as np\n"
        "adata = pathreg.datasets.krumsiek11()\n"
        "adata.obs['t'] = np.linspace(0, 1, adata.n_obs)\n"
        "pathreg.tl.DynamicsProblem.from_anndata(adata, time_key='t', regulators=['Gata2', 'Pu.1', 'NotAGene'])\n"
    )
    assert "1 of the 3 regulators are not in var_names" in _stderr_of(code)


def test_set_verbosity_rejects_an_unknown_level():
    import pathreg

    with pytest.raises(ValueError, match="not a logging level"):
        pathreg.set_verbosity("LOUD")
