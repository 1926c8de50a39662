"""MP4 encoding and decoding of camera frames with PyAV (FFmpeg).

Encoding follows LeRobot's defaults (AV1 through SVT-AV1, yuv420p, GOP 2, CRF 30); decoding
returns RGB uint8 frames selected by presentation time, so it also reads LeRobot's own files,
where several episodes share one MP4 and an episode is a time range in it.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np

from smolvla_model.datasets.layout import VIDEO_CRF, VIDEO_GOP, VIDEO_PIX_FMT
from smolvla_model.errors import DatasetError


def _av():  # the av module, imported lazily so that reading tables needs no FFmpeg
    try:
        import av
    except ImportError as e:
        raise DatasetError(
            "PyAV is not installed; video datasets need it: pip install 'smolvla_ros[dataset]'"
        ) from e
    return av


def codec_canonical_name(codec: str) -> str:
    """The codec's canonical name as LeRobot stores it in ``video.codec`` ('libsvtav1' -> 'av1').

    Raises:
        DatasetError: this FFmpeg build has no encoder of that name (names the codec and the
            alternatives).
    """
    av = _av()
    try:
        return av.codec.Codec(codec, 'w').canonical_name
    except Exception as e:  # PyAV raises UnknownCodecError (a ValueError) or FFmpegError
        raise DatasetError(
            f'video codec {codec!r} has no encoder in this FFmpeg build ({e}); '
            "use 'libsvtav1' (LeRobot's default) or 'libx264'"
        ) from e


class VideoEncoder:
    """Streams RGB frames of one camera into one MP4 file, frame by frame.

    Frame ``i`` gets presentation time ``i / fps`` seconds. Write to a temporary path and move
    the file into place only after :meth:`close` (the writer does), so no reader sees a part.
    """

    def __init__(self, path: Path, *, fps: int, height: int, width: int, codec: str) -> None:
        av = _av()
        # SVT-AV1 prints its configuration banner to stderr unless told otherwise (1 = errors).
        os.environ.setdefault('SVT_LOG', '1')
        self.path = path
        self.count = 0
        try:
            self._container = av.open(str(path), mode='w')
            self._stream = self._container.add_stream(codec, rate=fps)
            self._stream.width = width
            self._stream.height = height
            self._stream.pix_fmt = VIDEO_PIX_FMT
            self._stream.options = {'g': str(VIDEO_GOP), 'crf': str(VIDEO_CRF)}
        except Exception as e:
            raise DatasetError(f'cannot open a {codec} encoder for {path}: {e}') from e

    def add(self, frame: np.ndarray) -> None:
        """Encode one (H, W, 3) uint8 RGB frame."""
        av = _av()
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format='rgb24')
        vf.pts = self.count
        for packet in self._stream.encode(vf):
            self._container.mux(packet)
        self.count += 1

    def close(self) -> None:
        """Flush the encoder and close the file (idempotent)."""
        if self._container is None:
            return
        try:
            for packet in self._stream.encode():
                self._container.mux(packet)
        finally:
            self._container.close()
            self._container = None

    def abort(self) -> None:
        """Close without caring about the content and delete the file."""
        if self._container is not None:
            with contextlib.suppress(Exception):  # the file is deleted next anyway
                self._container.close()
            self._container = None
        self.path.unlink(missing_ok=True)


def decode_frames(path: Path, *, from_timestamp: float, count: int, fps: int) -> np.ndarray:
    """Decode ``count`` frames starting at ``from_timestamp`` (s) of an MP4 as RGB.

    Frames are matched by presentation time: frame ``i`` is the one at
    ``from_timestamp + i / fps`` (to half a frame period), as LeRobot stores them.

    Returns:
        (count, H, W, 3) uint8.

    Raises:
        DatasetError: the file is missing, undecodable, or lacks frames of the range (names the
            file and the range).
    """
    av = _av()
    if not path.is_file():
        raise DatasetError(f'video file {path} is missing; the dataset is incomplete')
    out: list[np.ndarray | None] = [None] * count
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            if from_timestamp > 0 and stream.time_base is not None:
                # Seek to the key frame at or before the range start, then decode forward.
                container.seek(
                    int(from_timestamp / stream.time_base), stream=stream, backward=True
                )
            for frame in container.decode(stream):
                if frame.pts is None:
                    continue
                t = float(frame.pts * stream.time_base)
                i = round((t - from_timestamp) * fps)
                if i >= count:
                    break
                if i >= 0 and abs(t - from_timestamp - i / fps) < 0.5 / fps:
                    out[i] = frame.to_ndarray(format='rgb24')
    except DatasetError:
        raise
    except Exception as e:  # FFmpeg errors: corrupt or truncated file
        raise DatasetError(f'cannot decode video {path}: {e}') from e
    missing = [i for i, f in enumerate(out) if f is None]
    if missing:
        raise DatasetError(
            f'video {path} lacks {len(missing)} of {count} frames from t={from_timestamp:.3f} s '
            f'(first missing frame {missing[0]}); the file is truncated or does not match the '
            'episodes metadata'
        )
    return np.stack(out)  # type: ignore[arg-type]
