"""helpers/local_cloud/snowflake_server.py `RunOnce`: a query request id runs once, a copy that arrives
while the first is still running waits for it, and only a bounded number of answers is kept
(tests/integration/test_local_warehouse_resend.py drives it through the Snowflake connector)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from starlette.responses import JSONResponse

from helpers.local_cloud.snowflake_server import RunOnce


def _request(request_id: str | None, token: str = 'Snowflake Token="t"') -> SimpleNamespace:
    return SimpleNamespace(
        query_params={"requestId": request_id} if request_id else {}, headers={"Authorization": token}
    )


def test_a_copy_sent_while_the_first_runs_waits_for_it_and_gets_its_answer():
    async def scenario():
        once, runs, release = RunOnce(), [], asyncio.Event()

        async def run(_request):
            runs.append(1)
            await release.wait()
            return JSONResponse({"run": len(runs)})

        first = asyncio.ensure_future(once.answer(_request("a"), run))
        await asyncio.sleep(0)
        again = asyncio.ensure_future(once.answer(_request("a"), run))
        await asyncio.sleep(0)
        assert not again.done()  # waiting for the first run, not running its own
        release.set()
        answers = await asyncio.gather(first, again)
        later = await once.answer(_request("a"), run)  # after it finished
        other_session = await once.answer(_request("a", token='Snowflake Token="u"'), run)
        no_id = await once.answer(_request(None), run)
        return runs, answers, later, other_session, no_id

    runs, (first, again), later, other_session, no_id = asyncio.run(scenario())
    assert first.body == again.body == later.body == b'{"run":1}'
    assert other_session.body == b'{"run":2}' and no_id.body == b'{"run":3}'
    assert len(runs) == 3


def test_the_first_run_finishes_even_if_its_request_is_cancelled():
    async def scenario():
        once, release = RunOnce(), asyncio.Event()

        async def run(_request):
            await release.wait()
            return JSONResponse({"ok": True})

        first = asyncio.ensure_future(once.answer(_request("a"), run))
        await asyncio.sleep(0)
        first.cancel()  # the client that sent it is gone
        release.set()
        return await once.answer(_request("a"), run)

    assert asyncio.run(scenario()).body == b'{"ok":true}'


def test_only_the_last_ids_and_a_bounded_size_of_answers_are_kept():
    async def scenario():
        once = RunOnce(keep=3, keep_bytes=1000)

        async def run(request):
            return JSONResponse({"id": request.query_params["requestId"]})  # 10 bytes each

        for request_id in "abcde":
            await once.answer(_request(request_id), run)
        by_count = [k[1] for k in once._runs]  # noqa: SLF001
        once.keep_bytes = 15  # room for one finished answer besides the new one
        for request_id in "fg":
            await once.answer(_request(request_id), run)
        return by_count, [k[1] for k in once._runs]  # noqa: SLF001

    by_count, by_size = asyncio.run(scenario())
    assert by_count == ["c", "d", "e"]
    assert by_size == ["f", "g"]  # checked as g arrives: e and f (20 bytes) are over 15, e goes
