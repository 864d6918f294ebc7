"""NoteStore contract: word search (best first), empty query lists newest, owners apart."""

from __future__ import annotations

import uuid

import pytest

from tests.stores.conftest import DataStores

pytestmark = pytest.mark.timeout(60)


def owner() -> str:
    return "owner-" + uuid.uuid4().hex[:8]


async def test_search_ranks_by_matching_words(stores: DataStores) -> None:
    me = owner()
    fox = await stores.notes.add(me, "The quick brown fox jumps")
    dog = await stores.notes.add(me, "A lazy brown dog sleeps")
    await stores.notes.add(me, "Nothing in common here")
    found = await stores.notes.search(me, "brown fox", 10)
    assert [n.id for n in found] == [fox.id, dog.id]
    assert [n.id for n in await stores.notes.search(me, "DOG", 10)] == [dog.id]
    assert await stores.notes.search(me, "elephant", 10) == []


async def test_ties_newest_first_and_limit(stores: DataStores) -> None:
    me = owner()
    ids = [(await stores.notes.add(me, f"meeting number {i}")).id for i in range(4)]
    found = await stores.notes.search(me, "meeting", 2)
    assert [n.id for n in found] == [ids[3], ids[2]]


async def test_empty_query_lists_newest(stores: DataStores) -> None:
    me = owner()
    ids = [(await stores.notes.add(me, f"note {i}")).id for i in range(3)]
    assert [n.id for n in await stores.notes.search(me, "", 10)] == ids[::-1]
    # Punctuation only has no words either.
    assert [n.id for n in await stores.notes.search(me, " ?! ", 2)] == ids[:0:-1]


async def test_owners_see_only_their_notes(stores: DataStores) -> None:
    alice, bob = owner(), owner()
    note = await stores.notes.add(alice, "secret plan")
    assert await stores.notes.search(bob, "secret", 10) == []
    assert await stores.notes.search(bob, "", 10) == []
    [mine] = await stores.notes.search(alice, "plan", 10)
    assert mine.id == note.id and mine.owner == alice and mine.text == "secret plan"


async def test_query_syntax_is_not_interpreted(stores: DataStores) -> None:
    me = owner()
    note = await stores.notes.add(me, "it's a cat")
    # Quotes, operators and backslashes are just separators between words.
    found = await stores.notes.search(me, "'cat' & !(dog | \\ ) :*", 10)
    assert [n.id for n in found] == [note.id]
