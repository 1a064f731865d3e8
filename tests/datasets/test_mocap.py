from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pathreg.datasets._mocap import Motion, cmu_mocap, read_amc, read_asf, read_asf_amc

ASF = """# a hand-made two-bone skeleton
:version 1.10
:name tiny
:units
  mass 1.0
  length 1.0
  angle deg
:documentation
   bone1 along x, bone2 along y
:root
   order TX TY TZ RX RY RZ
   axis XYZ
   position 0 0 0
   orientation 0 0 0
:bonedata
  begin
     id 1
     name bone1
     direction 1 0 0
     length 2
     axis 0 0 90 XYZ   # local frame turned about z: rz commutes, rx turns about world y
    dof rx rz
    limits (-180.0 180.0)
           (-180.0 180.0)
  end
  begin
     id 2
     name bone2
     direction 0 1 0
     length 1
     axis 0 0 0 XYZ
  end
:hierarchy
  begin
    root bone1
    bone1 bone2
  end
"""

AMC = """# frames: zero pose; bone1 rz 90; root moved and turned rz 90; bone1 rx 90
:FULLY-SPECIFIED
:DEGREES
1
root 0 0 0 0 0 0
bone1 0 0
2
root 0 0 0 0 0 0
bone1 0 90
3
root 1 2 3 0 0 90
bone1 0 0
4
root 0 0 0 0 0 0
bone1 90 0
"""

EXPECTED = np.array(
    [
        [0, 0, 0, 2, 0, 0, 2, 1, 0],
        [0, 0, 0, 0, 2, 0, -1, 2, 0],
        [1, 2, 3, 1, 4, 3, 0, 4, 3],
        # bone1 local rotation: 90 deg about Rz(90) e_x = e_y; x -> -z
        [0, 0, 0, 0, 0, -2, 0, 1, -2],
    ],
    dtype=np.float64,
)


def _write(folder: Path, asf: str = ASF, amc: str = AMC, newline: str = "\n") -> tuple[Path, Path]:
    asf_path, amc_path = folder / "tiny.asf", folder / "tiny.amc"
    asf_path.write_bytes(asf.replace("\n", newline).encode())
    amc_path.write_bytes(amc.replace("\n", newline).encode())
    return asf_path, amc_path


def test_read_asf(tmp_path):
    asf, _ = _write(tmp_path)
    skeleton = read_asf(asf)
    assert skeleton.names == ["bone1", "bone2"]
    assert skeleton.parents == ["root", "bone1"]
    assert skeleton.joint_names == ["root", "bone1", "bone2"]
    np.testing.assert_array_equal(skeleton.joint_parents, [-1, 0, 1])
    assert skeleton.dof == [("rx", "rz"), ()]
    assert skeleton.ids == [1, 2]
    np.testing.assert_allclose(skeleton.axis[0], [0, 0, np.pi / 2])
    np.testing.assert_allclose(skeleton.limits[0], [(-np.pi, np.pi)] * 2)
    assert skeleton.limits[1] == []
    assert skeleton.root_order == ("tx", "ty", "tz", "rx", "ry", "rz")
    assert skeleton.length_unit == 1.0


