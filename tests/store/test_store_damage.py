"""Damaged WAL bytes (random bytes, truncation at every offset, bit flips, inserted and deleted bytes):
the reader never raises, every intact frame before and after the damage is returned, and every damaged
byte is counted by `check` and copied to quarantine/ by `compact`, so nothing is dropped silently."""

from __future__ import annotations

import os
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from smythtop.store.framing import HEADER_SIZE, encode_frame, encode_header, read_records
from smythtop.store.schema import validate
from store_testlib import df_ts, frame, scan_ts

from smythtop import store

HEADER = 0  # chunk ids: 0 is the header, k >= 1 is record k


def _frames(n: int) -> list[dict]:
    """Varied sizes, so record boundaries fall at irregular offsets. Each record ends in bytes no other
    record holds: otherwise deleting from one record's tail to the same tail of another re-forms a
    genuinely valid record, which the reader rightly returns."""
    return [frame(i, tags={"pad": "x" * (i * 7 % 40) + f"#{i:03d}#"}) for i in range(n)]


@dataclass
class Damaged:
    """A segment's original records and its damaged bytes, so the expected outcome of a read is known."""

    buf: bytearray
    chunks: dict[int, bytes]  # chunk id -> its original bytes
    ts: dict[int, int]  # record chunk id -> its frame's ts

    @classmethod
    def of(cls, data: bytes) -> Damaged:
        """Split a clean segment into header and records (following docs/FORMAT.md, not our reader)."""
        chunks, ts = {HEADER: data[:HEADER_SIZE]}, {}
        pos, k = HEADER_SIZE, 1
        while pos < len(data):
            (length,) = struct.unpack_from("<I", data, pos)
            chunks[k] = data[pos : pos + 8 + length]
            ts[k] = msgpack.unpackb(chunks[k][8:])[0]
            pos += len(chunks[k])
            k += 1
        return cls(bytearray(data), chunks, ts)

    @property
    def sizes(self) -> dict[int, int]:
        return {c: len(chunk) for c, chunk in self.chunks.items()}

    def flip(self, pos: int, bit: int) -> None:
        self.buf[pos % len(self.buf)] ^= 1 << bit

    def insert(self, pos: int, garbage: bytes) -> None:
        """Insert garbage anywhere after the header."""
        pos = HEADER_SIZE + pos % (len(self.buf) - HEADER_SIZE + 1)
        self.buf[pos:pos] = garbage

    def delete(self, pos: int, length: int) -> None:
        """Delete bytes after the header (a truncation when it reaches the end)."""
        if len(self.buf) <= HEADER_SIZE:
            return
        pos = HEADER_SIZE + pos % (len(self.buf) - HEADER_SIZE)
        del self.buf[pos : pos + length]

    def _found(self) -> dict[int, int]:
        """Where each chunk that survived stands: its exact bytes, in order (the header only at 0).

        Judged by bytes, not by where the damage was aimed: inserting or deleting bytes next to equal
        bytes gives the same byte string as the same change a byte away, and a reader sees only bytes.
        """
        out, pos = {}, 0
        if self.buf[:HEADER_SIZE] == self.chunks[HEADER]:
            out[HEADER], pos = 0, HEADER_SIZE
        for c in sorted(self.ts):
            at = self.buf.find(self.chunks[c], pos)
            if at >= 0:
                out[c], pos = at, at + len(self.chunks[c])
        return out

    def expected_ts(self) -> list[int]:
        return [self.ts[c] for c in sorted(self._found()) if c != HEADER]

    def damaged_bytes(self) -> bytes:
        kept = bytearray(len(self.buf))
        for c, at in self._found().items():
            kept[at : at + len(self.chunks[c])] = b"\x01" * len(self.chunks[c])
        return bytes(b for b, k in zip(self.buf, kept, strict=True) if not k)


MUTATION = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10**6), st.integers(0, 7)),
    st.tuples(st.just("insert"), st.integers(0, 10**6), st.binary(min_size=1, max_size=64)),
    st.tuples(st.just("delete"), st.integers(0, 10**6), st.integers(1, 200)),
)


