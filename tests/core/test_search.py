"""core.search: an index's writer commits or rolls back as a block, readers of the process
see a commit at once, a writer held elsewhere is waited for and then refused, and the
query builder composes must / must-not clauses."""

from __future__ import annotations

import pytest
import tantivy

from core import search


def _schema(builder: tantivy.SchemaBuilder) -> None:
    builder.add_integer_field("n", indexed=True, fast=True)
    builder.add_text_field("words", tokenizer_name="whitespace", index_option="position")


ROWS = [(1, "red apple"), (2, "green apple"), (3, "red car")]


def _fill(writer: tantivy.IndexWriter) -> int:
    for n, words in ROWS:
        writer.add_document(tantivy.Document(n=n, words=words))
    return len(ROWS)


@pytest.fixture
def index():
    made = search.SearchIndex("core-test", 1, _schema, _fill)
    yield made
    search.INDEXES.pop("core-test", None)
    made.clear()


def _found(index: search.SearchIndex, query: tantivy.Query) -> list[int]:
    result = index.searcher().search(query, limit=10, order_by_field="n", order=tantivy.Order.Asc)
    return [key for key, _ in result.hits]


def test_a_written_block_is_seen_at_once_and_a_failed_one_not_at_all(index):
    with index.writer() as writer:
        writer.add_document(tantivy.Document(n=7, words="seven"))
    assert _found(index, index.query().build()) == [7]
    with pytest.raises(RuntimeError), index.writer() as writer:
        writer.add_document(tantivy.Document(n=8, words="eight"))
        raise RuntimeError("the block fails")
    assert _found(index, index.query().build()) == [7]


def test_rebuild_replaces_every_document_and_counts_them(index):
    with index.writer() as writer:
        writer.add_document(tantivy.Document(n=99, words="stale"))
    assert index.rebuild() == 3
    assert _found(index, index.query().build()) == [1, 2, 3]
    index.clear()
    assert index.searcher().num_docs == 0


def test_query_builder_must_and_must_not(index):
    index.rebuild()
    q = index.query()
    assert _found(index, q.must(q.term("words", "red")).build()) == [1, 3]
    q = index.query()
    assert _found(index, q.must(q.term("words", "red")).must_not(q.term("words", "car")).build()) == [1]
    q = index.query()
    assert _found(index, q.must_not(q.term("words", "apple")).build()) == [3]  # must-not alone: of all
    q = index.query()
    assert _found(index, q.must(q.prefix("words", "app")).build()) == [1, 2]
    q = index.query()
    assert _found(index, q.must(q.int_range("n", 2, None, include_low=False)).build()) == [3]
    q = index.query()
    assert _found(index, q.must(q.int_range("n", None, 2)).build()) == [1, 2]
    q = index.query()
    assert _found(index, q.must(q.any_term("n", [1, 3])).build()) == [1, 3]
    q = index.query()
    assert _found(index, q.must(q.phrase("words", ["red", "car"])).build()) == [3]


def test_a_writer_held_elsewhere_is_waited_for_then_refused(index, monkeypatch):
    monkeypatch.setattr(search, "WRITER_WAIT", 0.05)
    index.index()  # creates the directory
    holder = tantivy.Index.open(str(index.directory())).writer(heap_size=15_000_000, num_threads=1)
    try:
        with pytest.raises(search.SearchIndexBusy), index.writer():
            pass
    finally:
        holder.rollback()
        del holder
    with index.writer() as writer:  # released: writing works again
        writer.add_document(tantivy.Document(n=5, words="five"))
    assert _found(index, index.query().build()) == [5]


def test_the_index_lives_in_a_versioned_directory_of_search_dir(app, index):
    assert index.directory() == app.config["SEARCH_DIR"] / "core-test-v1"