def test_read_amc(tmp_path):
    asf, amc = _write(tmp_path)
    frames = read_amc(amc, read_asf(asf))
    assert len(frames) == 4
    np.testing.assert_allclose(frames[1]["bone1"], [0, np.pi / 2])
    np.testing.assert_allclose(frames[2]["root"], [1, 2, 3, 0, 0, np.pi / 2])
    assert int(frames[3]["frame"]) == 4


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_hand_made_positions(tmp_path, newline):
    asf, amc = _write(tmp_path, newline=newline)
    motion = read_asf_amc(asf, amc)
    assert isinstance(motion, Motion)
    positions, names, skeleton = motion
    assert names == ["root", "bone1", "bone2"]
    assert positions.shape == (4, 9)
    np.testing.assert_allclose(positions, EXPECTED, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(motion.frames, [1, 2, 3, 4])


def test_units(tmp_path):
    asf = ASF.replace("length 1.0", "length 0.5").replace("angle deg", "angle rad")
    amc = (
        AMC.replace(":DEGREES\n", "")
        .replace("bone1 0 90", f"bone1 0 {np.pi / 2!r}")
        .replace("root 1 2 3 0 0 90", f"root 1 2 3 0 0 {np.pi / 2!r}")
        .replace("bone1 90 0", f"bone1 {np.pi / 2!r} 0")
    )
    asf_path, amc_path = _write(tmp_path, ASF.replace("axis 0 0 90", f"axis 0 0 {np.pi / 2!r}"), amc)
    asf_path.write_text(asf.replace("axis 0 0 90", f"axis 0 0 {np.pi / 2!r}"))
    positions, _, _ = read_asf_amc(asf_path, amc_path)
    np.testing.assert_allclose(positions, 0.5 * EXPECTED, rtol=0, atol=1e-9)
    positions, _, _ = read_asf_amc(asf_path, amc_path, scale=1.0)
    np.testing.assert_allclose(positions, EXPECTED, rtol=0, atol=1e-9)


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), start=1) if line.split("#")[0].strip() == needle)


@pytest.mark.parametrize(
    ("bad_asf", "bad_amc", "needle"),
    [
        (ASF.replace("length 2", "length two"), AMC, "length two"),
        (ASF.replace("axis 0 0 0 XYZ", "axis 0 0 XYZ"), AMC, "axis 0 0 XYZ"),
        (ASF.replace("           (-180.0 180.0)\n", "           (-180.0 180.0\n"), AMC, "(-180.0 180.0"),
        (ASF, AMC.replace("bone1 0 90", "bone1 0"), "bone1 0"),
        (ASF, AMC.replace("bone1 0 90", "bone3 0 90"), "bone3 0 90"),
    ],
)
def test_malformed_names_file_and_line(tmp_path, bad_asf, bad_amc, needle):
    asf, amc = _write(tmp_path, bad_asf, bad_amc, newline="\r\n")
    bad_path, bad_text = (asf, bad_asf) if bad_asf != ASF else (amc, bad_amc)
    with pytest.raises(ValueError, match=rf"{bad_path.name}, line {_line_of(bad_text, needle)}:"):
        read_asf_amc(asf, amc)


def test_missing_parent_is_an_error(tmp_path):
    asf, amc = _write(tmp_path, ASF.replace("    bone1 bone2\n", ""))
    with pytest.raises(ValueError, match=r"tiny.asf, line \d+: bone 'bone2' has no parent"):
        read_asf(asf)


def test_crlf_reads_as_lf(tmp_path):
    (tmp_path / "lf").mkdir()
    (tmp_path / "crlf").mkdir()
    lf = read_asf_amc(*_write(tmp_path / "lf"))
    asf, amc = _write(tmp_path / "crlf", newline="\r\n")
    assert b"\r\n" in asf.read_bytes()
    assert b"\r\n" in amc.read_bytes()
    crlf = read_asf_amc(asf, amc)
    np.testing.assert_array_equal(crlf.positions, lf.positions)
    np.testing.assert_array_equal(crlf.frames, lf.frames)
    assert crlf.joint_names == lf.joint_names
    assert crlf.skeleton.dof == lf.skeleton.dof
    assert crlf.skeleton.limits == lf.skeleton.limits
    assert crlf.frame_rate is None


def test_cmu_mocap_with_folder(tmp_path):
    _write(tmp_path)
    positions, _, _ = cmu_mocap(7, 1, path=tmp_path)
    np.testing.assert_allclose(positions, EXPECTED, rtol=0, atol=1e-9)


