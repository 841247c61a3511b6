"""What the commands share: settings from options and the environment, and Kafka failures explained."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, TypeVar

import click

from streams.settings import KafkaAccessSettings, Settings

if TYPE_CHECKING:
    from streams.cluster.topics import TopicSpec

C = TypeVar("C", bound=Callable[..., object])

SETTING_OPTIONS = [
    click.option("--broker", help="Kafka bootstrap servers, e.g. kafka://127.0.0.1:9092 [CXPULSE_BROKER]."),
    click.option("--app-id", help="Consumer group id and internal topic prefix [CXPULSE_APP_ID]."),
    click.option(
        "--partitions", type=int, help="Partitions of source and internal topics [CXPULSE_PARTITIONS]."
    ),
    click.option("--tickets-topic", help="Ticket events topic [CXPULSE_TICKETS_TOPIC]."),
    click.option("--calls-topic", help="Call events topic [CXPULSE_CALLS_TOPIC]."),
    click.option("--surveys-topic", help="Survey answers topic [CXPULSE_SURVEYS_TOPIC]."),
    click.option("--customers-topic", help="Customer lifecycle topic [CXPULSE_CUSTOMERS_TOPIC]."),
    click.option("--agents-topic", help="Agent state changes topic [CXPULSE_AGENTS_TOPIC]."),
]


def settings_options(func: C) -> C:
    for option in reversed(SETTING_OPTIONS):
        func = option(func)
    return func


def load_settings(**overrides: object) -> Settings:
    """Environment first, command-line options on top; a bad value stops with what is wrong."""
    from pydantic import ValidationError

    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(
            f"CXPULSE_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" if e["loc"] else e["msg"]
            for e in exc.errors()
        )
        raise click.ClickException(f"invalid settings: {problems}") from None


@contextlib.contextmanager
def kafka_errors(settings: KafkaAccessSettings) -> Iterator[None]:
    """Turn a failure to reach Kafka into one line naming the setting most likely to fix it."""
    from streams.cluster.connection_log import connection_errors

    with connection_errors() as causes:
        try:
            yield
        except click.ClickException:
            raise
        except Exception as exc:
            raise click.ClickException(settings.kafka().explain(exc, causes)) from exc


def prepare_topics(settings: KafkaAccessSettings, specs: list[TopicSpec]) -> None:
    """Create what is missing and wait until the brokers list it; stop with what to fix if not."""
    from streams.cluster.topics import TopicLayoutError, ensure_topics

    with kafka_errors(settings):
        try:
            created = ensure_topics(settings.kafka(), specs)
        except (TopicLayoutError, TimeoutError) as exc:
            raise click.ClickException(str(exc)) from exc
    if created:
        click.echo(f"created {len(created)} topics: {', '.join(created)}", err=True)
