"""Read BVH (Biovision hierarchy) motion capture and compute joint positions."""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._mocap import Motion

#: Channel name -> (kind, axis): ``"Zrotation"`` -> ``("rotation", 2)``. Names are matched case-insensitively.
_CHANNELS = {f"{axis}{kind}": (kind, i) for i, axis in enumerate("XYZ") for kind in ("position", "rotation")}
_CHANNEL_NAMES = {name.lower(): name for name in _CHANNELS}
_LINE_BREAK = re.compile(r"\r\n?|\n")


@dataclass(frozen=True)
class BVHSkeleton:
    """The ``HIERARCHY`` of a BVH file.

    Joints are the ``ROOT`` and ``JOINT`` blocks in the order of the file (a parent before its children);
    ``End Site`` blocks are kept apart. Offsets are as written in the file (not multiplied by ``scale``).

    Attributes
    ----------
    names
        Joint names.
    parents
        ``(n_joints,)`` index into :attr:`names` of each joint's parent, ``-1`` for a root.
    offsets
        ``(n_joints, 3)`` ``OFFSET`` of each joint: its origin in its parent's frame (for a root, in world
        coordinates).
    channels
        ``CHANNELS`` of each joint in the declared order, which is the order of its values in a frame line, spelt
        ``"Xposition"``, ..., ``"Zrotation"``.
    end_site_parents
        ``(n_end_sites,)`` index into :attr:`names` of the joint holding each ``End Site``.
    end_site_offsets
        ``(n_end_sites, 3)`` ``OFFSET`` of each ``End Site`` in its joint's frame.
    """

    names: list[str]
    parents: np.ndarray
    offsets: np.ndarray
    channels: list[tuple[str, ...]]
    end_site_parents: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    end_site_offsets: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))

    @property
    def joint_names(self) -> list[str]:
        """The joints of :func:`read_bvh`'s positions, in order (as :attr:`names`)."""
        return list(self.names)

    @property
    def joint_parents(self) -> np.ndarray:
        """Index into :attr:`joint_names` of each joint's parent (``-1`` for a root)."""
        return self.parents

    @property
    def n_channels(self) -> int:
        """Number of values in a frame line."""
        return sum(len(channels) for channels in self.channels)


def _error(path: str | os.PathLike, lineno: int, message: str) -> ValueError:
    return ValueError(f"{path}, line {lineno}: {message}")


def _lines(path: str | os.PathLike) -> list[tuple[int, list[str]]]:
    """Non-empty lines as ``(line number, tokens)``; ``{`` and ``}`` are tokens of their own."""
    text = Path(path).read_text(encoding="latin-1").removeprefix("\xef\xbb\xbf")  # a UTF-8 byte order mark
    out = []
    for lineno, line in enumerate(_LINE_BREAK.split(text), start=1):
        tokens = line.replace("{", " { ").replace("}", " } ").split()
        if tokens:
            out.append((lineno, tokens))
    return out


def _floats(path: str | os.PathLike, lineno: int, tokens: list[str], n: int | None = None) -> list[float]:
    """``tokens`` as finite numbers (exactly ``n`` of them unless None)."""
    if n is not None and len(tokens) != n:
        raise _error(path, lineno, f"expected {n} numbers, got {len(tokens)}")
    values = []
    for token in tokens:
        try:
            value = float(token)
        except ValueError:
            raise _error(path, lineno, f"expected a number, got {token!r}") from None
        if not math.isfinite(value):
            raise _error(path, lineno, f"expected a finite number, got {token!r}")
        values.append(value)
    return values


@dataclass
class _HierarchyState:
    """What :func:`_read_hierarchy` has parsed so far: the blocks (dicts), the open ones and the one awaiting ``{``."""

    joints: list[dict] = field(default_factory=list)
    end_sites: list[dict] = field(default_factory=list)
    stack: list[dict] = field(default_factory=list)
    pending: dict | None = None


def _describe(block: dict) -> str:
    what = "End Site" if block["index"] is None else f"joint {block['name']!r}"
    return f"{what} (line {block['line']})"