def test_real_cmu_recording(shared_data):
    folder = shared_data / "mocap" / "cmu-subject01-playground"
    if not (folder / "skeleton.asf").is_file() or not (folder / "motion.amc").is_file():
        pytest.skip(f"no CMU recording in {folder}")
    positions, names, skeleton = cmu_mocap(1, 1, path=folder)
    assert len(names) == 31
    assert names[0] == "root"
    assert positions.shape == (2751, 93)
    assert np.isfinite(positions).all()
    joints = positions.reshape(len(positions), 31, 3)
    parents = skeleton.joint_parents
    distances = np.linalg.norm(joints[:, 1:] - joints[:, parents[1:]], axis=-1)
    np.testing.assert_allclose(distances, np.broadcast_to(distances[0], distances.shape), rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(distances[0], skeleton.length * skeleton.length_unit, rtol=1e-6)
    # plausible scale: a standing person, head well above the toes, about 1.6 m tall in metres
    metres = 0.0254 / skeleton.length_unit**2
    head, toes = names.index("head"), names.index("ltoes")
    height = (joints[:, head, 1] - joints[:, toes, 1]).max() * metres
    assert 1.2 < height < 2.2
    assert np.ptp(joints[:, 0], axis=0).max() * metres < 20


#: The CMU trials of the shared data: folder, skeleton, motion, frames (subjects 64 and 35 with CRLF line endings).
CMU_TRIALS = [
    ("cmu-subject07-walk", "07.asf", "07_01.amc", 316),
    ("cmu-subject07-walk", "07.asf", "07_02.amc", 329),
    ("cmu-subject07-walk", "07.asf", "07_09.amc", 306),
    ("cmu-subject64-golf", "64.asf", "64_01.amc", 448),
    ("cmu-subject64-golf", "64.asf", "64_02.amc", 493),
    ("cmu-subject64-golf", "64.asf", "64_03.amc", 444),
    ("cmu-subject64-golf", "64.asf", "64_04.amc", 412),
    ("cmu-subject64-golf", "64.asf", "64_05.amc", 387),
    ("cmu-subject35-walk", "35.asf", "35_01.amc", 358),
]


def _shared_trial(shared_data: Path, folder: str, asf: str, amc: str) -> tuple[Path, Path]:
    base = shared_data / "mocap" / folder
    if not (base / asf).is_file() or not (base / amc).is_file():
        pytest.skip(f"no {asf} and {amc} in {base}")
    return base / asf, base / amc


@pytest.mark.parametrize(("folder", "asf", "amc", "n_frames"), CMU_TRIALS, ids=[t[2] for t in CMU_TRIALS])
def test_shared_cmu_trials(folder, asf, amc, n_frames, shared_data):
    motion = read_asf_amc(*_shared_trial(shared_data, folder, asf, amc))
    positions, names, skeleton = motion
    assert positions.shape == (n_frames, 93)
    assert np.isfinite(positions).all()
    np.testing.assert_array_equal(motion.frames, np.arange(1, n_frames + 1))
    assert names[0] == "root"
    joints = positions.reshape(n_frames, 31, 3)
    parents = skeleton.joint_parents
    distances = np.linalg.norm(joints[:, 1:] - joints[:, parents[1:]], axis=-1)
    lengths = np.broadcast_to(skeleton.length * skeleton.length_unit, distances.shape)
    np.testing.assert_allclose(distances, lengths, rtol=1e-6, atol=1e-12)
    metres = 0.0254 / skeleton.length_unit**2
    height = (joints[:, names.index("head"), 1] - joints[:, names.index("ltoes"), 1]).max() * metres
    assert 1.2 < height < 2.2


def test_shared_crlf_trial_reads_as_its_lf_copy(tmp_path, shared_data):
    asf, amc = _shared_trial(shared_data, "cmu-subject35-walk", "35.asf", "35_01.amc")
    assert b"\r\n" in asf.read_bytes()[:200]
    copies = []
    for path in (asf, amc):
        copy = tmp_path / path.name
        copy.write_bytes(path.read_bytes().replace(b"\r\n", b"\n"))
        copies.append(copy)
    np.testing.assert_array_equal(read_asf_amc(*copies).positions, read_asf_amc(asf, amc).positions)
