"""Search indexes beside the database (tantivy): the read model of the public searches.

The database is the truth; an index is derived from it and can be rebuilt at any time
(`flask search rebuild`). An area declares its index with `SearchIndex` (a name, a schema
version, the tantivy schema and a function that writes every document) and keeps it
current through the outbox: a service that changes an indexed row enqueues a message in
its unit of work, and the message's handler rewrites that row's document from the
database (so a message can run twice or late, in any order, and leave the same index).

Readers (every web worker) open an index once per process; tantivy reloads it when a
writer commits, in any process. Writers: tantivy allows one at a time per index across
processes (a lock file); a writer busy elsewhere is waited for up to WRITER_WAIT seconds,
then `SearchIndexBusy` is raised (the outbox retries the message later).

Each index lives in SEARCH_DIR/<name>-v<version>: a schema change takes a new version,
which starts empty and is filled by `flask search rebuild`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click
import tantivy
from flask import current_app
from flask.cli import AppGroup

log = logging.getLogger(__name__)

#: Seconds a writer waits for another process's writer to finish.
WRITER_WAIT = 10.0
#: Indexing memory of a writer (tantivy's minimum is 15 MB per indexing thread).
WRITER_HEAP = 50_000_000

#: Prefix queries kept per index (a dict emptied when full), for words up to this length
#: (a compiled automaton grows with the word; visitors choose the words).
PREFIX_CACHE = 256
PREFIX_CACHE_LENGTH = 16

#: Every declared index, by name (for `flask search rebuild` and the tests).
INDEXES: dict[str, SearchIndex] = {}


class SearchIndexBusy(RuntimeError):
    """Another process holds the index's writer for longer than WRITER_WAIT."""


class SearchIndex:
    """One tantivy index: `build_schema(builder)` adds the fields; `fill(writer)` adds every
    document from the database (used by rebuild)."""

    def __init__(self, name: str, version: int, build_schema: Callable[[tantivy.SchemaBuilder], None],
                 fill: Callable[[tantivy.IndexWriter], int]) -> None:
        builder = tantivy.SchemaBuilder()
        build_schema(builder)
        self.name = name
        self.version = version
        self.schema = builder.build()
        self._fill = fill
        self._open: dict[str, tantivy.Index] = {}  # by directory: one Index per process and app
        self._open_lock = threading.Lock()
        self._write_lock = threading.Lock()  # one writer per process (tantivy's lock is per directory)
        self._prefixes: dict[tuple[str, str], tantivy.Query] = {}  # prefix queries, by (field, text)
        INDEXES[name] = self

    def directory(self) -> Path:
        return Path(current_app.config["SEARCH_DIR"]) / f"{self.name}-v{self.version}"

    def index(self) -> tantivy.Index:
        path = str(self.directory())
        index = self._open.get(path)
        if index is None:
            with self._open_lock:
                index = self._open.get(path)
                if index is None:
                    Path(path).mkdir(parents=True, exist_ok=True)
                    index = tantivy.Index(self.schema, path=path, reuse=True)
                    self._open[path] = index
        return index

    def searcher(self) -> tantivy.Searcher:
        return self.index().searcher()

    @contextmanager
    def writer(self) -> Iterator[tantivy.IndexWriter]:
        """A writer whose changes are committed when the block ends (rolled back if it
        raises); readers of this process see them on return."""
        index = self.index()
        with self._write_lock:
            writer = _acquire_writer(index, self.name)
            try:
                yield writer
                writer.commit()
            except BaseException:
                writer.rollback()
                raise
            finally:
                writer.wait_merging_threads()  # finishes merges and releases the lock
            index.reload()

    def rebuild(self) -> int:
        """Replace every document with the database's current rows; returns their count."""
        with self.writer() as writer:
            writer.delete_all_documents()
            return self._fill(writer)

    def clear(self) -> None:
        with self.writer() as writer:
            writer.delete_all_documents()

    def query(self) -> QueryBuilder:
        return QueryBuilder(self.schema, self._prefixes)