def _open_block(path: str | os.PathLike, lineno: int, words: list[str], state: _HierarchyState) -> None:
    """A ``ROOT name``, ``JOINT name`` or ``End Site`` line: a new block, which the next token must open with ``{``."""
    head = words[0].upper()
    if head == "END" and [w.upper() for w in words] != ["END", "SITE"]:
        raise _error(path, lineno, f"expected 'End Site', got {' '.join(words)!r}")
    if head == "ROOT" and state.stack:
        raise _error(path, lineno, f"ROOT inside {_describe(state.stack[-1])}")
    if head != "ROOT" and not state.stack:
        raise _error(path, lineno, f"{' '.join(words)!r} outside a ROOT block")
    if state.stack and state.stack[-1]["index"] is None:
        raise _error(path, lineno, f"{' '.join(words)!r} inside an End Site")
    parent = state.stack[-1]["index"] if state.stack else -1
    block = {"line": lineno, "parent": parent, "offset": None, "channels": (), "index": None, "name": "End Site"}
    if head != "END":
        if len(words) < 2:
            raise _error(path, lineno, f"{words[0]} without a name")
        block["name"] = " ".join(words[1:])
        if any(joint["name"] == block["name"] for joint in state.joints):
            raise _error(path, lineno, f"duplicate joint name {block['name']!r}")
        block["index"] = len(state.joints)
        state.joints.append(block)
    else:
        state.end_sites.append(block)
    state.pending = block


def _channels(path: str | os.PathLike, lineno: int, words: list[str], block: dict) -> tuple[str, ...]:
    """The channel names of a ``CHANNELS n name ...`` line, spelt as in :data:`_CHANNELS`."""
    if block["index"] is None:
        raise _error(path, lineno, "CHANNELS in an End Site")
    if block["channels"]:
        raise _error(path, lineno, f"second CHANNELS in {_describe(block)}")
    if len(words) < 2 or not words[1].isdigit():
        raise _error(path, lineno, "CHANNELS must be followed by the number of channels")
    names = words[2:]
    if len(names) != int(words[1]):
        raise _error(path, lineno, f"CHANNELS {words[1]} followed by {len(names)} names")
    unknown = [name for name in names if name.lower() not in _CHANNEL_NAMES]
    if unknown:
        raise _error(path, lineno, f"unknown channel {unknown[0]!r} (known: {', '.join(_CHANNELS)})")
    channels = tuple(_CHANNEL_NAMES[name.lower()] for name in names)
    if len(set(channels)) != len(channels):
        raise _error(path, lineno, f"repeated channel in {' '.join(names)!r}")
    return channels


def _hierarchy_statement(path: str | os.PathLike, lineno: int, words: list[str], state: _HierarchyState) -> None:
    """One statement of the HIERARCHY: ``ROOT``, ``JOINT``, ``End Site``, ``OFFSET`` or ``CHANNELS`` and its words."""
    head = words[0].upper()
    if state.pending is not None:
        raise _error(path, lineno, f"expected '{{' after {_describe(state.pending)}, got {words[0]!r}")
    if head in ("ROOT", "JOINT", "END"):
        _open_block(path, lineno, words, state)
        return
    if head not in ("OFFSET", "CHANNELS"):
        raise _error(path, lineno, f"unknown keyword {words[0]!r} in HIERARCHY")
    if not state.stack:
        raise _error(path, lineno, f"{words[0]} outside a ROOT, JOINT or End Site block")
    block = state.stack[-1]
    if head == "CHANNELS":
        block["channels"] = _channels(path, lineno, words, block)
    elif block["offset"] is not None:
        raise _error(path, lineno, f"second OFFSET in {_describe(block)}")
    else:
        block["offset"] = _floats(path, lineno, words[1:], 3)


def _brace(path: str | os.PathLike, lineno: int, brace: str, state: _HierarchyState) -> None:
    """A ``{`` opening the pending block, or a ``}`` closing the innermost open one (which must have an OFFSET)."""
    if brace == "{":
        if state.pending is None:
            raise _error(path, lineno, "'{' without ROOT, JOINT or End Site before it")
        state.stack.append(state.pending)
        state.pending = None
        return
    if state.pending is not None:
        raise _error(path, lineno, f"expected '{{' after {_describe(state.pending)}, got '}}'")
    if not state.stack:
        raise _error(path, lineno, "unbalanced '}': no block is open")
    block = state.stack.pop()
    if block["offset"] is None:
        raise _error(path, lineno, f"{_describe(block)} has no OFFSET")


def _hierarchy_line(path: str | os.PathLike, lineno: int, tokens: list[str], state: _HierarchyState) -> None:
    """A line of the HIERARCHY: statements, each running up to the next brace, and braces."""
    words: list[str] = []
    for token in [*tokens, None]:
        if token not in ("{", "}", None):
            words.append(token)
            continue
        if words:
            _hierarchy_statement(path, lineno, words, state)
            words = []
        if token is not None:
            _brace(path, lineno, token, state)


