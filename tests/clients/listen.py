"""Listens for tool-list changes on `mcpist` with the official MCP Python SDK
at protocol 2026-07-28 (`subscriptions/listen`; such a client never sends
`initialized`).

Usage: listen.py URL   (the bearer comes from SMOKE_BEARER)

Prints {"event": "listening", "protocol": ..., "tools": N, "ttl_ms": ...,
"cache_scope": ...} once the subscription is acknowledged, then
{"event": "changed", "kind": ..., "tools": N} after the first change event
(re-listing the tools), and exits.
"""

import asyncio
import json
import os
import sys

import anyio
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client


def hints(result) -> dict:
    scope = getattr(result, "cache_scope", None)
    return {
        "ttl_ms": getattr(result, "ttl_ms", None),
        "cache_scope": getattr(scope, "value", scope),
    }


async def main() -> None:
    headers = {"Authorization": f"Bearer {os.environ['SMOKE_BEARER']}"}
    transport = streamable_http_client(sys.argv[1], http_client=httpx2.AsyncClient(headers=headers))
    async with Client(transport, mode="auto") as client:
        async with client.listen(tools_list_changed=True) as subscription:
            tools = await client.list_tools()
            names = [t.name for t in tools.tools]
            print(
                json.dumps(
                    {
                        "event": "listening",
                        "protocol": client.protocol_version,
                        "tools": names,
                        **hints(tools),
                    }
                ),
                flush=True,
            )
            # A bound, so a change that never comes fails the test instead of hanging it.
            with anyio.fail_after(60):
                event = await anext(aiter(subscription))
            tools = await client.list_tools()
            print(
                json.dumps(
                    {
                        "event": "changed",
                        "kind": type(event).__name__,
                        "tools": [t.name for t in tools.tools],
                    }
                ),
                flush=True,
            )

asyncio.run(main())
