"""Reading a JSON import document incrementally, in memory that does not grow with it.

The document is read from a seekable binary file (standard input is spooled to a temporary
file first), twice or more: ``read_stream`` validates every object of every top-level list
with its pydantic model, one object at a time, reports schema errors with their JSON paths in
document order, and hands each valid object to a callback (which keeps only the small things
the cross-object checks need, never the objects); ``StreamedDocument.objects`` then reads one
list again, object by object, for the checks and the writes. ``read_fast`` is its common
case, several times faster; ``check_text`` comes before either.

Numbers come as ``int`` or exact ``Decimal`` (``use_float=False``), as with
``cdsapi.exactjson.loads``: ``0.40`` stays ``0.40``. Only ijson's C backend is used (the pure
Python ones are an order of magnitude slower).
"""

import codecs
import re
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import IO, Any, get_args

import ijson
import msgspec
import numpy as np
from pydantic import BaseModel, SkipValidation, ValidationError

from cdsapi.importer.errors import DocumentError, Error, validation_errors
from cdsapi.importer.layout import (
    JSON_SPACE,
    MAX_DEPTH,
    Region,
    RegionReader,
    TooDeep,
    find_layout,
)
from cdsapi.importer.schema import ImportDocument, UsageSegmentDoc

_ijson = ijson.get_backend("yajl2_c")  # raises ImportError without the C backend
assert _ijson.backend_name == "yajl2_c"

BUF_SIZE = 64 * 1024
_STARTS = frozenset(("start_map", "start_array"))
_ENDS = frozenset(("end_map", "end_array"))

# The model of one object of each top-level list.
MODELS: dict[str, type[BaseModel]] = {
    name: get_args(info.annotation)[0] for name, info in ImportDocument.model_fields.items()
}

_LIST, _VALUE, _UNKNOWN = -1, -2, -3  # what a top-level key holds (see ``_top_level``)

# Lists the fast reading validates only as they are loaded, and the model it reads them with
# (values unchecked: the loader checks them column by column).
DEFERRED = "usage_segments"


class _UnvaluedSegment(UsageSegmentDoc):
    values: SkipValidation[list[list[dict[str, Any] | None]]]


# A usage segment's fields, read by msgspec with its values left as raw JSON text (checked
# and copied as text by ``values.plain_json``). Unknown fields refuse the read (``Reread``).
_SegmentShell = msgspec.defstruct(
    "_SegmentShell",
    [(name, Any, msgspec.UNSET) for name in UsageSegmentDoc.model_fields if name != "values"]
    + [("values", msgspec.Raw, msgspec.UNSET)],
    forbid_unknown_fields=True,
)
_SHELL_FIELDS = _SegmentShell.__struct_fields__
_read_shells = msgspec.json.Decoder(list[_SegmentShell], float_hook=Decimal).decode
read_values = msgspec.json.Decoder(float_hook=Decimal).decode  # values that are not plain
SHELL_BYTES = 4 << 20  # the items read by one msgspec call: about this many bytes


class Reread(Exception):
    """A list read fast was found wrong while loading: read the document the general way,
    which reports every error in document order."""


def _build(event: str, value: Any, events: Iterator[tuple[str, Any]]) -> Any:
    """The JSON value that starts with ``(event, value)``, reading the rest from ``events``
    (a tight loop: ``ijson.common.ObjectBuilder`` is pure Python and twice as slow)."""
    if event == "start_map":
        root: Any = {}
    elif event == "start_array":
        root = []
    else:
        return value
    stack = [root]
    top, key = root, None
    for event, value in events:
        if event == "map_key":
            key = value
            continue
        if event == "end_map" or event == "end_array":
            stack.pop()
            if not stack:
                return root
            top = stack[-1]
            continue
        if event == "start_map":
            value = {}
        elif event == "start_array":
            value = []
        if type(top) is dict:
            top[key] = value
        else:
            top.append(value)
        if event == "start_map" or event == "start_array":
            stack.append(value)
            top = value
    return root  # unreachable: the parser raises on a document that ends early


