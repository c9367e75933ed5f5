"""Reading a JSON import document incrementally, in memory that does not grow with it.

The document is read from a seekable binary file (standard input is spooled to a temporary
file first), twice or more: ``read_stream`` validates every object of every top-level list
with its pydantic model, one object at a time, reports schema errors with their JSON paths in
document order, and hands each valid object to a callback (which keeps only the small things
the cross-object checks need, never the objects); ``StreamedDocument.objects`` then reads one
list again, object by object, for the checks and the writes.

Numbers come as ``int`` or exact ``Decimal`` (``use_float=False``), as with
``cdsapi.exactjson.loads``: ``0.40`` stays ``0.40``. Only ijson's C backend is used (the pure
Python ones are an order of magnitude slower).
"""

from collections.abc import Callable, Iterator
from typing import IO, Any, get_args

import ijson
from pydantic import BaseModel, ValidationError

from cdsapi.importer.errors import DocumentError, Error, validation_errors
from cdsapi.importer.schema import ImportDocument

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

    def __init__(self, fp: IO[bytes], given: list[str], counts: dict[str, int]) -> None:
        self.fp = fp
        self.counts = counts
        self.summary: Any = None  # what the loader's checks need (``loader.Summary``)
        self.kinds = tuple(given) + tuple(k for k in MODELS if k not in given)
        self.order = {kind: n for n, kind in enumerate(self.kinds)}
        self.plan: tuple[str, ...] = self.kinds
        self._cursor: _Cursor | None = None

    def count(self, kind: str) -> int:
        return self.counts.get(kind, 0)

    def objects(self, kind: str) -> Iterator[Any]:
        """The objects of the list ``kind``, validated again, one at a time."""
        if not self.count(kind):
            return
        model = MODELS[kind]
        for item in self._items(kind):
            yield model.model_validate(item)

    def _items(self, kind: str) -> Iterator[Any]:
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
