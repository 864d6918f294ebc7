"""SessionStore contract, run against the in-memory and the Postgres adapter."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.stores.conftest import DataStores

pytestmark = pytest.mark.timeout(120)


def owner() -> str:
    return "owner-" + uuid.uuid4().hex[:8]


async def test_create_get_and_owner_isolation(stores: DataStores) -> None:
    alice, bob = owner(), owner()
    s = await stores.sessions.create(alice, "first")
    got = await stores.sessions.get(alice, s.id)
    assert got is not None and got.title == "first" and got.owner == alice
    assert got.turn_count == 0
    # Another owner sees nothing, cannot read turns, append, or delete.
    assert await stores.sessions.get(bob, s.id) is None
    assert await stores.sessions.list(bob, 10, 0) == []
    with pytest.raises(KeyError):
        await stores.sessions.turns(bob, s.id)
    with pytest.raises(KeyError):
        await stores.sessions.append_turn(bob, s.id, {"role": "user"})
    assert await stores.sessions.delete(bob, s.id) is False
    assert await stores.sessions.get(alice, s.id) is not None


async def test_missing_session(stores: DataStores) -> None:
    assert await stores.sessions.get(owner(), "no-such-id") is None
    with pytest.raises(KeyError):
        await stores.sessions.turns(owner(), str(uuid.uuid4()))


async def test_turn_order_count_and_limit(stores: DataStores) -> None:
    me = owner()
    s = await stores.sessions.create(me, "t")
    for i in range(5):
        turn = await stores.sessions.append_turn(me, s.id, {"i": i}, tokens=i)
        assert turn.seq == i
    turns = await stores.sessions.turns(me, s.id)
    assert [t.seq for t in turns] == [0, 1, 2, 3, 4]
    assert [t.content for t in turns] == [{"i": i} for i in range(5)]
    assert [t.tokens for t in turns] == [0, 1, 2, 3, 4]
    last = await stores.sessions.turns(me, s.id, limit=2)
    assert [t.content["i"] for t in last] == [3, 4]
    assert await stores.sessions.turns(me, s.id, limit=0) == []
    got = await stores.sessions.get(me, s.id)
    assert got is not None and got.turn_count == 5


async def test_concurrent_appends_get_distinct_sequence_numbers(stores: DataStores) -> None:
    me = owner()
    s = await stores.sessions.create(me, "t")
    made = await asyncio.gather(
        *(stores.sessions.append_turn(me, s.id, {"n": n}) for n in range(20))
    )
    assert sorted(t.seq for t in made) == list(range(20))
    stored = await stores.sessions.turns(me, s.id)
    assert sorted(t.content["n"] for t in stored) == list(range(20))


async def test_list_newest_activity_first_with_paging(stores: DataStores) -> None:
    me = owner()
    a = await stores.sessions.create(me, "a")
    b = await stores.sessions.create(me, "b")
    c = await stores.sessions.create(me, "c")
    assert [s.id for s in await stores.sessions.list(me, 10, 0)] == [c.id, b.id, a.id]
    await stores.sessions.append_turn(me, a.id, {"x": 1})
    listed = await stores.sessions.list(me, 10, 0)
    assert [s.id for s in listed] == [a.id, c.id, b.id]
    assert listed[0].turn_count == 1
    assert [s.id for s in await stores.sessions.list(me, 2, 1)] == [c.id, b.id]


async def test_delete_removes_session_and_turns(stores: DataStores) -> None:
    me = owner()
    s = await stores.sessions.create(me, "t")
    await stores.sessions.append_turn(me, s.id, {"x": 1})
    assert await stores.sessions.delete(me, s.id) is True
    assert await stores.sessions.get(me, s.id) is None
    assert await stores.sessions.delete(me, s.id) is False
    with pytest.raises(KeyError):
        await stores.sessions.turns(me, s.id)


# Any JSON document: the content of a turn is a google-genai Content, kept verbatim.
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=20,
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(content=st.dictionaries(st.text(max_size=10), json_values, max_size=6))
async def test_arbitrary_json_turns_round_trip(stores: DataStores, content: dict) -> None:
    me = owner()
    s = await stores.sessions.create(me, "json")
    await stores.sessions.append_turn(me, s.id, content)
    [turn] = await stores.sessions.turns(me, s.id)
    assert turn.content == content
    # Equal is not enough: 1 and 1.0 compare equal, so check the types too.
    assert repr(turn.content) == repr(content)