def _skip(event: str, events: Iterator[tuple[str, Any]]) -> None:
    if event not in _STARTS:
        return
    depth = 1
    for event, _value in events:
        if event in _STARTS:
            depth += 1
        elif event in _ENDS:
            depth -= 1
            if not depth:
                return


class _Tracking:
    """A binary file that remembers the last chunk read, where it starts, and how many lines
    came before it: enough to say where a syntax error is (yajl names no position)."""

    def __init__(self, fp: IO[bytes]) -> None:
        self.fp = fp
        self.chunk = b""
        self.start = 0
        self.lines = 0

    def read(self, size: int = -1) -> bytes:
        self.start += len(self.chunk)
        self.lines += self.chunk.count(b"\n")
        self.chunk = self.fp.read(size)
        return self.chunk

    def where(self, message: str) -> str:
        """ ", line L column C" for a yajl error message, when its context is found."""
        lines = message.splitlines()
        if len(lines) < 3 or "^" not in lines[2]:
            return ""
        caret = lines[2].index("^")
        after = lines[1][caret:].encode()
        flat = self.chunk.replace(b"\n", b" ").replace(b"\r", b" ")
        if not after or flat.count(after) != 1:
            return ""
        offset = flat.index(after)
        line = self.lines + self.chunk.count(b"\n", 0, offset) + 1
        line_start = self.chunk.rfind(b"\n", 0, offset) + 1
        if line_start == 0 and self.start:
            return f", line {line}"
        return f", line {line} column {max(1, offset - line_start)}"  # yajl points past it


def _top_level(
    fp: IO[bytes], build: Callable[[str], bool] = lambda key: True
) -> Iterator[tuple[str, int, Any]]:
    """The document's top level, in order: for each key ``(key, _LIST, None)`` then
    ``(key, n, item)`` for each item of its list (``None`` unless ``build(key)``);
    ``(key, _VALUE, value)`` for a known key whose value is not a list; ``(key, _UNKNOWN,
    None)`` for a key no list is named."""
    events = iter(_ijson.basic_parse(fp, use_float=False, buf_size=BUF_SIZE))
    first = next(events, (None, None))
    if first[0] != "start_map":
        if first[0] is not None:
            _skip(first[0], events)
            for _ in events:  # invalid JSON is reported as such
                pass
        raise DocumentError("$", "expected a JSON object with lists such as 'accounts'")
    for event, key in events:
        if event == "end_map":
            break
        event, value = next(events)
        if key not in MODELS:
            _skip(event, events)
            yield key, _UNKNOWN, None
        elif event != "start_array":
            yield key, _VALUE, _build(event, value, events)
        else:
            yield key, _LIST, None
            wanted = build(key)
            for n, (event, value) in enumerate(events):
                if event == "end_array":
                    break
                if wanted:
                    yield key, n, _build(event, value, events)
                else:
                    _skip(event, events)
                    yield key, n, None
    for _ in events:  # trailing text after the object is an error
        pass


class _Cursor:
    """One read of the document from its start, handing out the objects of one list after
    another, as long as each list asked for comes later in the document than the last."""

    def __init__(self, fp: IO[bytes], order: dict[str, int]) -> None:
        fp.seek(0)
        self.order = order
        self.wanted: str | None = None
        self.items = _top_level(fp, build=lambda key: key == self.wanted)
        self.pending: tuple[str, int, Any] | None = None
        self.current: str | None = None  # the list read last
        self.started: set[str] = set()

    def can_take(self, kind: str) -> bool:
        if kind in self.started:
            return False
        return self.current is None or self.order[kind] > self.order[self.current]

    def take(self, kind: str) -> Iterator[Any]:
        self.started.add(kind)
        self.wanted = kind
        while True:
            item, self.pending = self.pending or next(self.items, None), None
            if item is None:
                return
            key, n, value = item
            if key != kind:
                if self.current == kind:  # past the list
                    self.pending = item
                    return
                continue
            self.current = kind
            if n >= 0:
                yield value


