"""``python -m assistant_crm.sandbox --port 8701``."""

import sys

from assistant_crm.sandbox import main

if __name__ == "__main__":
    sys.exit(main())
