"""``together`` and ``each``: ``asyncio.gather`` with fewer tasks, and the same outcomes."""

from __future__ import annotations

import asyncio

import pytest

from censorcheck.measure.running import each, together


def test_together_gives_both_results_in_order() -> None:
    async def value(v: int) -> int:
        await asyncio.sleep(0)
        return v

    assert asyncio.run(together(value(1), value(2))) == (1, 2)


def test_a_failure_of_the_first_cancels_the_second() -> None:
    second_cancelled = asyncio.Event()

    async def fails() -> None:
        await asyncio.sleep(0)
        raise LookupError("a bug of ours")

    async def waits() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            second_cancelled.set()
            raise

    async def main() -> None:
        with pytest.raises(LookupError):
            await together(fails(), waits())
        assert second_cancelled.is_set()

    asyncio.run(main())


@pytest.mark.parametrize("while_waiting_for", ["first", "second"])
def test_cancelling_the_caller_cancels_the_second(while_waiting_for: str) -> None:
    started, second_cancelled = asyncio.Event(), asyncio.Event()

    async def first() -> None:
        if while_waiting_for == "first":
            started.set()
            await asyncio.Event().wait()

    async def second() -> None:
        try:
            if while_waiting_for == "second":
                started.set()
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            second_cancelled.set()
            raise

    async def main() -> None:
        caller = asyncio.ensure_future(together(first(), second()))
        await started.wait()
        caller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await caller
        assert second_cancelled.is_set()

    asyncio.run(main())


def test_each_runs_a_lone_awaitable_in_the_callers_task_and_many_as_gather() -> None:
    async def whose() -> asyncio.Task[object] | None:
        return asyncio.current_task()

    async def main() -> None:
        me = asyncio.current_task()
        assert await each([whose()]) == [me]
        many = await each([whose(), whose()])
        assert len(many) == 2 and me not in many

    asyncio.run(main())
