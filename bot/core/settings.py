"""One settings module: every path and knob of the product, overridable by WUYE_* environment variables."""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import List

from sqlalchemy.engine import make_url

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent  # bot/core/settings.py
STATIC_DIR = PROJECT_ROOT / "bot" / "static"  # the pages' HTML/CSS/JS, served under /static

# Environment the libraries read at import time (Rasa telemetry, TensorFlow's log noise): set before importing them.
# OPENBLAS_NUM_THREADS=1: a parse is one small sparse dot product; BLAS threads spinning beside the request
# threads only cost CPU on a 2-core server
PROCESS_ENV_DEFAULTS = {"RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2", "TF_ENABLE_ONEDNN_OPTS": "0",
                        "OPENBLAS_NUM_THREADS": "1"}


def apply_process_env_defaults() -> None:
    """Set :data:`PROCESS_ENV_DEFAULTS` unless the environment already has them (entry points call this first)."""
    for key, value in PROCESS_ENV_DEFAULTS.items():
        os.environ.setdefault(key, value)


def _path(env: str, default: Path) -> Path:
    value = os.environ.get(env)
    return Path(value).resolve() if value else default


def _local_secret() -> str:
    """Development secret: generated once per checkout into .wuye-secret (set WUYE_SECRET_KEY in production)."""
    import secrets

    path = PROJECT_ROOT / ".wuye-secret"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        value = secrets.token_urlsafe(32)
        path.write_text(value)
        path.chmod(0o600)
        return value


