"""Wire-faithful fake carriers for tests, benchmarks and ``voicecall demo``."""