def _damage(data: bytes, mutations: list[tuple]) -> Damaged:
    seg = Damaged.of(data)
    for kind, pos, arg in mutations:
        getattr(seg, kind)(pos, arg)
    return seg


def _clean_segment(n: int) -> bytes:
    return encode_header() + b"".join(encode_frame(validate(f)) for f in _frames(n))


# -- read_records on bytes -----------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=3000), sealed=st.booleans(), start=st.integers(0, 3000))
def test_random_bytes_never_raise(data: bytes, sealed: bool, start: int) -> None:
    for buf, has_header in ((data, True), (encode_header() + data, True), (data, False)):
        begin = 0 if has_header else min(start, len(buf))
        read = read_records(buf, begin, sealed=sealed, has_header=has_header)
        assert begin <= read.end <= len(buf)
        assert read.rows == []  # random bytes never carry a record with a good CRC
        prev = begin
        for d in read.damage:
            assert prev <= d.offset and d.length >= 0 and d.offset + d.length <= len(buf)
            prev = d.offset + d.length
        if sealed:
            assert read.end == len(buf)
            header = HEADER_SIZE if buf.startswith(encode_header()) and has_header else 0
            assert read.damaged_bytes == len(buf) - max(begin, header)


def test_truncation_at_every_offset() -> None:
    data = _clean_segment(12)
    seg = Damaged.of(data)
    ends = [0, HEADER_SIZE]
    for c in sorted(seg.ts):
        ends.append(ends[-1] + seg.sizes[c])
    all_ts = [seg.ts[c] for c in sorted(seg.ts)]
    for cut in range(len(data) + 1):
        boundary = max(e for e in ends if e <= cut)
        whole = sum(1 for e in ends[2:] if e <= cut)
        sealed = read_records(data[:cut], sealed=True)
        assert [r[0] for r in sealed.rows] == all_ts[:whole], cut
        assert sealed.damaged_bytes == cut - boundary, cut
        assert sealed.end == cut
        live = read_records(data[:cut], sealed=False)
        assert [r[0] for r in live.rows] == all_ts[:whole], cut
        assert live.damage == [] and live.end == boundary, cut
        # A live reader resuming from where it stopped reads the rest once the bytes are there.
        rest = read_records(data, live.end, sealed=True, has_header=live.end == 0)
        assert [r[0] for r in live.rows + rest.rows] == all_ts and rest.damage == [], cut


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 12), mutations=st.lists(MUTATION, min_size=1, max_size=4))
def test_damage_loses_only_the_damaged_records(n: int, mutations: list[tuple]) -> None:
    seg = _damage(_clean_segment(n), mutations)
    buf = bytes(seg.buf)
    sealed = read_records(buf, sealed=True)
    assert [r[0] for r in sealed.rows] == seg.expected_ts()
    assert sealed.damaged_bytes == len(seg.damaged_bytes())
    assert b"".join(buf[d.offset : d.offset + d.length] for d in sealed.damage) == seg.damaged_bytes()
    live = read_records(buf, sealed=False)
    assert [r[0] for r in live.rows] == seg.expected_ts()
    assert live.damaged_bytes <= sealed.damaged_bytes  # a live segment's damaged tail may be a write in progress


def test_bit_flip_in_every_byte_of_a_record() -> None:
    data = _clean_segment(3)
    seg = Damaged.of(data)
    start = HEADER_SIZE + seg.sizes[1]
    for pos in range(start, start + seg.sizes[2]):
        for bit in (0, 7):
            buf = bytearray(data)
            buf[pos] ^= 1 << bit
            read = read_records(bytes(buf), sealed=True)
            assert [r[0] for r in read.rows] == [seg.ts[1], seg.ts[3]], (pos, bit)
            assert [(d.offset, d.length) for d in read.damage] == [(start, seg.sizes[2])], (pos, bit)


# -- whole segment files in a store ------------------------------------------------------------


def _store_with_damage(root: Path, n: int, mutations: list[tuple] | None, noise: bytes) -> Damaged | None:
    with store.Writer(root) as w:  # closed: its writer is dead and its segment sealed
        w.append_many(_frames(n))
    (path,) = (root / "wal").glob("*/*.wal")
    if mutations is None:  # the whole segment replaced by random bytes
        path.write_bytes(noise)
        return None
    seg = _damage(path.read_bytes(), mutations)
    path.write_bytes(bytes(seg.buf))
    return seg


