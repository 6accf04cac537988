"""``python -m maas``: the command line, as the ``maas`` command."""

from maas.cli.app import main

if __name__ == "__main__":
    main()
