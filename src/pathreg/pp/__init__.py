"""Preprocessing: pseudotime ordering, lineages and transcription factors, written into AnnData."""

from ._fates import fate_lineages, fate_probabilities
from ._lineages import lineages
from ._pseudotime import pseudotime
from ._tfs import annotate_tfs, tf_list

__all__ = ["annotate_tfs", "fate_lineages", "fate_probabilities", "lineages", "pseudotime", "tf_list"]