class StreamedDocument:
    """A validated document in a seekable file: its lists in document order, how many
    objects each has, and each list read again on demand.

    ``plan`` (the lists in the order they will be asked for) lets consecutive lists that
    follow each other in the document share one read; a list read on its own is read by
    ijson's C item parser, about three times faster than building objects in Python.
    """

    def __init__(
        self,
        fp: IO[bytes],
        given: list[str],
        counts: dict[str, int],
        regions: dict[str, Region] | None = None,
    ) -> None:
        self.fp = fp
        self.counts = counts
        self.summary: Any = None  # what the loader's checks need (``loader.Summary``)
        self.kinds = tuple(given) + tuple(k for k in MODELS if k not in given)
        self.order = {kind: n for n, kind in enumerate(self.kinds)}
        self.plan: tuple[str, ...] = self.kinds
        self._cursor: _Cursor | None = None
        # Where each list lies, when known (``read_fast``): each is then read on its own.
        self.regions = regions
        self.deferred = frozenset((DEFERRED,)) if regions and DEFERRED in regions else frozenset()

    def count(self, kind: str) -> int:
        return self.counts.get(kind, 0)

    def objects(self, kind: str) -> Iterator[Any]:
        """The objects of the list ``kind``, validated again, one at a time (a deferred list
        for the first time: an invalid object raises ``Reread``)."""
        if not self.count(kind):
            return
        if kind in self.deferred:
            region = self.regions[kind]
            items = self._items(kind) if region.starts is None else self._shells(region)
            try:
                for item in items:
                    yield _UnvaluedSegment.model_validate(item)
            except (ValidationError, ijson.JSONError, msgspec.MsgspecError):
                raise Reread from None
            return
        model = MODELS[kind]
        for item in self._items(kind):
            yield model.model_validate(item)

    def _shells(self, region: Region) -> Iterator[dict[str, Any]]:
        """The items of a region as dicts, values as ``msgspec.Raw``: several items at a
        time, each group read as one JSON array. The groups cover every byte between the
        brackets, so anything but objects (a number between two of them, a trailing comma)
        fails to read (``Reread``)."""
        starts, ends = region.starts, region.ends
        position, n = region.start + 1, 0  # after "["
        while n < len(starts):
            last = max(n + 1, int(np.searchsorted(starts, starts[n] + SHELL_BYTES, side="right")))
            stop = int(ends[last - 1]) if last < len(starts) else region.end - 1  # the "]"
            self.fp.seek(position)
            text = self.fp.read(stop - position)
            if n:  # the comma after the group before
                text = text.lstrip(JSON_SPACE)
                if not text.startswith(b","):
                    raise Reread
                text = text[1:]
            for shell in _read_shells(b"[" + text + b"]"):
                yield {
                    name: value
                    for name in _SHELL_FIELDS
                    if (value := getattr(shell, name)) is not msgspec.UNSET
                }
            position, n = stop, last

    def _items(self, kind: str) -> Iterator[Any]:
        if self.regions is not None:
            reader = RegionReader(self.fp, self.regions[kind])
            return _ijson.items(reader, "item", use_float=False, buf_size=BUF_SIZE)
        cursor = self._cursor
        if cursor is not None and cursor.can_take(kind):
            return cursor.take(kind)
        later = [k for k in self.plan[self.plan.index(kind) + 1 :] if self.count(k)]
        if later and self.order[later[0]] > self.order[kind]:
            self._cursor = _Cursor(self.fp, self.order)
            return self._cursor.take(kind)
        self._cursor = None
        self.fp.seek(0)
        return _ijson.items(self.fp, f"{kind}.item", use_float=False, buf_size=BUF_SIZE)


# An escape of a UTF-16 surrogate, with its low half when it is a high half followed by one.
_SURROGATE_ESCAPE = re.compile(
    rb"(\\+)u[dD]([89a-fA-F])[0-9a-fA-F]{2}(\\u[dD][c-fC-F][0-9a-fA-F]{2})?"
)
CHECK_CHUNK = 4 << 20
# Digits in a row: more than any value CDS stores (10^100) and Python converts to an int,
# or than an id (128 characters) holds. ijson crashes on an integer of 4,300 digits or more.
MAX_DIGITS = 1000


