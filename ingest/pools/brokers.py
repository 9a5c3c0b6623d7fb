"""The brokers and result stores Celery runs on, and what differs between them.

| --broker-url | --result-backend  | results                                                            |
|--------------|-------------------|--------------------------------------------------------------------|
| redis://     | (the broker)      | kept in that Redis; the driver collects them with MGET             |
| amqp://      | rpc:// (default)  | messages on a durable queue of the driver's, on the same RabbitMQ  |
| amqp://      | redis://          | kept in that Redis                                                 |

Tasks are acknowledged after the work on both brokers. A Redis broker loses its queues when it restarts (the
driver sends what was unanswered again); RabbitMQ keeps its durable queues and persistent messages, and delivers
again the tasks whose worker it lost.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ingest.errors import ConfigError
from ingest.redact import redact_url

if TYPE_CHECKING:
    from celery import Celery

REDIS = ("redis://", "rediss://")
AMQP = ("amqp://", "amqps://")
RPC = "rpc://"
BROKER_SCHEMES = REDIS + AMQP
RESULT_SCHEMES = (RPC, *REDIS)
_REDIS_PRIORITIES = (0, 3, 6)  # by Task.rank: kombu's Redis priority steps (0, 3, 6, 9), 0 read first
_AMQP_PRIORITIES = (2, 1, 0)  # RabbitMQ delivers the highest first, up to the queue's x-max-priority
AMQP_MAX_PRIORITY = 2


def result_store(broker_url: str, results: str | None) -> str:
    """The result store a broker works with: ``results`` where that combination works, else its default."""
    if broker_url.startswith(REDIS):
        if results and results != broker_url:
            raise ConfigError(
                f"--result-backend {redact_url(results)} with a redis:// broker: the results are kept in the "
                "broker's own Redis; leave --result-backend out"
            )
        return broker_url
    if not results:
        return RPC
    if results == RPC or results.startswith(REDIS):
        return results
    raise ConfigError(
        f"--result-backend {redact_url(results)} with an amqp:// broker: use rpc:// (the default) or a redis:// URL"
    )


def priority(broker_url: str, rank: int) -> int:
    """The message priority of a task of this rank (0: a long PDF's merge, 1: its ranges, 2: whole documents)."""
    return (_AMQP_PRIORITIES if broker_url.startswith(AMQP) else _REDIS_PRIORITIES)[rank]


def configure(app: Celery, broker_url: str, results: str) -> Celery:
    """``app`` on this broker and result store; on RabbitMQ its queues are declared with priorities."""
    app.conf.update(
        broker_url=broker_url,
        result_backend=results,
        result_persistent=True,  # rpc:// replies survive a broker restart
        task_queue_max_priority=AMQP_MAX_PRIORITY if broker_url.startswith(AMQP) else None,
    )
    return app


def check_reachable(app: Celery, broker_url: str) -> None:
    """Connect to the broker and the result store once; either away is a ConfigError naming the URL."""
    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=10)
    except Exception as exc:  # noqa: BLE001 - kombu and py-amqp raise several types for a server that is away
        raise unreachable(broker_url, exc) from None
    if app.conf.result_backend.startswith(REDIS):
        try:
            app.backend.client.ping()
        except Exception as exc:  # noqa: BLE001 - redis-py's errors
            raise unreachable(app.conf.result_backend, exc, "result store", "--result-backend") from None


def unreachable(url: str, exc: Exception, what: str = "broker", flag: str = "--broker-url") -> ConfigError:
    server = "redis-server" if url.startswith(REDIS) else "rabbitmq-server"
    return ConfigError(
        f"Cannot reach the {what} at {redact_url(url)}: {type(exc).__name__}: {redact_url(str(exc))}; start "
        f"{server} there or check {flag}"
    )
