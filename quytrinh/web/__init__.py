"""The web app: staff inbox, work items, reception at the one-stop counter, and a REST API.

Start it with ``quytrinh serve`` (or ``make run``). See docs/web.md.
"""
