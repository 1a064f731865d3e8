"""Read Acclaim ASF/AMC motion capture (the CMU Graphics Lab Motion Capture Database) and compute joint positions."""

from __future__ import annotations

import os
import tempfile
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ._bvh import BVHSkeleton

_CMU_URL = "http://mocap.cs.cmu.edu/subjects/{subject:02d}/{name}"
_ROTATIONS = ("rx", "ry", "rz")
_TRANSLATIONS = ("tx", "ty", "tz")
_AXIS_INDEX = {"x": 0, "y": 1, "z": 2}


@dataclass(frozen=True)
class Skeleton:
    """An Acclaim ASF skeleton.

    Bones are kept in the order of the file's ``:bonedata``. Lengths and positions are as written in the file (not
    multiplied by ``length_unit``); angles are in radians whatever the file's unit.

    Attributes
    ----------
    names
        Bone names, without the root.
    parents
        Parent name of each bone (``"root"`` for the root's children), from ``:hierarchy``.
    direction
        ``(n_bones, 3)`` direction of each bone in world coordinates at the zero pose (normalised as in the file).
    length
        ``(n_bones,)`` bone lengths.
    axis
        ``(n_bones, 3)`` angles (x, y, z) of each bone's local coordinate frame.
    axis_order
        Order in which the ``axis`` rotations are applied, for example ``"XYZ"`` (x first).
    dof
        Degrees of freedom of each bone (``"rx"``, ``"ry"``, ``"rz"``, ...), in the order of the AMC values.
    limits
        ``(low, high)`` per degree of freedom of each bone, rotations in radians.
    ids
        The ``id`` of each bone (``-1`` when absent).
    root_order
        Root degrees of freedom in the order of the AMC values, lower case (``("tx", "ty", "tz", "rx", "ry", "rz")``).
    root_axis
        Order in which the root's ``orientation`` rotations are applied.
    root_position
        ``(3,)`` root position at the zero pose.
    root_orientation
        ``(3,)`` root orientation angles (x, y, z).
    length_unit
        ``:units length``: the multiplier applied to lengths by :func:`read_asf_amc`.
    angle_unit
        ``:units angle`` of the file, ``"deg"`` or ``"rad"``.
    name
        ``:name`` of the skeleton.
    """

    names: list[str]
    parents: list[str]
    direction: np.ndarray
    length: np.ndarray
    axis: np.ndarray
    axis_order: list[str]
    dof: list[tuple[str, ...]]
    limits: list[list[tuple[float, float]]]
    ids: list[int]
    root_order: tuple[str, ...] = ("tx", "ty", "tz", "rx", "ry", "rz")
    root_axis: str = "XYZ"
    root_position: np.ndarray = field(default_factory=lambda: np.zeros(3))
    root_orientation: np.ndarray = field(default_factory=lambda: np.zeros(3))
    length_unit: float = 1.0
    angle_unit: str = "deg"
    name: str = ""

    @property
    def joint_names(self) -> list[str]:
        """``["root", *names]``: the joints of :func:`read_asf_amc`'s positions, in order."""
        return ["root", *self.names]

    @property
    def joint_parents(self) -> np.ndarray:
        """Index into :attr:`joint_names` of each joint's parent (``-1`` for the root)."""
        index = {name: i for i, name in enumerate(self.joint_names)}
        return np.array([-1, *(index[parent] for parent in self.parents)], dtype=np.int64)


