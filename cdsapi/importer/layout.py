"""Where each top-level value of a JSON document lies, found without parsing it.

A CDS import document is one object of lists. To read one list with ijson's C item parser
(which builds objects in C, several times faster than any event loop in Python) the list's
bytes must be known: ``find_layout`` scans the file once, vectorized with numpy, for string
quotes and brackets, and records the byte range of every container at the top level (and
how many containers each holds). What lies between them, the keys and any scalar values,
is small and is parsed whole.

The scan does not check the document: each range is parsed on its own later, and the top
level, with each range replaced by a placeholder, is parsed here. A document made of valid
values put in valid places is valid, so the ranges and the top level together check it all.
When anything looks unusual (not an object at the top, a key given twice, unbalanced
brackets) the answer is ``None`` and the caller reads the document the general way, which
reports errors as they should be reported.
"""

import json
from dataclasses import dataclass, field, replace
from typing import IO, Any

import numpy as np

CHUNK = 4 << 20  # position arrays are 8 bytes per bracket: a few tens of MB at most
_QUOTE, _BACKSLASH = ord('"'), ord("\\")
JSON_SPACE = b" \t\r\n"
_OPEN = np.zeros(256, dtype=np.int8)
_OPEN[[ord("["), ord("{")]] = 1
_OPEN[[ord("]"), ord("}")]] = -1


# Item offsets are kept up to this many items in all (16 bytes each).
MAX_ITEMS = 4_000_000
# No CDS document nests deeper than about 8 levels; much deeper nesting is refused before
# any parser sees it (ijson's prefixes take memory in the square of the depth).
MAX_DEPTH = 32


class TooDeep(Exception):
    """The document nests containers deeper than ``MAX_DEPTH`` at byte ``offset``."""

    def __init__(self, offset: int) -> None:
        super().__init__(offset)
        self.offset = offset


@dataclass(frozen=True)
class Region:
    """One container at the top level: its bytes are ``[start, end)``."""

    start: int
    end: int
    is_list: bool
    items: int  # containers directly inside it (objects of a list of objects)
    # Where each of those items starts and ends (its last byte + 1), unless too many.
    starts: Any = field(default=None, compare=False, repr=False)
    ends: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Entry:
    """One key of the top-level object and its value: a region, or a scalar."""

    key: str
    region: Region | None
    value: Any = None


def find_layout(fp: IO[bytes]) -> list[Entry] | None:
    """The top-level keys of the JSON object in ``fp``, in document order, or ``None``.
    Raises ``TooDeep`` for containers nested deeper than ``MAX_DEPTH`` (before the point
    where the scan found the document unusual, if it did)."""
    fp.seek(0)
    scan = _Scan()
    offset = 0
    pending = b""
    while True:
        chunk = pending + fp.read(CHUNK)
        if not chunk:
            break
        # A chunk never ends inside a run of backslashes: what a backslash escapes is known.
        cut = len(chunk)
        while cut and chunk[cut - 1] == _BACKSLASH:
            cut -= 1
        more = fp.read(1) if cut == len(chunk) else b"x"
        if not more:
            cut = len(chunk)
        chunk, pending = chunk[:cut], chunk[cut:] + more
        if not chunk:
            continue
        if not scan.feed(chunk, offset):
            return None
        offset += len(chunk)
    if scan.depth != 0 or scan.in_string or not scan.regions:
        return None
    scan.regions = _with_items(scan)
    return _top_level(fp, scan)


def _with_items(scan: "_Scan") -> list[Region]:
    """The regions with their items: counted, and placed when there are not too many."""
    starts = np.concatenate(scan.item_starts) if scan.item_starts else np.zeros(0, np.int64)
    ends = np.concatenate(scan.item_ends) if scan.item_ends else np.zeros(0, np.int64)
    placed = scan.item_count <= MAX_ITEMS and len(starts) == len(ends)
    regions = []
    for region in scan.regions:
        if not placed:
            regions.append(replace(region, items=-1))
            continue
        lo, hi = np.searchsorted(starts, [region.start, region.end])
        regions.append(replace(region, items=int(hi - lo), starts=starts[lo:hi], ends=ends[lo:hi]))
    return regions


