"""One module per ``voicecall`` command."""
