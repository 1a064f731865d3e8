"""The PathReg paper-reproduction benchmarks: scripts of this repository, not part of the installed package.

Run each from the repository root as ``python -m benchmarks.<name>`` (``synthetic``, ``krumsiek11``,
``knockouts``, ``beeline``, ``bone_marrow``, ``mocap``, ``speed``); ``python -m benchmarks.<name> -h``
lists its options. The commands, protocols and measured tables are in ``docs/benchmarks.md``.
``tables``, ``second_order``, ``reference`` and ``settings`` are helpers shared by the scripts.
"""
