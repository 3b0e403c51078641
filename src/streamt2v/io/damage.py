"""What the bytes of a video file that FFmpeg cannot read say is wrong with it: text instead of video (a
Git LFS pointer, a page saved in place of the file), or an MP4/MOV cut short (an unfinished recording,
copy or download), for the one-line error that names the file; and, for a file that decodes to fewer
frames than its container lists, whether its last frames are missing or damaged."""

from __future__ import annotations

import codecs
from pathlib import Path

# The boxes (atoms) that start an MP4 / MOV / 3GP file (ISO base media format)
_ISO_FIRST_BOXES = {b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}
# The boxes found at the top level of such files (ISO/IEC 14496-12 and QuickTime): a file that ends inside
# one of these was cut short; one whose next box has another type is not made of boxes there at all
_ISO_TOP_LEVEL_BOXES = _ISO_FIRST_BOXES | set(
    b"pdin moof mfra meta styp sidx ssix prft emsg uuid udta".split()
)


def damage_hint(path: Path) -> str:
    """What an unreadable file's bytes say is wrong with it, as a ``"; ..."`` clause (``""`` when they say
    nothing): text (a Git LFS pointer, a page saved instead of the video), or an MP4/MOV cut short, whose
    frames' index (``moov`` box) is written last by most recorders: an unfinished recording, copy or
    download."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(512)
            if head.startswith(b"version https://git-lfs"):
                return "; it is a Git LFS pointer file, not the video (fetch it with git lfs pull)"
            if b"\0" not in head and _is_text(head):
                return "; it holds text, not video"
            if head[4:8] not in _ISO_FIRST_BOXES:
                return ""
            offset, boxes = 0, []
            while offset + 8 <= size:  # walk the top-level boxes: (32-bit size, type), size 1: 64-bit size
                fh.seek(offset)
                header = fh.read(16)
                box_size, kind = int.from_bytes(header[:4], "big"), header[4:8]
                if box_size == 1 and len(header) == 16:
                    box_size = int.from_bytes(header[8:16], "big")
                elif box_size == 0:  # the last box, to the end of the file
                    box_size = size - offset
                if box_size < 8 or kind not in _ISO_TOP_LEVEL_BOXES:
                    return ""  # no box structure: not for this walk to judge
                boxes.append(kind)
                if offset + box_size > size:
                    name = kind.decode("latin-1")
                    return (
                        f"; the file ends inside its {name!r} box ({size} of {offset + box_size} bytes): it "
                        "was cut short (an unfinished copy, download or recording)"
                    )
                offset += box_size
    except OSError:
        return ""
    if b"mdat" in boxes and b"moov" not in boxes:
        return (
            "; it has no 'moov' box, the index of its frames, which recorders write last: the recording "
            "or copy did not finish"
        )
    return ""


def shortfall_hint(path: Path, decoded: int) -> str:
    """Why a video decoded to ``decoded`` frames where its container lists more, as a ``"; ..."`` clause
    (``""`` where it lists no more, or the frames an edit list drops account for the difference, as in
    ``ffmpeg -ss ... -c copy`` output): the file holds fewer frames' packets than listed (cut short: an
    index written first, as ``-movflags faststart`` does, still lists every frame), or holds them all and
    decoding stopped after ``decoded`` (damaged there). The packets are read, not decoded. Only for
    MP4 / MOV (and 3GP), whose index lists every frame: an AVI's count can be its length in time-base
    ticks (950 for 8 frames of a variable rate), and Matroska/WebM give none."""
    import av

    listed = held = dropped = 0
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                return ""
            if "mov" not in container.format.name.split(","):  # FFmpeg's ISO media demuxer: mov,mp4,...
                return ""
            stream = container.streams.video[0]
            listed = int(stream.frames or 0)
            if listed <= decoded:
                return ""
            for packet in container.demux(stream):
                if packet.size == 0:  # the end
                    continue
                if packet.is_discard:  # outside an edit list: decoded for later frames, not shown
                    dropped += 1
                else:
                    held += 1
    except (av.error.FFmpegError, OSError):  # unreadable packets end the count: what was counted is known
        pass
    if decoded >= listed - dropped:
        return ""
    if held + dropped < listed:
        return (
            f"; its container lists {listed} frames, the file holds {held + dropped}: it was cut short "
            "(an unfinished copy, download or recording)"
        )
    return (
        f"; its container lists {listed} frames and the file holds them all, but decoding stops after "
        f"{decoded}: the file is damaged there (copy or download it again)"
    )


def _is_text(data: bytes) -> bool:
    """Whether the first bytes of a file are UTF-8 text (the last character may be cut off by the read)."""
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(data, final=False)
    except UnicodeDecodeError:
        return False
    return bool(text) and all(c.isprintable() or c in "\t\r\n" for c in text)
