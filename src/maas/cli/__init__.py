"""The ``maas`` command line: remote commands over the SDK, local admin over the services."""
