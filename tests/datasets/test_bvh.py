from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from pathreg.datasets import BVHSkeleton, Motion, read_bvh

# root with its channels in Z X Y order after the positions; a knee with a translation channel among rotations
TWO_JOINTS = """HIERARCHY
ROOT hips
{
\tOFFSET 1 2 3
\tCHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
\tJOINT knee
\t{
\t\tOFFSET 0 -2 0
\t\tCHANNELS 4 Zrotation Yposition Xrotation Yrotation
\t\tEnd Site
\t\t{
\t\t\tOFFSET 0 -1 0
\t\t}
\t}
}
MOTION
Frames: 8
Frame Time: 0.04
0 0 0 0 0 0 0 0 0 0
0 0 0 90 0 0 0 0 0 0
0 0 0 0 90 0 0 0 0 0
10 20 30 0 0 0 0 0 0 0
0 0 0 90 90 0 0 0 0 0
0 0 0 0 90 90 0 0 0 0
0 0 0 90 0 0 0 1 0 0
0 0 0 0 0 0 30 0 45 60
"""

# (hips, knee) per frame; the knee is at hips + R_hips @ (OFFSET + (0, ty, 0)), R_hips = Rz @ Rx @ Ry
TWO_JOINTS_EXPECTED = np.array(
    [
        [1, 2, 3, 1, 0, 3],  # zero pose
        [1, 2, 3, 3, 2, 3],  # Rz(90) (0, -2, 0) = (2, 0, 0)
        [1, 2, 3, 1, 2, 1],  # Rx(90) (0, -2, 0) = (0, 0, -2)
        [11, 22, 33, 11, 20, 33],  # root translation
        [1, 2, 3, 1, 2, 1],  # Rz(90) Rx(90) (0, -2, 0) = Rz (0, 0, -2); Rx Rz would give (2, 0, 0)
        [1, 2, 3, 1, 2, 1],  # Rx(90) Ry(90) (0, -2, 0) = Rx (0, -2, 0); Ry Rx would give (-2, 0, 0)
        [1, 2, 3, 2, 2, 3],  # knee ty = 1: Rz(90) (0, -1, 0) = (1, 0, 0)
        [1, 2, 3, 1, 0, 3],  # the knee's own rotations move only its End Site
    ],
    dtype=np.float64,
)

# a chain: the hand's position composes the root's and the elbow's rotations; no position channels on the root
CHAIN = """HIERARCHY
ROOT shoulder
{
  OFFSET 0 0 0
  CHANNELS 3 Yrotation Xrotation Zrotation
  JOINT elbow
  {
    OFFSET 1 0 0
    CHANNELS 3 Zrotation Yrotation Xrotation
    JOINT hand
    {
      OFFSET 0 1 0
      CHANNELS 3 Xposition Yposition Zposition
      End Site
      {
        OFFSET 0 0.5 0
      }
    }
  }
}
MOTION
Frames: 4
Frame Time: 0.008333333333333333
90 0 0 0 0 0 0 0 0
0 0 0 90 0 0 0 0 0
90 0 0 90 0 0 0 0 0
0 0 0 90 0 0 0.5 0 0
"""

CHAIN_EXPECTED = np.array(
    [
        [0, 0, 0, 0, 0, -1, 0, 1, -1],  # Ry(90) (1, 0, 0) = (0, 0, -1); Ry (0, 1, 0) = (0, 1, 0)
        [0, 0, 0, 1, 0, 0, 0, 0, 0],  # Rz(90) (0, 1, 0) = (-1, 0, 0)
        [
            0,
            0,
            0,
            0,
            0,
            -1,
            0,
            0,
            0,
        ],  # R_shoulder R_elbow (0, 1, 0) = Ry (-1, 0, 0) = (0, 0, 1); Rz Ry gives (-1, 0, 0)
        [0, 0, 0, 1, 0, 0, 0, 0.5, 0],  # hand translation (0.5, 0, 0): Rz(90) (0.5, 1, 0) = (-1, 0.5, 0)
    ],
    dtype=np.float64,
)


