"""The webhook HTTP server and its lean webhook pipeline."""
