"""Subscribes to resources on `mcpist` with the official MCP Python SDK at
protocol 2026-07-28 (`subscriptions/listen` with `resourceSubscriptions`).

Usage: watch.py URL URI...   (the bearer comes from SMOKE_BEARER)

Prints {"event": "listening", "honored": [...]} once the subscription is
acknowledged, then {"event": KIND, "uri": ...} for the first change event,
and exits.
"""

import asyncio
import json
import os
import sys

import anyio
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client


async def main() -> None:
    headers = {"Authorization": f"Bearer {os.environ['SMOKE_BEARER']}"}
    transport = streamable_http_client(sys.argv[1], http_client=httpx2.AsyncClient(headers=headers))
    async with Client(transport, mode="auto") as client:
        async with client.listen(resource_subscriptions=sys.argv[2:]) as subscription:
            honored = getattr(subscription, "honored", None)
            uris = getattr(honored, "resource_subscriptions", None)
            print(json.dumps({"event": "listening", "honored": list(uris or [])}), flush=True)
            # A bound, so a change that never comes fails the test instead of hanging it.
            with anyio.fail_after(60):
                event = await anext(aiter(subscription))
            print(
                json.dumps({"event": type(event).__name__, "uri": str(getattr(event, "uri", ""))}),
                flush=True,
            )


asyncio.run(main())
