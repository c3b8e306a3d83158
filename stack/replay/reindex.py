"""`l4 bag reindex`: complete an unfinished MCAP recording in place, as `ros2 bag reindex` does.

A file its writer never closed (SIGKILL, a full disk) is cut at the end of its last whole chunk
(what follows cannot be read anyway); the last chunk's MessageIndex records, the summary, the
footer and the magic are appended, and metadata.yaml is rewritten with the real counts. The file
then opens in rosbags' Reader, ros2 bag and Foxglove. A finished file is left as it is and only
its metadata.yaml is written again.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from stack.replay.mcapformat import (
    BagSummary,
    Channel,
    ChunkPlace,
    message_index_records,
    rosbag2_info,
    write_metadata_yaml,
)
from stack.replay.recover import McapScan, RecoveryError, ScannedChunk, scan

METADATA = "metadata.yaml"


@dataclass(frozen=True)
class FileRepair:
    file: Path
    was_finished: bool
    messages: int
    chunks: int
    cut_bytes: int  # removed from the end: the record the writer was writing when it stopped
    note: str  # what the scan found


@dataclass(frozen=True)
class Reindexed:
    path: Path
    files: tuple[FileRepair, ...]
    metadata: Path | None  # the metadata.yaml written (None for a bare .mcap file)

    @property
    def messages(self) -> int:
        return sum(f.messages for f in self.files)


def reindex(path: str | Path) -> Reindexed:
    """Complete every MCAP file of the rosbag2 directory ``path`` (or the one file ``path``)
    and write the directory's metadata.yaml. Raises RecoveryError naming the file."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix == ".mcap" and p.is_file())
        if not files:
            raise RecoveryError(f"{path}: no .mcap storage file to reindex")
    elif path.is_file():
        files = [path]
    else:
        raise RecoveryError(f"{path}: no such file or directory")
    known = _declared(path / METADATA) if path.is_dir() else ({}, None)
    repairs, summaries = [], []
    for file in files:
        found = scan(file)
        summary = _summary(found, known[0])
        cut = 0 if found.finished else _complete(found, summary)
        note = "finished" if found.finished else found.describe()
        repairs.append(
            FileRepair(file, found.finished, found.message_count, len(found.chunks), cut, note)
        )
        summaries.append((file.name, summary))
    metadata = None
    if path.is_dir():
        metadata = path / METADATA
        try:
            write_metadata_yaml(path, rosbag2_info(summaries), known[1])
        except OSError as exc:
            raise RecoveryError(f"{metadata}: cannot write: {exc.strerror}") from exc
    return Reindexed(path, tuple(repairs), metadata)


def _declared(path: Path) -> tuple[dict[str, str], dict | None]:
    """Topic -> type hash, and custom_data, from an existing metadata.yaml (kept on rewrite)."""
    with contextlib.suppress(OSError, yaml.YAMLError, AttributeError, TypeError):
        info = yaml.safe_load(path.read_text())["rosbag2_bagfile_information"]
        hashes = {
            t["topic_metadata"]["name"]: t["topic_metadata"].get("type_description_hash", "")
            for t in info.get("topics_with_message_count") or []
        }
        return hashes, info.get("custom_data")
    return {}, None


def _summary(found: McapScan, hashes: dict[str, str]) -> BagSummary:
    """The summary of what the scan found; chunk places of the last chunk of an unfinished
    file are added by :func:`_complete`, which rewrites its index."""
    summary = BagSummary()
    summary.schema_records = [s.raw for _, s in sorted(found.schemas.items())]
    counts = found.channel_counts()
    for cid, c in sorted(found.channels.items()):
        schema = found.schemas.get(c.schema_id)
        msgtype = schema.name if schema else ""
        rihs = hashes.get(c.topic, "")
        summary.channels.append(Channel(cid, c.topic, msgtype, c.schema_id, rihs, counts[cid]))
        summary.channel_records.append(c.raw)
    kept = found.chunks if found.finished else found.chunks[:-1]
    for chunk in kept:
        if chunk.count and not chunk.index_offsets:
            raise RecoveryError(
                f"{found.path}: the chunk at byte {chunk.offset} has no message index; "
                "this file cannot be completed in place"
            )
        summary.add_chunk(_place(chunk, chunk.index_offsets, chunk.index_end - chunk.end))
    return summary


def _place(chunk: ScannedChunk, offsets: list[tuple[int, int]], index_length: int) -> ChunkPlace:
    return ChunkPlace(
        chunk.start_ns,
        chunk.end_ns,
        chunk.offset,
        chunk.length,
        offsets,
        index_length,
        chunk.compression,
        chunk.compressed_size,
        chunk.uncompressed_size,
    )


def _complete(found: McapScan, summary: BagSummary) -> int:
    """Cut the file after its last whole chunk and append that chunk's index and the summary.
    Returns the bytes cut off."""
    buffers: list[bytes] = []
    cut_at = found.end
    if found.chunks:
        last = found.chunks[-1]
        cut_at = last.end
        indexes, offsets = message_index_records(last.index, cut_at)
        buffers += indexes
        summary.add_chunk(_place(last, offsets, sum(len(r) for r in indexes)))
    buffers += summary.tail(cut_at + sum(len(b) for b in buffers), found.path.name)
    _rewrite_tail(found.path, cut_at, b"".join(buffers))
    return found.size - cut_at


def _rewrite_tail(path: Path, cut_at: int, tail: bytes) -> None:
    try:
        with path.open("r+b") as f:
            f.truncate(cut_at)
            f.seek(cut_at)
            f.write(tail)
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        raise RecoveryError(f"{path}: cannot complete the file: {exc.strerror}") from exc


def describe(result: Reindexed) -> list[str]:
    """One line per file for the terminal."""
    lines: list[str] = []
    for f in result.files:
        if f.was_finished:
            lines.append(f"{f.file}: already complete, {f.messages} messages")
        else:
            lines.append(f"{f.file}: completed with an index and summary: {f.note}")
    if result.metadata is not None:
        lines.append(f"{result.metadata}: written ({result.messages} messages)")
    return lines
