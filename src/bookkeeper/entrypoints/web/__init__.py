"""The web page for reviewers and accountants, served under /app by the API's process.

Server-rendered (Jinja2) with one stylesheet and a few lines of script from the package:
no build step, nothing from a CDN. See routes.py (the pages), session.py (login and CSRF),
i18n.py (Norwegian and English), charts.py (SVG charts) and ADR 0027.
"""
