"""voicecall: AI phone calls from a terminal, a shell script or an agent.

Importing this package stays cheap: it holds the version only.
"""

__version__ = "0.1.0"