def _write(folder: Path, text: str, newline: str = "\n", name: str = "tiny.bvh") -> Path:
    path = folder / name
    path.write_bytes(text.replace("\n", newline).encode())
    return path


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), start=1) if line.strip() == needle)


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_two_joints(tmp_path, newline):
    motion = read_bvh(_write(tmp_path, TWO_JOINTS, newline))
    assert isinstance(motion, Motion)
    positions, names, skeleton = motion
    assert names == ["hips", "knee"]
    assert positions.shape == (8, 6)
    np.testing.assert_allclose(positions, TWO_JOINTS_EXPECTED, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(motion.frames, np.arange(1, 9))
    assert motion.frame_rate == pytest.approx(25.0)


def test_skeleton(tmp_path):
    skeleton = read_bvh(_write(tmp_path, TWO_JOINTS)).skeleton
    assert isinstance(skeleton, BVHSkeleton)
    assert skeleton.joint_names == ["hips", "knee"]
    np.testing.assert_array_equal(skeleton.joint_parents, [-1, 0])
    np.testing.assert_array_equal(skeleton.offsets, [[1, 2, 3], [0, -2, 0]])
    assert skeleton.channels == [
        ("Xposition", "Yposition", "Zposition", "Zrotation", "Xrotation", "Yrotation"),
        ("Zrotation", "Yposition", "Xrotation", "Yrotation"),
    ]
    assert skeleton.n_channels == 10
    np.testing.assert_array_equal(skeleton.end_site_parents, [1])
    np.testing.assert_array_equal(skeleton.end_site_offsets, [[0, -1, 0]])


def test_rotations_compose_down_the_chain(tmp_path):
    motion = read_bvh(_write(tmp_path, CHAIN))
    assert motion.joint_names == ["shoulder", "elbow", "hand"]
    np.testing.assert_array_equal(motion.skeleton.joint_parents, [-1, 0, 1])
    np.testing.assert_allclose(motion.positions, CHAIN_EXPECTED, rtol=0, atol=1e-12)
    assert motion.frame_rate == pytest.approx(120.0)


def test_scale_and_layout(tmp_path):
    """Braces on the keyword lines, lower-case channel names and blank lines read as the plain layout."""
    text = (
        TWO_JOINTS.replace("hips\n{", "hips {")
        .replace("knee\n\t{", "knee {")
        .replace("End Site\n\t\t{", "End Site {")
        .replace("Zrotation Yposition", "zrotation yposition")
        .replace("Frame Time: 0.04\n", "Frame Time: 0.04\n\n")
    )
    plain = read_bvh(_write(tmp_path, TWO_JOINTS, name="plain.bvh"))
    compact = read_bvh(_write(tmp_path, text, name="compact.bvh"), scale=2.0)
    assert compact.skeleton.channels == plain.skeleton.channels
    np.testing.assert_allclose(compact.positions, 2 * plain.positions, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("bad", "needle", "message"),
    [
        (TWO_JOINTS.replace("HIERARCHY", "HIERARCH"), "HIERARCH", "expected HIERARCHY"),
        (TWO_JOINTS.split("MOTION")[0], "}", "no MOTION section"),
        (TWO_JOINTS.replace("Xrotation Yrotation\n\t\tEnd", "Xrotatoin Yrotation\n\t\tEnd"), None, "unknown channel"),
        (
            TWO_JOINTS.replace("CHANNELS 4", "CHANNELS 3"),
            "CHANNELS 3 Zrotation Yposition Xrotation Yrotation",
            "followed by 4",
        ),
        (TWO_JOINTS.replace("OFFSET 0 -2 0", "OFFSET 0 -2"), "OFFSET 0 -2", "expected 3 numbers"),
        (TWO_JOINTS.replace("0 0 0 0 90 0 0 0 0 0", "0 0 0 0 90 0 0 0 0"), "0 0 0 0 90 0 0 0 0", "has 9 values"),
        (TWO_JOINTS.replace("10 20 30 0", "10 2O 30 0"), "10 2O 30 0 0 0 0 0 0 0", "'2O'"),
        (TWO_JOINTS.replace("10 20 30 0", "10 nan 30 0"), "10 nan 30 0 0 0 0 0 0 0", "finite"),
        (TWO_JOINTS.replace("Frames: 8", "Frames: 9"), "Frames: 9", "the file has 8 frame lines"),
        (TWO_JOINTS.replace("Frames: 8", "Frames: 7"), "0 0 0 0 0 0 30 0 45 60", "more frame lines"),
        (TWO_JOINTS.replace("Frames: 8", "Frames: eight"), "Frames: eight", "positive whole number"),
        (TWO_JOINTS.replace("Frame Time: 0.04", "Frame Time: fast"), "Frame Time: fast", "'fast'"),
        (TWO_JOINTS.replace("\t}\n}\nMOTION", "\t}\n}\n}\nMOTION"), None, "unbalanced '}'"),
        (TWO_JOINTS.replace("\t}\n}\nMOTION", "\t}\nMOTION"), "MOTION", "joint 'hips' (line 2) is not closed"),
        (TWO_JOINTS.replace("\tJOINT knee\n\t{\n", "\tJOINT knee\n"), "OFFSET 0 -2 0", "expected '{' after"),
        (TWO_JOINTS.replace("\t\t\tOFFSET 0 -1 0\n", ""), None, "End Site (line 10) has no OFFSET"),
        (TWO_JOINTS.replace("End Site", "End Sight"), "End Sight", "expected 'End Site'"),
        (TWO_JOINTS.replace("\tJOINT knee", "\tJOINT hips"), "JOINT hips", "duplicate joint name"),
        (TWO_JOINTS.replace("\t\tEnd Site", "\t\tJOIN foot"), "JOIN foot", "unknown keyword 'JOIN'"),
    ],
)
def test_malformed_names_file_and_line(tmp_path, bad, needle, message):
    path = _write(tmp_path, bad, newline="\r\n")
    lines = bad.splitlines()
    if needle is None:  # the first line that differs from the good file
        good = TWO_JOINTS.splitlines()
        lineno = next(i for i, (a, b) in enumerate(zip(lines, good, strict=False), start=1) if a != b)
    elif needle == "}":  # the last line
        lineno = len(lines)
    else:
        lineno = _line_of(bad, needle)
    with pytest.raises(ValueError, match=rf"tiny\.bvh, line {lineno}: .*{re.escape(message)}"):
        read_bvh(path)


def test_empty_file(tmp_path):
    with pytest.raises(ValueError, match=r"empty\.bvh: empty file"):
        read_bvh(_write(tmp_path, "\n\n", name="empty.bvh"))


def test_real_cmu_bvh(shared_data):
    path = shared_data / "mocap" / "cmu-subject141-wave" / "141_16.bvh"
    if not path.is_file():
        pytest.skip(f"no BVH recording at {path}")
    motion = read_bvh(path)
    positions, names, skeleton = motion
    assert len(names) == 31
    assert skeleton.n_channels == 96
    assert positions.shape == (299, 93)
    assert np.isfinite(positions).all()
    assert motion.frame_rate == pytest.approx(120.0, abs=0.01)
    parents = skeleton.joint_parents
    assert parents[0] == -1
    assert (parents[1:] >= 0).all()
    assert (parents[1:] < np.arange(1, 31)).all()
    # bones are rigid: a joint without position channels stays at its OFFSET's distance from its parent
    joints = positions.reshape(len(positions), 31, 3)
    rigid = [j for j in range(1, 31) if not any(c.endswith("position") for c in skeleton.channels[j])]
    assert len(rigid) == 30
    distances = np.linalg.norm(joints[:, rigid] - joints[:, parents[rigid]], axis=-1)
    np.testing.assert_allclose(
        distances,
        np.broadcast_to(np.linalg.norm(skeleton.offsets[rigid], axis=1), distances.shape),
        rtol=1e-9,
        atol=1e-9,
    )
    # plausible: Y up, a person 1.2 to 2.2 m from the toes to the head in metres (raw CMU units are 1/0.45 inch)
    metres = 0.0254 / 0.45
    height = (joints[:, names.index("Head"), 1] - joints[:, names.index("LeftToeBase"), 1]).max() * metres
    assert 1.2 < height < 2.2
    # "wave hello" with the right hand: it goes up and down, the left hand hardly
    vertical = np.ptp(joints[:, :, 1], axis=0)
    assert vertical[names.index("RightHand")] > 5 * vertical[names.index("LeftHand")]
