"""Version of the control-API contract.

Bump :data:`PROTOCOL_VERSION` whenever a request, response or event changes incompatibly.
Every response carries it in the :data:`PROTOCOL_HEADER` header; the CLI warns once on mismatch.
"""

PROTOCOL_VERSION = 1
PROTOCOL_HEADER = "X-Voicecall-Protocol"
API_PREFIX = "/v1"