def _read_hierarchy(path: str | os.PathLike, lines: list[tuple[int, list[str]]]) -> tuple[BVHSkeleton, int]:
    """The skeleton of the ``HIERARCHY`` section, and the index into ``lines`` of the ``MOTION`` line."""
    if not lines:
        raise ValueError(f"{path}: empty file (no HIERARCHY or MOTION section)")
    lineno, tokens = lines[0]
    if [token.upper() for token in tokens] != ["HIERARCHY"]:
        raise _error(path, lineno, f"expected HIERARCHY, got {' '.join(tokens)!r}")
    state = _HierarchyState()
    for i in range(1, len(lines)):
        lineno, tokens = lines[i]
        if tokens[0].upper() == "MOTION":
            break
        _hierarchy_line(path, lineno, tokens, state)
    else:
        raise _error(path, lines[-1][0], "no MOTION section")
    if state.pending is not None or state.stack:
        raise _error(path, lineno, f"{_describe(state.pending or state.stack[-1])} is not closed before MOTION")
    if not state.joints:
        raise _error(path, lineno, "no ROOT in the HIERARCHY")
    if [token.upper() for token in tokens] != ["MOTION"]:
        raise _error(path, lineno, f"expected MOTION alone on its line, got {' '.join(tokens)!r}")
    joints, ends = state.joints, state.end_sites
    skeleton = BVHSkeleton(
        names=[joint["name"] for joint in joints],
        parents=np.array([joint["parent"] for joint in joints], dtype=np.int64),
        offsets=np.array([joint["offset"] for joint in joints], dtype=np.float64).reshape(-1, 3),
        channels=[joint["channels"] for joint in joints],
        end_site_parents=np.array([end["parent"] for end in ends], dtype=np.int64),
        end_site_offsets=np.array([end["offset"] for end in ends], dtype=np.float64).reshape(-1, 3),
    )
    if skeleton.n_channels == 0:
        raise _error(path, lineno, "the HIERARCHY declares no CHANNELS")
    return skeleton, i


def _header_value(path: str | os.PathLike, line: tuple[int, list[str]] | None, key: str, after: int) -> str:
    """The value of a ``key value`` line (``Frames: 299``, ``Frame Time: 0.008333``); ``after`` is the line before."""
    if line is None:
        raise _error(path, after, f"expected {key!r} on the next line, but the file ends")
    lineno, tokens = line
    match = re.fullmatch(rf"{key}\s*(\S+)", " ".join(tokens), flags=re.IGNORECASE)
    if match is None:
        raise _error(path, lineno, f"expected '{key} <value>', got {' '.join(tokens)!r}")
    return match.group(1)


def _read_motion(
    path: str | os.PathLike, lines: list[tuple[int, list[str]]], n_channels: int
) -> tuple[np.ndarray, float]:
    """The ``(n_frames, n_channels)`` values and the frame time of the lines after ``MOTION``."""
    after = lines[0][0]  # the MOTION line
    frames_line = lines[1] if len(lines) > 1 else None
    value = _header_value(path, frames_line, "Frames:", after)
    if not value.isdigit() or int(value) == 0:
        raise _error(path, frames_line[0], f"Frames: must be a positive whole number, got {value!r}")
    n_frames = int(value)
    time_line = lines[2] if len(lines) > 2 else None
    value = _header_value(path, time_line, "Frame Time:", frames_line[0])
    frame_time = _floats(path, time_line[0], [value])[0]
    if frame_time <= 0:
        raise _error(path, time_line[0], f"Frame Time: must be positive, got {value!r}")
    rows = lines[3:]
    if len(rows) > n_frames:
        raise _error(
            path, rows[n_frames][0], f"more frame lines than the {n_frames} of Frames: (line {frames_line[0]})"
        )
    if len(rows) < n_frames:
        raise _error(path, frames_line[0], f"Frames: {n_frames}, but the file has {len(rows)} frame lines")
    values = np.empty((n_frames, n_channels), dtype=np.float64)
    for row, (lineno, tokens) in enumerate(rows):
        if len(tokens) != n_channels:
            raise _error(
                path,
                lineno,
                f"frame {row + 1} has {len(tokens)} values, but the HIERARCHY declares {n_channels} channels",
            )
        values[row] = _floats(path, lineno, tokens)
    return values, frame_time


def _axis_rotation(axis: int, degrees: np.ndarray) -> np.ndarray:
    """Rotation matrices ``(n, 3, 3)`` by ``(n,)`` angles in degrees about axis ``axis`` (0, 1, 2: x, y, z)."""
    angle = np.deg2rad(degrees)
    c, s = np.cos(angle), np.sin(angle)
    i, j = ((1, 2), (2, 0), (0, 1))[axis]
    matrix = np.zeros((len(angle), 3, 3))
    matrix[:, axis, axis] = 1.0
    matrix[:, i, i], matrix[:, j, j] = c, c
    matrix[:, i, j], matrix[:, j, i] = -s, s
    return matrix