@dataclass(frozen=True)
class Motion:
    """Joint positions of a motion, from :func:`read_asf_amc` or :func:`~pathreg.datasets.read_bvh`.

    Unpacks as ``positions, joint_names, skeleton = motion``. Joint 0 is the root in both cases.

    Attributes
    ----------
    positions
        ``(n_frames, 3 * n_joints)`` world coordinates, joint ``j`` in columns ``3 j : 3 j + 3`` (x, y, z).
    joint_names
        ASF/AMC: ``"root"`` then the bones in ASF order, each bone's joint its end point. BVH: the ``ROOT`` and
        ``JOINT`` names in the order of the file, each joint its origin.
    skeleton
        The :class:`Skeleton` (ASF) or :class:`~pathreg.datasets.BVHSkeleton` (BVH); both have ``joint_names``
        and ``joint_parents``.
    frames
        ``(n_frames,)`` frame numbers of the AMC file; for BVH, 1 to ``n_frames``.
    frame_rate
        Frames per second: ``1 / Frame Time`` of a BVH file; None for ASF/AMC, which does not record it (the
        CMU database's trials are mostly at 120 frames per second).
    """

    positions: np.ndarray
    joint_names: list[str]
    skeleton: Skeleton | BVHSkeleton
    frames: np.ndarray
    frame_rate: float | None = None

    def __iter__(self) -> Iterator:
        return iter((self.positions, self.joint_names, self.skeleton))


def _error(path: str | os.PathLike, lineno: int, message: str) -> ValueError:
    return ValueError(f"{path}, line {lineno}: {message}")


def _lines(path: str | os.PathLike) -> list[tuple[int, list[str]]]:
    """Non-empty lines as ``(line number, tokens)``, comments and CR removed."""
    text = Path(path).read_text(encoding="latin-1")
    out = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        tokens = line.split("#", 1)[0].split()
        if tokens:
            out.append((lineno, tokens))
    return out


def _floats(path: str | os.PathLike, lineno: int, tokens: list[str], n: int | None = None) -> list[float]:
    try:
        values = [float(token) for token in tokens]
    except ValueError:
        raise _error(path, lineno, f"expected numbers, got {' '.join(tokens)!r}") from None
    if n is not None and len(values) != n:
        raise _error(path, lineno, f"expected {n} numbers, got {len(values)}")
    return values


def _check_order(path: str | os.PathLike, lineno: int, order: str) -> str:
    order = order.upper()
    if sorted(order) != ["X", "Y", "Z"]:
        raise _error(path, lineno, f"rotation order must be a permutation of XYZ, got {order!r}")
    return order


def _parse_limits(path: str | os.PathLike, lineno: int, tokens: list[str]) -> list[tuple[float, float]]:
    text = " ".join(tokens).replace("(", " ( ").replace(")", " ) ").split()
    limits, current = [], None
    for token in text:
        if token == "(":
            current = []
        elif token == ")":
            if current is None or len(current) != 2:
                raise _error(path, lineno, "a limit must be '(low high)'")
            limits.append((current[0], current[1]))
            current = None
        elif current is None:
            raise _error(path, lineno, f"unexpected {token!r} in limits")
        else:
            current.extend(_floats(path, lineno, [token]))
    if current is not None:
        raise _error(path, lineno, "unclosed '(' in limits")
    return limits


@dataclass
class _AsfState:
    """What :func:`read_asf` has parsed so far, and where it is in the file."""

    units: dict = field(default_factory=lambda: {"length": 1.0, "angle": "deg"})
    root: dict = field(default_factory=dict)
    bones: list[dict] = field(default_factory=list)
    hierarchy: dict[str, tuple[int, str]] = field(default_factory=dict)
    section: str | None = None
    bone: dict | None = None
    in_hierarchy: bool = False
    last_key: str | None = None


def _start_section(path: str | os.PathLike, lineno: int, tokens: list[str], state: _AsfState) -> None:
    """Enter the section of a ``:keyword`` line (``:name`` also sets the skeleton's name)."""
    head = tokens[0]
    if state.bone is not None:
        raise _error(path, lineno, f"bone block not closed before {head}")
    state.section, state.in_hierarchy, state.last_key = head[1:].lower(), False, None
    if state.section == "name" and len(tokens) > 1:
        state.root["name"] = " ".join(tokens[1:])


