"""Container/host health probe: exit 0 when GET /healthz answers 200, else 1. Standard library only.

URL from CRYPTORADAR_HEALTH_URL (default http://127.0.0.1:8765/healthz). /healthz never needs the token.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

URL = os.environ.get("CRYPTORADAR_HEALTH_URL", "http://127.0.0.1:8765/healthz")


def main() -> int:
    try:
        with urllib.request.urlopen(URL, timeout=4) as response:
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError) as e:
        print(f"healthcheck: {URL}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
