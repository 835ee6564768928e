"""Background retraining: a new model replaces the serving one only once it is loaded; the old one serves meanwhile."""
from __future__ import annotations

import datetime as dt
import logging
import threading
from typing import Any, Dict

from bot.nlu.parser import NluParser
from bot.nlu.training import train
from bot.reporting import metrics

logger = logging.getLogger(__name__)


class Trainer:
    """Retrains in a background thread; the new model replaces the old one only when it is loaded."""

    def __init__(self, services) -> None:
        self._services = services
        self._lock = threading.Lock()
        self._again = False
        self._stopped = False  # the app is stopping: nothing more is trained or swapped in
        self.state: Dict[str, Any] = {"state": "idle", "model": getattr(services.parser, "model_path", None) and
                                      services.parser.model_path.name, "error": None, "started": None, "finished": None}
        listeners = getattr(getattr(services, "knowledge", None), "listeners", None)
        if listeners is not None:  # another instance (or a hand edit) changed the questions on disk
            listeners.append(self._knowledge_changed)

    def _knowledge_changed(self, old, new) -> None:
        if old.questions_fingerprint_items() != new.questions_fingerprint_items():
            logger.info("FAQ questions changed on disk: retraining in the background")
            self.schedule()

    def stop(self) -> None:
        """At shutdown: a retrain under way may finish, but its model is not swapped in or reported (the process-wide
        metrics would otherwise name a model of an app that is gone)."""
        with self._lock:
            self._stopped = True

    def schedule(self) -> None:
        with self._lock:
            if self._stopped:
                return
            if self.state["state"] == "training":
                self._again = True
                return
            self.state.update(state="training", started=dt.datetime.now().isoformat(timespec="seconds"), error=None)
        threading.Thread(target=self._run, name="wuye-retrain", daemon=True).start()

    def _run(self) -> None:

        while True:
            try:
                result = train(self._services.settings)
                parser = NluParser.load(result.model_path, knowledge=getattr(self._services.parser, "knowledge", None))
                with self._lock:
                    if self._stopped:
                        return
                self._services.engine.parser = parser  # atomic swap: requests in flight finish on the old one
                self._services.parser = parser
                with self._lock:
                    self.state.update(model=result.model_path.name, error=None)
                metrics.model_loaded(parser)
                metrics.TRAINING.labels("ok").inc()
            except Exception as exc:  # noqa: BLE001 - report, keep serving the old model
                if self._stopped:
                    return  # the app is gone (its data directory with it): nothing to report
                metrics.TRAINING.labels("failed").inc()
                logger.exception("background retraining failed")
                with self._lock:
                    self.state.update(error=str(exc))
            with self._lock:
                if self._again:
                    self._again = False
                    continue
                self.state.update(state="idle" if not self.state["error"] else "failed",
                                  finished=dt.datetime.now().isoformat(timespec="seconds"))
                return
