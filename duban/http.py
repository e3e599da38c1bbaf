"""The service's one HTTP server (`DUBAN_HTTP_HOST`:`DUBAN_HTTP_PORT`): the channels' endpoints
(WeCom callback, Telegram webhook) and `/healthz` for probes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from bot.channel import StartupError

Health = Callable[[], Awaitable[tuple[bool, dict[str, Any]]]]


class HttpServer:
    def __init__(self, host: str, port: int, routes: list[web.RouteDef], health: Health) -> None:
        self.host = host
        self.requested_port = port
        self.routes = routes
        self.health = health
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.add_routes([*self.routes, web.get("/healthz", self._healthz)])
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        try:
            await web.TCPSite(self._runner, self.host, self.requested_port).start()
        except OSError as error:
            await self.stop()
            address = f"{self.host}:{self.requested_port}"
            raise StartupError(f"HTTP 服务无法监听 {address}（{error.strerror}）：请换一个 "
                               "DUBAN_HTTP_PORT 或 DUBAN_HTTP_HOST") from None

    @property
    def port(self) -> int:
        """The port listened on (the one the OS chose when 0 was asked for)."""
        assert self._runner is not None
        return int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _healthz(self, request: web.Request) -> web.Response:
        healthy, status = await self.health()
        return web.json_response(status, status=200 if healthy else 503)
