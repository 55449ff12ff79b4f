"""Drives `mcpist` with the official MCP Python SDK and prints what it saw.

Usage: smoke.py MODE TARGET TOOL [ARGS_JSON]
  MODE    "legacy" (the 2025-11-25 initialize handshake) or "auto"
          (2026-07-28: server/discover, no handshake)
  TARGET  an http(s) URL (Streamable HTTP; the bearer comes from
          SMOKE_BEARER) or "stdio" (runs SMOKE_MCPIST serve --stdio)
  TOOL    a tool to call, with ARGS_JSON as its arguments

Prints one JSON object: the negotiated protocol version, the tool names
listed, and the call's isError and text.
"""

import asyncio
import json
import os
import sys

import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client


def target(spec: str):
    if spec == "stdio":
        return StdioServerParameters(
            command=os.environ["SMOKE_MCPIST"], args=["serve", "--stdio"], env=dict(os.environ)
        )
    headers = {"Authorization": f"Bearer {os.environ['SMOKE_BEARER']}"}
    return streamable_http_client(spec, http_client=httpx2.AsyncClient(headers=headers))


async def main() -> None:
    mode, spec, tool = sys.argv[1], sys.argv[2], sys.argv[3]
    args = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
    async with Client(target(spec), mode=mode) as client:
        tools = await client.list_tools()
        result = await client.call_tool(tool, args)
        print(
            json.dumps(
                {
                    "protocol": client.protocol_version,
                    "tools": [t.name for t in tools.tools],
                    "is_error": bool(result.is_error),
                    "text": "".join(c.text for c in result.content if c.type == "text"),
                }
            )
        )


asyncio.run(main())
