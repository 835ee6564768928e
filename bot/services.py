"""What the routers and channels use, built once at start-up: :class:`Services` and :func:`build_services`.

Routes reach it through the typed dependencies of ``bot/api/deps.py``, never through ``app.state`` directly.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional

from bot.settings import Settings

if TYPE_CHECKING:  # pragma: no cover - types only; the real imports are heavy and happen in build_services
    from bot.engine import ConversationEngine
    from bot.events import EventHub
    from bot.knowledge import KnowledgeHolder
    from bot.storage.db import Database
    from bot.timers import Timers
    from bot.trainer import Trainer
    from connectors.wechat import WeChatChannel

logger = logging.getLogger(__name__)


@dataclass
class Services:
    """What the routers use, built once at start-up."""

    settings: Settings
    parser: Any
    db: "Database"
    engine: "ConversationEngine"
    knowledge: "KnowledgeHolder"
    hub: "EventHub" = None  # type: ignore[assignment]
    presence: Dict[int, int] = field(default_factory=dict)  # staff id → open /ws/agent sockets
    trainer: Optional["Trainer"] = None
    wechat: Optional["WeChatChannel"] = None
    timers: Optional["Timers"] = None
    turn_executor: Any = None  # the threads that run residents' turns (settings.turn_threads)
    queue_refresh: Any = None  # the task publishing the agents' queue (bot/live.py queue_changed)
    queue_dirty: bool = False  # the queue changed since that task last read it
    parse_limiter: Any = None  # /api/parse per address (bot.limits.LocalWindow)

    @property
    def clock(self) -> Callable[[], dt.datetime]:
        """The one clock of the app (the engine's; tests replace it)."""
        return self.engine.clock


def build_services(settings: Settings, parser: Optional[Any] = None, clock: Optional[Any] = None) -> Services:
    """Everything heavy, built once at start-up: the model, the database, the engine and the channels."""
    from bot.community import sync_communities
    from bot.engine import ConversationEngine
    from bot.events import EventHub, RedisEventHub
    from bot.limits import LocalWindow
    from bot.knowledge import KnowledgeHolder
    from bot.notify import LogSmsSender
    from bot.storage.db import open_database
    from bot.timers import Timers
    from bot.trainer import Trainer
    from connectors.wechat import WeChatChannel

    if parser is None:
        from bot.nlu.parser import NluParser
        from bot.nlu.training import train

        result = train(settings)  # no-op when the model is up to date
        parser = NluParser.load(result.model_path)
        logger.info("NLU model %s loaded in %.1f s", result.model_path.name, parser.load_seconds)
    db = open_database(settings.database_url)
    knowledge = KnowledgeHolder(settings)
    with db.session() as session:
        sync_communities(session, knowledge.current.communities)
    engine = ConversationEngine(db=db, parser=parser, kb_provider=knowledge, sms=LogSmsSender(),
                                max_chars=settings.max_message_chars)
    if clock is not None:
        engine.clock = clock
    hub = RedisEventHub(settings.redis_url, settings.deployment_namespace) if settings.redis_url else EventHub()
    services = Services(settings=settings, parser=parser, db=db, engine=engine, knowledge=knowledge, hub=hub,
                        parse_limiter=LocalWindow(engine.limits.parse_per_client))
    import concurrent.futures

    services.turn_executor = concurrent.futures.ThreadPoolExecutor(max_workers=settings.turn_threads,
                                                                   thread_name_prefix="wuye-turn")
    services.trainer = Trainer(services)
    services.wechat = WeChatChannel(services)
    services.timers = Timers(services)
    from bot import metrics

    metrics.model_loaded(parser)
    return services
