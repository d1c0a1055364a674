"""An anker RPC server in its own process, for tests that SIGKILL it mid-call.

``python messaging_child.py URL TOPIC``: serves ``TOPIC`` (server name ``child``) with an
endpoint whose ``work`` method prints ``{"event": "working"}`` and then never returns.
Prints ``{"event": "ready"}`` once it is consuming.
"""

from __future__ import annotations

import asyncio
import json
import sys

from anker.messaging import RequestContext, RPCServer, Target, connect


class Stuck:
    async def work(self, context: RequestContext, job: str) -> str:
        print(json.dumps({"event": "working", "job": job}), flush=True)
        await asyncio.Event().wait()  # killed before it ever answers
        return "never"


async def main(url: str, topic: str) -> None:
    transport = await connect(url)
    server = RPCServer(transport, Target(topic=topic, server="child"), [Stuck()])
    await server.start()
    print(json.dumps({"event": "ready"}), flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
