"""Video ingest: frame rate, manifest columns, subject map, idempotence, bad videos, frame folders."""

from __future__ import annotations

import csv

import cv2
import numpy as np
import pytest

from facepalsy.app.cli import main
from facepalsy.data.dataset import scan_dataset
from facepalsy.data.prepare import prepare_videos


def write_video(path, seconds: float, fps: int = 30, size=(64, 48), codec="mp4v"):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), fps, size)
    assert writer.isOpened()
    for i in range(round(seconds * fps)):
        frame = np.zeros((size[1], size[0], 3), np.uint8)
        cv2.circle(frame, (5 + i % 50, 24), 6, (0, 200, 255), -1)  # something that moves
        writer.write(frame)
    writer.release()
    return path


def _manifest(data):
    with (data / "manifest.csv").open() as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize(
    "seconds, fps, ext, codec", [(2.0, 30, ".mp4", "mp4v"), (1.5, 25, ".avi", "MJPG"), (3.0, 24, ".mkv", "XVID")]
)
def test_frames_at_six_fps_with_subject_and_video_columns(tmp_path, seconds, fps, ext, codec):
    videos = tmp_path / "videos"
    videos.mkdir()
    write_video(videos / f"patient01{ext}", seconds, fps=fps, codec=codec)
    data = tmp_path / "data"
    report = prepare_videos(videos, data, "palsy", fps=6, progress=False)
    rows = _manifest(data)
    assert abs(len(rows) - seconds * 6) <= 1
    assert report.videos == {f"patient01{ext}": len(rows)} and not report.failed
    assert {r["subject"] for r in rows} == {"patient01"} and {r["video"] for r in rows} == {f"patient01{ext}"}
    times = [float(r["frame_time"]) for r in rows]
    assert times[0] == 0 and np.allclose(np.diff(times), 1 / 6, atol=1 / fps)
    assert all((data / r["path"]).is_file() and r["path"].startswith("palsy/patient01/") for r in rows)


def test_rerun_is_idempotent_and_map_groups_videos(tmp_path, capsys):
    videos = tmp_path / "videos"
    videos.mkdir()
    write_video(videos / "a.mp4", 1.0)
    write_video(videos / "b.mp4", 1.0)
    (videos / "broken.mp4").write_text("not a video")
    subjects = tmp_path / "map.csv"
    subjects.write_text("video,subject\na.mp4,P1\nb,P1\nghost.mp4,P2\n")
    data = tmp_path / "data"
    args = ["prepare", "--videos", str(videos), "--out", str(data), "--label", "palsy", "--subjects", str(subjects)]
    assert main(args) == 2  # the broken video is an error, but the others were done
    err = capsys.readouterr().err
    assert "broken.mp4: cannot open" in err and "ghost.mp4" in err
    rows = _manifest(data)
    assert (
        len(rows) == 12 and {r["subject"] for r in rows} == {"P1"} and {r["video"] for r in rows} == {"a.mp4", "b.mp4"}
    )
    main(args)
    assert len(_manifest(data)) == 12  # nothing duplicated
    assert "0 new frames (12 already present)" in capsys.readouterr().err


def test_normals_appended_and_frame_folders_accepted(tmp_path):
    videos = tmp_path / "palsy_videos"
    videos.mkdir()
    write_video(videos / "p.mp4", 1.0)
    frames = tmp_path / "normal_frames" / "volunteer7"
    frames.mkdir(parents=True)
    for i in range(4):
        cv2.imwrite(str(frames / f"f{i:03d}.png"), np.full((20, 20, 3), 40 * i, np.uint8))
    data = tmp_path / "data"
    prepare_videos(videos, data, "palsy", progress=False)
    report = prepare_videos(frames.parent, data, "normal", progress=False)
    assert report.videos == {"volunteer7": 4}
    samples = scan_dataset(data)
    assert sum(s.label == 0 for s in samples) == 4 and sum(s.label == 1 for s in samples) == 6
    assert {s.subject for s in samples if s.label == 0} == {"volunteer7"}


def test_existing_images_without_manifest_are_kept(tmp_path):
    data = tmp_path / "data"
    (data / "normal" / "n1").mkdir(parents=True)
    cv2.imwrite(str(data / "normal" / "n1" / "x.jpg"), np.zeros((8, 8, 3), np.uint8))
    videos = tmp_path / "v"
    videos.mkdir()
    write_video(videos / "p.mp4", 0.5)
    prepare_videos(videos, data, "palsy", progress=False)
    assert {"normal/n1/x.jpg"} <= {r["path"] for r in _manifest(data)}
    assert {s.subject for s in scan_dataset(data) if s.label == 0} == {"n1"}


def test_variable_frame_rate_video_gets_the_container_times(tmp_path):
    """A phone-style video whose frames are unevenly spaced: each kept frame carries its own presentation time, not
    index ÷ nominal rate."""
    import fractions

    av = pytest.importorskip("av", reason="PyAV (the test extra) writes the variable-frame-rate video")
    from facepalsy.data.prepare import video_frames

    path = tmp_path / "vfr.mp4"
    stamps_ms = [0, 100, 400, 1000, 1050, 1100, 2000, 2600]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=30)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.time_base = fractions.Fraction(1, 1000)
        for i, stamp in enumerate(stamps_ms):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 30, np.uint8), format="rgb24")
            frame.pts, frame.time_base = stamp, fractions.Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    frames = list(video_frames(path, fps=2.0))  # steps at 0, 0.5, 1.0, 1.5, 2.0, 2.5 s
    times = [round(t, 2) for t, _ in frames]
    assert times == [0.0, 1.0, 2.0, 2.6]  # the first frame at or after each step, at its own time
    assert [int(round(f.mean() / 30)) for _, f in frames] == [0, 3, 6, 7]  # and it is that frame