def _units_line(path: str | os.PathLike, lineno: int, tokens: list[str], state: _AsfState) -> None:
    """Parse a line of the ``:units`` section (``length`` and ``angle``; other units are ignored)."""
    key, units = tokens[0].lower(), state.units
    if key == "length":
        units["length"] = _floats(path, lineno, tokens[1:], 1)[0]
    elif key == "angle":
        if len(tokens) != 2 or tokens[1].lower() not in ("deg", "rad"):
            raise _error(path, lineno, "angle unit must be 'deg' or 'rad'")
        units["angle"] = tokens[1].lower()


def _root_line(path: str | os.PathLike, lineno: int, tokens: list[str], state: _AsfState) -> None:
    """Parse a line of the ``:root`` section (``order``, ``axis``, ``position`` and ``orientation``)."""
    key, root = tokens[0].lower(), state.root
    if key == "order":
        root["order"] = tuple(token.lower() for token in tokens[1:])
        unknown = set(root["order"]) - set(_ROTATIONS + _TRANSLATIONS)
        if unknown or len(set(root["order"])) != len(root["order"]):
            raise _error(path, lineno, f"bad root order {' '.join(tokens[1:])!r}")
    elif key == "axis":
        if len(tokens) != 2:
            raise _error(path, lineno, "root axis must be one word, like XYZ")
        root["axis"] = _check_order(path, lineno, tokens[1])
    elif key in ("position", "orientation"):
        root[key] = (lineno, _floats(path, lineno, tokens[1:], 3))


def _check_bone_block(path: str | os.PathLike, lineno: int, bone: dict) -> None:
    """Check a bone block at its ``end`` line: the required keys are there and the limits match the dof."""
    for required in ("name", "direction", "length", "axis"):
        if required not in bone:
            raise _error(path, lineno, f"bone block has no {required!r}")
    if len(bone["limits"]) not in (0, len(bone["dof"])):
        raise _error(
            path,
            lineno,
            f"bone {bone['name']!r}: {len(bone['dof'])} dof but limits for {len(bone['limits'])}",
        )


def _bone_key(path: str | os.PathLike, lineno: int, tokens: list[str], bone: dict) -> None:
    """Parse a ``key value ...`` line of a bone block into ``bone`` (unknown keys, like bodymass, are ignored)."""
    key = tokens[0].lower()
    if key == "id":
        bone["id"] = int(_floats(path, lineno, tokens[1:], 1)[0])
    elif key == "name":
        if len(tokens) != 2:
            raise _error(path, lineno, "a bone name must be one word")
        bone["name"] = tokens[1]
    elif key == "direction":
        bone["direction"] = _floats(path, lineno, tokens[1:], 3)
    elif key == "length":
        bone["length"] = _floats(path, lineno, tokens[1:], 1)[0]
    elif key == "axis":
        if len(tokens) != 5:
            raise _error(path, lineno, "axis must be 'ax ay az ORDER'")
        bone["axis"] = _floats(path, lineno, tokens[1:4])
        bone["axis_order"] = _check_order(path, lineno, tokens[4])
    elif key == "dof":
        bone["dof"] = tuple(token.lower() for token in tokens[1:])
        unknown = set(bone["dof"]) - set(_ROTATIONS + _TRANSLATIONS + ("l",))
        if unknown or len(set(bone["dof"])) != len(bone["dof"]):
            raise _error(path, lineno, f"bad dof {' '.join(tokens[1:])!r}")
    elif key == "limits":
        bone["limits"] = _parse_limits(path, lineno, tokens[1:])


def _bonedata_line(path: str | os.PathLike, lineno: int, tokens: list[str], state: _AsfState) -> None:
    """Parse a line of the ``:bonedata`` section: ``begin``, ``end``, or a line of the open bone block."""
    head = tokens[0]
    key = head.lower()
    if key == "begin":
        if state.bone is not None:
            raise _error(path, lineno, "'begin' inside a bone block")
        state.bone = {"line": lineno, "dof": (), "limits": [], "id": -1}
    elif key == "end":
        if state.bone is None:
            raise _error(path, lineno, "'end' without 'begin'")
        _check_bone_block(path, lineno, state.bone)
        state.bones.append(state.bone)
        state.bone = None
    elif state.bone is None:
        raise _error(path, lineno, f"{head!r} outside a begin/end block")
    elif head.startswith("(") and state.last_key == "limits":
        # limits continued on the next lines; they may go on, so last_key stays "limits"
        state.bone["limits"] += _parse_limits(path, lineno, tokens)
        return
    else:
        _bone_key(path, lineno, tokens, state.bone)
    state.last_key = key


