"""What the routers and channels use, built once at start-up: :class:`Services` and :func:`build_services`.

Routes reach it through the typed dependencies of ``bot/api/deps.py``, never through ``app.state`` directly.
"""
from __future__ import annotations

import concurrent.futures
import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Optional

from bot.access.limits import LocalWindow
from bot.conversation.engine import ConversationEngine
from bot.core.notify import LogSmsSender
from bot.core.settings import Settings
from bot.kb.community import sync_communities
from bot.kb.knowledge import KnowledgeHolder
from bot.nlu.matching import entry_model_of
from bot.nlu.parser import NluParser
from bot.nlu.training import train
from bot.realtime import live
from bot.realtime.events import EventHub, RedisEventHub
from bot.reporting import metrics
from bot.storage.db import Database, open_database
from bot.timers import Timers
from bot.trainer import Trainer

logger = logging.getLogger(__name__)


@dataclass
class Services:
    """What the routers use, built once at start-up."""

    settings: Settings
    parser: Any
    db: Database
    engine: ConversationEngine
    knowledge: KnowledgeHolder
    hub: EventHub = None  # type: ignore[assignment]
    presence: Dict[int, int] = field(default_factory=dict)  # staff id → open /ws/agent sockets
    trainer: Optional[Trainer] = None
    wechat: Any = None  # connectors.wechat.WeChatChannel, set by bot/main.py (only main imports the channels)
    timers: Optional[Timers] = None
    turn_executor: Any = None  # the threads that run residents' turns (settings.turn_threads)
    queue_refresh: Any = None  # the task publishing the agents' queue (bot/realtime/live.py queue_changed)
    queue_dirty: bool = False  # the queue changed since that task last read it
    parse_limiter: Any = None  # /api/parse per address (bot.access.limits.LocalWindow)

    @property
    def clock(self) -> Callable[[], dt.datetime]:
        """The one clock of the app (the engine's; tests replace it)."""
        return self.engine.clock


def prime_entry_model(parser: Any, kb: Any) -> None:
    """Train a knowledge base version's entry model before a message needs it (bot/nlu/matching.py)."""
    if getattr(parser, "knowledge", None) is not None and getattr(parser, "label_counts", None) is not None:
        entry_model_of(kb, parser.normalize, parser.entry_owner)


def build_services(settings: Settings, parser: Optional[Any] = None, clock: Optional[Any] = None) -> Services:
    """Everything heavy, built once at start-up: the model, the database, the engine and the channels."""

    if parser is None:

        result = train(settings)  # no-op when the model is up to date
        parser = NluParser.load(result.model_path)
        logger.info("NLU model %s loaded in %.1f s", result.model_path.name, parser.load_seconds)
    db = open_database(settings.database_url)
    knowledge = KnowledgeHolder(settings)
    if hasattr(parser, "with_knowledge"):  # readings follow the knowledge base served (young entries, retired ones)
        parser = parser.with_knowledge(knowledge)
    with db.session() as session:
        sync_communities(session, knowledge.current.communities)
    engine = ConversationEngine(db=db, parser=parser, kb_provider=knowledge, sms=LogSmsSender(),
                                max_chars=settings.max_message_chars)
    if clock is not None:
        engine.clock = clock
    hub = RedisEventHub(settings.redis_url, settings.deployment_namespace) if settings.redis_url else EventHub()
    services = Services(settings=settings, parser=parser, db=db, engine=engine, knowledge=knowledge, hub=hub,
                        parse_limiter=LocalWindow(engine.limits.parse_per_client))
    services.turn_executor = concurrent.futures.ThreadPoolExecutor(max_workers=settings.turn_threads,
                                                                   thread_name_prefix="wuye-turn")
    services.trainer = Trainer(services)
    # a new version (an admin's save, or a file changed on disk) gets its entry model at once, off the request path
    knowledge.on_version.append(lambda kb: prime_entry_model(services.parser, kb))
    services.timers = Timers(services)
    live.handle_signals(services)

    metrics.model_loaded(parser)
    return services