class _Scan:
    """Bracket depth and string state, carried from chunk to chunk."""

    def __init__(self) -> None:
        self.depth = 0
        self.in_string = False
        self.opened_at: tuple[int, bool] | None = None  # the region being read
        self.item_starts: list[Any] = []
        self.item_ends: list[Any] = []
        self.item_count = 0
        self.regions: list[Region] = []
        self.outer: tuple[int, int] | None = None  # the top-level object's braces

    def feed(self, chunk: bytes, offset: int) -> bool:
        data = np.frombuffer(chunk, dtype=np.uint8)
        quotes = np.flatnonzero(data == _QUOTE)
        slashes = np.flatnonzero(data == _BACKSLASH)
        if len(slashes):
            # A quote right after an odd run of backslashes is escaped.
            breaks = np.diff(slashes) != 1
            starts = slashes[np.r_[True, breaks]]
            ends = slashes[np.r_[breaks, True]] + 1
            escaped = ends[(ends - starts) % 2 == 1]
            quotes = quotes[~np.isin(quotes, escaped)]
        brackets = np.flatnonzero(_OPEN[data])
        # Inside a string after an odd number of (unescaped) quotes: a running count of
        # them, modulo 256 (parity is all that matters), read at each bracket.
        marks = np.zeros(len(data), dtype=np.uint8)
        marks[quotes] = 1
        inside = np.cumsum(marks, dtype=np.uint8)[brackets] + np.uint8(self.in_string)
        brackets = brackets[inside % 2 == 0]  # outside strings
        if len(quotes) % 2:
            self.in_string = not self.in_string
        if not len(brackets):
            return True
        steps = _OPEN[data[brackets]].astype(np.int64)
        depth = self.depth + np.cumsum(steps)
        if depth.max() > MAX_DEPTH:
            raise TooDeep(offset + int(brackets[np.argmax(depth > MAX_DEPTH)]))
        if depth.min() < 0:
            return False
        # Top-level object: 0 -> 1 and back; a region: 1 -> 2 and back; its items: 2 -> 3.
        item_starts = brackets[(steps == 1) & (depth == 3)]
        item_ends = brackets[(steps == -1) & (depth == 2)]
        self.item_count += len(item_starts)
        if self.item_count <= MAX_ITEMS:
            self.item_starts.append(item_starts + offset)
            self.item_ends.append(item_ends + offset + 1)
        marks = np.flatnonzero(((steps == 1) & (depth <= 2)) | ((steps == -1) & (depth <= 1)))
        for i in marks.tolist():
            at, level, step = offset + int(brackets[i]), int(depth[i]), int(steps[i])
            if step == 1 and level == 1:
                if self.outer is not None or chunk[brackets[i]] != ord("{"):
                    return False
                self.outer = (at, -1)
            elif step == -1 and level == 0:
                self.outer = (self.outer[0], at) if self.outer else None
            elif step == 1 and level == 2:
                self.opened_at = (at, chunk[brackets[i]] == ord("["))
            elif step == -1 and level == 1:
                if self.opened_at is None:
                    return False
                start, is_list = self.opened_at
                self.regions.append(Region(start, at + 1, is_list, 0))
                self.opened_at = None
        self.depth = int(depth[-1])
        return True


def _top_level(fp: IO[bytes], scan: _Scan) -> list[Entry] | None:
    """Parse the top-level object with each region replaced by ``[n]``."""
    if scan.outer is None or scan.outer[1] < 0:
        return None
    first, last = scan.outer
    pieces, position = [], first
    for n, region in enumerate(scan.regions):
        pieces.append(_read(fp, position, region.start))
        pieces.append(f"[{n}]".encode())
        position = region.end
    pieces.append(_read(fp, position, last + 1))
    head, tail = _read(fp, 0, first), _read(fp, last + 1, None)
    if head.strip(JSON_SPACE) or tail.strip(JSON_SPACE):
        return None
    try:
        pairs = json.loads(b"".join(pieces), object_pairs_hook=lambda pairs: pairs)
    except ValueError:
        return None
    if not isinstance(pairs, list) or len({k for k, _ in pairs}) != len(pairs):
        return None
    entries = []
    for key, value in pairs:
        if isinstance(value, list):  # a placeholder: every container at the top is a region
            entries.append(Entry(key, scan.regions[value[0]]))
        elif isinstance(value, float):
            return None  # numbers at the top level are read the general way (exactly)
        else:
            entries.append(Entry(key, None, value))
    return entries


def _read(fp: IO[bytes], start: int, end: int | None) -> bytes:
    fp.seek(start)
    return fp.read() if end is None else fp.read(end - start)


class RegionReader:
    """The bytes of one region, as a file for ijson (``read`` only)."""

    def __init__(self, fp: IO[bytes], region: Region) -> None:
        self.fp = fp
        self.left = region.end - region.start
        fp.seek(region.start)

    def read(self, size: int = -1) -> bytes:
        if size < 0 or size > self.left:
            size = self.left
        data = self.fp.read(size)
        self.left -= len(data)
        return data
