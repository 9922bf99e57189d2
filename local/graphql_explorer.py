"""The GraphQL explorer: GraphiQL on the local runtime's gateways, `GET /dev/graphql`.

GraphiQL, React and ReactDOM come from `node_modules` (versions pinned in package.json, installed by
`npm ci`, which `make dev` and `make test` run): the page loads them from the gateway itself
(`/dev/graphql/assets/<name>`, four files by name, nothing else of `node_modules`), never from a
CDN. The page signs in through the runtime's development token endpoint (`/dev/token`; `tenant`,
`subject` and `roles` query parameters, as the dev console's) and sends every request with that
token to `POST /service/gui/graphql`, where the local stage answers introspection. Its first tab
holds the GUI's dashboard screen (docs/gui/operations.graphql).

Subscriptions run over the WebSocket API (`/live`, subprotocol `graphql-transport-ws`) through
graphql-ws's client (pinned, from node_modules too), wrapped by the GUI's resumable client
(docs/gui/client/live-subscriptions.mjs): each connect trades the token for a stream ticket, and
`connection_init` carries the last cursor applied per channel. The page exposes it as
`window.ddguiLive` (the browser suite drives it).
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from gui_core.replay_log import CHANNELS
from stacks.manifest import MANIFEST

ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = ROOT / "node_modules"
EXPLORER_PATH = "/dev/graphql"
# The only files the page loads, by the name it asks for: (package file, content type).
ASSETS = {
    "react.js": ("react/umd/react.production.min.js", "text/javascript"),
    "react-dom.js": ("react-dom/umd/react-dom.production.min.js", "text/javascript"),
    "graphiql.js": ("graphiql/graphiql.min.js", "text/javascript"),
    "graphiql.css": ("graphiql/graphiql.min.css", "text/css"),
    "graphql-ws.js": ("graphql-ws/umd/graphql-ws.min.js", "text/javascript"),
}
# The GUI's resumable subscriptions (not a package: the repository's own client code).
CLIENT_ASSETS = {"live-subscriptions.mjs": (ROOT / "docs" / "gui" / "client" / "live-subscriptions.mjs")}
DEFAULT_QUERY_NAME = "DashboardScreen"
# The WebSocket API's stage, as the local gateway serves it.
LIVE_PATH = f"/{MANIFEST.websocket.stage if MANIFEST.websocket else 'live'}"
TICKETS_PATH = "/service/gui/live/tickets"

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>DomainDetermine GUI: GraphQL explorer</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="__PATH__/assets/graphiql.css" nonce="__NONCE__">
<style nonce="__NONCE__">html, body, #graphiql { height: 100%; margin: 0; }</style>
</head>
<body>
<div id="graphiql">Loading GraphiQL...</div>
<script src="__PATH__/assets/react.js" nonce="__NONCE__"></script>
<script src="__PATH__/assets/react-dom.js" nonce="__NONCE__"></script>
<script src="__PATH__/assets/graphiql.js" nonce="__NONCE__"></script>
<script src="__PATH__/assets/graphql-ws.js" nonce="__NONCE__"></script>
<script nonce="__NONCE__">
(async () => {
  const config = __CONFIG__;
  const page = new URLSearchParams(location.search);
  const signIn = new URLSearchParams({
    tenant: page.get("tenant") || "acme",
    subject: page.get("subject") || "ada@acme",
    roles: page.get("roles") || "admin",
  });
  const answer = await fetch(`${config.tokenPath}?${signIn}`);
  const { token } = await answer.json();
  const { liveClient } = await import(`${config.assets}/live-subscriptions.mjs`);
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const live = liveClient({
    createClient: graphqlWs.createClient,
    // A stream ticket serves one connection: a fresh one for each connect.
    url: async () => {
      const issued = await fetch(config.ticketsPath, {
        method: "POST",
        headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
        body: JSON.stringify({ channels: config.channels }),
      });
      const { ticket } = await issued.json();
      const query = new URLSearchParams({ tenant: signIn.get("tenant"), ticket });
      return `${scheme}://${location.host}${config.liveEndpoint}?${query}`;
    },
  });
  const fetcher = GraphiQL.createFetcher({
    url: config.endpoint,
    headers: { Authorization: `Bearer ${token}` },
    wsClient: live.client,
  });
  window.ddguiExplorer = { token, fetcher };
  window.ddguiLive = live;
  ReactDOM.createRoot(document.getElementById("graphiql")).render(
    React.createElement(GraphiQL, { fetcher, defaultQuery: config.defaultQuery }),
  );
})();
</script>
</body>
</html>
"""


def _default_query() -> str:
    from local.graphql_sdl import operations

    return operations().get(DEFAULT_QUERY_NAME, "{ jobs(first: 5) { nodes { id status } } }")


def render_explorer(*, nonce: str) -> str:
    config = {
        "endpoint": "/service/gui/graphql",
        "tokenPath": "/dev/token",
        "defaultQuery": _default_query(),
        "assets": f"{EXPLORER_PATH}/assets",
        "liveEndpoint": LIVE_PATH,
        "ticketsPath": TICKETS_PATH,
        "channels": list(CHANNELS),
    }
    text = json.dumps(config).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return PAGE.replace("__PATH__", EXPLORER_PATH).replace("__CONFIG__", text).replace("__NONCE__", nonce)


def explorer_routes() -> list[BaseRoute]:
    async def explorer(request: Request) -> Response:
        missing = [name for name, (file, _) in ASSETS.items() if not (NODE_MODULES / file).exists()]
        if missing:
            return PlainTextResponse(
                f"The explorer's packages are not installed ({', '.join(missing)}): run `npm ci`.",
                status_code=503,
            )
        nonce = secrets.token_urlsafe(18)
        policy = "; ".join(
            (
                "default-src 'none'",
                f"script-src 'nonce-{nonce}' 'self'",
                f"style-src 'nonce-{nonce}' 'self' 'unsafe-inline'",  # GraphiQL styles its panes inline
                "connect-src 'self'",
                "img-src 'self' data:",
                "font-src 'self' data:",
                "base-uri 'none'",
                "form-action 'none'",
                "frame-ancestors 'none'",
            )
        )
        return HTMLResponse(
            render_explorer(nonce=nonce),
            headers={"Content-Security-Policy": policy, "Cache-Control": "no-store"},
        )

    async def asset(request: Request) -> Response:
        name = request.path_params["name"]
        if name in CLIENT_ASSETS:
            return FileResponse(
                CLIENT_ASSETS[name], media_type="text/javascript", headers={"Cache-Control": "no-store"}
            )
        found = ASSETS.get(name)
        if found is None:
            return PlainTextResponse("No such asset.", status_code=404)
        file, media_type = found
        return FileResponse(
            NODE_MODULES / file, media_type=media_type, headers={"Cache-Control": "max-age=3600"}
        )

    return [
        Route(EXPLORER_PATH, explorer, methods=["GET"]),
        Route(f"{EXPLORER_PATH}/assets/{{name}}", asset, methods=["GET"]),
    ]
