"""Loading: file or text in, a validated :class:`VoiceCallConfig` (or a :class:`ConfigError`) out.

The pipeline, in order: parse; unwrap a whole OpenClaw file; rewrite legacy values (with a
warning); deep-merge ``tts`` over ``messages.tts``; fill unset keys from the environment; check
the schema and fill defaults; resolve paths; check the carrier's credentials; collect the
warnings (risky settings, settings this build does not act on). Every issue from every stage
after parsing is reported together. What would stop the daemon from starting is checked
separately, by :func:`.support.check_startup`.

Only :func:`load_config` touches the file system (one read); the environment is always a
parameter.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from voicecall_cli.core.config.env import apply_env_fallbacks
from voicecall_cli.core.config.errors import ConfigError, ConfigIssue
from voicecall_cli.core.config.exposure import exposure_warnings
from voicecall_cli.core.config.fields import Checker
from voicecall_cli.core.config.merge import deep_merge
from voicecall_cli.core.config.model import VoiceCallConfig
from voicecall_cli.core.config.openclaw import unwrap
from voicecall_cli.core.config.parse import parse_text
from voicecall_cli.core.config.support import unused_setting_warnings
from voicecall_cli.core.config.validate import check_provider, check_schema, collect_warnings
from voicecall_cli.protocol.paths import CONFIG_ENV, default_state_dir, resolve_config_path


def load_config(path: Path | None, env: Mapping[str, str], *, explicit: bool) -> VoiceCallConfig:
    """Read and validate the configuration file at ``path``.

    ``path`` None means the usual location (``VOICECALL_CONFIG``, else the XDG default); a
    ``VOICECALL_CONFIG`` location counts as explicit. A missing file is an error only when the
    location is explicit; otherwise the defaults apply (mock provider). Relative ``store`` and
    ``controlSocket`` paths are taken relative to the file's directory.
    """
    if path is None:
        path = resolve_config_path(None, env)
        explicit = explicit or bool(env.get(CONFIG_ENV))
    label = str(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        if explicit:
            raise ConfigError.single(label, "config file not found") from None
        return build_config({}, env)
    except UnicodeDecodeError:
        raise ConfigError.single(label, "the config file is not UTF-8 text") from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError.single(label, f"cannot read the config file: {reason}") from None
    raw = parse_text(text, path.suffix, label)
    return build_config(raw, env, source=path)


def parse_config_text(text: str, suffix: str, env: Mapping[str, str], *,
                      source: str = "<string>") -> VoiceCallConfig:
    """Validate configuration ``text`` in the format named by ``suffix`` (pure: no file I/O).

    ``source`` names the text in parse-error messages.
    """
    return build_config(parse_text(text, suffix, source), env)


def build_config(raw: dict[str, Any], env: Mapping[str, str], *,
                 source: Path | None = None) -> VoiceCallConfig:
    """Validate a parsed mapping (our config, or a whole OpenClaw config) against ``env``."""
    found = unwrap(raw)
    config = copy.deepcopy(found.config)
    warnings = list(found.warnings)
    _rewrite_legacy(config, warnings, found.prefix)
    written = copy.deepcopy(config)  # what the file says, for "not used" warnings
    if found.tts_base is not None or isinstance(config.get("tts"), dict):
        override = config.get("tts")
        if override is None or isinstance(override, dict):
            config["tts"] = deep_merge(found.tts_base or {}, override or {})
    provider = config.get("provider")
    env_sources = apply_env_fallbacks(config, env, provider if isinstance(provider, str) else None)

    data, checker = check_schema(config, found.prefix)
    base_dir = source.parent if source is not None else None
    data["store"] = _resolve_user_path(data.get("store") or str(default_state_dir(env)),
                                       env, base_dir)
    if data.get("controlSocket"):
        data["controlSocket"] = _resolve_user_path(data["controlSocket"], env, base_dir)
    disabled_path = found.disabled_path
    if disabled_path is None and data.get("enabled") is False:
        disabled_path = checker.full("enabled")
    if disabled_path is None:
        check_provider(data, checker)
    if checker.issues:
        raise ConfigError(_name_env_sources(checker, env_sources))
    key = checker.full
    warnings += (collect_warnings(data, key) + exposure_warnings(data, written, key)
                 + unused_setting_warnings(data, written, key))
    return VoiceCallConfig(data, source=source, warnings=warnings, env_sources=env_sources,
                           disabled_path=disabled_path, key_prefix=found.prefix)


def _rewrite_legacy(config: dict[str, Any], warnings: list[str], prefix: str) -> None:
    """``provider = "log"`` becomes ``mock``; ``twilio.from`` becomes ``fromNumber``."""
    checker = Checker(prefix)
    if config.get("provider") == "log":
        config["provider"] = "mock"
        warnings.append(f'{checker.full("provider")} "log" is deprecated: using "mock"')
    twilio = config.get("twilio")
    if isinstance(twilio, dict) and "from" in twilio:
        legacy_from = twilio.pop("from")
        if config.get("fromNumber") is None:
            config["fromNumber"] = legacy_from
        warnings.append(f'{checker.full("twilio.from")} is deprecated: use '
                        f'{checker.full("fromNumber")}')


def _resolve_user_path(value: str, env: Mapping[str, str], base_dir: Path | None) -> str:
    """Expand ``~`` (with ``HOME`` from ``env`` when given) and anchor relative paths at
    ``base_dir`` (the config file's directory) when there is one."""
    if value == "~" or value.startswith("~/"):
        home = env.get("HOME")
        value = home + value[1:] if home else os.path.expanduser(value)
    elif value.startswith("~"):
        value = os.path.expanduser(value)
    path = Path(value)
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    return str(path)


def _name_env_sources(checker: Checker, env_sources: Mapping[str, str]) -> list[ConfigIssue]:
    """Issues about values that came from the environment say which variable held them."""
    by_full_path = {checker.full(path): var for path, var in env_sources.items()}
    return [ConfigIssue(issue.path, f"{issue.message} (value from {by_full_path[issue.path]})")
            if issue.path in by_full_path else issue for issue in checker.issues]