def _hierarchy_line(path: str | os.PathLike, lineno: int, tokens: list[str], state: _AsfState) -> None:
    """Parse a line of the ``:hierarchy`` section: ``begin``, ``end``, or ``parent child ...``."""
    head = tokens[0]
    key = head.lower()
    if key == "begin":
        state.in_hierarchy = True
    elif key == "end":
        state.in_hierarchy = False
    elif not state.in_hierarchy:
        raise _error(path, lineno, f"{head!r} outside the hierarchy's begin/end")
    else:
        for child in tokens[1:]:
            if child in state.hierarchy:
                raise _error(path, lineno, f"bone {child!r} has two parents")
            state.hierarchy[child] = (lineno, head)


#: Parser of each line of a section of an ASF file, by section name; lines of other sections are ignored.
_SECTION_PARSERS = {"units": _units_line, "root": _root_line, "bonedata": _bonedata_line, "hierarchy": _hierarchy_line}


def _check_bones(path: str | os.PathLike, bones: list[dict], hierarchy: dict[str, tuple[int, str]]) -> None:
    """Raise on duplicate bone names, unknown bones or missing parents in the hierarchy, and cycles."""
    names = [b["name"] for b in bones]
    if len(set(names)) != len(names):
        raise _error(path, next(b["line"] for b in bones if names.count(b["name"]) > 1), "duplicate bone name")
    known = {"root", *names}
    for child, (lineno, parent) in hierarchy.items():
        if child not in known or parent not in known:
            raise _error(path, lineno, f"unknown bone {child if child not in known else parent!r} in hierarchy")
    for b in bones:
        if b["name"] not in hierarchy:
            raise _error(path, b["line"], f"bone {b['name']!r} has no parent in :hierarchy")
    # every bone must reach the root (no cycles)
    for b in bones:
        seen, current = set(), b["name"]
        while current != "root":
            if current in seen:
                raise _error(path, hierarchy[current][0], f"cycle in the hierarchy at {current!r}")
            seen.add(current)
            current = hierarchy[current][1]


def _skeleton(state: _AsfState) -> Skeleton:
    """The :class:`Skeleton` of a parsed and checked ASF file, angles converted to radians."""
    bones, hierarchy, root, units = state.bones, state.hierarchy, state.root, state.units
    names = [b["name"] for b in bones]
    to_rad = np.pi / 180.0 if units["angle"] == "deg" else 1.0
    limits = []
    for b in bones:
        limits.append(
            [
                (lo * to_rad, hi * to_rad) if d in _ROTATIONS else (lo, hi)
                for d, (lo, hi) in zip(b["dof"][: len(b["limits"])], b["limits"], strict=True)
            ]
        )
    return Skeleton(
        names=names,
        parents=[hierarchy[name][1] for name in names],
        direction=np.array([b["direction"] for b in bones], dtype=np.float64),
        length=np.array([b["length"] for b in bones], dtype=np.float64),
        axis=np.array([b["axis"] for b in bones], dtype=np.float64) * to_rad,
        axis_order=[b["axis_order"] for b in bones],
        dof=[b["dof"] for b in bones],
        limits=limits,
        ids=[b["id"] for b in bones],
        root_order=root.get("order", ("tx", "ty", "tz", "rx", "ry", "rz")),
        root_axis=root.get("axis", "XYZ"),
        root_position=np.array(root.get("position", (0, [0.0] * 3))[1], dtype=np.float64),
        root_orientation=np.array(root.get("orientation", (0, [0.0] * 3))[1], dtype=np.float64) * to_rad,
        length_unit=float(units["length"]),
        angle_unit=str(units["angle"]),
        name=root.get("name", ""),
    )