def _acquire_writer(index: tantivy.Index, name: str) -> tantivy.IndexWriter:
    deadline = time.monotonic() + WRITER_WAIT
    pause = 0.01
    while True:
        try:
            return index.writer(heap_size=WRITER_HEAP, num_threads=1)
        except ValueError as exc:
            if "LockBusy" not in str(exc):
                raise
            if time.monotonic() >= deadline:
                raise SearchIndexBusy(f"search index {name!r}: another writer holds it") from exc
            time.sleep(pause)
            pause = min(pause * 2, 0.2)


class QueryBuilder:
    """A conjunction of tantivy queries on one schema: `must(...)`, `must_not(...)`, then
    `build()` (every document when nothing was added)."""

    def __init__(self, schema: tantivy.Schema, prefixes: dict[tuple[str, str], tantivy.Query]) -> None:
        self.schema = schema
        self._prefixes = prefixes
        self._clauses: list[tuple[tantivy.Occur, tantivy.Query]] = []

    def must(self, query: tantivy.Query) -> QueryBuilder:
        self._clauses.append((tantivy.Occur.Must, query))
        return self

    def must_not(self, query: tantivy.Query) -> QueryBuilder:
        self._clauses.append((tantivy.Occur.MustNot, query))
        return self

    def term(self, field: str, value: object) -> tantivy.Query:
        return tantivy.Query.term_query(self.schema, field, value)

    def any_term(self, field: str, values: list) -> tantivy.Query:
        return tantivy.Query.term_set_query(self.schema, field, values)

    def int_range(self, field: str, low: int | None = None, high: int | None = None, *,
                  include_low: bool = True, include_high: bool = True) -> tantivy.Query:
        """low <= value <= high (either side open when None; `include_*` make it strict)."""
        return tantivy.Query.range_query(self.schema, field, tantivy.FieldType.Integer, low, high,
                                         include_low or low is None, include_high or high is None)

    def prefix(self, field: str, text: str) -> tantivy.Query:
        """Terms of `field` starting with `text` (letters and digits only: no regex syntax)."""
        if not text.isalnum():
            raise ValueError(f"prefix {text!r}: letters and digits only")
        if len(text) > PREFIX_CACHE_LENGTH:
            return tantivy.Query.regex_query(self.schema, field, f"{text}.*")
        key = (field, text)
        query = self._prefixes.get(key)
        if query is None:  # built once per word: compiling its automaton costs more than searching
            query = tantivy.Query.regex_query(self.schema, field, f"{text}.*")
            if len(self._prefixes) >= PREFIX_CACHE:
                self._prefixes.clear()
            self._prefixes[key] = query
        return query

    @staticmethod
    def nothing() -> tantivy.Query:
        return tantivy.Query.empty_query()

    def phrase(self, field: str, words: list[str]) -> tantivy.Query:
        return tantivy.Query.phrase_query(self.schema, field, words)

    def build(self) -> tantivy.Query:
        if not any(occur == tantivy.Occur.Must for occur, _ in self._clauses):
            self._clauses.append((tantivy.Occur.Must, tantivy.Query.all_query()))
        if len(self._clauses) == 1:
            return self._clauses[0][1]
        return tantivy.Query.boolean_query(self._clauses)


search_cli = AppGroup("search", help="Search indexes (derived from the database).")


@search_cli.command("rebuild")
@click.argument("names", nargs=-1)
def rebuild_command(names: tuple[str, ...]) -> None:
    """Rebuild the named search indexes (all when none is named) from the database."""
    unknown = [n for n in names if n not in INDEXES]
    if unknown:
        raise click.BadParameter(f"unknown index: {', '.join(unknown)} (known: {', '.join(sorted(INDEXES))})")
    for name in names or sorted(INDEXES):
        started = time.perf_counter()
        count = INDEXES[name].rebuild()
        click.echo(f"{name}: {count} documents indexed in {time.perf_counter() - started:.1f} s")
