"""The members of a large JSON object, read one array element at a time (stdlib only).

A COCO train JSON is 450 MB, most of it polygons that a label count never needs: ``json.load`` holds
all of it as Python objects (several GB) before the first image is looked at. :func:`walk_object`
reads the file in chunks and decodes each element of a top-level array on its own with the C decoder
of :mod:`json` (``JSONDecoder.raw_decode``), so memory holds one chunk and one element, whatever the
file's size. Other top-level values (``info``, ``licenses``) are decoded whole.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from ..errors import InputError

#: Bytes read at a time.
CHUNK = 1 << 22
#: The largest single element, in characters: past it an element that still does not parse is an error
#: (a file truncated inside a string would otherwise be read whole looking for the string's end).
MAX_ELEMENT = 1 << 28

_WS = re.compile(r"[ \t\n\r]*")
#: What may still follow a number the chunk cut: "1" of "1.5", "1." of "1.5e3".
_NUMBER_TAIL = re.compile(r"[0-9.eE+\-]*")
_DECODER = json.JSONDecoder()


class JsonStream:
    """A UTF-8 JSON text read in chunks; ``pos`` indexes ``text``, which holds the unread part."""

    def __init__(self, fh: IO[bytes], path: Path | str) -> None:
        self.fh = fh
        self.path = str(path)
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")()
        self.text = ""
        self.pos = 0
        self.dropped = 0
        self.eof = False

    def _more(self) -> bool:
        """Drop what is consumed and read one more chunk; False at the end of the file."""
        if self.eof:
            return False
        if self.pos:
            self.dropped += self.pos
            self.text = self.text[self.pos:]
            self.pos = 0
        data = self.fh.read(CHUNK)
        try:
            self.text += self._decoder.decode(data, final=not data)
        except UnicodeDecodeError as exc:
            raise InputError(f"{self.path}: not UTF-8 text ({exc.reason} near byte "
                             f"{self.fh.tell() - len(data) + exc.start:,})") from None
        self.eof = not data
        return bool(data)

    def error(self, what: str) -> InputError:
        return InputError(f"{self.path}: not valid JSON at character {self.dropped + self.pos:,}: {what}")

    def peek(self) -> str:
        """The next character after white space ("" at the end)."""
        while True:
            self.pos = _WS.match(self.text, self.pos).end()
            if self.pos < len(self.text):
                return self.text[self.pos]
            if not self._more():
                return ""

    def expect(self, char: str) -> None:
        found = self.peek()
        if found != char:
            raise self.error(f"expected {char!r}, found {found or 'the end of the file'!r}")
        self.pos += 1

    def value(self) -> Any:
        """Decode the next value whole."""
        if not self.peek():
            raise self.error("expected a value, found the end of the file")
        while True:
            try:
                obj, end = _DECODER.raw_decode(self.text, self.pos)
            except json.JSONDecodeError as exc:
                # Cut by the chunk's end (an unterminated string, a value missing its close): read on.
                cut = exc.pos >= len(self.text) - 8 or exc.msg.startswith("Unterminated string")
                if cut and len(self.text) - self.pos < MAX_ELEMENT and self._more():
                    continue
                self.pos = exc.pos
                raise self.error(exc.msg) from None
            if (isinstance(obj, (int, float)) and not self.eof and _NUMBER_TAIL.fullmatch(self.text, end)
                    and self._more()):
                continue  # a number the chunk may have cut ("12" of "123", "1" of "1.5")
            self.pos = end
            return obj

    def items(self, on_item: Callable[[Any], None]) -> int:
        """Call ``on_item`` with each element of the array that starts here; returns how many."""
        self.expect("[")
        if self.peek() == "]":
            self.pos += 1
            return 0
        count = 0
        while True:
            on_item(self.value())
            count += 1
            char = self.peek()
            self.pos += 1
            if char == "]":
                return count
            if char != ",":
                self.pos -= 1
                raise self.error(f"expected ',' or ']' after an element, found {char or 'the end of the file'!r}")


def walk_object(stream: JsonStream, on_item: Callable[[str, Any], None],
                on_value: Callable[[str, Any], None] | None = None) -> list[str]:
    """Read a top-level object: each element of an array member goes to ``on_item(key, element)`` (one
    at a time), any other member to ``on_value(key, value)``. Returns the keys in file order."""
    if stream.peek() != "{":
        raise InputError(f"{stream.path}: not a JSON object (COCO files are one object with 'images', "
                         "'annotations' and 'categories')")
    stream.pos += 1
    keys: list[str] = []
    if stream.peek() == "}":
        stream.pos += 1
    else:
        while True:
            if stream.peek() != '"':
                raise stream.error("expected a member name")
            key = stream.value()
            stream.expect(":")
            keys.append(key)
            if stream.peek() == "[":
                stream.items(lambda item, key=key: on_item(key, item))
            else:
                value = stream.value()
                if on_value is not None:
                    on_value(key, value)
            char = stream.peek()
            stream.pos += 1
            if char == "}":
                break
            if char != ",":
                stream.pos -= 1
                raise stream.error(f"expected ',' or '}}' after a member, found {char or 'the end of the file'!r}")
    if stream.peek():
        raise stream.error("more data after the top-level object")
    return keys