@dataclass(frozen=True)
class Settings:
    """Where the data, models and database live. Build with :func:`get_settings`."""

    root: Path = PROJECT_ROOT
    data_dir: Path = field(default_factory=lambda: _path("WUYE_DATA_DIR", PROJECT_ROOT / "data"))
    models_dir: Path = field(default_factory=lambda: _path("WUYE_MODELS_DIR", PROJECT_ROOT / "models"))
    rasa_config: Path = field(default_factory=lambda: _path("WUYE_RASA_CONFIG", PROJECT_ROOT / "bot" / "config.yml"))
    database_url: str = field(
        default_factory=lambda: os.environ.get("WUYE_DATABASE_URL", f"sqlite:///{PROJECT_ROOT / 'wuye.db'}")
    )
    max_message_chars: int = field(default_factory=lambda: int(os.environ.get("WUYE_MAX_MESSAGE_CHARS", "1000")))
    # threads running residents' turns in each server process (bot/realtime/live.py run_turn); measured on PostgreSQL with 16
    # clients: 2 threads 128–137 msg/s, p99 150–170 ms; asyncio's default 6: 100–123 msg/s, p99 255–270 ms (more
    # threads only fight over the GIL: 102 context switches a turn against 36)
    turn_threads: int = field(default_factory=lambda: max(1, int(os.environ.get("WUYE_TURN_THREADS", "2"))))
    secret_key: str = field(default_factory=lambda: os.environ.get("WUYE_SECRET_KEY") or _local_secret())
    upload_dir: Path = field(default_factory=lambda: _path("WUYE_UPLOAD_DIR", PROJECT_ROOT / "uploads"))
    max_upload_bytes: int = field(default_factory=lambda: int(os.environ.get("WUYE_MAX_UPLOAD_BYTES", str(5 * 1024 * 1024))))
    agent_timeout_seconds: float = field(default_factory=lambda: float(os.environ.get("WUYE_AGENT_TIMEOUT", "120")))
    secure_cookies: bool = field(default_factory=lambda: os.environ.get("WUYE_SECURE_COOKIES", "0") == "1")
    redis_url: str = field(default_factory=lambda: os.environ.get("WUYE_REDIS_URL", ""))
    # Every Redis channel and key of this deployment starts with "wuye:<namespace>:" (bot/realtime/events.py): two deployments
    # sharing one Redis server never see each other's events (pub/sub ignores the db number). Empty: derived from
    # the database URL, so deployments on different databases differ without configuration.
    redis_namespace: str = field(default_factory=lambda: os.environ.get("WUYE_REDIS_NAMESPACE", ""))
    # /metrics from outside the internal network (or through nginx) needs "Authorization: Bearer <this>"
    metrics_token: str = field(default_factory=lambda: os.environ.get("WUYE_METRICS_TOKEN", ""))
    # Peers whose X-Real-IP header names the client (nginx in front, deploy/nginx): limits per address read it
    trusted_proxies: tuple = field(default_factory=lambda: tuple(
        p.strip() for p in os.environ.get("WUYE_TRUSTED_PROXIES", "127.0.0.1,::1").split(",") if p.strip()))
    # Origins besides the server's own from which browsers may change state with our cookies (bot/access/csrf.py),
    # comma-separated, e.g. "https://wuye.example.com"
    allowed_origins: tuple = field(default_factory=lambda: tuple(
        o.strip() for o in os.environ.get("WUYE_ALLOWED_ORIGINS", "").split(",") if o.strip()))
    wechat_token: str = field(default_factory=lambda: os.environ.get("WUYE_WECHAT_TOKEN", ""))
    wechat_app_id: str = field(default_factory=lambda: os.environ.get("WUYE_WECHAT_APP_ID", ""))
    wechat_app_secret: str = field(default_factory=lambda: os.environ.get("WUYE_WECHAT_APP_SECRET", ""))
    wechat_aes_key: str = field(default_factory=lambda: os.environ.get("WUYE_WECHAT_AES_KEY", ""))
    wechat_api_base: str = field(default_factory=lambda: os.environ.get("WUYE_WECHAT_API_BASE", "https://api.weixin.qq.com"))
    # "production": `wuye serve` refuses demo passwords, the development secret and plain-HTTP cookies (bot/tools/cli.py)
    env: str = field(default_factory=lambda: os.environ.get("WUYE_ENV", "development").strip().lower())
    # How long each kind of personal data is kept (days; bot/storage/retention.py deletes or blanks what is older,
    # run by the timers loop every retention_poll_seconds and by `wuye retention run`). Privacy by default
    # (issue 26 point 5): nothing is kept longer than the service needs it.
    retention_messages_days: int = field(default_factory=lambda: int(os.environ.get("WUYE_RETENTION_MESSAGES_DAYS", "730")))
    # callback phones and work-order contact phones, counted from when the case closed
    retention_phones_days: int = field(default_factory=lambda: int(os.environ.get("WUYE_RETENTION_PHONES_DAYS", "180")))
    retention_photos_days: int = field(default_factory=lambda: int(os.environ.get("WUYE_RETENTION_PHOTOS_DAYS", "365")))
    # counted from the code's expiry: a code is useless after it, kept one day for support questions
    retention_codes_days: int = field(default_factory=lambda: int(os.environ.get("WUYE_RETENTION_CODES_DAYS", "1")))
    # rate events and seen-message keys: the longest limit window is an hour, a WeChat retry minutes
    retention_logs_days: int = field(default_factory=lambda: int(os.environ.get("WUYE_RETENTION_LOGS_DAYS", "30")))
    retention_poll_seconds: float = field(default_factory=lambda: float(os.environ.get("WUYE_RETENTION_POLL", "3600")))
    host: str = field(default_factory=lambda: os.environ.get("WUYE_HOST", "127.0.0.1"))  # `wuye serve`
    port: int = field(default_factory=lambda: int(os.environ.get("WUYE_PORT", "8000")))

    @property
    def deployment_namespace(self) -> str:
        """The Redis namespace: WUYE_REDIS_NAMESPACE, else a digest of the database URL (its password left out)."""
        if self.redis_namespace:
            return self.redis_namespace
        try:
            url = make_url(self.database_url).render_as_string(hide_password=True)
        except Exception:  # noqa: BLE001 - an unparsable URL fails at the database; any stable digest will do here
            url = self.database_url
        return "db-" + hashlib.sha256(url.encode()).hexdigest()[:12]

    @property
    def nlu_dir(self) -> Path:
        return self.data_dir / "nlu"

    @property
    def faq_dir(self) -> Path:
        return self.data_dir / "faq"

    @property
    def dictionary_dir(self) -> Path:
        return self.nlu_dir / "dict"

    @property
    def lexicon_dir(self) -> Path:
        """General-knowledge names by category (bot/nlu/lexicon.py)."""
        return self.nlu_dir / "lexicon"

    @property
    def normalize_dir(self) -> Path:
        """The normaliser's tables (Cantonese, English, pinyin abbreviations, homophones)."""
        return self.nlu_dir / "normalize"

    @property
    def styles_heldout_file(self) -> Path:
        return self.root / "tests" / "heldout" / "styles.yml"

    @property
    def styles_b_heldout_file(self) -> Path:
        """The second styles set (two more authors, written from the spec and the FAQ answers only)."""
        return self.root / "tests" / "heldout" / "styles_b.yml"

    @property
    def followups_heldout_file(self) -> Path:
        return self.root / "tests" / "heldout" / "followups.yml"

    @property
    def emotion_file(self) -> Path:
        return self.nlu_dir / "emotion.yml"

    @property
    def communities_file(self) -> Path:
        return self.data_dir / "communities.yml"

    @property
    def generated_faq_nlu(self) -> Path:
        """Rasa training data generated from data/faq (git-ignored; rebuilt by `wuye train`)."""
        return self.nlu_dir / "generated" / "faq.yml"

    @property
    def heldout_file(self) -> Path:
        return self.root / "tests" / "heldout" / "heldout.yml"

    @property
    def uncovered_dev_file(self) -> Path:
        """Questions on topics no entry covers, the development set (U1): open for choosing, unlike the held-out."""
        return self.root / "tests" / "dev" / "uncovered.yml"

    @property
    def uncovered_heldout_files(self) -> List[Path]:
        """Questions on topics no entry covers (issue 27), two authors (U2, U6), each written from the spec only."""
        return [self.root / "tests" / "heldout" / name for name in ("uncovered.yml", "uncovered_b.yml")]

    @property
    def urgency_heldout_files(self) -> List[Path]:
        """Urgency near-misses both ways (issue 25), two authors (N2, N3), each written from the spec only."""
        return [self.root / "tests" / "heldout" / name for name in ("urgency_near_miss.yml", "urgency_near_miss_b.yml")]


def agent_max_conversations() -> int:
    """WUYE_AGENT_MAX_CONVERSATIONS (default 5): the conversations one agent may own at once — a claim beyond it is
    refused and auto-assignment skips them. Read when used, so it is the same for every process of a deployment."""
    return max(1, int(os.environ.get("WUYE_AGENT_MAX_CONVERSATIONS", "5")))


def auto_assign() -> bool:
    """WUYE_AUTO_ASSIGN=1: a new handoff goes straight to the least-loaded available agent of its team (else the
    general queue's), instead of waiting in the queue for a claim (bot/handoffs/teams.py)."""
    return os.environ.get("WUYE_AUTO_ASSIGN", "0") == "1"


def get_settings() -> Settings:
    return Settings()
