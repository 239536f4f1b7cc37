"""The lexer of the program text form: `tokenize` splits a text into words, strings and
punctuation (`Token`s with their line and column), and `_fail` raises the `ParseError` that
points at a line and column, for the lexer and for `dsl.parser`.
"""

from __future__ import annotations

import json
import typing

import attrs

from dsl.errors import ParseError

_WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.+-")
_PUNCT = frozenset("{}[](),;:=~@")


@attrs.define(slots=True)
class Token:
    """One token. Its text tells its kind apart from the others' (punctuation is never part of
    a word, and a string token's text keeps its quotes)."""

    kind: str  # "word", "str", "punct" or "eof"
    text: str  # as written
    line: int
    col: int  # 1-based
    end: int  # the offset just past the token in the source
    value: str = ""  # a string token's contents

    def describe(self) -> str:
        if self.kind == "eof":
            return "the end of the text"
        return f"{self.text!r}"


def tokenize(text: str) -> list[Token]:
    """Split `text` into words, strings and punctuation; `#` comments run to the line's end."""
    toks: list[Token] = []
    i, n, line, line_start = 0, len(text), 1, 0
    while i < n:
        c = text[i]
        if c == "\n":
            i += 1
            line, line_start = line + 1, i
        elif c in " \t\r":
            i += 1
        elif c == "#":
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif c in _WORD_CHARS:
            j = i + 1
            while j < n and text[j] in _WORD_CHARS:
                j += 1
            toks.append(Token("word", text[i:j], line, i - line_start + 1, j))
            i = j
        elif c in _PUNCT:
            toks.append(Token("punct", c, line, i - line_start + 1, i + 1))
            i += 1
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"' and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            if j >= n or text[j] != '"':
                _fail(text, line, i - line_start + 1, "unterminated string")
            try:
                s = json.loads(text[i: j + 1])
            except ValueError:
                _fail(text, line, i - line_start + 1, "a string with valid escapes")
            toks.append(Token("str", text[i: j + 1], line, i - line_start + 1, j + 1, s))
            i = j + 1
        else:
            _fail(text, line, i - line_start + 1, f"unexpected character {c!r}")
    toks.append(Token("eof", "", line, i - line_start + 1, n))
    return toks


def _fail(text: str, line: int, col: int, message: str) -> typing.NoReturn:
    src = text.split("\n")[line - 1] if text else ""
    caret = " " * (col - 1) + "^"
    raise ParseError(f"parse: line {line}, column {col}: {message}\n    {src}\n    {caret}")


__all__ = ["Token", "tokenize"]