def check_text(fp: IO[bytes]) -> None:
    """Raise ``DocumentError`` for what yajl gets wrong rather than reports: bytes that are
    not UTF-8 (it raises a bare ``UnicodeDecodeError``) and a ``\\uD800``-``\\uDFFF``
    escape that is not half of a pair (it turns one into ``?``); and a run of more than
    ``MAX_DIGITS`` digits (ijson crashes on a long integer). Says where, by line and
    column."""
    fp.seek(0)
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset, carry, judged = 0, b"", 0  # judged: how much of ``carry`` was judged already
    digits = 0  # digits in a row at the end of the text read so far
    while True:
        chunk = fp.read(CHECK_CHUNK)
        final = len(chunk) < CHECK_CHUNK
        digits = _check_digits(fp, chunk, offset, digits)
        pending = decoder.getstate()[0]
        if pending or not chunk.isascii():
            try:
                decoder.decode(chunk, final=final)
            except UnicodeDecodeError as exc:
                at = offset - len(pending) + exc.start
                fp.seek(at)
                byte = fp.read(1)
                what = f"byte 0x{byte[0]:02x}" if byte else "it ends inside a character"
                raise DocumentError("$", f"not valid UTF-8 ({what}{_where(fp, at)})") from None
        text, base = carry + chunk, offset - len(carry)
        offset += len(chunk)
        keep = max(0, len(text) - 16)  # the next search starts here: never inside an escape
        while keep and text[keep - 1] == ord("\\"):
            keep -= 1
        waiting = False
        for match in _SURROGATE_ESCAPE.finditer(text) if b"\\u" in text else ():
            slashes, half, low = match.groups()
            if match.end() <= judged or len(slashes) % 2 == 0 or (half in b"89abAB" and low):
                continue  # judged, an escaped backslash then "u", or a whole pair
            if half in b"89abAB" and match.end() + 6 > len(text) and not final:
                keep, waiting = min(keep, match.start()), True  # its low half may come next
                break
            escape = match.group(0)[len(slashes) - 1 : len(slashes) + 5].decode()
            raise DocumentError(
                "$",
                f"the escape {escape} is half of a UTF-16 surrogate pair without its other "
                f"half{_where(fp, base + match.start() + len(slashes) - 1)}: it cannot be stored",
            )
        if final:
            return
        carry = text[keep:]
        judged = 0 if waiting else len(carry)


def _check_digits(fp: IO[bytes], chunk: bytes, offset: int, before: int) -> int:
    """Raise ``DocumentError`` for a run of more than ``MAX_DIGITS`` digits in ``chunk``
    (after ``before`` digits at the end of the text before it); the digits at its end."""
    data = np.frombuffer(chunk, dtype=np.uint8)
    digit = np.concatenate(([False], (data >= ord("0")) & (data <= ord("9")), [False]))
    edges = np.flatnonzero(digit[1:] != digit[:-1])  # where each run starts, then ends
    if not len(edges):
        return 0
    runs = edges[1::2] - edges[::2]
    if edges[0] == 0:
        runs[0] += before
    longest = int(np.argmax(runs))
    if runs[longest] > MAX_DIGITS:
        start = offset + int(edges[2 * longest + 1]) - int(runs[longest])
        raise DocumentError(
            "$",
            f"more than {MAX_DIGITS} digits in a row{_where(fp, start)}: no number or id "
            "this server stores has that many",
        )
    return int(runs[-1]) if edges[-1] == len(chunk) else 0


def _where(fp: IO[bytes], position: int) -> str:
    """ ", line L column C" of a byte position (columns count bytes, from 1)."""
    fp.seek(0)
    lines, start, read = 1, 0, 0
    while read < position and (block := fp.read(min(CHECK_CHUNK, position - read))):
        lines += block.count(b"\n")
        newline = block.rfind(b"\n")
        if newline >= 0:
            start = read + newline + 1
        read += len(block)
    fp.seek(read)
    return f", line {lines} column {position - start + 1}"


