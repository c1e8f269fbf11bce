"""What one tenant's config may cost the shared job, API and dispatcher: every limit in one place.

`pulse validate`, `pulse rules publish` and the job's rule-update handler refuse a config over a limit with
the file, the line and the limit; the README's Security section lists them.
"""

from __future__ import annotations

MAX_CONFIG_BYTES = 1024 * 1024  # one tenant config file
# CEL expressions (`when`, `filter`, `first`, `then`, `derive`, `tags`)
MAX_EXPRESSION_CHARS = 500
MAX_EXPRESSION_NESTING = 24  # brackets ( [ { inside one another
MAX_COMPREHENSIONS = 2  # macros all/exists/exists_one/map/filter in one expression; none inside another
MAX_EVALUATION_MS = 50  # all expressions of a tenant on one event in the job; over it on SLOW_EVENTS of its
SLOW_EVENTS = 2  # last SLOW_WINDOW events, its costliest rules are suspended until the rest fit
SLOW_WINDOW = 100
# Lookup tables (`tables:`)
MAX_TABLE_ENTRIES = 500  # entries of one table
MAX_TABLES_ENTRIES = 2000  # entries of all tables of a tenant
MAX_TABLE_TEXT_CHARS = 100  # one key or value
# Jinja2 summary templates
MAX_TEMPLATE_CHARS = 10_000  # one template's source
MAX_TEMPLATE_VALUE_CHARS = 100_000  # any text or list a template builds while rendering
MAX_RENDER_S = 0.5  # one render, on any thread
MAX_SUMMARY_CHARS = 2000  # the stored summary (longer output is cut)
