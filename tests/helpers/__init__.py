"""Reusable real test servers: live endpoints (``liveserver``) and git repositories served over
``git://`` (``gitserver``). Everything listens on 127.0.0.1 only and stops cleanly at teardown."""