def read_asf(path: str | os.PathLike) -> Skeleton:
    """Read an Acclaim ASF skeleton file.

    Parameters
    ----------
    path
        The ``.asf`` file. CRLF line endings and ``#`` comments are accepted.

    Returns
    -------
    The skeleton; angles converted to radians, lengths as in the file.

    Raises
    ------
    ValueError
        On a malformed file, naming the file and the line.
    """
    lines = _lines(path)
    if not lines:
        raise ValueError(f"{path}: empty file (no :root, :bonedata or :hierarchy section)")
    state = _AsfState()
    for lineno, tokens in lines:
        if tokens[0].startswith(":"):
            _start_section(path, lineno, tokens, state)
        elif state.section in _SECTION_PARSERS:
            _SECTION_PARSERS[state.section](path, lineno, tokens, state)
    last_line = lines[-1][0] if lines else 0
    if state.bone is not None:
        raise _error(path, last_line, "bone block not closed at the end of the file")
    if not state.bones:
        raise _error(path, last_line, "no :bonedata")
    _check_bones(path, state.bones, state.hierarchy)
    return _skeleton(state)


def read_amc(path: str | os.PathLike, skeleton: Skeleton) -> list[dict[str, np.ndarray]]:
    """Read an Acclaim AMC motion file.

    Parameters
    ----------
    path
        The ``.amc`` file. CRLF line endings and ``#`` comments are accepted.
    skeleton
        Its skeleton, from :func:`read_asf`.

    Returns
    -------
    One dict per frame, bone name (``"root"`` included) to its values in the order of the bone's ``dof``
    (the root's: ``skeleton.root_order``). Rotations are converted to radians (the unit is ``:DEGREES`` or
    ``:RADIANS`` in the file, else the skeleton's); translations are as in the file. Bones absent from a frame
    are absent from its dict. The AMC frame numbers are in each dict under ``"frame"`` (a 0-d array).

    Raises
    ------
    ValueError
        On a malformed file, naming the file and the line.
    """
    dofs = {"root": skeleton.root_order, **dict(zip(skeleton.names, skeleton.dof, strict=True))}
    degrees = skeleton.angle_unit == "deg"
    frames: list[dict[str, np.ndarray]] = []
    for lineno, tokens in _lines(path):
        head = tokens[0]
        if head.startswith(":"):
            if head.upper() in (":DEGREES", ":DEGREE"):
                degrees = True
            elif head.upper() in (":RADIANS", ":RADIAN"):
                degrees = False
            if frames:
                raise _error(path, lineno, f"header {head!r} after the first frame")
            continue
        if len(tokens) == 1 and head.isdigit():
            frames.append({"frame": np.array(int(head))})
            continue
        if not frames:
            raise _error(path, lineno, f"{head!r} before the first frame number")
        if head not in dofs:
            raise _error(path, lineno, f"unknown bone {head!r}")
        if head in frames[-1]:
            raise _error(path, lineno, f"bone {head!r} twice in frame {int(frames[-1]['frame'])}")
        values = np.array(_floats(path, lineno, tokens[1:], len(dofs[head])), dtype=np.float64)
        if degrees:
            rotational = np.array([d in _ROTATIONS for d in dofs[head]], dtype=bool)
            values[rotational] *= np.pi / 180.0
        frames[-1][head] = values
    return frames


def _rotation(axis: str, angle: np.ndarray) -> np.ndarray:
    """Rotation matrices ``(*angle.shape, 3, 3)`` about coordinate axis ``axis`` (``"x"``, ``"y"`` or ``"z"``)."""
    angle = np.asarray(angle, dtype=np.float64)
    c, s = np.cos(angle), np.sin(angle)
    one, zero = np.ones_like(angle), np.zeros_like(angle)
    rows = {
        "x": ((one, zero, zero), (zero, c, -s), (zero, s, c)),
        "y": ((c, zero, s), (zero, one, zero), (-s, zero, c)),
        "z": ((c, -s, zero), (s, c, zero), (zero, zero, one)),
    }[axis.lower()]
    return np.stack([np.stack(row, axis=-1) for row in rows], axis=-2)