@pytest.mark.slow
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(1, 10),
    mutations=st.none() | st.lists(MUTATION, min_size=1, max_size=3),
    noise=st.binary(max_size=600),
)
def test_damaged_segment_in_a_store(n: int, mutations: list[tuple] | None, noise: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "store"
        seg = _store_with_damage(root, n, mutations, noise)
        want = [] if seg is None else seg.expected_ts()
        damaged = noise if seg is None else seg.damaged_bytes()

        assert sorted(scan_ts(root)) == sorted(want)
        assert sorted(df_ts(store.Tailer(root, from_start=True).poll())) == sorted(want)
        report = store.check(root)
        assert (report.wal_frames, report.damaged_bytes) == (len(want), len(damaged))
        assert report.ok == (not damaged)

        result = store.compact(root)
        assert result.quarantined_bytes == len(damaged)
        quarantine = sorted((root / "quarantine").iterdir())
        assert b"".join(q.read_bytes() for q in quarantine) == damaged  # offsets in the names sort them
        assert all(os.stat(q).st_mode & 0o777 == 0o600 for q in quarantine)
        assert sorted(scan_ts(root)) == sorted(want)
        after = store.check(root)
        assert (after.frames, after.damaged_bytes, after.wal_segments) == (len(want), 0, 0)
        assert after.quarantined_bytes == len(damaged)
        assert after.quarantined_files == len(quarantine)
        assert store.compact(root).quarantined_bytes == 0  # nothing left to quarantine twice


def test_tailer_reads_past_garbage_in_a_live_segment(root: Path) -> None:
    """Garbage appended to a live segment between two flushes: the tailer and scan skip it, deliver every
    frame once, and check counts the damage once it is followed by good records."""
    w = store.Writer(root)
    try:
        tailer = store.Tailer(root)
        w.append_many(frame(i) for i in range(5))
        w.flush()
        assert sorted(df_ts(tailer.poll())) == [frame(i)["ts"] for i in range(5)]
        (seg,) = (root / "wal").glob("*/*.wal")
        garbage = b"\x13\x00\x00\x00garbage that is not a record" * 3
        with open(seg, "ab") as fh:
            fh.write(garbage)
        assert tailer.poll() is None  # might be a write in progress: not damage yet
        assert store.check(root).damaged_bytes == 0
        w.append_many(frame(i) for i in range(5, 9))
        w.flush()
        assert sorted(df_ts(tailer.poll())) == [frame(i)["ts"] for i in range(5, 9)]
        assert tailer.poll() is None
        assert sorted(scan_ts(root)) == [frame(i)["ts"] for i in range(9)]
        assert store.check(root).damaged_bytes == len(garbage)
    finally:
        w.close()
    assert store.compact(root).quarantined_bytes == len(garbage)
    assert sorted(scan_ts(root)) == [frame(i)["ts"] for i in range(9)]


def test_check_reads_a_sealed_segment_once_and_again_when_it_changed(tmp_path: Path, monkeypatch) -> None:
    """The app checks the store every 30 s: a sealed segment is read once per process (it cannot change but by
    damage, which changes its size or mtime), the live ones every time."""
    from smythtop.store import integrity

    root = tmp_path / "s"
    with store.Writer(root) as w:
        w.append_many(frame(i) for i in range(6))
    (seg,) = (root / "wal").glob("*/*.wal")
    first = store.check(root)
    assert first.wal_frames == 6 and first.oldest_ts == frame(0)["ts"] and first.newest_ts == frame(5)["ts"]
    reads: list[Path] = []
    real = integrity.read_nofollow
    monkeypatch.setattr(integrity, "read_nofollow", lambda p: reads.append(p) or real(p))
    assert store.check(root) == first and reads == []  # remembered
    garbage = b"\x13\x00\x00\x00garbage that is not a record"
    with open(seg, "ab") as fh:
        fh.write(garbage)
    again = store.check(root)
    assert reads == [seg] and again.wal_frames == 6 and again.damaged_bytes == len(garbage)