def read_fast(fp: IO[bytes], on_object: Callable[[str, int, Any], None]) -> StreamedDocument | None:
    """The common case of ``read_stream``, several times faster: a document whose every key
    is a list of this schema, each found by ``find_layout``. The lists but the usage
    segments are read here by ijson's C item parser and validated; the usage segments are
    read by msgspec and validated as they are loaded (``StreamedDocument._shells``;
    ``Reread`` if one is wrong). ``None`` for a document to read the general way: one
    with anything unusual or wrong (then ``on_object`` may have seen some of its objects)."""
    try:
        layout = find_layout(fp)
    except TooDeep as exc:
        raise DocumentError(
            "$", f"nested deeper than {MAX_DEPTH} levels{_where(fp, exc.offset)}"
        ) from None
    if (
        layout is None
        or any(e.region and e.region.items < 0 for e in layout)
        or any(e.key not in MODELS or not e.region or not e.region.is_list for e in layout)
    ):
        return None
    regions = {e.key: e.region for e in layout}
    counts = {}
    try:
        for key, region in regions.items():
            if key == DEFERRED:
                empty = RegionReader(fp, region).read(1 << 20).strip(b"[]" + JSON_SPACE)
                if not region.items and empty:
                    return None  # items, but no objects: the general reading says what
                counts[key] = region.items
                continue
            model, n = MODELS[key], 0
            items = _ijson.items(RegionReader(fp, region), "item", use_float=False)
            for n, item in enumerate(items, 1):
                on_object(key, n - 1, model.model_validate(item))
            counts[key] = n
    except (ValidationError, ijson.JSONError):
        return None
    return StreamedDocument(fp, list(regions), counts, regions)


def read_stream(
    fp: IO[bytes],
    max_errors: int,
    on_object: Callable[[str, int, Any], None] = lambda kind, n, obj: None,
) -> StreamedDocument:
    """Validate the document in ``fp`` object by object; raise ``DocumentError`` listing its
    schema errors in document order (the first ``max_errors`` and how many more), as
    ``parse_document`` does. ``on_object(kind, n, obj)`` sees each valid object."""
    shown: list[Error] = []
    found = 0

    def report(errors: list[Error]) -> None:
        nonlocal found
        found += len(errors)
        shown.extend(errors[: max(0, max_errors - len(shown))])

    given: list[str] = []
    counts: dict[str, int] = {}
    tracking = _Tracking(fp)
    try:
        fp.seek(0)
        for key, n, value in _top_level(tracking):  # type: ignore[arg-type]
            if n < 0:
                if key in given or (n == _UNKNOWN and key in counts):
                    report([(key, "this key is given twice")])
                    continue
                if n == _UNKNOWN:
                    counts[key] = 0
                    report([(key, "unknown field")])
                    continue
                given.append(key)
                counts[key] = 0
                if n == _VALUE:
                    try:
                        ImportDocument.model_validate({key: value})
                    except ValidationError as exc:
                        report(validation_errors(exc, {key: value}))
                continue
            counts[key] = n + 1
            try:
                obj = MODELS[key].model_validate(value)
            except ValidationError as exc:
                report(validation_errors(exc, value, prefix=(key, n)))
                continue
            if not found:
                on_object(key, n, obj)
    except ijson.JSONError as exc:
        message = str(exc).strip()
        reason = message.splitlines()[0] if message else "incomplete"
        reason = reason.removeprefix("parse error: ").removeprefix("lexical error: ")
        where = tracking.where(message)
        raise DocumentError("$", f"not valid JSON ({reason.rstrip('.')}{where})") from None
    if found:
        raise DocumentError.many(shown, more=found - len(shown))
    return StreamedDocument(fp, given, {k: v for k, v in counts.items() if k in MODELS})
