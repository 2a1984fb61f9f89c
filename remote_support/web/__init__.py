"""The support team's web view and JSON API over the journal (``remote-support serve``).

- :mod:`.app`: the application factory, security headers, error pages (401/403/404);
- :mod:`.auth`: sessions, API tokens, CSRF;
- :mod:`.pages` and :mod:`.api_routes`: the pages and the JSON API;
- :mod:`.queries`: the journal read across runs (ticket, escalations, compliance);
- :mod:`.runs`: runs started from the browser, through :mod:`remote_support.api`.

Needs the ``web`` extra (``pip install 'remote-support[web]'``).
"""

from __future__ import annotations


def create_app(*args, **kwargs):
    from .app import create_app as _create

    return _create(*args, **kwargs)