def _euler(angles: np.ndarray, order: str) -> np.ndarray:
    """``R = R_last @ ... @ R_first`` from ``(..., 3)`` angles (x, y, z), the rotations applied in ``order``."""
    angles = np.asarray(angles, dtype=np.float64)
    matrix = np.broadcast_to(np.eye(3), (*angles.shape[:-1], 3, 3))
    for axis in order.lower():
        matrix = _rotation(axis, angles[..., _AXIS_INDEX[axis]]) @ matrix
    return matrix


def _dof_rotation(values: np.ndarray, dof: tuple[str, ...]) -> np.ndarray:
    """Rotation from ``(n_frames, len(dof))`` values, the rotational dofs applied in the order of ``dof``."""
    matrix = np.broadcast_to(np.eye(3), (values.shape[0], 3, 3))
    for j, d in enumerate(dof):
        if d in _ROTATIONS:
            matrix = _rotation(d[1], values[:, j]) @ matrix
    return matrix


def forward_kinematics(
    skeleton: Skeleton, frames: list[dict[str, np.ndarray]], *, scale: float | None = None
) -> np.ndarray:
    """World positions of the root and of every bone's end, per frame.

    Each bone's local rotation is ``C @ R_dof @ C^-1``, with ``C`` the rotation of its ``axis`` and ``R_dof`` the
    rotation of its dof angles, applied in the dof order. Its global rotation is the parent's global rotation times
    its local rotation, and its end is the parent's end plus ``global rotation @ (direction * length)``. The root
    is at ``root_position + (tx, ty, tz)`` with rotation ``C_root @ R_dof @ C_root^-1`` (``C_root`` from
    ``root_orientation`` in ``root_axis`` order). Translational degrees of freedom of bones (rare) are ignored.

    Parameters
    ----------
    skeleton
        From :func:`read_asf`.
    frames
        From :func:`read_amc`; a bone absent from a frame has zero angles.
    scale
        Multiplier of all lengths and translations; default ``skeleton.length_unit``.

    Returns
    -------
    ``(n_frames, 3 * (1 + n_bones))``: the root then the bones in ASF order, x, y, z each.
    """
    scale = skeleton.length_unit if scale is None else float(scale)
    n_frames = len(frames)

    def values(name: str, dof: tuple[str, ...]) -> np.ndarray:
        out = np.zeros((n_frames, len(dof)))
        for i, frame in enumerate(frames):
            if name in frame:
                out[i] = frame[name]
        return out

    root_values = values("root", skeleton.root_order)
    translation = np.zeros((n_frames, 3))
    for j, d in enumerate(skeleton.root_order):
        if d in _TRANSLATIONS:
            translation[:, _AXIS_INDEX[d[1]]] = root_values[:, j]
    c_root = _euler(skeleton.root_orientation, skeleton.root_axis)
    rotation = {"root": c_root @ _dof_rotation(root_values, skeleton.root_order) @ c_root.T}
    position = {"root": (skeleton.root_position + translation) * scale}

    bones = {name: i for i, name in enumerate(skeleton.names)}
    children: dict[str, list[str]] = {}
    for name, parent in zip(skeleton.names, skeleton.parents, strict=True):
        children.setdefault(parent, []).append(name)
    stack = list(children.get("root", []))
    while stack:
        name = stack.pop()
        i = bones[name]
        parent = skeleton.parents[i]
        c = _euler(skeleton.axis[i], skeleton.axis_order[i])
        local = c @ _dof_rotation(values(name, skeleton.dof[i]), skeleton.dof[i]) @ c.T
        rotation[name] = rotation[parent] @ local
        offset = skeleton.direction[i] * skeleton.length[i] * scale
        position[name] = position[parent] + rotation[name] @ offset
        stack.extend(children.get(name, []))
    return np.concatenate([position[name] for name in skeleton.joint_names], axis=1)


