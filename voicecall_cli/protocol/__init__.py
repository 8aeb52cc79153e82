"""The control-API contract shared by the ``voicecall`` CLI and its daemon (stdlib only).

Re-exports the names both sides use; import from here, not from the submodules.
"""

from voicecall_cli.protocol.errors import HTTP_STATUS, ApiError, ErrorCode, error_body
from voicecall_cli.protocol.messages import (
    CALL_LIST_LIMIT,
    CALL_MODES,
    CALL_STATE_GROUPS,
    REQUESTS,
    CallsRequest,
    ContinueRequest,
    DoctorRequest,
    DtmfRequest,
    EndRequest,
    ExposeRequest,
    InitiateRequest,
    LatencyRequest,
    ReloadRequest,
    Request,
    SpeakRequest,
    StatusRequest,
    StopRequest,
)
from voicecall_cli.protocol.paths import (
    CONFIG_ENV,
    SOCKET_ENV,
    default_config_path,
    default_socket_path,
    default_state_dir,
    open_private_append,
    resolve_config_path,
    resolve_socket_path,
)
from voicecall_cli.protocol.version import API_PREFIX, PROTOCOL_HEADER, PROTOCOL_VERSION

__all__ = [
    "API_PREFIX",
    "CALL_LIST_LIMIT",
    "CALL_MODES",
    "CALL_STATE_GROUPS",
    "CONFIG_ENV",
    "HTTP_STATUS",
    "PROTOCOL_HEADER",
    "PROTOCOL_VERSION",
    "REQUESTS",
    "SOCKET_ENV",
    "ApiError",
    "CallsRequest",
    "ContinueRequest",
    "DoctorRequest",
    "DtmfRequest",
    "EndRequest",
    "ErrorCode",
    "ExposeRequest",
    "InitiateRequest",
    "LatencyRequest",
    "ReloadRequest",
    "Request",
    "SpeakRequest",
    "StatusRequest",
    "StopRequest",
    "default_config_path",
    "default_socket_path",
    "default_state_dir",
    "error_body",
    "open_private_append",
    "resolve_config_path",
    "resolve_socket_path",
]