def _joint_positions(skeleton: BVHSkeleton, values: np.ndarray, scale: float) -> np.ndarray:
    """World positions ``(n_frames, 3 * n_joints)`` of the joints from the channel values (see :func:`read_bvh`)."""
    n_frames = len(values)
    rotations: list[np.ndarray] = []
    positions: list[np.ndarray] = []
    column = 0
    for joint, channels in enumerate(skeleton.channels):
        local = np.broadcast_to(np.eye(3), (n_frames, 3, 3))
        translation = np.zeros((n_frames, 3))
        for name in channels:
            kind, axis = _CHANNELS[name]
            if kind == "position":
                translation[:, axis] += values[:, column]
            else:
                local = local @ _axis_rotation(axis, values[:, column])
            column += 1
        parent = skeleton.parents[joint]
        vector = (skeleton.offsets[joint] + translation) * scale
        if parent < 0:
            positions.append(vector)
            rotations.append(local)
        else:
            positions.append(positions[parent] + np.einsum("nij,nj->ni", rotations[parent], vector))
            rotations.append(rotations[parent] @ local)
    return np.concatenate(positions, axis=1)


def read_bvh(path: str | os.PathLike, *, scale: float | None = None) -> Motion:
    r"""Read a BVH (Biovision hierarchy) motion capture file and compute the joint positions of every frame.

    A BVH file has two sections. ``HIERARCHY`` nests ``ROOT name { ... }``, ``JOINT name { ... }`` and
    ``End Site { ... }`` blocks; each holds an ``OFFSET x y z`` (its origin in its parent's frame) and each joint a
    ``CHANNELS n name ...`` line, the names among ``Xposition``, ``Yposition``, ``Zposition``, ``Xrotation``,
    ``Yrotation`` and ``Zrotation`` in any order (and on any joint). ``MOTION`` follows: ``Frames: n``,
    ``Frame Time: seconds`` and one line per frame with the values of all channels, joint after joint in the order
    of the HIERARCHY, each joint's in its declared order; rotations are in degrees.

    Joint ``j`` with parent ``p`` is at

    .. math::

        x_j = x_p + R_p (o_j + t_j), \qquad R_j = R_p \, R_{c_1}(\theta_1) R_{c_2}(\theta_2) R_{c_3}(\theta_3),

    with ``o_j`` its OFFSET, ``t_j`` its position channels (zero if none) and ``R_{c_k}(\theta_k)`` the
    rotations about its rotation channels' axes in declared order (intrinsic rotations: ``Zrotation Xrotation
    Yrotation`` is ``Rz @ Rx @ Ry``). A root has ``x_p = 0`` and ``R_p = I``.

    Parameters
    ----------
    path
        The ``.bvh`` file. LF, CRLF or CR line endings.
    scale
        Multiplier of all offsets and translations; default 1 (the units of the file).

    Returns
    -------
    A :class:`Motion`, unpacking as ``positions, joint_names, skeleton``: positions ``(n_frames, 3 * n_joints)``
    of the ``ROOT`` and ``JOINT`` origins in the order of the file (End Sites are not included; their offsets
    are in the :class:`BVHSkeleton`), ``frames`` numbered from 1, ``frame_rate`` ``1 / Frame Time``.

    Raises
    ------
    ValueError
        On a malformed file, naming the file and the line: no HIERARCHY or MOTION, unbalanced braces, unknown
        channel names, a frame line without exactly one value per channel, non-numeric values, or a number of
        frame lines other than ``Frames:``.

    Examples
    --------
    >>> _ = open("arm.bvh", "w").write(
    ...     "HIERARCHY\nROOT hip\n{\n OFFSET 0 0 0\n CHANNELS 3 Xposition Yposition Zposition\n"
    ...     " JOINT hand\n {\n  OFFSET 1 0 0\n  CHANNELS 1 Zrotation\n"
    ...     "  End Site\n  {\n   OFFSET 1 0 0\n  }\n }\n}\n"
    ...     "MOTION\nFrames: 2\nFrame Time: 0.5\n0 0 0 0\n0 2 0 90\n"
    ... )
    >>> motion = pathreg.datasets.read_bvh("arm.bvh")
    >>> motion.joint_names, motion.frame_rate
    (['hip', 'hand'], 2.0)
    >>> motion.positions.round(6) + 0.0
    array([[0., 0., 0., 1., 0., 0.],
           [0., 2., 0., 1., 2., 0.]])
    """
    lines = _lines(path)
    skeleton, motion_index = _read_hierarchy(path, lines)
    values, frame_time = _read_motion(path, lines[motion_index:], skeleton.n_channels)
    positions = _joint_positions(skeleton, values, 1.0 if scale is None else float(scale))
    return Motion(
        positions=positions,
        joint_names=skeleton.joint_names,
        skeleton=skeleton,
        frames=np.arange(1, len(values) + 1, dtype=np.int64),
        frame_rate=1.0 / frame_time,
    )
