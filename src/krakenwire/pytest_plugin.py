"""pytest plugin (entry point ``pytest11``): gives any project a Kraken sandbox fixture.

Off unless a test asks for the ``kraken_sandbox`` fixture; nothing is imported or started
otherwise.
"""
