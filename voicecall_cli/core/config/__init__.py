"""The configuration model: schema, loading, environment fallbacks, validation, redaction.

Import from here. The CLI imports this package lazily (``config`` command only); the daemon
loads once at start with :func:`load_config` and then calls :func:`check_startup`, the same
check ``voicecall config validate`` makes, so the two agree.
"""

from voicecall_cli.core.config.errors import ConfigError, ConfigIssue
from voicecall_cli.core.config.load import build_config, load_config, parse_config_text
from voicecall_cli.core.config.merge import BLOCKED_KEYS, deep_merge
from voicecall_cli.core.config.model import DISABLED_MESSAGE, VoiceCallConfig, normalize_url_path
from voicecall_cli.core.config.redact import REDACTED, redact
from voicecall_cli.core.config.schema import (
    IMPLEMENTED_PROVIDERS,
    MOCK_FROM_NUMBER,
    PROVIDERS,
    SECRET_PATHS,
)
from voicecall_cli.core.config.starter import starter_config_toml
from voicecall_cli.core.config.support import check_startup, startup_issues

__all__ = [
    "BLOCKED_KEYS",
    "DISABLED_MESSAGE",
    "IMPLEMENTED_PROVIDERS",
    "MOCK_FROM_NUMBER",
    "PROVIDERS",
    "REDACTED",
    "SECRET_PATHS",
    "ConfigError",
    "ConfigIssue",
    "VoiceCallConfig",
    "build_config",
    "check_startup",
    "deep_merge",
    "load_config",
    "normalize_url_path",
    "parse_config_text",
    "redact",
    "starter_config_toml",
    "startup_issues",
]
