"""A remote MCP client that only speaks OAuth: the official MCP Python SDK's
`OAuthClientProvider` against `mcpist serve`, the way Claude.ai or a phone
connects, from nothing but the MCP URL.

Usage: remote_oauth.py MCP_URL TOOL

The SDK discovers the authorization server from the 401, registers (DCR),
and sends the user to the authorization URL: this script prints
`{"authorize": URL}` on a line and waits for the browser (driven by the
Rust test) to come back to its loopback redirect URI, where a small HTTP
listener takes the code. Then it lists the tools and calls TOOL; forces a
refresh and calls again; revokes the refresh token (RFC 7009) and checks
that the access token no longer works. The last line is one JSON object
with what it saw, the tokens (so the test can scan for them) and the
request counts.
"""

import asyncio
import json
import sys
import time
from urllib.parse import parse_qs, urlparse

import httpx2
from mcp import Client
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider, TokenStorage
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken


class MemoryStorage(TokenStorage):
    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None
        self.seen: list[OAuthToken] = []

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens
        self.seen.append(tokens)

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


def emit(obj: dict) -> None:
    print(json.dumps(obj), flush=True)


async def main() -> None:
    url, tool = sys.argv[1], sys.argv[2]
    callback: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def on_callback(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request_line = (await reader.readline()).decode()
        while (await reader.readline()) not in (b"\r\n", b"\n", b""):
            pass
        body = b"<!doctype html><title>Connected</title><p id=done>You can close this window.</p>"
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
            + body
        )
        await writer.drain()
        writer.close()
        if not callback.done():
            callback.set_result(request_line.split(" ")[1])

    listener = await asyncio.start_server(on_callback, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    redirect_uri = f"http://127.0.0.1:{port}/callback"

    async def redirect_handler(authorization_url: str) -> None:
        emit({"authorize": authorization_url})

    codes: list[str] = []

    async def callback_handler() -> AuthorizationCodeResult:
        target = await asyncio.wait_for(callback, 120)
        query = parse_qs(urlparse(target).query)
        if "error" in query:
            raise RuntimeError(f"authorization refused: {query}")
        codes.append(query["code"][0])
        return AuthorizationCodeResult(
            code=query["code"][0], state=query.get("state", [None])[0], iss=query.get("iss", [None])[0]
        )

    storage = MemoryStorage()
    provider = OAuthClientProvider(
        server_url=url,
        client_metadata=OAuthClientMetadata(
            client_name="Python SDK remote client",
            redirect_uris=[redirect_uri],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
        ),
        storage=storage,
        redirect_handler=redirect_handler,
        callback_handler=callback_handler,
    )
    requests: list[str] = []

    async def count(request: httpx2.Request) -> None:
        requests.append(f"{request.method} {request.url.path}")

    http = httpx2.AsyncClient(auth=provider, event_hooks={"request": [count]})
    async with Client(streamable_http_client(url, http_client=http), mode="legacy") as client:
        tools = await client.list_tools()
        first = await client.call_tool(tool, {})
        connect_requests = list(requests)
        # The access token "expires": the SDK refreshes before the next request.
        provider.context.token_expiry_time = time.time() - 1
        second = await client.call_tool(tool, {})
    first_tokens, last_tokens = storage.seen[0], storage.seen[-1]
    async with httpx2.AsyncClient() as plain:
        metadata = provider.context.oauth_metadata
        revoked = await plain.post(
            str(metadata.revocation_endpoint),
            data={"token": last_tokens.refresh_token, "client_id": storage.client.client_id},
        )
        after = await plain.post(
            url,
            headers={
                "Authorization": f"Bearer {last_tokens.access_token}",
                "Accept": "application/json, text/event-stream",
            },
            json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
        )
    listener.close()
    emit(
        {
            "tools": [t.name for t in tools.tools],
            "text": "".join(c.text for c in first.content if c.type == "text"),
            "second_is_error": bool(second.is_error),
            "refreshed": first_tokens.access_token != last_tokens.access_token,
            "token_sets": len(storage.seen),
            "expires_in": first_tokens.expires_in,
            "scope": first_tokens.scope,
            "revoke_status": revoked.status_code,
            "after_revoke_status": after.status_code,
            "connect_requests": connect_requests,
            "all_requests": requests,
            "client_id": storage.client.client_id,
            "secrets": codes
            + [
                t
                for tokens in storage.seen
                for t in (tokens.access_token, tokens.refresh_token)
                if t
            ],
        }
    )


asyncio.run(main())