def read_asf_amc(asf: str | os.PathLike, amc: str | os.PathLike, *, scale: float | None = None) -> Motion:
    """Read an ASF skeleton and an AMC motion and compute the joint positions of every frame.

    Parameters
    ----------
    asf, amc
        The two files.
    scale
        Multiplier of all lengths and translations; default the ASF's ``:units length`` as given (0.45 for CMU
        files, whose raw units are 1/0.45 inches: multiply raw values by ``0.0254 / 0.45`` for metres).

    Returns
    -------
    A :class:`Motion`, unpacking as ``positions, joint_names, skeleton``: positions ``(n_frames, 3 * n_joints)``
    with the root then every bone's end, in ASF order (31 joints, 93 columns for CMU skeletons). See
    :func:`forward_kinematics`.
    """
    skeleton = read_asf(asf)
    frames = read_amc(amc, skeleton)
    if not frames:
        raise ValueError(f"{amc}: no frames")
    positions = forward_kinematics(skeleton, frames, scale=scale)
    numbers = np.array([int(frame["frame"]) for frame in frames], dtype=np.int64)
    return Motion(positions=positions, joint_names=skeleton.joint_names, skeleton=skeleton, frames=numbers)


def _cache_dir() -> Path:
    """``$PATHREG_CACHE/cmu``, default ``~/.cache/pathreg/cmu``."""
    root = os.environ.get("PATHREG_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "pathreg") / "cmu"


def download(url: str, destination: str | os.PathLike, *, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``destination`` (atomically, through a temporary file in the same folder).

    Raises
    ------
    OSError
        When the download fails; the message says to download the file by hand and pass ``path=``.
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=destination.parent, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            out.write(response.read())
        os.replace(tmp, destination)
    except Exception as exc:
        Path(tmp).unlink(missing_ok=True)
        raise OSError(
            f"could not download {url} ({exc}); download it by hand and pass path= (a folder holding the .asf and "
            f".amc files)"
        ) from exc
    return destination


def _find(folder: Path, name: str, suffix: str) -> Path:
    exact = folder / name
    if exact.is_file():
        return exact
    matches = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == suffix)
    named = [p for p in matches if p.name.lower() == name.lower()]
    if named:
        return named[0]
    if len(matches) == 1:
        return matches[0]
    raise FileNotFoundError(f"no {name} (nor a single *{suffix} file) in {folder}")


def cmu_mocap(subject: int, trial: int, path: str | os.PathLike | None = None) -> Motion:
    """Joint positions of a trial of the CMU Graphics Lab Motion Capture Database (mocap.cs.cmu.edu).

    Parameters
    ----------
    subject, trial
        Subject and trial numbers, as in ``02_01.amc`` (subject 2, trial 1).
    path
        A folder holding the subject's ``{subject:02d}.asf`` and ``{subject:02d}_{trial:02d}.amc`` (or, failing
        those names, a single ``.asf`` and a single ``.amc``). If None, the cache folder (``$PATHREG_CACHE/cmu``,
        default ``~/.cache/pathreg/cmu``) is used and missing files are downloaded into it.

    Returns
    -------
    See :func:`read_asf_amc`.
    """
    asf_name, amc_name = f"{subject:02d}.asf", f"{subject:02d}_{trial:02d}.amc"
    if path is not None:
        folder = Path(path)
        if not folder.is_dir():
            raise NotADirectoryError(f"path must be a folder holding {asf_name} and {amc_name}, got {folder}")
        return read_asf_amc(_find(folder, asf_name, ".asf"), _find(folder, amc_name, ".amc"))
    folder = _cache_dir()
    for name in (asf_name, amc_name):
        if not (folder / name).is_file():
            download(_CMU_URL.format(subject=subject, name=name), folder / name)
    return read_asf_amc(folder / asf_name, folder / amc_name)
