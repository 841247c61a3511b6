"""The ingest gateway: HTTP requests in, contract events on Kafka out, answered only once Kafka has them.

Routes (docs/ingest.md says how to point each platform here):

- ``POST /v1/events``: contract events (JSON object, array or NDJSON), bearer token;
- ``POST /v1/webhooks/zendesk``: Zendesk ticket events, signed (or bearer token);
- ``POST /v1/webhooks/twilio-taskrouter``: TaskRouter callbacks, signed (or bearer token);
- ``POST /v1/webhooks/amazon-connect`` and ``/v1/webhooks/genesys``: bearer token;
- ``POST /v1/webhooks/chatwoot``: bearer token, or ``?token=`` in the URL Chatwoot is given;
- ``POST /v1/webhooks/zammad``: Zammad's ``X-Hub-Signature`` (or bearer token);
- ``POST /v1/webhooks/freeswitch``: mod_callcenter events as JSON, bearer token;
- ``POST /v1/webhooks/intercom``: Intercom's ``X-Hub-Signature`` (or bearer token);
- ``POST /v1/webhooks/freshdesk``: cxpulse's automation-rule template, bearer token (or ``?token=``);
- ``GET /metrics``, ``/live``, ``/ready``.

Answers: 202 with how many events went to Kafka; 400 not JSON (or form); 401 bad or missing
credentials; 413 too large; 422 events the contract refuses (none of the request's events is
produced); 503 with ``Retry-After`` when Kafka did not acknowledge in time. Never a 2xx for an
event Kafka does not hold.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from metrics.contract.validation import Limits
from metrics.definitions import INGEST_SERIES
from metrics.documents import JsonObject
from metrics.export.worker import metric_for
from streams import web_config
from streams.ingest import signatures
from streams.ingest.adapters import PLATFORMS, WEBHOOKS, Adapter
from streams.ingest.adapters.common import Delivery, Lookups, Unmappable
from streams.ingest.contract_batch import Addressed, address, parse_body
from streams.ingest.sink import KafkaSink, Unavailable
from streams.settings import IngestSettings, Settings, reveal
from streams.web_config import WebConfig

log = logging.getLogger("cxpulse.ingest")
_MEDIA_TYPE = CONTENT_TYPE_LATEST.split("; charset")[0]
RETRY_AFTER_SECONDS = 5


class Refusal(Exception):
    """A request answered with an error status and a JSON reason."""

    def __init__(self, status: int, reason: str, detail: str, **extra: object) -> None:
        super().__init__(detail)
        self.status, self.reason, self.detail, self.extra = status, reason, detail, extra


class IngestMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        made = {key: metric_for(series, self.registry) for key, series in INGEST_SERIES.items()}
        self.requests = made["ingest_requests"]
        self.events = made["ingest_events"]
        self.ignored = made["ingest_ignored"]
        self.rejected = made["ingest_rejected"]
        self.seconds = made["ingest_request_seconds"]
        self.kafka_up = made["ingest_kafka_up"]


def lookups_from(settings: IngestSettings) -> Lookups:
    return Lookups(
        queues=settings.ingest_queues,
        channels={k.lower(): v for k, v in settings.ingest_channels.items()},
        escalation_groups=frozenset(settings.zendesk_escalation_groups),
        escalation_priorities=frozenset(p.lower() for p in settings.zendesk_escalation_priorities),
        escalation_tags=frozenset(t.lower() for t in settings.zendesk_escalation_tags),
        agent_queues={agent: tuple(queues) for agent, queues in settings.ingest_agent_queues.items()},
        zammad_escalation_groups=frozenset(settings.zammad_escalation_groups),
        zammad_escalation_priorities=frozenset(p.lower() for p in settings.zammad_escalation_priorities),
        exits=settings.exit_outcomes,
    )


class Gateway:
    def __init__(self, settings: Settings, sink: KafkaSink, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.sink = sink
        self.clock = clock
        self.metrics = IngestMetrics()
        self.senders = settings.ingest_senders()
        self.lookups = lookups_from(settings)
        # The worker's own limits, for webhooks too: what it would dead-letter (an event older
        # than CXPULSE_MAX_AGE_DAYS, say) is answered 422 here, where the sender can act on it.
        self.limits = settings.limits()
        self._secret = {  # each signing platform's secret, from its setting
            route: reveal(getattr(settings, p.signed.secret_setting))
            for route, p in PLATFORMS.items()
            if p.signed is not None
        }
        self._kafka_checked = 0.0
        self._kafka_up = False
        self._kafka_problem: str | None = None

    def app(self, protection: WebConfig | None = None) -> web.Application:
        """The routes; with a web-config file's users, ``/metrics`` asks for their basic auth."""
        guard = []
        if protection is not None and protection.users:
            guard.append(web_config.middleware(protection, lambda path: path == "/metrics"))
        app = web.Application(client_max_size=self.settings.ingest_max_body_bytes, middlewares=guard)
        app.router.add_post("/v1/events", self._handler("events", self._contract_events))
        for name in WEBHOOKS:
            app.router.add_post(f"/v1/webhooks/{name}", self._handler(name, self._webhook(name)))
        app.router.add_get("/metrics", self._metrics_page)
        app.router.add_get("/live", self._live)
        app.router.add_get("/ready", self._ready)
        app.on_cleanup.append(lambda _: self.sink.close())
        return app

    def _handler(
        self, source: str, handle: Callable[[web.Request, bytes], Awaitable[tuple[list[Addressed], int]]]
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        metrics = self.metrics

        async def respond(request: web.Request) -> web.Response:
            started = time.perf_counter()
            try:
                try:
                    body = await request.read()
                except web.HTTPRequestEntityTooLarge:
                    raise Refusal(413, "too_large", f"body over {self.settings.ingest_max_body_bytes} bytes "
                                  "(CXPULSE_INGEST_MAX_BODY_BYTES)") from None  # fmt: skip
                ready, ignored = await handle(request, body)
                try:
                    await self.sink.send(ready)
                except Unavailable as exc:
                    raise Refusal(
                        503, "kafka_unavailable", f"Kafka did not take the events: {exc}; retry"
                    ) from None
                metrics.events.labels(source).inc(len(ready))
                if ignored:
                    metrics.ignored.labels(source).inc(ignored)
                response = web.json_response({"accepted": len(ready), "ignored": ignored}, status=202)
            except Refusal as refusal:
                metrics.rejected.labels(source, refusal.reason).inc()
                body = {"error": refusal.reason, "detail": refusal.detail, **refusal.extra}
                headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if refusal.status == 503 else None
                response = web.json_response(body, status=refusal.status, headers=headers)
            metrics.requests.labels(source, str(response.status)).inc()
            metrics.seconds.labels(source).observe(time.perf_counter() - started)
            return response

        return respond

    def _authorize(self, request: web.Request, in_url: bool = False) -> str:
        """The sender named by the request's bearer token; with ``in_url``, a ``token`` query
        parameter may carry it instead (for platforms whose webhooks cannot set a header)."""
        header = request.headers.get("Authorization")
        if header is None and in_url and "token" in request.query:
            header = f"Bearer {request.query['token']}"
        sender = signatures.bearer_sender(header, self.senders)
        if sender is None:
            raise Refusal(401, "unauthorized", "missing or unknown bearer token (CXPULSE_INGEST_TOKENS)")
        return sender

    async def _contract_events(self, request: web.Request, body: bytes) -> tuple[list[Addressed], int]:
        self._authorize(request)
        try:
            docs = parse_body(body, request.content_type)
        except ValueError as exc:
            raise Refusal(400, "malformed", str(exc)) from None
        return self._checked(docs, self.limits), 0

    def _webhook(self, name: str) -> Callable[[web.Request, bytes], Awaitable[tuple[list[Addressed], int]]]:
        adapter: Adapter = WEBHOOKS[name]

        async def handle(request: web.Request, body: bytes) -> tuple[list[Addressed], int]:
            payload = await self._verified_payload(name, request, body)
            try:
                docs = adapter(payload, self.lookups)
            except Unmappable as exc:
                raise Refusal(422, "unmappable", str(exc)) from None
            return self._checked(docs, self.limits), 0 if docs else 1

        return handle

    async def _verified_payload(self, name: str, request: web.Request, body: bytes) -> JsonObject:
        """The request's payload once its sender is proven: by the platform's signature where it
        signs and the request carries one, else by a bearer token."""
        platform = PLATFORMS[name]
        form = [(k, str(v)) for k, v in (await request.post()).items()] if platform.form else []
        signed, secret = platform.signed, self._secret.get(name)
        if signed is not None and secret and signed.header in request.headers:
            base = self.settings.ingest_public_url
            url = f"{base.rstrip('/')}{request.path_qs}" if base else str(request.url)
            window = self.settings.ingest_replay_window_seconds
            why = signed.check(secret, Delivery(request.headers, body, url, form, self.clock(), window))
            if why:
                raise Refusal(401, "bad_signature", why)
        else:
            self._authorize(request, in_url=platform.token_in_url)
        if platform.form:
            return dict(form)
        try:
            docs = parse_body(body, "application/json")
        except ValueError as exc:
            raise Refusal(400, "malformed", str(exc)) from None
        if len(docs) != 1 or not isinstance(docs[0], dict):
            raise Refusal(400, "malformed", "a webhook request carries one JSON object")
        if platform.stamped:  # the platform sends no time of its own: the receipt is the best there is
            docs[0]["received_at"] = datetime.fromtimestamp(self.clock(), UTC).isoformat()
        return docs[0]

    def _checked(self, docs: list[object], limits: Limits) -> list[Addressed]:
        """Every event addressed, or a 413/422 refusal naming each bad one; nothing is produced then."""
        if len(docs) > self.settings.ingest_max_batch:
            limit = self.settings.ingest_max_batch
            detail = f"{len(docs)} events, limit {limit} (CXPULSE_INGEST_MAX_BATCH)"
            raise Refusal(413, "too_many_events", detail)
        ready, refused = address(docs, limits, self.clock())
        if refused:
            detail = f"{len(refused)} of {len(docs)} events refused; none was produced"
            events = [{"index": r.index, "reason": r.reason, "detail": r.detail} for r in refused[:100]]
            raise Refusal(422, refused[0].reason, detail, events=events)
        return ready

    async def _metrics_page(self, request: web.Request) -> web.Response:
        self.metrics.kafka_up.set(1 if self._kafka_up else 0)
        return web.Response(body=generate_latest(self.metrics.registry), content_type=_MEDIA_TYPE)

    async def _live(self, request: web.Request) -> web.Response:
        return web.Response(text="live\n")

    async def _ready(self, request: web.Request) -> web.Response:
        """200 when Kafka takes events (checked at most every 2 s); 503 with the reason otherwise."""
        if time.monotonic() - self._kafka_checked > 2.0:
            self._kafka_checked = time.monotonic()
            self._kafka_problem = await self.sink.problem()
            self._kafka_up = self._kafka_problem is None
        if self._kafka_up:
            return web.Response(text="ready\n")
        why = self._kafka_problem or "not checked yet"
        return web.Response(text=f"Kafka cannot take events: {why}\n", status=503)
