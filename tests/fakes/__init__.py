"""Local fakes of remote services for tests: real aiohttp servers on 127.0.0.1 that validate payloads,
enforce rate limits and answer errors like the real thing (see /work/shared/alert-channels.md).

Import as `from fakes.discord import FakeDiscord` (pytest puts `tests/` on sys.path via the root conftest).
"""
