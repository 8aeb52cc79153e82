"""``python -m voicecall_cli`` runs the ``voicecall`` CLI."""

from voicecall_cli.cli.main import main

if __name__ == "__main__":
    main()
